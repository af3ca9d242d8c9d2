//! Grants: awards from a fund to a project participant, their life cycle,
//! planned tranches, disbursements and reversals.
//!
//! Every use case that moves money opens the fund's [`Books`] first (which
//! locks the fund), then locks the grant, then holds the project's tallies:
//! one lock order everywhere, so concurrent writers queue instead of
//! deadlocking, and every check sees the state the previous one committed.

use super::access::{self, Lock, seen_then};
use super::ledger::check_currency;
use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork, stored_money, to_json};
use crate::domain::ledger::{Movement, check_payable, grant_movement};
use crate::domain::status::{GrantStatus, MilestoneStatus};
use crate::domain::{Code, Currency, ExchangeRate, Line, LongText, Money, Note, PositiveMoney, ShortText};
use crate::entities::{disbursement, grant, milestone, participant, project, tranche};
use crate::store::books::{Books, Links};
use crate::store::outbox::{Audience, NewEvent};
use crate::store::sum_minor;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "grant";

/// A grant from a fund to a participant of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Grant {
    pub id: Uuid,
    #[schema(value_type = Option<Code>)]
    pub code: Option<String>,
    pub fund_id: Uuid,
    pub project_id: Uuid,
    pub recipient_institution_id: Uuid,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub purpose: Option<serde_json::Value>,
    pub amount: Money,
    /// Paid so far, net of reversals.
    pub disbursed: Money,
    pub status: GrantStatus,
    pub decided_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<grant::Model> for Grant {
    type Error = AppError;
    fn try_from(m: grant::Model) -> AppResult<Self> {
        Ok(Grant {
            amount: stored_money(m.amount_minor, &m.currency)?,
            disbursed: stored_money(m.disbursed_minor, &m.currency)?,
            id: m.id,
            code: m.code,
            fund_id: m.fund_id,
            project_id: m.project_id,
            recipient_institution_id: m.recipient_institution_id,
            title: m.title,
            purpose: m.purpose,
            status: m.status,
            decided_on: m.decided_on,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

record!(grant => Grant, KIND, audience = audience);

/// A planned payment of a grant, optionally tied to a milestone.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tranche {
    pub id: Uuid,
    pub grant_id: Uuid,
    pub amount: Money,
    pub due_on: Option<NaiveDate>,
    pub milestone_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<tranche::Model> for Tranche {
    type Error = AppError;
    fn try_from(m: tranche::Model) -> AppResult<Self> {
        Ok(Tranche {
            amount: stored_money(m.amount_minor, &m.currency)?,
            id: m.id,
            grant_id: m.grant_id,
            due_on: m.due_on,
            milestone_id: m.milestone_id,
            created_at: m.created_at,
        })
    }
}

/// Money paid on a grant; a reversal has a negative amount and `reversal_of`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Disbursement {
    pub id: Uuid,
    pub grant_id: Uuid,
    pub tranche_id: Option<Uuid>,
    pub amount: Money,
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
    /// What the recipient received, in the currency actually paid (e.g. TOP).
    pub local_amount: Option<Money>,
    /// Units of the local currency per unit of the fund's currency, as a decimal string.
    #[schema(example = "0.3251")]
    pub exchange_rate: Option<String>,
    pub reversal_of: Option<Uuid>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<disbursement::Model> for Disbursement {
    type Error = AppError;
    fn try_from(m: disbursement::Model) -> AppResult<Self> {
        let local_amount = match (m.local_amount_minor, m.local_currency.as_deref()) {
            (Some(minor), Some(currency)) => Some(stored_money(minor, currency)?),
            _ => None,
        };
        Ok(Disbursement {
            amount: stored_money(m.amount_minor, &m.currency)?,
            local_amount,
            id: m.id,
            grant_id: m.grant_id,
            tranche_id: m.tranche_id,
            paid_on: m.paid_on,
            reference: m.reference,
            exchange_rate: m.exchange_rate,
            reversal_of: m.reversal_of,
            reason: m.reason,
            created_at: m.created_at,
        })
    }
}

pub struct New {
    pub code: Option<Code>,
    pub fund_id: Uuid,
    pub project_id: Uuid,
    /// Must take part in the project.
    pub recipient_institution_id: Uuid,
    pub title: ShortText,
    pub purpose: Option<LongText>,
    /// In the fund's currency.
    pub amount: PositiveMoney,
}

/// Absent fields (`None`) stay; `Some(None)` clears an optional one.
#[derive(Default)]
pub struct Changes {
    pub code: Option<Option<Code>>,
    pub recipient_institution_id: Option<Uuid>,
    pub title: Option<ShortText>,
    pub purpose: Option<Option<LongText>>,
    pub amount: Option<PositiveMoney>,
}

pub struct NewTranche {
    pub amount: PositiveMoney,
    pub due_on: Option<NaiveDate>,
    /// A milestone of the grant's project; the tranche is payable once it is achieved.
    pub milestone_id: Option<Uuid>,
}

pub struct NewDisbursement {
    pub amount: PositiveMoney,
    pub paid_on: NaiveDate,
    pub tranche_id: Option<Uuid>,
    pub reference: Option<Line>,
    /// What the recipient received, in the currency actually paid.
    pub local_amount: Option<PositiveMoney>,
    /// Only with `local_amount`.
    pub exchange_rate: Option<ExchangeRate>,
}

const DUPLICATE: &str = "a grant with this code already exists";

/// A grant's events, and its money's, reach the partners of its project
/// only when they are the recipient (as the grants themselves do).
fn audience(g: &grant::Model) -> Audience {
    Audience {
        project_id: Some(g.project_id),
        recipient_id: Some(g.recipient_institution_id),
    }
}

fn stored_currency(g: &grant::Model) -> AppResult<Currency> {
    g.currency
        .parse()
        .map_err(|_| AppError::corrupt(format!("grant {} has currency {}", g.id, g.currency)))
}

/// The grant as the actor may see it, then (unlocked) its fund's books,
/// then the grant again with a lock: the one lock order. Only admins move money.
async fn lock_for_money(uow: &UnitOfWork, id: Uuid) -> AppResult<(Books, grant::Model)> {
    let actor = uow.actor();
    let seen = seen_then(access::grant(uow.db(), actor, id, Lock::No).await, || {
        actor.require_admin()
    })?;
    let books = Books::open(uow.db(), seen.fund_id).await?;
    let locked = access::grant(uow.db(), actor, id, Lock::Exclusive).await?;
    Ok((books, locked))
}

async fn check_recipient(db: &impl ConnectionTrait, project_id: Uuid, institution_id: Uuid) -> AppResult<()> {
    if participant::Entity::find_by_id((project_id, institution_id))
        .count(db)
        .await?
        == 0
    {
        return Err(AppError::field(
            "recipient_institution_id",
            "is not a participant of the project",
        ));
    }
    Ok(())
}

async fn sum_of<E: EntityTrait>(
    db: &impl ConnectionTrait,
    column: E::Column,
    filter: sea_orm::Condition,
) -> AppResult<i64> {
    let total: Option<i64> = E::find()
        .select_only()
        .column_as(sum_minor(column), "total")
        .filter(filter)
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(total.unwrap_or(0))
}

async fn tranches_total(db: &impl ConnectionTrait, grant_id: Uuid) -> AppResult<i64> {
    let filter = sea_orm::Condition::all().add(tranche::Column::GrantId.eq(grant_id));
    sum_of::<tranche::Entity>(db, tranche::Column::AmountMinor, filter).await
}

async fn paid_on_tranche(db: &impl ConnectionTrait, tranche_id: Uuid) -> AppResult<i64> {
    let filter = sea_orm::Condition::all().add(disbursement::Column::TrancheId.eq(tranche_id));
    sum_of::<disbursement::Entity>(db, disbursement::Column::AmountMinor, filter).await
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<Grant> {
    uow.actor().require_admin()?;
    let amount = new.amount.money();
    let books = Books::open(uow.db(), new.fund_id)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::NotFound => AppError::field("fund_id", "no fund has this id"),
            other => other,
        })?;
    check_currency(books.currency, amount, "amount")?;
    if project::Entity::find_by_id(new.project_id).count(uow.db()).await? == 0 {
        return Err(AppError::field("project_id", "no project has this id"));
    }
    uow.hold_project(new.project_id).await?;
    check_recipient(uow.db(), new.project_id, new.recipient_institution_id).await?;
    let row = grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(new.code.map(String::from)),
        fund_id: Set(new.fund_id),
        project_id: Set(new.project_id),
        recipient_institution_id: Set(new.recipient_institution_id),
        title: Set(to_json(&new.title)),
        purpose: Set(new.purpose.as_ref().map(to_json)),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        status: Set(GrantStatus::Draft),
        decided_on: Set(None),
        disbursed_minor: Set(0),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| AppError::from(e).on_duplicate(DUPLICATE))?;
    let seen_by = audience(&row);
    let view = Grant::try_from(row)?;
    uow.record(Change::created(KIND, view.id, &view).seen_by(seen_by));
    Ok(view)
}

/// Changes a grant still being prepared (draft or submitted).
pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Grant> {
    let actor = uow.actor();
    let current = seen_then(access::grant(uow.db(), actor, id, Lock::Exclusive).await, || {
        actor.require_admin()
    })?;
    expected.check(current.version)?;
    uow.hold_project(current.project_id).await?;
    if !current.status.is_editable() {
        return Err(AppError::conflict(
            "invalid_state",
            format!(
                "a grant in {} cannot be changed; only draft and submitted grants can",
                current.status.as_str()
            ),
        ));
    }
    let amount = c.amount.map(PositiveMoney::money);
    if let Some(amount) = amount {
        check_currency(stored_currency(&current)?, amount, "amount")?;
        if tranches_total(uow.db(), id).await? > amount.minor() {
            return Err(AppError::conflict(
                "tranche_over_allocated",
                "the grant's tranches already sum past this amount",
            ));
        }
    }
    if let Some(recipient) = c.recipient_institution_id {
        check_recipient(uow.db(), current.project_id, recipient).await?;
    }
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(amount) = amount {
            row.amount_minor = Set(amount.minor());
        }
        if let Some(recipient) = c.recipient_institution_id {
            row.recipient_institution_id = Set(recipient);
        }
        if let Some(code) = c.code {
            row.code = Set(code.map(String::from));
        }
        if let Some(title) = c.title {
            row.title = Set(to_json(&title));
        }
        if let Some(purpose) = c.purpose {
            row.purpose = Set(purpose.as_ref().map(to_json));
        }
    })
    .await
    .map_err(|e| e.on_duplicate(DUPLICATE))?;
    Ok(view)
}

/// Moves a grant through its life cycle, with what the move does to the
/// fund's books (`domain::ledger::grant_movement`): approving commits the
/// amount (409 `insufficient_funds` when the fund lacks it), cancelling or
/// completing frees what was not paid.
pub async fn transition(uow: &mut UnitOfWork, id: Uuid, to: GrantStatus, note: Option<Note>) -> AppResult<Grant> {
    let (mut books, current) = lock_for_money(uow, id).await?;
    uow.hold_project(current.project_id).await?;
    let from = current.status;
    from.check_move(to)
        .map_err(|m| AppError::conflict("invalid_transition", m.0))?;
    let today = Utc::now().date_naive();
    if let Some(movement) = grant_movement(from, to, current.amount_minor, current.disbursed_minor) {
        let links = Links {
            grant_id: Some(id),
            ..Links::default()
        };
        books.post(uow.db(), movement, today, links).await?;
    }
    let how = How::Transition {
        to: to.as_str(),
        note: note.as_ref().map(Note::as_str),
    };
    let (_, view) = versioned::update(uow, current, Expected::Any, how, |row| {
        row.status = Set(to);
        if to.is_decision() {
            row.decided_on = Set(Some(today));
        }
    })
    .await?;
    Ok(view)
}

/// Plans a payment. The tranches of a grant never sum past its amount.
pub async fn add_tranche(uow: &mut UnitOfWork, grant_id: Uuid, new: NewTranche) -> AppResult<Tranche> {
    let amount = new.amount.money();
    let actor = uow.actor();
    let current = seen_then(access::grant(uow.db(), actor, grant_id, Lock::Exclusive).await, || {
        actor.require_admin()
    })?;
    let status = current.status;
    if !(status.is_editable() || status.holds_commitment()) {
        return Err(AppError::conflict(
            "invalid_state",
            format!("a {} grant takes no new tranches", status.as_str()),
        ));
    }
    check_currency(stored_currency(&current)?, amount, "amount")?;
    if let Some(m) = new.milestone_id {
        let found = milestone::Entity::find_by_id(m)
            .filter(milestone::Column::ProjectId.eq(current.project_id))
            .count(uow.db())
            .await?;
        if found == 0 {
            return Err(AppError::field(
                "milestone_id",
                "is not a milestone of the grant's project",
            ));
        }
    }
    let planned = tranches_total(uow.db(), grant_id).await?;
    if planned
        .checked_add(amount.minor())
        .is_none_or(|t| t > current.amount_minor)
    {
        return Err(AppError::conflict(
            "tranche_over_allocated",
            format!(
                "tranches would sum past the grant: {} of {} minor units are planned",
                planned, current.amount_minor
            ),
        ));
    }
    let row = tranche::ActiveModel {
        id: Set(Uuid::now_v7()),
        grant_id: Set(grant_id),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        due_on: Set(new.due_on),
        milestone_id: Set(new.milestone_id),
        created_at: Set(Utc::now()),
    }
    .insert(uow.db())
    .await?;
    let view = Tranche::try_from(row)?;
    uow.record(Change::created("tranche", view.id, &view).seen_by(audience(&current)));
    Ok(view)
}

/// A tranche of this grant, whose milestone (if any) is achieved and
/// whose net paid stays within its amount.
async fn check_tranche(db: &impl ConnectionTrait, g: &grant::Model, tranche_id: Uuid, amount: i64) -> AppResult<()> {
    let t = tranche::Entity::find_by_id(tranche_id)
        .filter(tranche::Column::GrantId.eq(g.id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::field("tranche_id", "is not a tranche of this grant"))?;
    if let Some(m) = t.milestone_id {
        let achieved = milestone::Entity::find_by_id(m)
            .filter(milestone::Column::Status.eq(MilestoneStatus::Achieved))
            .count(db)
            .await?;
        if achieved == 0 {
            return Err(AppError::conflict(
                "milestone_not_achieved",
                "this tranche is payable once its milestone is achieved",
            ));
        }
    }
    check_payable(t.amount_minor, paid_on_tranche(db, t.id).await?, amount)?;
    Ok(())
}

/// Saves the grant's new net disbursed (and status, after a payment);
/// the disbursement itself is what is audited.
async fn set_disbursed(uow: &UnitOfWork, g: grant::Model, disbursed: i64, status: GrantStatus) -> AppResult<()> {
    let mut row: grant::ActiveModel = g.into();
    row.disbursed_minor = Set(disbursed);
    row.status = Set(status);
    row.update(uow.db()).await?;
    Ok(())
}

/// Money out on an approved or active grant; the first payment makes an
/// approved grant active. Net disbursed never passes the award (409
/// `over_disbursement`), nor a tranche's.
pub async fn disburse(uow: &mut UnitOfWork, grant_id: Uuid, new: NewDisbursement) -> AppResult<Disbursement> {
    if new.exchange_rate.is_some() && new.local_amount.is_none() {
        return Err(AppError::field("local_amount", "is required with exchange_rate"));
    }
    let amount = new.amount.money();
    let local_amount = new.local_amount.map(PositiveMoney::money);
    let (mut books, current) = lock_for_money(uow, grant_id).await?;
    uow.hold_project(current.project_id).await?;
    let status = current.status;
    if !status.holds_commitment() {
        return Err(AppError::conflict(
            "invalid_state",
            format!(
                "only approved or active grants are paid; this one is {}",
                status.as_str()
            ),
        ));
    }
    check_currency(books.currency, amount, "amount")?;
    if let Some(t) = new.tranche_id {
        check_tranche(uow.db(), &current, t, amount.minor()).await?;
    }
    check_payable(current.amount_minor, current.disbursed_minor, amount.minor())?;

    let row = disbursement::ActiveModel {
        id: Set(Uuid::now_v7()),
        grant_id: Set(grant_id),
        fund_id: Set(current.fund_id),
        tranche_id: Set(new.tranche_id),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        paid_on: Set(new.paid_on),
        reference: Set(new.reference.map(Line::into_string)),
        local_amount_minor: Set(local_amount.map(Money::minor)),
        local_currency: Set(local_amount.map(|m| m.currency().code().to_owned())),
        exchange_rate: Set(new.exchange_rate.map(String::from)),
        reversal_of: Set(None),
        reason: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(uow.db())
    .await?;
    let links = Links {
        grant_id: Some(grant_id),
        disbursement_id: Some(row.id),
        ..Links::default()
    };
    books
        .post(uow.db(), Movement::Disbursement(amount.minor()), new.paid_on, links)
        .await?;
    let seen_by = audience(&current);
    let disbursed = current.disbursed_minor + amount.minor();
    set_disbursed(uow, current, disbursed, status.after_payment()).await?;
    let view = Disbursement::try_from(row)?;
    uow.record(Change::created("disbursement", view.id, &view).seen_by(seen_by));
    Ok(view)
}

/// Undoes a disbursement with a compensating entry (negative amount,
/// `reversal_of` set); nothing is ever deleted. The money returns to the
/// grant while it holds a commitment, else to the fund's available money.
pub async fn reverse(uow: &mut UnitOfWork, disbursement_id: Uuid, reason: Note) -> AppResult<Disbursement> {
    let original = disbursement::Entity::find_by_id(disbursement_id)
        .one(uow.db())
        .await?
        .ok_or(AppError::NotFound)?;
    let (mut books, current) = lock_for_money(uow, original.grant_id).await?;
    uow.hold_project(current.project_id).await?;
    if original.reversal_of.is_some() {
        return Err(AppError::conflict(
            "invalid_state",
            "a reversal cannot itself be reversed",
        ));
    }
    let done = disbursement::Entity::find()
        .filter(disbursement::Column::ReversalOf.eq(disbursement_id))
        .count(uow.db())
        .await?;
    if done > 0 {
        return Err(AppError::conflict(
            "already_reversed",
            "this disbursement was reversed already",
        ));
    }
    let today = Utc::now().date_naive();
    let row = disbursement::ActiveModel {
        id: Set(Uuid::now_v7()),
        grant_id: Set(original.grant_id),
        fund_id: Set(original.fund_id),
        tranche_id: Set(original.tranche_id),
        amount_minor: Set(-original.amount_minor),
        currency: Set(original.currency.clone()),
        paid_on: Set(today),
        reference: Set(original.reference.clone()),
        local_amount_minor: Set(original.local_amount_minor.map(|m| -m)),
        local_currency: Set(original.local_currency.clone()),
        exchange_rate: Set(original.exchange_rate.clone()),
        reversal_of: Set(Some(disbursement_id)),
        reason: Set(Some(reason.into_string())),
        created_at: Set(Utc::now()),
    }
    .insert(uow.db())
    .await?;
    let links = Links {
        grant_id: Some(current.id),
        disbursement_id: Some(row.id),
        ..Links::default()
    };
    let movement = Movement::Reversal {
        amount: original.amount_minor,
        recommit: current.status.holds_commitment(),
    };
    books.post(uow.db(), movement, today, links).await?;
    let seen_by = audience(&current);
    let (disbursed, status) = (current.disbursed_minor - original.amount_minor, current.status);
    set_disbursed(uow, current, disbursed, status).await?;
    let view = Disbursement::try_from(row)?;
    uow.record(
        Change::created("reversal", view.id, &view)
            .announced_as("disbursement")
            .seen_by(seen_by),
    );
    // The original is announced as reversed; the event carries the reversal.
    uow.announce(NewEvent::new(
        "disbursement.reversed".into(),
        "disbursement",
        disbursement_id,
        seen_by,
        to_json(&view),
    ));
    Ok(view)
}
