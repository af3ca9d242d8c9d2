//! `/grants`: awards from a fund to a project participant, their life
//! cycle, planned tranches, disbursements and reversals.
//!
//! Every handler that moves money opens the fund's [`Books`] first (which
//! locks the fund), then locks the grant: one lock order everywhere, so
//! concurrent requests queue instead of deadlocking, and every check below
//! sees the state the previous request committed.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Input, Path, Query};
use super::input::Validator;
use super::ledger::{check_currency, stored};
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned, check_if_match};
use super::status::sum_minor;
use super::write::{Change, Write};
use crate::domain::Date;
use crate::domain::ledger::{Movement, check_payable};
use crate::domain::money::{Money, PositiveMoney};
use crate::domain::status::{GrantStatus, MilestoneStatus};
use crate::domain::{Code, Line, LongText, Note, ShortText};
use crate::entities::{disbursement, grant, milestone, participant, project, tranche};
use crate::store::books::{Books, Links};
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch))
        .routes(routes!(transition))
        .routes(routes!(list_tranches, add_tranche))
        .routes(routes!(list_disbursements, disburse))
        .routes(routes!(reverse))
}

// ---------------------------------------------------------------- views

/// A grant from a fund to a participant of a project.
#[derive(Serialize, ToSchema)]
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
    #[schema(value_type = GrantStatus)]
    pub status: String,
    pub decided_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Versioned for Grant {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

impl TryFrom<grant::Model> for Grant {
    type Error = ApiError;
    fn try_from(m: grant::Model) -> ApiResult<Self> {
        Ok(Grant {
            amount: stored(m.amount_minor, &m.currency)?,
            disbursed: stored(m.disbursed_minor, &m.currency)?,
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

/// A planned payment of a grant, optionally tied to a milestone.
#[derive(Serialize, ToSchema)]
pub struct Tranche {
    pub id: Uuid,
    pub grant_id: Uuid,
    pub amount: Money,
    pub due_on: Option<NaiveDate>,
    pub milestone_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl Versioned for Tranche {
    fn version(&self) -> Option<i32> {
        None
    }
}

impl TryFrom<tranche::Model> for Tranche {
    type Error = ApiError;
    fn try_from(m: tranche::Model) -> ApiResult<Self> {
        Ok(Tranche {
            amount: stored(m.amount_minor, &m.currency)?,
            id: m.id,
            grant_id: m.grant_id,
            due_on: m.due_on,
            milestone_id: m.milestone_id,
            created_at: m.created_at,
        })
    }
}

/// Money paid on a grant; a reversal has a negative amount and `reversal_of`.
#[derive(Serialize, ToSchema)]
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

impl Versioned for Disbursement {
    fn version(&self) -> Option<i32> {
        None
    }
}

impl TryFrom<disbursement::Model> for Disbursement {
    type Error = ApiError;
    fn try_from(m: disbursement::Model) -> ApiResult<Self> {
        let local_amount = match (m.local_amount_minor, m.local_currency.as_deref()) {
            (Some(minor), Some(currency)) => Some(stored(minor, currency)?),
            _ => None,
        };
        Ok(Disbursement {
            amount: stored(m.amount_minor, &m.currency)?,
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

// ---------------------------------------------------------------- inputs

crate::input! {
    /// A new grant; it starts `draft`. The amount is in the fund's currency.
    #[schema(example = json!({"fund_id": "01a213a4-80e0-7170-bd31-ddd69b06687e", "project_id": "01a213a4-88c6-7673-a145-50aab33444c0",
        "recipient_institution_id": "01a213a4-80de-75f8-885c-96e3a53facad", "title": {"en": "Solar lighting for Betio"},
        "amount": {"amount": "250000.00", "currency": "CNY"}}))]
    pub struct NewGrant {
        code: Option<Code>,
        #[schema(required = true)]
        fund_id: Uuid,
        #[schema(required = true)]
        project_id: Uuid,
        /// Must take part in the project.
        #[schema(required = true)]
        recipient_institution_id: Uuid,
        #[schema(required = true)]
        title: ShortText,
        purpose: Option<LongText>,
        #[schema(required = true)]
        amount: PositiveMoney,
    }
}

crate::input! {
    /// Changes to a grant in `draft` or `submitted`.
    pub struct GrantChanges {
        code: Option<Code>,
        recipient_institution_id: Uuid,
        title: ShortText,
        purpose: Option<LongText>,
        amount: PositiveMoney,
    }
}

crate::input! {
    /// A status move, e.g. `{"to": "approved", "note": "board meeting 2025-03"}`.
    pub struct GrantTransition {
        #[schema(required = true)]
        to: GrantStatus,
        note: Option<Note>,
    }
}

crate::input! {
    /// A planned payment. The tranches of a grant never sum past its amount.
    pub struct NewTranche {
        #[schema(required = true)]
        amount: PositiveMoney,
        due_on: Option<Date>,
        /// A milestone of the grant's project; the tranche is payable once it is achieved.
        milestone_id: Option<Uuid>,
    }
}

crate::input! {
    /// Money out on an approved or active grant.
    #[schema(example = json!({"amount": {"amount": "50000.00", "currency": "CNY"}, "paid_on": "2025-04-01",
        "reference": "BOC-2025-0412", "local_amount": {"amount": "16255.00", "currency": "TOP"}, "exchange_rate": "0.3251"}))]
    pub struct NewDisbursement {
        #[schema(required = true)]
        amount: PositiveMoney,
        #[schema(required = true)]
        paid_on: Date,
        tranche_id: Option<Uuid>,
        reference: Option<Line>,
        local_amount: Option<PositiveMoney>,
        exchange_rate: Option<String>,
    }
}

crate::input! {
    /// Why a disbursement is undone.
    pub struct NewReversal {
        #[schema(required = true)]
        reason: Note,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListGrants {
    fund_id: Option<Uuid>,
    project_id: Option<Uuid>,
    recipient_institution_id: Option<Uuid>,
    status: Option<GrantStatus>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

// ---------------------------------------------------------------- shared steps

fn incomplete(v: Validator) -> ApiError {
    v.finish().err().unwrap_or(ApiError::field("body", "is incomplete"))
}

fn status_of(g: &grant::Model) -> ApiResult<GrantStatus> {
    g.status
        .parse()
        .map_err(|_| ApiError::Internal(format!("grant {} has status {}", g.id, g.status)))
}

/// A grant the caller may see (partners: grants to their institution), or 404.
async fn visible_grant(db: &impl ConnectionTrait, caller: &Caller, id: Uuid, lock: bool) -> ApiResult<grant::Model> {
    let mut select = grant::Entity::find_by_id(id);
    if let Some(institution) = caller.partner_scope() {
        select = select.filter(grant::Column::RecipientInstitutionId.eq(institution));
    }
    if lock {
        select = select.lock_exclusive();
    }
    select.one(db).await?.ok_or(ApiError::NotFound)
}

/// Opens the books of the grant's fund, then locks the grant (the one lock order).
async fn lock_for_money(db: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> ApiResult<(Books, grant::Model)> {
    let seen = visible_grant(db, caller, id, false).await?;
    caller.require_admin()?;
    let books = Books::open(db, seen.fund_id).await?;
    let locked = visible_grant(db, caller, id, true).await?;
    Ok((books, locked))
}

async fn check_recipient(db: &impl ConnectionTrait, project_id: Uuid, institution_id: Uuid) -> ApiResult<()> {
    if participant::Entity::find_by_id((project_id, institution_id))
        .count(db)
        .await?
        == 0
    {
        return Err(ApiError::field(
            "recipient_institution_id",
            "is not a participant of the project",
        ));
    }
    Ok(())
}

async fn tranches_total(db: &impl ConnectionTrait, grant_id: Uuid) -> ApiResult<i64> {
    let total: Option<i64> = tranche::Entity::find()
        .select_only()
        .column_as(sum_minor(tranche::Column::AmountMinor), "total")
        .filter(tranche::Column::GrantId.eq(grant_id))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(total.unwrap_or(0))
}

async fn paid_on_tranche(db: &impl ConnectionTrait, tranche_id: Uuid) -> ApiResult<i64> {
    let total: Option<i64> = disbursement::Entity::find()
        .select_only()
        .column_as(sum_minor(disbursement::Column::AmountMinor), "total")
        .filter(disbursement::Column::TrancheId.eq(tranche_id))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(total.unwrap_or(0))
}

fn json_of<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

// ---------------------------------------------------------------- grants

#[utoipa::path(get, path = "/grants", tag = "grants", params(ListGrants),
    responses((status = 200, description = "A page of grants the token may see", body = Page<Grant>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListGrants>,
) -> ApiResult<axum::Json<Page<Grant>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = grant::Entity::find();
    if let Some(institution) = caller.partner_scope() {
        select = select.filter(grant::Column::RecipientInstitutionId.eq(institution));
    }
    if let Some(fund) = q.fund_id {
        select = select.filter(grant::Column::FundId.eq(fund));
    }
    if let Some(project) = q.project_id {
        select = select.filter(grant::Column::ProjectId.eq(project));
    }
    if let Some(recipient) = q.recipient_institution_id {
        select = select.filter(grant::Column::RecipientInstitutionId.eq(recipient));
    }
    if let Some(status) = q.status {
        select = select.filter(grant::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = page.after {
        select = select.filter(grant::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(grant::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Grant::try_from);
    Ok(axum::Json(page.transpose()?))
}

#[utoipa::path(post, path = "/grants", tag = "grants", request_body = NewGrant,
    responses(
        (status = 201, description = "Created, status `draft`", body = Grant, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body, mut v): Input<NewGrant>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.optional("code", body.code);
    let fund_id = v.required("fund_id", body.fund_id);
    let project_id = v.required("project_id", body.project_id);
    let recipient = v.required("recipient_institution_id", body.recipient_institution_id);
    let title = v.required("title", body.title);
    let purpose = v.optional("purpose", body.purpose);
    let amount = v.required("amount", body.amount).map(PositiveMoney::money);
    let (Some(fund_id), Some(project_id), Some(recipient), Some(title), Some(amount)) =
        (fund_id, project_id, recipient, title, amount)
    else {
        return Err(incomplete(v));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let books = Books::open(w.db(), fund_id).await.map_err(|e| match e {
        ApiError::NotFound => ApiError::field("fund_id", "no fund has this id"),
        other => other,
    })?;
    check_currency(books.currency, amount, "amount")?;
    if project::Entity::find_by_id(project_id).count(w.db()).await? == 0 {
        return Err(ApiError::field("project_id", "no project has this id"));
    }
    w.hold_project(project_id).await?;
    check_recipient(w.db(), project_id, recipient).await?;
    let now = Utc::now();
    let row = grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        code: Set(code.map(String::from)),
        fund_id: Set(fund_id),
        project_id: Set(project_id),
        recipient_institution_id: Set(recipient),
        title: Set(json_of(&title)),
        purpose: Set(purpose.as_ref().map(json_of)),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        status: Set(GrantStatus::Draft.as_str().to_owned()),
        decided_on: Set(None),
        disbursed_minor: Set(0),
    }
    .insert(w.db())
    .await?;
    let view = Grant::try_from(row)?;
    let location = format!("/api/v1/grants/{}", view.id);
    w.commit(
        Change::created("grant", view.id, &view),
        Reply::created(location, &view),
    )
    .await
}

#[utoipa::path(get, path = "/grants/{id}", tag = "grants", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The grant", body = Grant, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = visible_grant(&state.db, &caller, id, false).await?;
    Ok(Reply::ok(&Grant::try_from(row)?))
}

#[utoipa::path(patch, path = "/grants/{id}", tag = "grants", request_body = GrantChanges, params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Grant, headers(("ETag" = String))),
        (status = 409, description = "`invalid_state`: only draft or submitted grants change; `tranche_over_allocated`: the new amount is below the tranches; `duplicate`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Input(body, mut v): Input<GrantChanges>,
) -> ApiResult<Reply> {
    let code = v.change_nullable("code", body.code);
    let recipient = v.change("recipient_institution_id", body.recipient_institution_id);
    let title = v.change("title", body.title);
    let purpose = v.change_nullable("purpose", body.purpose);
    let amount = v.change("amount", body.amount).map(PositiveMoney::money);
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let current = visible_grant(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    check_if_match(&headers, current.version)?;
    w.hold_project(current.project_id).await?;
    let status = status_of(&current)?;
    if !status.is_editable() {
        return Err(ApiError::conflict(
            "invalid_state",
            format!(
                "a grant in {} cannot be changed; only draft and submitted grants can",
                status.as_str()
            ),
        ));
    }
    let before = Grant::try_from(current.clone())?;
    let mut row: grant::ActiveModel = current.clone().into();
    if let Some(amount) = amount {
        let currency = current
            .currency
            .parse()
            .map_err(|_| ApiError::Internal("stored currency".into()))?;
        check_currency(currency, amount, "amount")?;
        if tranches_total(w.db(), id).await? > amount.minor() {
            return Err(ApiError::conflict(
                "tranche_over_allocated",
                "the grant's tranches already sum past this amount",
            ));
        }
        row.amount_minor = Set(amount.minor());
    }
    if let Some(recipient) = recipient {
        check_recipient(w.db(), current.project_id, recipient).await?;
        row.recipient_institution_id = Set(recipient);
    }
    if let Some(code) = code {
        row.code = Set(code.map(String::from));
    }
    if let Some(title) = title {
        row.title = Set(json_of(&title));
    }
    if let Some(purpose) = purpose {
        row.purpose = Set(purpose.as_ref().map(json_of));
    }
    row.version = Set(current.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Grant::try_from(row.update(w.db()).await?)?;
    w.commit(Change::updated("grant", id, &before, &view), Reply::ok(&view))
        .await
}

#[utoipa::path(post, path = "/grants/{id}/transitions", tag = "grants", request_body = GrantTransition, params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The grant in its new status", body = Grant, headers(("ETag" = String))),
        (status = 409, description = "`invalid_transition`: not allowed from the current status; `insufficient_funds`: approving needs available ≥ amount", body = Problem, content_type = "application/problem+json"),
    ))]
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<GrantTransition>,
) -> ApiResult<Reply> {
    let to = v.required("to", body.to);
    let note = v.optional("note", body.note);
    let Some(to) = to else { return Err(incomplete(v)) };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let (mut books, current) = lock_for_money(w.db(), &caller, id).await?;
    w.hold_project(current.project_id).await?;
    let from = status_of(&current)?;
    if !from.can_move_to(to) {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("a grant cannot move from {} to {}", from.as_str(), to.as_str()),
        ));
    }
    let today = Utc::now().date_naive();
    let links = Links {
        grant_id: Some(id),
        ..Links::default()
    };
    let remaining = current.amount_minor - current.disbursed_minor;
    match to {
        GrantStatus::Approved => {
            books
                .post(w.db(), Movement::Commitment(current.amount_minor), today, links)
                .await?
        }
        GrantStatus::Cancelled | GrantStatus::Completed if from.holds_commitment() && remaining > 0 => {
            books
                .post(w.db(), Movement::CommitmentRelease(remaining), today, links)
                .await?
        }
        _ => {}
    }
    let before = Grant::try_from(current.clone())?;
    let mut row: grant::ActiveModel = current.clone().into();
    row.status = Set(to.as_str().to_owned());
    if matches!(to, GrantStatus::Approved | GrantStatus::Rejected) {
        row.decided_on = Set(Some(today));
    }
    row.version = Set(current.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Grant::try_from(row.update(w.db()).await?)?;
    let mut after = json_of(&view);
    after["note"] = serde_json::json!(note.map(Note::into_string));
    let change = Change::action(format!("transition:{}", to.as_str()), "grant", id, &before, &after);
    w.commit(change, Reply::ok(&view)).await
}

// ---------------------------------------------------------------- tranches

#[utoipa::path(get, path = "/grants/{id}/tranches", tag = "grants", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The grant's planned payments", body = Page<Tranche>)))]
async fn list_tranches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Tranche>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    visible_grant(&state.db, &caller, id, false).await?;
    let mut select = tranche::Entity::find().filter(tranche::Column::GrantId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(tranche::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(tranche::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Tranche::try_from);
    Ok(axum::Json(page.transpose()?))
}

#[utoipa::path(post, path = "/grants/{id}/tranches", tag = "grants", request_body = NewTranche, params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Planned", body = Tranche, headers(("Location" = String))),
        (status = 409, description = "`tranche_over_allocated`: the tranches would sum past the grant; `invalid_state`: the grant is closed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_tranche(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewTranche>,
) -> ApiResult<Reply> {
    let amount = v.required("amount", body.amount).map(PositiveMoney::money);
    let due_on = v.optional("due_on", body.due_on).map(Date::naive);
    let milestone_id = v.optional("milestone_id", body.milestone_id);
    let Some(amount) = amount else {
        return Err(incomplete(v));
    };
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let current = visible_grant(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    let status = status_of(&current)?;
    if !(status.is_editable() || status.holds_commitment()) {
        return Err(ApiError::conflict(
            "invalid_state",
            format!("a {} grant takes no new tranches", status.as_str()),
        ));
    }
    let currency = current
        .currency
        .parse()
        .map_err(|_| ApiError::Internal("stored currency".into()))?;
    check_currency(currency, amount, "amount")?;
    if let Some(m) = milestone_id {
        let found = milestone::Entity::find_by_id(m)
            .filter(milestone::Column::ProjectId.eq(current.project_id))
            .count(w.db())
            .await?;
        if found == 0 {
            return Err(ApiError::field(
                "milestone_id",
                "is not a milestone of the grant's project",
            ));
        }
    }
    let planned = tranches_total(w.db(), id).await?;
    if planned
        .checked_add(amount.minor())
        .is_none_or(|t| t > current.amount_minor)
    {
        return Err(ApiError::conflict(
            "tranche_over_allocated",
            format!(
                "tranches would sum past the grant: {} of {} minor units are planned",
                planned, current.amount_minor
            ),
        ));
    }
    let row = tranche::ActiveModel {
        id: Set(Uuid::now_v7()),
        grant_id: Set(id),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        due_on: Set(due_on),
        milestone_id: Set(milestone_id),
        created_at: Set(Utc::now()),
    }
    .insert(w.db())
    .await?;
    let view = Tranche::try_from(row)?;
    let location = format!("/api/v1/grants/{id}/tranches/{}", view.id);
    w.commit(
        Change::created("tranche", view.id, &view),
        Reply::created(location, &view),
    )
    .await
}

// ---------------------------------------------------------------- disbursements

#[utoipa::path(get, path = "/grants/{id}/disbursements", tag = "grants", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "Payments and reversals, oldest first", body = Page<Disbursement>)))]
async fn list_disbursements(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Disbursement>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    visible_grant(&state.db, &caller, id, false).await?;
    let mut select = disbursement::Entity::find().filter(disbursement::Column::GrantId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(disbursement::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(disbursement::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Disbursement::try_from);
    Ok(axum::Json(page.transpose()?))
}

/// A positive decimal string such as `"0.3251"`.
fn parse_rate(rate: &str) -> Result<String, String> {
    let well_formed = rate.len() <= 32 && rate.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match rate.parse::<Decimal>() {
        Ok(d) if well_formed && d > Decimal::ZERO => Ok(rate.to_owned()),
        _ => Err("must be a positive decimal string such as \"0.3251\"".into()),
    }
}

#[utoipa::path(post, path = "/grants/{id}/disbursements", tag = "grants", request_body = NewDisbursement, params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Paid, with a ledger entry; the first payment makes an approved grant active", body = Disbursement, headers(("Location" = String))),
        (status = 409, description = "`over_disbursement`: would pass the grant's or tranche's amount; `milestone_not_achieved`: the tranche's milestone is not achieved; `invalid_state`: the grant is not approved or active", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disburse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewDisbursement>,
) -> ApiResult<Reply> {
    let amount = v.required("amount", body.amount).map(PositiveMoney::money);
    let paid_on = v.required("paid_on", body.paid_on).map(Date::naive);
    let tranche_id = v.optional("tranche_id", body.tranche_id);
    let reference = v.optional("reference", body.reference);
    let local_amount = v.optional("local_amount", body.local_amount).map(PositiveMoney::money);
    let rate = v.optional("exchange_rate", body.exchange_rate);
    let rate = match rate.map(|r| parse_rate(&r)) {
        Some(Err(e)) => {
            v.check(false, "exchange_rate", &e);
            None
        }
        other => other.and_then(Result::ok),
    };
    v.check(
        rate.is_none() || local_amount.is_some(),
        "local_amount",
        "is required with exchange_rate",
    );
    let (Some(amount), Some(paid_on)) = (amount, paid_on) else {
        return Err(incomplete(v));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let (mut books, current) = lock_for_money(w.db(), &caller, id).await?;
    w.hold_project(current.project_id).await?;
    let status = status_of(&current)?;
    if !status.holds_commitment() {
        return Err(ApiError::conflict(
            "invalid_state",
            format!(
                "only approved or active grants are paid; this one is {}",
                status.as_str()
            ),
        ));
    }
    check_currency(books.currency, amount, "amount")?;
    if let Some(t) = tranche_id {
        check_tranche(w.db(), &current, t, amount.minor()).await?;
    }
    check_payable(current.amount_minor, current.disbursed_minor, amount.minor())?;

    let row = disbursement::ActiveModel {
        id: Set(Uuid::now_v7()),
        grant_id: Set(id),
        fund_id: Set(current.fund_id),
        tranche_id: Set(tranche_id),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        paid_on: Set(paid_on),
        reference: Set(reference.map(Line::into_string)),
        local_amount_minor: Set(local_amount.map(Money::minor)),
        local_currency: Set(local_amount.map(|m| m.currency().code().to_owned())),
        exchange_rate: Set(rate),
        reversal_of: Set(None),
        reason: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(w.db())
    .await?;
    let links = Links {
        grant_id: Some(id),
        disbursement_id: Some(row.id),
        ..Links::default()
    };
    books
        .post(w.db(), Movement::Disbursement(amount.minor()), paid_on, links)
        .await?;
    let mut g: grant::ActiveModel = current.clone().into();
    g.disbursed_minor = Set(current.disbursed_minor + amount.minor());
    if status == GrantStatus::Approved {
        g.status = Set(GrantStatus::Active.as_str().to_owned());
    }
    g.version = Set(current.version + 1);
    g.updated_at = Set(Utc::now());
    g.update(w.db()).await?;
    let view = Disbursement::try_from(row)?;
    let location = format!("/api/v1/grants/{id}/disbursements/{}", view.id);
    w.commit(
        Change::created("disbursement", view.id, &view),
        Reply::created(location, &view),
    )
    .await
}

/// A tranche of this grant, whose milestone (if any) is achieved and
/// whose net paid stays within its amount.
async fn check_tranche(db: &impl ConnectionTrait, g: &grant::Model, tranche_id: Uuid, amount: i64) -> ApiResult<()> {
    let t = tranche::Entity::find_by_id(tranche_id)
        .filter(tranche::Column::GrantId.eq(g.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::field("tranche_id", "is not a tranche of this grant"))?;
    if let Some(m) = t.milestone_id {
        let achieved = milestone::Entity::find_by_id(m)
            .filter(milestone::Column::Status.eq(MilestoneStatus::Achieved.as_str()))
            .count(db)
            .await?;
        if achieved == 0 {
            return Err(ApiError::conflict(
                "milestone_not_achieved",
                "this tranche is payable once its milestone is achieved",
            ));
        }
    }
    check_payable(t.amount_minor, paid_on_tranche(db, t.id).await?, amount)?;
    Ok(())
}

#[utoipa::path(post, path = "/disbursements/{id}/reversal", tag = "grants", request_body = NewReversal, params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "The compensating entry: negative amount, `reversal_of` set", body = Disbursement, headers(("Location" = String))),
        (status = 409, description = "`already_reversed`; `invalid_state`: a reversal cannot itself be reversed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn reverse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewReversal>,
) -> ApiResult<Reply> {
    let reason = v.required("reason", body.reason);
    let Some(reason) = reason else {
        return Err(incomplete(v));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let original = disbursement::Entity::find_by_id(id)
        .one(w.db())
        .await?
        .ok_or(ApiError::NotFound)?;
    let (mut books, current) = lock_for_money(w.db(), &caller, original.grant_id).await?;
    w.hold_project(current.project_id).await?;
    if original.reversal_of.is_some() {
        return Err(ApiError::conflict(
            "invalid_state",
            "a reversal cannot itself be reversed",
        ));
    }
    let done = disbursement::Entity::find()
        .filter(disbursement::Column::ReversalOf.eq(id))
        .count(w.db())
        .await?;
    if done > 0 {
        return Err(ApiError::conflict(
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
        reversal_of: Set(Some(id)),
        reason: Set(Some(reason.into_string())),
        created_at: Set(Utc::now()),
    }
    .insert(w.db())
    .await?;
    let recommit = status_of(&current)?.holds_commitment();
    let links = Links {
        grant_id: Some(current.id),
        disbursement_id: Some(row.id),
        ..Links::default()
    };
    books
        .post(
            w.db(),
            Movement::Reversal {
                amount: original.amount_minor,
                recommit,
            },
            today,
            links,
        )
        .await?;
    let mut g: grant::ActiveModel = current.clone().into();
    g.disbursed_minor = Set(current.disbursed_minor - original.amount_minor);
    g.version = Set(current.version + 1);
    g.updated_at = Set(Utc::now());
    g.update(w.db()).await?;
    let view = Disbursement::try_from(row)?;
    let location = format!("/api/v1/grants/{}/disbursements/{}", current.id, view.id);
    w.commit(
        Change::created("reversal", view.id, &view),
        Reply::created(location, &view),
    )
    .await
}
