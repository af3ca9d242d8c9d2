//! What a project promised by when, how it moves from `planned` to a final
//! state, and the progress reports partners post.

use super::access::{self, Lock, seen_then};
use super::clock::Today;
use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::kinds::Role;
use crate::domain::status::MilestoneStatus;
use crate::domain::{LongText, Note, ShortText};
use crate::entities::{milestone, progress_report};
use crate::store::outbox::Audience;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "milestone";

/// A milestone of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Milestone {
    pub id: Uuid,
    pub project_id: Uuid,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub description: Option<serde_json::Value>,
    pub due_on: NaiveDate,
    pub status: MilestoneStatus,
    pub achieved_on: Option<NaiveDate>,
    pub evidence: Option<String>,
    /// `due_on` is past (today in the project's zone, or the list's `as_of`) and the milestone is still open.
    pub overdue: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl Milestone {
    /// The view with `overdue` judged on `today` (in the project's zone unless fixed).
    pub fn judged(m: milestone::Model, today: Today) -> Self {
        let as_of = today.in_zone(&m.time_zone);
        Milestone {
            overdue: m.status.is_overdue(m.due_on, as_of),
            id: m.id,
            project_id: m.project_id,
            title: m.title,
            description: m.description,
            due_on: m.due_on,
            status: m.status,
            achieved_on: m.achieved_on,
            evidence: m.evidence,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<milestone::Model> for Milestone {
    fn from(m: milestone::Model) -> Self {
        Milestone::judged(m, Today::InEachZone(Utc::now()))
    }
}

record!(milestone => Milestone, KIND, audience = |m: &milestone::Model| Audience {
    project_id: Some(m.project_id),
    recipient_id: None,
});

/// A progress report on a milestone.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressReport {
    pub id: Uuid,
    pub milestone_id: Uuid,
    pub note: String,
    #[schema(minimum = 0, maximum = 100)]
    pub progress_percent: Option<i16>,
    pub reported_on: NaiveDate,
    /// The id of the token that posted the report.
    pub reported_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<progress_report::Model> for ProgressReport {
    fn from(m: progress_report::Model) -> Self {
        ProgressReport {
            id: m.id,
            milestone_id: m.milestone_id,
            note: m.note,
            progress_percent: m.progress_percent,
            reported_on: m.reported_on,
            reported_by: m.token_id,
            created_at: m.created_at,
        }
    }
}

/// A share of the work done, 0 to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(try_from = "i64")]
#[schema(value_type = u8, minimum = 0, maximum = 100)]
pub struct Percent(i16);

impl TryFrom<i64> for Percent {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match i16::try_from(v) {
            Ok(p) if (0..=100).contains(&p) => Ok(Percent(p)),
            _ => Err(format!("must be between 0 and 100, not {v}")),
        }
    }
}

pub struct New {
    pub title: ShortText,
    pub description: Option<LongText>,
    pub due_on: NaiveDate,
}

/// Absent fields (`None`) stay; `Some(None)` clears the description.
#[derive(Default)]
pub struct Changes {
    pub title: Option<ShortText>,
    pub description: Option<Option<LongText>>,
    pub due_on: Option<NaiveDate>,
}

pub struct NewReport {
    pub note: Note,
    pub progress_percent: Option<Percent>,
    /// Default today (UTC).
    pub reported_on: Option<NaiveDate>,
}

/// A milestone of one of the actor's projects, locked, that only an admin
/// may change (404 before 403).
async fn for_change(uow: &UnitOfWork, id: Uuid) -> AppResult<milestone::Model> {
    let actor = uow.actor();
    seen_then(access::milestone(uow.db(), actor, id, Lock::Exclusive).await, || {
        actor.require_admin()
    })
}

fn invalid_transition(m: crate::domain::status::InvalidMove) -> AppError {
    AppError::conflict("invalid_transition", m.0)
}

pub async fn create(uow: &mut UnitOfWork, project_id: Uuid, new: New) -> AppResult<Milestone> {
    // Visibility first: a partner must not learn that a project it cannot see exists.
    let actor = uow.actor();
    // Locked: the milestone takes the project's zone as it stands (see `projects::refresh_zone`).
    let project = seen_then(
        access::project(uow.db(), actor, project_id, Lock::Exclusive).await,
        || actor.require_admin(),
    )?;
    let id = Uuid::now_v7();
    let row = milestone::ActiveModel {
        id: Set(id),
        project_id: Set(project_id),
        title: Set(to_json(&new.title)),
        description: Set(new.description.as_ref().map(to_json)),
        due_on: Set(new.due_on),
        status: Set(MilestoneStatus::Planned),
        achieved_on: Set(None),
        evidence: Set(None),
        time_zone: Set(project.time_zone),
        ..Default::default()
    }
    .insert(uow.db())
    .await?;
    uow.count_milestone(None, &row);
    let view = Milestone::from(row);
    uow.record(Change::created(KIND, id, &view).in_project(project_id));
    Ok(view)
}

/// Saves a change to a milestone and moves its count in the tallies.
async fn save(
    uow: &mut UnitOfWork,
    current: milestone::Model,
    expected: Expected,
    how: How<'_>,
    apply: impl FnOnce(&mut milestone::ActiveModel),
) -> AppResult<Milestone> {
    let before = current.clone();
    let (saved, view) = versioned::update(uow, current, expected, how, apply).await?;
    uow.count_milestone(Some(&before), &saved);
    Ok(view)
}

pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Milestone> {
    let current = for_change(uow, id).await?;
    save(uow, current, expected, How::Update, |row| {
        if let Some(title) = c.title {
            row.title = Set(to_json(&title));
        }
        if let Some(description) = c.description {
            row.description = Set(description.as_ref().map(to_json));
        }
        if let Some(due_on) = c.due_on {
            row.due_on = Set(due_on);
        }
    })
    .await
}

/// A move through `/transitions` (to `in_progress`, `missed` or `cancelled`).
pub async fn transition(
    uow: &mut UnitOfWork,
    id: Uuid,
    to: MilestoneStatus,
    note: Option<Note>,
) -> AppResult<Milestone> {
    let current = for_change(uow, id).await?;
    current.status.check_move(to).map_err(invalid_transition)?;
    let how = How::Transition {
        to: to.as_str(),
        note: note.as_ref().map(Note::as_str),
    };
    save(uow, current, Expected::Any, how, |row| row.status = Set(to)).await
}

/// The milestone is met: when, and what shows it.
pub async fn achieve(uow: &mut UnitOfWork, id: Uuid, achieved_on: NaiveDate, evidence: Note) -> AppResult<Milestone> {
    let current = for_change(uow, id).await?;
    current.status.check_achievable().map_err(invalid_transition)?;
    let how = How::Named {
        action: "achieve",
        event: "achieved",
    };
    save(uow, current, Expected::Any, how, |row| {
        row.status = Set(MilestoneStatus::Achieved);
        row.achieved_on = Set(Some(achieved_on));
        row.evidence = Set(Some(evidence.into_string()));
    })
    .await
}

/// Admins, and partners on the projects they take part in, report progress; viewers only read.
pub async fn report(uow: &mut UnitOfWork, milestone_id: Uuid, new: NewReport) -> AppResult<ProgressReport> {
    let actor = uow.actor();
    let milestone = seen_then(
        access::milestone(uow.db(), actor, milestone_id, Lock::No).await,
        || match actor.role {
            Role::Admin | Role::Partner => Ok(()),
            Role::Viewer => Err(AppError::Forbidden("viewer tokens cannot post progress reports")),
        },
    )?;
    let token_id = actor.token_id().ok_or(AppError::Forbidden(
        "a progress report needs a token to name its author",
    ))?;
    let id = Uuid::now_v7();
    let row = progress_report::ActiveModel {
        id: Set(id),
        milestone_id: Set(milestone_id),
        note: Set(new.note.into_string()),
        progress_percent: Set(new.progress_percent.map(|p| p.0)),
        reported_on: Set(new.reported_on.unwrap_or_else(today)),
        token_id: Set(token_id),
        created_at: Set(Utc::now()),
    }
    .insert(uow.db())
    .await?;
    let view = ProgressReport::from(row);
    uow.record(Change::created("progress_report", id, &view).in_project(milestone.project_id));
    Ok(view)
}
