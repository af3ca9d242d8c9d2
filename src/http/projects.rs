//! `/projects`: cooperation projects, their participants and their life
//! cycle (the use cases are `app::projects`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned};
use super::status;
use crate::app::access::{self, Lock};
use crate::app::projects::{self, Participant, Project, distinct};
use crate::domain::Date;
use crate::domain::kinds::{ParticipantRole, RioMarkers, Sector};
use crate::domain::status::ProjectStatus;
use crate::domain::{Code, CountryCode, LongText, Note, ShortText};
use crate::entities::{participant, project, project_country};
use axum::extract::State;
use sea_orm::sea_query::{Expr, ExprTrait, Query as SqlQuery};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use std::collections::HashMap;
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

impl Versioned for Project {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

impl Versioned for Participant {
    fn version(&self) -> Option<i32> {
        None
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
        #[schema(required = true, min_items = 1)]
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
        #[schema(min_items = 1)]
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
    /// `health`: each project also carries its health today in its own zone,
    /// judged as `/projects/{id}/status` judges it (one more query for the page).
    include: Option<Include>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

/// What a project list may carry besides the projects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    Health,
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
    let mut select = access::visible_projects(project::Entity::find(), &caller, project::Column::Id);
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
    let health = match q.include {
        Some(Include::Health) => status::health_of(&state.db, state.clock.today(None), &rows).await?,
        None => HashMap::new(),
    };
    Ok(axum::Json(Page::from_rows(
        rows,
        page,
        |r| r.id,
        |r| Project {
            health: health.get(&r.id).copied(),
            ..Project::from(r)
        },
    )))
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
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = projects::New {
        code,
        title,
        summary,
        alliance_id,
        sector,
        countries,
        rio_markers: rio,
        planned_start,
        planned_end,
        actual_start,
        actual_end,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = projects::create(&mut uow, new).await?;
    let location = format!("/api/v1/projects/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The project", body = Project, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = access::project(&state.db, &caller, id, Lock::No).await?;
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
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<ProjectChanges>,
) -> ApiResult<Reply> {
    let changes = projects::Changes {
        code: v.change("code", body.code),
        title: v.change("title", body.title),
        summary: v.change_nullable("summary", body.summary),
        alliance_id: v.change_nullable("alliance_id", body.alliance_id),
        sector: v.change("sector", body.sector),
        countries: v.change("countries", body.countries).map(distinct),
        rio_markers: v.change("rio_markers", body.rio_markers),
        planned_start: v.change("planned_start", body.planned_start).map(Date::naive),
        planned_end: v.change("planned_end", body.planned_end).map(Date::naive),
        actual_start: v
            .change_nullable("actual_start", body.actual_start)
            .map(|d| d.map(Date::naive)),
        actual_end: v
            .change_nullable("actual_end", body.actual_end)
            .map(|d| d.map(Date::naive)),
    };
    if let Some(c) = &changes.countries {
        v.check(!c.is_empty(), "countries", "needs at least one country");
    }
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = projects::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
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
        return Err(v.incomplete());
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = projects::transition(&mut uow, id, to, note).await?;
    caller.commit(uow, Reply::ok(&view)).await
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
    access::project(&state.db, &caller, id, Lock::No).await?;
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
        return Err(v.incomplete());
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = projects::add_participant(&mut uow, id, institution_id, role).await?;
    let location = format!("/api/v1/projects/{id}/participants/{institution_id}");
    caller.commit(uow, Reply::created(location, &view)).await
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
    let mut uow = caller.begin(&state.db).await?;
    projects::remove_participant(&mut uow, id, institution_id).await?;
    caller.commit(uow, Reply::no_content()).await
}
