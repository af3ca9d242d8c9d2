//! `/projects`: cooperation projects, their participants and their life cycle.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Input, Path, Query};
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned, check_if_match};
use super::scope;
use super::write::{Change, Write};
use crate::domain::Date;
use crate::domain::kinds::{ParticipantRole, RioMarkers, Sector};
use crate::domain::status::ProjectStatus;
use crate::domain::{Code, CountryCode, LongText, Note, ShortText};
use crate::entities::{alliance, institution, participant, project, project_country};
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query as SqlQuery};
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
        .routes(routes!(list_participants, add_participant))
        .routes(routes!(remove_participant))
}

/// A cooperation project.
#[derive(Serialize, ToSchema)]
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
    #[schema(value_type = ProjectStatus)]
    pub status: String,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub actual_start: Option<NaiveDate>,
    pub actual_end: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
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
        }
    }
}

impl Versioned for Project {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

crate::input! {
    /// A new project; it starts `planned`.
    #[schema(example = json!({"code": "vavau-livelihood-supplies", "title": {"en": "Livelihood supplies for Vava'u", "zh": "瓦瓦乌群岛生活物资援助"},
        "sector": "humanitarian_supplies", "countries": ["TO"], "rio_markers": {"mitigation": 0, "adaptation": 1},
        "planned_start": "2025-03-01", "planned_end": "2025-12-31"}))]
    pub struct NewProject {
        #[schema(required = true)]
        code: Code,
        #[schema(required = true)]
        title: ShortText,
        summary: Option<LongText>,
        alliance_id: Option<Uuid>,
        #[schema(required = true)]
        sector: Sector,
        /// At least one ISO alpha-2 country.
        #[schema(required = true)]
        countries: Vec<CountryCode>,
        #[schema(required = true)]
        rio_markers: RioMarkers,
        #[schema(required = true)]
        planned_start: Date,
        #[schema(required = true)]
        planned_end: Date,
        actual_start: Option<Date>,
        actual_end: Option<Date>,
    }
}

crate::input! {
    /// Changes to a project: absent fields stay, `null` clears an optional one.
    /// `status` changes only through `/transitions`.
    pub struct ProjectChanges {
        code: Code,
        title: ShortText,
        summary: Option<LongText>,
        alliance_id: Option<Uuid>,
        sector: Sector,
        countries: Vec<CountryCode>,
        rio_markers: RioMarkers,
        planned_start: Date,
        planned_end: Date,
        actual_start: Option<Date>,
        actual_end: Option<Date>,
    }
}

crate::input! {
    /// A status move, e.g. `{"to": "active", "note": "kick-off held in Nuku'alofa"}`.
    pub struct ProjectTransition {
        #[schema(required = true)]
        to: ProjectStatus,
        note: Option<Note>,
    }
}

crate::input! {
    /// An institution taking part in a project.
    pub struct NewParticipant {
        #[schema(required = true)]
        institution_id: Uuid,
        #[schema(required = true)]
        role: ParticipantRole,
    }
}

/// A participant of a project.
#[derive(Serialize, ToSchema)]
pub struct Participant {
    pub project_id: Uuid,
    pub institution_id: Uuid,
    #[schema(value_type = ParticipantRole)]
    pub role: String,
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

impl Versioned for Participant {
    fn version(&self) -> Option<i32> {
        None
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProjects {
    status: Option<ProjectStatus>,
    alliance_id: Option<Uuid>,
    /// Projects in this country (ISO alpha-2).
    #[param(value_type = Option<CountryCode>)]
    country: Option<CountryCode>,
    sector: Option<Sector>,
    /// Projects this institution participates in.
    institution_id: Option<Uuid>,
    /// Matches the title in any language.
    q: Option<String>,
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

fn participants_of(institution: Uuid) -> sea_orm::sea_query::SelectStatement {
    SqlQuery::select()
        .column(participant::Column::ProjectId)
        .from(participant::Entity)
        .and_where(Expr::col(participant::Column::InstitutionId).eq(institution))
        .to_owned()
}

#[utoipa::path(get, path = "/projects", tag = "projects", params(ListProjects),
    responses((status = 200, description = "A page of projects the token may see", body = Page<Project>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListProjects>,
) -> ApiResult<axum::Json<Page<Project>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = scope::visible_projects(project::Entity::find(), &caller, project::Column::Id);
    if let Some(status) = q.status {
        select = select.filter(project::Column::Status.eq(status.as_str()));
    }
    if let Some(alliance) = q.alliance_id {
        select = select.filter(project::Column::AllianceId.eq(alliance));
    }
    if let Some(sector) = q.sector {
        select = select.filter(project::Column::Sector.eq(sector.as_str()));
    }
    if let Some(country) = q.country {
        let in_country = SqlQuery::select()
            .column(project_country::Column::ProjectId)
            .from(project_country::Entity)
            .and_where(Expr::col(project_country::Column::Country).eq(country.as_str()))
            .to_owned();
        select = select.filter(project::Column::Id.in_subquery(in_country));
    }
    if let Some(institution) = q.institution_id {
        select = select.filter(project::Column::Id.in_subquery(participants_of(institution)));
    }
    if let Some(text) = q.q.as_deref().filter(|t| !t.is_empty()) {
        select = select.filter(project::Column::Search.like(contains_pattern(text)));
    }
    if let Some(after) = page.after {
        select = select.filter(project::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(project::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Project::from)))
}

/// Checks that referenced rows exist; a missing one is a 422 on its field.
async fn check_alliance(db: &impl ConnectionTrait, id: Option<Uuid>) -> ApiResult<()> {
    if let Some(id) = id
        && alliance::Entity::find_by_id(id).count(db).await? == 0
    {
        return Err(ApiError::field("alliance_id", "no alliance has this id"));
    }
    Ok(())
}

/// Distinct countries, in the order given.
fn distinct(countries: Vec<CountryCode>) -> Vec<CountryCode> {
    let mut seen = Vec::with_capacity(countries.len());
    for c in countries {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    seen
}

async fn store_countries(db: &impl ConnectionTrait, project_id: Uuid, countries: &[CountryCode]) -> ApiResult<()> {
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

#[utoipa::path(post, path = "/projects", tag = "projects", request_body = NewProject,
    responses(
        (status = 201, description = "Created, status `planned`", body = Project, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body, mut v): Input<NewProject>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.required("code", body.code);
    let title = v.required("title", body.title);
    let summary = v.optional("summary", body.summary);
    let alliance_id = v.optional("alliance_id", body.alliance_id);
    let sector = v.required("sector", body.sector);
    let countries = v.required("countries", body.countries).map(distinct);
    let rio = v.required("rio_markers", body.rio_markers);
    let planned_start = v.required("planned_start", body.planned_start).map(Date::naive);
    let planned_end = v.required("planned_end", body.planned_end).map(Date::naive);
    let actual_start = v.optional("actual_start", body.actual_start).map(Date::naive);
    let actual_end = v.optional("actual_end", body.actual_end).map(Date::naive);
    if let Some(c) = &countries {
        v.check(!c.is_empty(), "countries", "needs at least one country");
    }
    if let (Some(s), Some(e)) = (planned_start, planned_end) {
        v.check(e >= s, "planned_end", "may not be before planned_start");
    }
    if let (Some(s), Some(e)) = (actual_start, actual_end) {
        v.check(e >= s, "actual_end", "may not be before actual_start");
    }
    let (Some(code), Some(title), Some(sector), Some(countries), Some(rio), Some(planned_start), Some(planned_end)) =
        (code, title, sector, countries, rio, planned_start, planned_end)
    else {
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    check_alliance(w.db(), alliance_id).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    w.hold_project(id).await?;
    let row = project::ActiveModel {
        id: Set(id),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        code: Set(code.into()),
        search: Set(title.search_text()),
        title: Set(serde_json::to_value(&title).unwrap_or_default()),
        summary: Set(summary.map(|s| serde_json::to_value(&s).unwrap_or_default())),
        alliance_id: Set(alliance_id),
        sector: Set(sector.as_str().to_owned()),
        countries: Set(serde_json::to_value(&countries).unwrap_or_default()),
        rio_mitigation: Set(rio.mitigation.value().into()),
        rio_adaptation: Set(rio.adaptation.value().into()),
        status: Set(ProjectStatus::Planned.as_str().to_owned()),
        planned_start: Set(planned_start),
        planned_end: Set(planned_end),
        actual_start: Set(actual_start),
        actual_end: Set(actual_end),
    }
    .insert(w.db())
    .await?;
    store_countries(w.db(), id, &countries).await?;
    let view = Project::from(row);
    let change = Change::created("project", id, &view);
    w.commit(change, Reply::created(format!("/api/v1/projects/{id}"), &view))
        .await
}

#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The project", body = Project, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = scope::project(&state.db, &caller, id, false).await?;
    Ok(Reply::ok(&Project::from(row)))
}

#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", request_body = ProjectChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Project, headers(("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Input(body, mut v): Input<ProjectChanges>,
) -> ApiResult<Reply> {
    let code = v.change("code", body.code);
    let title = v.change("title", body.title);
    let summary = v.change_nullable("summary", body.summary);
    let alliance_id = v.change_nullable("alliance_id", body.alliance_id);
    let sector = v.change("sector", body.sector);
    let countries = v.change("countries", body.countries).map(distinct);
    let rio = v.change("rio_markers", body.rio_markers);
    let planned_start = v.change("planned_start", body.planned_start).map(Date::naive);
    let planned_end = v.change("planned_end", body.planned_end).map(Date::naive);
    let actual_start = v
        .change_nullable("actual_start", body.actual_start)
        .map(|d| d.map(Date::naive));
    let actual_end = v
        .change_nullable("actual_end", body.actual_end)
        .map(|d| d.map(Date::naive));
    if let Some(c) = &countries {
        v.check(!c.is_empty(), "countries", "needs at least one country");
    }
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let current = scope::project(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    check_if_match(&headers, current.version)?;
    w.hold_project(id).await?;
    if let Some(alliance) = alliance_id {
        check_alliance(w.db(), alliance).await?;
    }
    let start = planned_start.unwrap_or(current.planned_start);
    let end = planned_end.unwrap_or(current.planned_end);
    let actual = (
        actual_start.unwrap_or(current.actual_start),
        actual_end.unwrap_or(current.actual_end),
    );
    let mut dates = super::input::Validator::default();
    dates.check(end >= start, "planned_end", "may not be before planned_start");
    if let (Some(s), Some(e)) = actual {
        dates.check(e >= s, "actual_end", "may not be before actual_start");
    }
    dates.finish()?;

    let before = Project::from(current.clone());
    let mut row: project::ActiveModel = current.into();
    if let Some(code) = code {
        row.code = Set(code.into());
    }
    if let Some(title) = title {
        row.search = Set(title.search_text());
        row.title = Set(serde_json::to_value(&title).unwrap_or_default());
    }
    if let Some(summary) = summary {
        row.summary = Set(summary.map(|s| serde_json::to_value(&s).unwrap_or_default()));
    }
    if let Some(alliance) = alliance_id {
        row.alliance_id = Set(alliance);
    }
    if let Some(sector) = sector {
        row.sector = Set(sector.as_str().to_owned());
    }
    if let Some(countries) = &countries {
        row.countries = Set(serde_json::to_value(countries).unwrap_or_default());
        store_countries(w.db(), id, countries).await?;
    }
    if let Some(rio) = rio {
        row.rio_mitigation = Set(rio.mitigation.value().into());
        row.rio_adaptation = Set(rio.adaptation.value().into());
    }
    row.planned_start = Set(start);
    row.planned_end = Set(end);
    row.actual_start = Set(actual.0);
    row.actual_end = Set(actual.1);
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Project::from(row.update(w.db()).await?);
    let change = Change::updated("project", id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
}

#[utoipa::path(post, path = "/projects/{id}/transitions", tag = "projects", request_body = ProjectTransition,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The project in its new status", body = Project, headers(("ETag" = String))),
        (status = 409, description = "`invalid_transition`: the move is not allowed from the current status", body = Problem, content_type = "application/problem+json"),
    ))]
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<ProjectTransition>,
) -> ApiResult<Reply> {
    let to = v.required("to", body.to);
    let note = v.optional("note", body.note);
    let Some(to) = to else {
        return Err(v.finish().err().unwrap_or(ApiError::field("to", "is required")));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let current = scope::project(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    w.hold_project(id).await?;
    let from: ProjectStatus = current
        .status
        .parse()
        .map_err(|_| ApiError::Internal(format!("project {id} has status {}", current.status)))?;
    if !from.can_move_to(to) {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("a project cannot move from {} to {}", from.as_str(), to.as_str()),
        ));
    }
    let before = Project::from(current.clone());
    let today = Utc::now().date_naive();
    let mut row: project::ActiveModel = current.clone().into();
    row.status = Set(to.as_str().to_owned());
    // The real dates follow the moves unless they were recorded already.
    if to == ProjectStatus::Active && current.actual_start.is_none() {
        row.actual_start = Set(Some(today));
    }
    if to == ProjectStatus::Completed && current.actual_end.is_none() {
        row.actual_end = Set(Some(today));
    }
    row.version = Set(current.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Project::from(row.update(w.db()).await?);
    let mut after = serde_json::to_value(&view).unwrap_or_default();
    after["note"] = serde_json::json!(note.map(Note::into_string));
    let change = Change::action(format!("transition:{}", to.as_str()), "project", id, &before, &after);
    w.commit(change, Reply::ok(&view)).await
}

#[utoipa::path(get, path = "/projects/{id}/participants", tag = "projects", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The institutions taking part", body = Page<Participant>)))]
async fn list_participants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Participant>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    scope::project(&state.db, &caller, id, false).await?;
    let mut select = participant::Entity::find().filter(participant::Column::ProjectId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(participant::Column::InstitutionId.gt(after));
    }
    let rows = select
        .order_by_asc(participant::Column::InstitutionId)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        page,
        |r| r.institution_id,
        Participant::from,
    )))
}

#[utoipa::path(post, path = "/projects/{id}/participants", tag = "projects", request_body = NewParticipant,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Added", body = Participant, headers(("Location" = String))),
        (status = 409, description = "`duplicate`: the institution already takes part", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewParticipant>,
) -> ApiResult<Reply> {
    let institution_id = v.required("institution_id", body.institution_id);
    let role = v.required("role", body.role);
    let (Some(institution_id), Some(role)) = (institution_id, role) else {
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    scope::project(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    w.hold_project(id).await?;
    if institution::Entity::find_by_id(institution_id).count(w.db()).await? == 0 {
        return Err(ApiError::field("institution_id", "no institution has this id"));
    }
    let row = participant::ActiveModel {
        project_id: Set(id),
        institution_id: Set(institution_id),
        role: Set(role.as_str().to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(w.db())
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { code: "duplicate", .. } => {
            ApiError::conflict("duplicate", "this institution already takes part in the project")
        }
        other => other,
    })?;
    let view = Participant::from(row);
    let change = Change::created("participant", id, &view);
    let location = format!("/api/v1/projects/{id}/participants/{institution_id}");
    w.commit(change, Reply::created(location, &view)).await
}

#[utoipa::path(delete, path = "/projects/{id}/participants/{institution_id}", tag = "projects",
    params(("id" = Uuid, Path), ("institution_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "`still_referenced`: grants to this participant exist", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, institution_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Reply> {
    let mut w = Write::begin(&state.db, &caller).await?;
    scope::project(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    w.hold_project(id).await?;
    let current = participant::Entity::find_by_id((id, institution_id))
        .one(w.db())
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = Participant::from(current);
    participant::Entity::delete_by_id((id, institution_id))
        .exec(w.db())
        .await?;
    w.commit(Change::deleted("participant", id, &before), Reply::no_content())
        .await
}
