//! Cooperation projects, their participants and their life cycle.

use super::access::{self, Lock, seen_then};
use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::health::Health;
use crate::domain::kinds::{ParticipantRole, RioMarkers, Sector};
use crate::domain::status::ProjectStatus;
use crate::domain::{Code, CountryCode, LongText, Note, ShortText};
use crate::entities::{alliance, institution, milestone, participant, project, project_country};
use crate::store;
use crate::store::outbox::Audience;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "project";

/// A cooperation project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    pub id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub summary: Option<serde_json::Value>,
    pub alliance_id: Option<Uuid>,
    #[schema(value_type = Sector)]
    pub sector: String,
    #[schema(value_type = Vec<CountryCode>)]
    pub countries: serde_json::Value,
    pub rio_markers: RioMarkersView,
    pub status: ProjectStatus,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub actual_start: Option<NaiveDate>,
    pub actual_end: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Only in lists asked with `include=health`: the project's health
    /// today in its own zone, as its status page judges it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RioMarkersView {
    #[schema(minimum = 0, maximum = 2)]
    pub mitigation: i16,
    #[schema(minimum = 0, maximum = 2)]
    pub adaptation: i16,
}

impl From<project::Model> for Project {
    fn from(m: project::Model) -> Self {
        Project {
            id: m.id,
            code: m.code,
            title: m.title,
            summary: m.summary,
            alliance_id: m.alliance_id,
            sector: m.sector,
            countries: m.countries,
            rio_markers: RioMarkersView {
                mitigation: m.rio_mitigation,
                adaptation: m.rio_adaptation,
            },
            status: m.status,
            planned_start: m.planned_start,
            planned_end: m.planned_end,
            actual_start: m.actual_start,
            actual_end: m.actual_end,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            health: None,
        }
    }
}

record!(project => Project, KIND, audience = |p: &project::Model| Audience {
    project_id: Some(p.id),
    recipient_id: None,
});

/// A participant of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Participant {
    pub project_id: Uuid,
    pub institution_id: Uuid,
    pub role: ParticipantRole,
    pub created_at: DateTime<Utc>,
}

impl From<participant::Model> for Participant {
    fn from(m: participant::Model) -> Self {
        Participant {
            project_id: m.project_id,
            institution_id: m.institution_id,
            role: m.role,
            created_at: m.created_at,
        }
    }
}

pub struct New {
    pub code: Code,
    pub title: ShortText,
    pub summary: Option<LongText>,
    pub alliance_id: Option<Uuid>,
    pub sector: Sector,
    /// At least one, distinct.
    pub countries: Vec<CountryCode>,
    pub rio_markers: RioMarkers,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub actual_start: Option<NaiveDate>,
    pub actual_end: Option<NaiveDate>,
}

/// Absent fields (`None`) stay; `Some(None)` clears an optional one.
#[derive(Default)]
pub struct Changes {
    pub code: Option<Code>,
    pub title: Option<ShortText>,
    pub summary: Option<Option<LongText>>,
    pub alliance_id: Option<Option<Uuid>>,
    pub sector: Option<Sector>,
    pub countries: Option<Vec<CountryCode>>,
    pub rio_markers: Option<RioMarkers>,
    pub planned_start: Option<NaiveDate>,
    pub planned_end: Option<NaiveDate>,
    pub actual_start: Option<Option<NaiveDate>>,
    pub actual_end: Option<Option<NaiveDate>>,
}

const DUPLICATE: &str = "a project with this code already exists";

/// Distinct countries, in the order given.
pub fn distinct(countries: Vec<CountryCode>) -> Vec<CountryCode> {
    let mut seen = Vec::with_capacity(countries.len());
    for c in countries {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen
}

async fn check_alliance(db: &impl ConnectionTrait, id: Option<Uuid>) -> AppResult<()> {
    if let Some(id) = id
        && alliance::Entity::find_by_id(id).count(db).await? == 0
    {
        return Err(AppError::field("alliance_id", "no alliance has this id"));
    }
    Ok(())
}

/// The project's dates in order: the end of a span is not before its start.
fn check_dates(planned: (NaiveDate, NaiveDate), actual: (Option<NaiveDate>, Option<NaiveDate>)) -> AppResult<()> {
    let mut errors = Vec::new();
    if planned.1 < planned.0 {
        errors.push(super::FieldError::new("planned_end", "may not be before planned_start"));
    }
    if let (Some(s), Some(e)) = actual
        && e < s
    {
        errors.push(super::FieldError::new("actual_end", "may not be before actual_start"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

async fn store_countries(db: &impl ConnectionTrait, project_id: Uuid, countries: &[CountryCode]) -> AppResult<()> {
    project_country::Entity::delete_many()
        .filter(project_country::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    let rows = countries.iter().map(|c| project_country::ActiveModel {
        project_id: Set(project_id),
        country: Set(c.to_string()),
    });
    project_country::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<Project> {
    uow.actor().require_admin()?;
    if new.countries.is_empty() {
        return Err(AppError::field("countries", "needs at least one country"));
    }
    check_dates((new.planned_start, new.planned_end), (new.actual_start, new.actual_end))?;
    check_alliance(uow.db(), new.alliance_id).await?;
    let id = Uuid::now_v7();
    uow.hold_project(id).await?;
    let countries = distinct(new.countries);
    let row = project::ActiveModel {
        id: Set(id),
        code: Set(new.code.into()),
        search: Set(new.title.search_text()),
        title: Set(to_json(&new.title)),
        summary: Set(new.summary.as_ref().map(to_json)),
        alliance_id: Set(new.alliance_id),
        sector: Set(new.sector.as_str().to_owned()),
        countries: Set(to_json(&countries)),
        rio_mitigation: Set(new.rio_markers.mitigation.value().into()),
        rio_adaptation: Set(new.rio_markers.adaptation.value().into()),
        status: Set(ProjectStatus::Planned),
        planned_start: Set(new.planned_start),
        planned_end: Set(new.planned_end),
        actual_start: Set(new.actual_start),
        actual_end: Set(new.actual_end),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| AppError::from(e).on_duplicate(DUPLICATE))?;
    store_countries(uow.db(), id, &countries).await?;
    let view = Project::from(row);
    uow.record(Change::created(KIND, id, &view).in_project(id));
    Ok(view)
}

/// A project of the actor's, locked, that only an admin may change (404 before 403).
async fn for_change(uow: &UnitOfWork, id: Uuid) -> AppResult<project::Model> {
    let actor = uow.actor();
    seen_then(access::project(uow.db(), actor, id, Lock::Exclusive).await, || {
        actor.require_admin()
    })
}

pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Project> {
    if c.countries.as_ref().is_some_and(Vec::is_empty) {
        return Err(AppError::field("countries", "needs at least one country"));
    }
    let current = for_change(uow, id).await?;
    expected.check(current.version)?;
    uow.hold_project(id).await?;
    if let Some(alliance) = c.alliance_id {
        check_alliance(uow.db(), alliance).await?;
    }
    let planned = (
        c.planned_start.unwrap_or(current.planned_start),
        c.planned_end.unwrap_or(current.planned_end),
    );
    let actual = (
        c.actual_start.unwrap_or(current.actual_start),
        c.actual_end.unwrap_or(current.actual_end),
    );
    check_dates(planned, actual)?;
    let countries = c.countries.map(distinct);
    if let Some(countries) = &countries {
        store_countries(uow.db(), id, countries).await?;
    }
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(code) = c.code {
            row.code = Set(code.into());
        }
        if let Some(title) = c.title {
            row.search = Set(title.search_text());
            row.title = Set(to_json(&title));
        }
        if let Some(summary) = c.summary {
            row.summary = Set(summary.as_ref().map(to_json));
        }
        if let Some(alliance) = c.alliance_id {
            row.alliance_id = Set(alliance);
        }
        if let Some(sector) = c.sector {
            row.sector = Set(sector.as_str().to_owned());
        }
        if let Some(countries) = &countries {
            row.countries = Set(to_json(countries));
        }
        if let Some(rio) = c.rio_markers {
            row.rio_mitigation = Set(rio.mitigation.value().into());
            row.rio_adaptation = Set(rio.adaptation.value().into());
        }
        row.planned_start = Set(planned.0);
        row.planned_end = Set(planned.1);
        row.actual_start = Set(actual.0);
        row.actual_end = Set(actual.1);
    })
    .await
    .map_err(|e| e.on_duplicate(DUPLICATE))?;
    Ok(view)
}

/// Moves a project through its life cycle; the real dates follow the
/// moves unless they were recorded already.
pub async fn transition(uow: &mut UnitOfWork, id: Uuid, to: ProjectStatus, note: Option<Note>) -> AppResult<Project> {
    let current = for_change(uow, id).await?;
    uow.hold_project(id).await?;
    current
        .status
        .check_move(to)
        .map_err(|m| AppError::conflict("invalid_transition", m.0))?;
    let today = Utc::now().date_naive();
    let starts = to.starts_work() && current.actual_start.is_none();
    let ends = to.ends_work() && current.actual_end.is_none();
    let how = How::Transition {
        to: to.as_str(),
        note: note.as_ref().map(Note::as_str),
    };
    let (_, view) = versioned::update(uow, current, Expected::Any, how, |row| {
        row.status = Set(to);
        if starts {
            row.actual_start = Set(Some(today));
        }
        if ends {
            row.actual_end = Set(Some(today));
        }
    })
    .await?;
    Ok(view)
}

/// Keeps the project's zone (its deadlines' clock) the lead participant's:
/// called after a change of participants or of a lead institution's zone.
/// The milestones follow the project, and so do their tallies.
pub async fn refresh_zone(uow: &mut UnitOfWork, project_id: Uuid) -> AppResult<()> {
    let zone = store::zones::of_project(uow.db(), project_id).await?;
    // Locked, so a milestone made meanwhile takes the zone it will keep.
    let found = project::Entity::find_by_id(project_id)
        .lock_exclusive()
        .one(uow.db())
        .await?;
    let Some(current) = found else {
        return Ok(());
    };
    if current.time_zone == zone.as_str() {
        return Ok(());
    }
    let milestones = milestone::Entity::find()
        .filter(milestone::Column::ProjectId.eq(project_id))
        .all(uow.db())
        .await?;
    store::zones::set_project_zone(uow.db(), project_id, &zone).await?;
    for before in milestones {
        let after = milestone::Model {
            time_zone: zone.as_str().to_owned(),
            ..before.clone()
        };
        uow.count_milestone(Some(&before), &after);
    }
    Ok(())
}

pub async fn add_participant(
    uow: &mut UnitOfWork,
    project_id: Uuid,
    institution_id: Uuid,
    role: ParticipantRole,
) -> AppResult<Participant> {
    for_change(uow, project_id).await?;
    uow.hold_project(project_id).await?;
    if institution::Entity::find_by_id(institution_id).count(uow.db()).await? == 0 {
        return Err(AppError::field("institution_id", "no institution has this id"));
    }
    let row = participant::ActiveModel {
        project_id: Set(project_id),
        institution_id: Set(institution_id),
        role: Set(role),
        created_at: Set(Utc::now()),
    }
    .insert(uow.db())
    .await
    .map_err(|e| AppError::from(e).on_duplicate("this institution already takes part in the project"))?;
    refresh_zone(uow, project_id).await?;
    let view = Participant::from(row);
    uow.record(Change::created("participant", project_id, &view).in_project(project_id));
    Ok(view)
}

pub async fn remove_participant(uow: &mut UnitOfWork, project_id: Uuid, institution_id: Uuid) -> AppResult<()> {
    for_change(uow, project_id).await?;
    uow.hold_project(project_id).await?;
    let current = participant::Entity::find_by_id((project_id, institution_id))
        .one(uow.db())
        .await?
        .ok_or(AppError::NotFound)?;
    let before = Participant::from(current);
    participant::Entity::delete_by_id((project_id, institution_id))
        .exec(uow.db())
        .await
        .map_err(|e| AppError::from(e).on_still_referenced("grants to this participant exist"))?;
    refresh_zone(uow, project_id).await?;
    uow.record(Change::deleted("participant", project_id, &before).in_project(project_id));
    Ok(())
}
