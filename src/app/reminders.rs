//! Reminders: `milestone.due_soon` some days before a milestone's due date
//! and `milestone.overdue` the first day after it, both judged in the
//! project's own zone, once per milestone and due date (a new due date may
//! remind again), as outbox events (so webhooks hear them) and, when mail
//! is set up, as e-mail to the lead institution's contact in its language.
//!
//! "Once" holds across instances and restarts: a reminder is recorded in
//! `reminders` (primary key: milestone, due date, kind) in the same unit of
//! work as its event, and a second scheduler's insert finds it there.

use super::clock::Today;
use super::milestones::Milestone;
use super::{AppResult, UnitOfWork, to_json};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::kinds::ParticipantRole;
use crate::domain::status::MilestoneStatus;
use crate::entities::{institution, mail_delivery, milestone, participant, project, reminder};
use crate::store;
use crate::store::outbox::{Audience, NewEvent};
use chrono::{DateTime, Days, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use strum::VariantArray;
use uuid::Uuid;

/// Overdue reminders catch up at most this many days (after an outage, or
/// when reminders are first switched on), never years of old milestones.
const OVERDUE_CATCH_UP_DAYS: u64 = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    DueSoon,
    Overdue,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DueSoon => "due_soon",
            Kind::Overdue => "overdue",
        }
    }
}

/// A milestone to remind of.
pub struct Due {
    pub milestone: milestone::Model,
    pub kind: Kind,
    /// The date in the project's zone when it was found.
    pub today: NaiveDate,
}

fn open_statuses() -> Vec<MilestoneStatus> {
    MilestoneStatus::VARIANTS
        .iter()
        .filter(|s| s.is_open())
        .copied()
        .collect()
}

/// Open milestones due within `days` (due soon) or due in the last week
/// (overdue), judged in each project's zone at `now`, not yet reminded of.
/// One indexed query per kind and per date the zones are at.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, days: u32, limit: u64) -> AppResult<Vec<Due>> {
    let today = Today::InEachZone(now);
    let mut found = Vec::new();
    for (date, zones) in today.groups(store::zones::in_use(db).await?) {
        let zones = zones.unwrap_or_default();
        let windows = [
            (
                Kind::DueSoon,
                date,
                date.checked_add_days(Days::new(u64::from(days))).unwrap_or(date),
            ),
            (
                Kind::Overdue,
                date.checked_sub_days(Days::new(OVERDUE_CATCH_UP_DAYS)).unwrap_or(date),
                date.pred_opt().unwrap_or(date),
            ),
        ];
        for (kind, from, to) in windows {
            if from > to {
                continue;
            }
            let sent = Query::select()
                .expr(Expr::val(1))
                .from(reminder::Entity)
                .and_where(
                    Expr::col((reminder::Entity, reminder::Column::MilestoneId))
                        .equals((milestone::Entity, milestone::Column::Id)),
                )
                .and_where(
                    Expr::col((reminder::Entity, reminder::Column::DueOn))
                        .equals((milestone::Entity, milestone::Column::DueOn)),
                )
                .and_where(Expr::col((reminder::Entity, reminder::Column::Kind)).eq(kind.as_str()))
                .to_owned();
            let rows = milestone::Entity::find()
                .filter(milestone::Column::TimeZone.is_in(zones.clone()))
                .filter(milestone::Column::DueOn.between(from, to))
                .filter(milestone::Column::Status.is_in(open_statuses()))
                .filter(Expr::exists(sent).not())
                // The id breaks ties so that racing sweeps insert their reminder
                // keys in one order and never deadlock each other on PostgreSQL.
                .order_by_asc(milestone::Column::DueOn)
                .order_by_asc(milestone::Column::Id)
                .limit(limit)
                .all(db)
                .await?;
            found.extend(rows.into_iter().map(|milestone| Due {
                milestone,
                kind,
                today: date,
            }));
        }
    }
    Ok(found)
}

/// Sends one reminder (its event, and its e-mail when `mail` is on) unless
/// another scheduler already did; true when this one sent it.
pub async fn remind(uow: &mut UnitOfWork, due: &Due, mail: bool, now: DateTime<Utc>) -> AppResult<bool> {
    let m = &due.milestone;
    let row = reminder::ActiveModel {
        milestone_id: Set(m.id),
        due_on: Set(m.due_on),
        kind: Set(due.kind.as_str().to_owned()),
        sent_at: Set(now),
    };
    let inserted = reminder::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                reminder::Column::MilestoneId,
                reminder::Column::DueOn,
                reminder::Column::Kind,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(uow.db())
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let view = Milestone::judged(m.clone(), Today::On(due.today));
    let audience = Audience {
        project_id: Some(m.project_id),
        recipient_id: None,
    };
    uow.announce(NewEvent::new(
        format!("milestone.{}", due.kind.as_str()),
        "milestone",
        m.id,
        audience,
        to_json(&view),
    ));
    if mail {
        queue_mail(uow, due, now).await?;
    }
    Ok(true)
}

/// The lead institution's contact, if it has one, in its language.
async fn queue_mail(uow: &UnitOfWork, due: &Due, now: DateTime<Utc>) -> AppResult<()> {
    let m = &due.milestone;
    let lead = participant::Entity::find()
        .filter(participant::Column::ProjectId.eq(m.project_id))
        .filter(participant::Column::Role.eq(ParticipantRole::Lead))
        .order_by_asc(participant::Column::CreatedAt)
        .one(uow.db())
        .await?;
    let Some(lead) = lead else { return Ok(()) };
    let Some(institution) = institution::Entity::find_by_id(lead.institution_id)
        .one(uow.db())
        .await?
    else {
        return Ok(());
    };
    let Some(to) = institution.contact_email.clone() else {
        return Ok(());
    };
    let project = project::Entity::find_by_id(m.project_id).one(uow.db()).await?;
    let language = if institution.country == "CN" { "zh" } else { "en" };
    let (subject, body) = render(due, project.as_ref(), language);
    mail_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_seq: Set(None),
        to_address: Set(to),
        language: Set(language.to_owned()),
        subject: Set(subject),
        body: Set(body),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    }
    .insert(uow.db())
    .await?;
    Ok(())
}

/// The text of a localized JSON value in `language`, else English, else any.
fn text_in(value: &serde_json::Value, language: &str) -> String {
    let pick = |l: &str| value.get(l).and_then(|v| v.as_str());
    pick(language)
        .or_else(|| pick("en"))
        .or_else(|| value.as_object().and_then(|o| o.values().find_map(|v| v.as_str())))
        .unwrap_or_default()
        .to_owned()
}

/// Subject and body of a reminder, in English or Chinese.
pub fn render(due: &Due, project: Option<&project::Model>, language: &str) -> (String, String) {
    let m = &due.milestone;
    let milestone = text_in(&m.title, language);
    let project = project.map(|p| text_in(&p.title, language)).unwrap_or_default();
    let days = (m.due_on - due.today).num_days();
    match (due.kind, language) {
        (Kind::DueSoon, "zh") => (
            format!("里程碑将于{}到期：{milestone}", m.due_on),
            format!(
                "项目“{project}”的里程碑“{milestone}”将于{}（{}时间）到期，还有{days}天。\n\n此邮件由 climate-tracker 自动发送。",
                m.due_on, m.time_zone
            ),
        ),
        (Kind::Overdue, "zh") => (
            format!("里程碑已逾期：{milestone}"),
            format!(
                "项目“{project}”的里程碑“{milestone}”已于{}（{}时间）到期，尚未完成。\n\n此邮件由 climate-tracker 自动发送。",
                m.due_on, m.time_zone
            ),
        ),
        (Kind::DueSoon, _) => (
            format!("Milestone due on {}: {milestone}", m.due_on),
            format!(
                "The milestone \"{milestone}\" of the project \"{project}\" is due on {} ({} time), in {days} day(s).\n\nThis message was sent by climate-tracker.",
                m.due_on, m.time_zone
            ),
        ),
        (Kind::Overdue, _) => (
            format!("Milestone overdue: {milestone}"),
            format!(
                "The milestone \"{milestone}\" of the project \"{project}\" was due on {} ({} time) and is not yet achieved.\n\nThis message was sent by climate-tracker.",
                m.due_on, m.time_zone
            ),
        ),
    }
}
