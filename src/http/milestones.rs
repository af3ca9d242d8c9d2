//! `/milestones`: what a project promised by when, how it moves from
//! `planned` to a final state, and the progress reports partners post (the
//! use cases are `app::milestones`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned};
use crate::app::access::{self, Lock};
use crate::app::clock::Today;
use crate::app::milestones::{self, Milestone, Percent, ProgressReport};
use crate::domain::Date;
use crate::domain::status::MilestoneStatus;
use crate::domain::{LongText, Note, ShortText};
use crate::entities::{milestone, progress_report};
use crate::store;
use axum::extract::State;
use chrono::{Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Condition, IntoCondition};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use strum::VariantArray;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_project_milestones, create_milestone))
        .routes(routes!(list_milestones))
        .routes(routes!(get_milestone, patch_milestone))
        .routes(routes!(transition_milestone))
        .routes(routes!(achieve_milestone))
        .routes(routes!(list_reports, create_report))
        .routes(routes!(get_report))
}

impl Versioned for Milestone {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }

    /// `overdue` is judged on today.
    fn fixed_by_version(&self) -> bool {
        false
    }
}

/// Reports are never changed after they are posted, so they carry no version.
impl Versioned for ProgressReport {
    fn version(&self) -> Option<i32> {
        None
    }
}

crate::input! {
    /// A new milestone; it starts `planned`.
    #[schema(example = json!({"title": {"en": "Solar array commissioned", "zh": "光伏阵列投入使用"},
        "due_on": "2025-09-30"}))]
    pub struct NewMilestone {
        #[schema(required = true)]
        title: ShortText,
        description: Option<LongText>,
        #[schema(required = true)]
        due_on: Date,
    }
}

crate::input! {
    /// Changes to a milestone: absent fields stay, `null` clears the description.
    /// `status` changes only through `/transitions` and `/achieve`.
    pub struct MilestoneChanges {
        title: ShortText,
        description: Option<LongText>,
        due_on: Date,
    }
}

crate::input! {
    /// A status move, e.g. `{"to": "in_progress", "note": "site works started"}`.
    /// `achieved` is reached only through `/achieve`, which records the evidence.
    pub struct MilestoneTransition {
        #[schema(required = true)]
        to: MilestoneStatus,
        note: Option<Note>,
    }
}

crate::input! {
    /// The milestone is met: when, and what shows it.
    #[schema(example = json!({"achieved_on": "2025-09-12", "evidence": "Commissioning certificate No. 2025-114"}))]
    pub struct Achievement {
        #[schema(required = true)]
        achieved_on: Date,
        #[schema(required = true)]
        evidence: Note,
    }
}

crate::input! {
    /// A progress report; `reported_on` defaults to today (UTC).
    #[schema(example = json!({"note": "Panels delivered to Nuku'alofa", "progress_percent": 40}))]
    pub struct NewProgressReport {
        #[schema(required = true)]
        note: Note,
        progress_percent: Option<Percent>,
        reported_on: Option<Date>,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMilestones {
    status: Option<MilestoneStatus>,
    /// `true`: only milestones due before `as_of` and still `planned` or `in_progress`;
    /// `false`: only the others.
    overdue: Option<bool>,
    /// Only milestones with `due_on` before this date.
    due_before: Option<Date>,
    /// The day `overdue` is judged on; default today in each milestone's project's zone.
    as_of: Option<Date>,
    project_id: Option<Uuid>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

/// The latest date that is already "today" somewhere: partners in Kiribati
/// live at UTC+14, so their today may be tomorrow in UTC and is not the future.
pub(crate) fn latest_today() -> NaiveDate {
    (Utc::now() + Duration::hours(14)).date_naive()
}

/// The statuses still open, as stored, so the SQL filter follows `MilestoneStatus::is_open`.
pub(crate) fn open_statuses() -> Vec<MilestoneStatus> {
    MilestoneStatus::VARIANTS
        .iter()
        .filter(|s| s.is_open())
        .copied()
        .collect()
}

/// `overdue` as a SQL condition, matching `MilestoneStatus::is_overdue`
/// judged on `today`: one date, or each milestone's project's own date
/// (one branch per date the zones in use are at).
async fn overdue_condition(db: &impl ConnectionTrait, today: Today) -> ApiResult<Condition> {
    let mut due = Condition::any();
    for (date, zones) in today.groups(store::zones::in_use(db).await?) {
        let mut branch = Condition::all().add(milestone::Column::DueOn.lt(date));
        if let Some(zones) = zones {
            branch = branch.add(milestone::Column::TimeZone.is_in(zones));
        }
        due = due.add(branch);
    }
    Ok(Condition::all()
        .add(due)
        .add(milestone::Column::Status.is_in(open_statuses())))
}

/// A milestone of a project the caller may see, or 404.
async fn visible(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<milestone::Model> {
    Ok(access::milestone(&state.db, caller, id, Lock::No).await?)
}

#[utoipa::path(get, path = "/projects/{id}/milestones", tag = "milestones", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The project's milestones, oldest first", body = Page<Milestone>)))]
async fn list_project_milestones(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Milestone>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    access::project(&state.db, &caller, id, Lock::No).await?;
    let mut select = milestone::Entity::find().filter(milestone::Column::ProjectId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(milestone::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(milestone::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Milestone::from)))
}

#[utoipa::path(post, path = "/projects/{id}/milestones", tag = "milestones", request_body = NewMilestone,
    params(("id" = Uuid, Path)),
    responses((status = 201, description = "Created, status `planned`", body = Milestone, headers(("Location" = String), ("ETag" = String)))))]
async fn create_milestone(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<Uuid>,
    Input(body, mut v): Input<NewMilestone>,
) -> ApiResult<Reply> {
    let title = v.required("title", body.title);
    let description = v.optional("description", body.description);
    let due_on = v.required("due_on", body.due_on).map(Date::naive);
    let (Some(title), Some(due_on)) = (title, due_on) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = milestones::New {
        title,
        description,
        due_on,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = milestones::create(&mut uow, project_id, new).await?;
    let location = format!("/api/v1/milestones/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/milestones", tag = "milestones", params(ListMilestones),
    responses((status = 200, description = "A page of milestones the token may see, oldest first", body = Page<Milestone>)))]
async fn list_milestones(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListMilestones>,
) -> ApiResult<axum::Json<Page<Milestone>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let today = state.clock.today(q.as_of.map(Date::naive));
    let mut select = access::visible_projects(milestone::Entity::find(), &caller, milestone::Column::ProjectId);
    if let Some(status) = q.status {
        select = select.filter(milestone::Column::Status.eq(status));
    }
    match q.overdue {
        Some(true) => select = select.filter(overdue_condition(&state.db, today).await?),
        Some(false) => select = select.filter(overdue_condition(&state.db, today).await?.not().into_condition()),
        None => {}
    }
    if let Some(before) = q.due_before.map(Date::naive) {
        select = select.filter(milestone::Column::DueOn.lt(before));
    }
    if let Some(project) = q.project_id {
        select = select.filter(milestone::Column::ProjectId.eq(project));
    }
    if let Some(after) = page.after {
        select = select.filter(milestone::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(milestone::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(
        rows,
        page,
        |r| r.id,
        |m| Milestone::judged(m, today),
    )))
}

#[utoipa::path(get, path = "/milestones/{id}", tag = "milestones", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The milestone", body = Milestone, headers(("ETag" = String)))))]
async fn get_milestone(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = visible(&state, &caller, id).await?;
    Ok(Reply::ok(&Milestone::judged(row, state.clock.today(None))))
}

#[utoipa::path(patch, path = "/milestones/{id}", tag = "milestones", request_body = MilestoneChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Milestone, headers(("ETag" = String))),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_milestone(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<MilestoneChanges>,
) -> ApiResult<Reply> {
    let changes = milestones::Changes {
        title: v.change("title", body.title),
        description: v.change_nullable("description", body.description),
        due_on: v.change("due_on", body.due_on).map(Date::naive),
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = milestones::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(post, path = "/milestones/{id}/transitions", tag = "milestones", request_body = MilestoneTransition,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The milestone in its new status", body = Milestone, headers(("ETag" = String))),
        (status = 409, description = "`invalid_transition`: the move is not allowed from the current status, or is to `achieved`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn transition_milestone(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<MilestoneTransition>,
) -> ApiResult<Reply> {
    let to = v.required("to", body.to);
    let note = v.optional("note", body.note);
    let Some(to) = to else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = milestones::transition(&mut uow, id, to, note).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(post, path = "/milestones/{id}/achieve", tag = "milestones", request_body = Achievement,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The milestone, now `achieved`", body = Milestone, headers(("ETag" = String))),
        (status = 409, description = "`invalid_transition`: only a `planned` or `in_progress` milestone can be achieved", body = Problem, content_type = "application/problem+json"),
    ))]
async fn achieve_milestone(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<Achievement>,
) -> ApiResult<Reply> {
    let achieved_on = v.required("achieved_on", body.achieved_on).map(Date::naive);
    if let Some(day) = achieved_on {
        v.check(day <= latest_today(), "achieved_on", "may not be in the future");
    }
    let evidence = v.required("evidence", body.evidence);
    let (Some(achieved_on), Some(evidence)) = (achieved_on, evidence) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = milestones::achieve(&mut uow, id, achieved_on, evidence).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(get, path = "/milestones/{id}/reports", tag = "milestones", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The milestone's progress reports, oldest first", body = Page<ProgressReport>)))]
async fn list_reports(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<ProgressReport>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    visible(&state, &caller, id).await?;
    let mut select = progress_report::Entity::find().filter(progress_report::Column::MilestoneId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(progress_report::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(progress_report::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, ProgressReport::from)))
}

#[utoipa::path(post, path = "/milestones/{id}/reports", tag = "milestones", request_body = NewProgressReport,
    params(("id" = Uuid, Path)),
    responses((status = 201, description = "Posted", body = ProgressReport, headers(("Location" = String)))))]
async fn create_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(milestone_id): Path<Uuid>,
    Input(body, mut v): Input<NewProgressReport>,
) -> ApiResult<Reply> {
    let note = v.required("note", body.note);
    let progress_percent = v.optional("progress_percent", body.progress_percent);
    let reported_on = v.optional("reported_on", body.reported_on).map(Date::naive);
    if let Some(day) = reported_on {
        v.check(day <= latest_today(), "reported_on", "may not be in the future");
    }
    let Some(note) = note else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = milestones::NewReport {
        note,
        progress_percent,
        reported_on,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = milestones::report(&mut uow, milestone_id, new).await?;
    let location = format!("/api/v1/milestones/{milestone_id}/reports/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/milestones/{id}/reports/{report_id}", tag = "milestones",
    params(("id" = Uuid, Path), ("report_id" = Uuid, Path)),
    responses((status = 200, description = "The progress report", body = ProgressReport)))]
async fn get_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((milestone_id, report_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Reply> {
    visible(&state, &caller, milestone_id).await?;
    let row = progress_report::Entity::find_by_id(report_id)
        .filter(progress_report::Column::MilestoneId.eq(milestone_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&ProgressReport::from(row)))
}
