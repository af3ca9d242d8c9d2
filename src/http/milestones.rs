//! `/milestones`: what a project promised by when, how it moves from
//! `planned` to a final state, and the progress reports partners post.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Input, Path, Query};
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned, check_if_match};
use super::scope;
use super::write::{Change, Write};
use crate::domain::Date;
use crate::domain::kinds::Role;
use crate::domain::status::MilestoneStatus;
use crate::domain::{LongText, Note, ShortText};
use crate::entities::{milestone, progress_report};
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Condition, IntoCondition};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
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

/// A milestone of a project.
#[derive(Serialize, ToSchema)]
pub struct Milestone {
    pub id: Uuid,
    pub project_id: Uuid,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub description: Option<serde_json::Value>,
    pub due_on: NaiveDate,
    #[schema(value_type = MilestoneStatus)]
    pub status: String,
    pub achieved_on: Option<NaiveDate>,
    pub evidence: Option<String>,
    /// `due_on` is past (today UTC, or the list's `as_of`) and the milestone is still open.
    pub overdue: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Milestone {
    /// The view with `overdue` judged on `as_of`.
    fn as_of(m: milestone::Model, as_of: NaiveDate) -> Self {
        Milestone {
            overdue: is_overdue(&m.status, m.due_on, as_of),
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
        Milestone::as_of(m, today())
    }
}

impl Versioned for Milestone {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

/// A progress report on a milestone.
#[derive(Serialize, ToSchema)]
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

/// Reports are never changed after they are posted, so they carry no version.
impl Versioned for ProgressReport {
    fn version(&self) -> Option<i32> {
        None
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
    /// The day `overdue` is judged on; default today (UTC).
    as_of: Option<Date>,
    project_id: Option<Uuid>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The latest date that is already "today" somewhere: partners in Kiribati
/// live at UTC+14, so their today may be tomorrow in UTC and is not the future.
fn latest_today() -> NaiveDate {
    (Utc::now() + Duration::hours(14)).date_naive()
}

pub(crate) fn parse_status(m: &milestone::Model) -> ApiResult<MilestoneStatus> {
    m.status
        .parse()
        .map_err(|_| ApiError::Internal(format!("milestone {} has status {}", m.id, m.status)))
}

fn is_overdue(status: &str, due_on: NaiveDate, as_of: NaiveDate) -> bool {
    status
        .parse::<MilestoneStatus>()
        .is_ok_and(|s| s.is_overdue(due_on, as_of))
}

/// The statuses still open, as stored, so the SQL filter follows `MilestoneStatus::is_open`.
pub(crate) fn open_statuses() -> Vec<&'static str> {
    MilestoneStatus::VARIANTS
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect()
}

/// `overdue` as a SQL condition, matching [`is_overdue`].
pub(crate) fn overdue_condition(as_of: NaiveDate) -> Condition {
    Condition::all()
        .add(milestone::Column::DueOn.lt(as_of))
        .add(milestone::Column::Status.is_in(open_statuses()))
}

/// Loads a milestone of a project the caller may see, or 404. `lock` takes
/// a row lock (PostgreSQL) for a read-modify-write inside a transaction.
async fn visible(db: &impl ConnectionTrait, caller: &Caller, id: Uuid, lock: bool) -> ApiResult<milestone::Model> {
    let mut select = scope::visible_projects(milestone::Entity::find_by_id(id), caller, milestone::Column::ProjectId);
    if lock {
        select = select.lock_exclusive();
    }
    select.one(db).await?.ok_or(ApiError::NotFound)
}

fn localized<T: Serialize>(text: &T) -> serde_json::Value {
    serde_json::to_value(text).unwrap_or_default()
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
    scope::project(&state.db, &caller, id, false).await?;
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
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    // Visibility first: a partner must not learn that a project it cannot see exists.
    scope::project(w.db(), &caller, project_id, false).await?;
    caller.require_admin()?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let row = milestone::ActiveModel {
        id: Set(id),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        project_id: Set(project_id),
        title: Set(localized(&title)),
        description: Set(description.as_ref().map(localized)),
        due_on: Set(due_on),
        status: Set(MilestoneStatus::Planned.as_str().to_owned()),
        achieved_on: Set(None),
        evidence: Set(None),
    }
    .insert(w.db())
    .await?;
    w.count_milestone(None, &row);
    let view = Milestone::from(row);
    let change = Change::created("milestone", id, &view);
    w.commit(change, Reply::created(format!("/api/v1/milestones/{id}"), &view))
        .await
}

#[utoipa::path(get, path = "/milestones", tag = "milestones", params(ListMilestones),
    responses((status = 200, description = "A page of milestones the token may see, oldest first", body = Page<Milestone>)))]
async fn list_milestones(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListMilestones>,
) -> ApiResult<axum::Json<Page<Milestone>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let as_of = q.as_of.map(Date::naive).unwrap_or_else(today);
    let mut select = scope::visible_projects(milestone::Entity::find(), &caller, milestone::Column::ProjectId);
    if let Some(status) = q.status {
        select = select.filter(milestone::Column::Status.eq(status.as_str()));
    }
    match q.overdue {
        Some(true) => select = select.filter(overdue_condition(as_of)),
        Some(false) => select = select.filter(overdue_condition(as_of).not().into_condition()),
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
        |m| Milestone::as_of(m, as_of),
    )))
}

#[utoipa::path(get, path = "/milestones/{id}", tag = "milestones", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The milestone", body = Milestone, headers(("ETag" = String)))))]
async fn get_milestone(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = visible(&state.db, &caller, id, false).await?;
    Ok(Reply::ok(&Milestone::from(row)))
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
    headers: HeaderMap,
    Input(body, mut v): Input<MilestoneChanges>,
) -> ApiResult<Reply> {
    let title = v.change("title", body.title);
    let description = v.change_nullable("description", body.description);
    let due_on = v.change("due_on", body.due_on).map(Date::naive);
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let current = visible(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    check_if_match(&headers, current.version)?;
    let before = Milestone::from(current.clone());
    let mut row: milestone::ActiveModel = current.clone().into();
    if let Some(title) = title {
        row.title = Set(localized(&title));
    }
    if let Some(description) = description {
        row.description = Set(description.as_ref().map(localized));
    }
    if let Some(due_on) = due_on {
        row.due_on = Set(due_on);
    }
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let updated = row.update(w.db()).await?;
    w.count_milestone(Some(&current), &updated);
    let view = Milestone::from(updated);
    let change = Change::updated("milestone", id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
}

/// Refuses a move the life cycle does not allow; `achieved` needs its evidence, so it has its own action.
fn check_move(from: MilestoneStatus, to: MilestoneStatus) -> ApiResult<()> {
    if to == MilestoneStatus::Achieved {
        return Err(ApiError::conflict(
            "invalid_transition",
            "a milestone is achieved through POST /milestones/{id}/achieve, with its evidence",
        ));
    }
    if !from.can_move_to(to) {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("a milestone cannot move from {} to {}", from.as_str(), to.as_str()),
        ));
    }
    Ok(())
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
        return Err(v.finish().err().unwrap_or(ApiError::field("to", "is required")));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let current = visible(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    check_move(parse_status(&current)?, to)?;
    let before = Milestone::from(current.clone());
    let mut row: milestone::ActiveModel = current.clone().into();
    row.status = Set(to.as_str().to_owned());
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let updated = row.update(w.db()).await?;
    w.count_milestone(Some(&current), &updated);
    let view = Milestone::from(updated);
    // The milestone has no column for the note; the audit trail keeps it.
    let mut after = serde_json::to_value(&view).unwrap_or_default();
    after["note"] = serde_json::json!(note.map(Note::into_string));
    let change = Change::action(format!("transition:{}", to.as_str()), "milestone", id, &before, &after);
    w.commit(change, Reply::ok(&view)).await
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
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let mut w = Write::begin(&state.db, &caller).await?;
    let current = visible(w.db(), &caller, id, true).await?;
    caller.require_admin()?;
    let from = parse_status(&current)?;
    if !from.can_be_achieved() {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!("a milestone that is {} cannot be achieved", from.as_str()),
        ));
    }
    let before = Milestone::from(current.clone());
    let mut row: milestone::ActiveModel = current.clone().into();
    row.status = Set(MilestoneStatus::Achieved.as_str().to_owned());
    row.achieved_on = Set(Some(achieved_on));
    row.evidence = Set(Some(evidence.into_string()));
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let updated = row.update(w.db()).await?;
    w.count_milestone(Some(&current), &updated);
    let view = Milestone::from(updated);
    let change = Change::action("achieve", "milestone", id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
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
    visible(&state.db, &caller, id, false).await?;
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

/// Admins, and partners on the projects they take part in, report progress; viewers only read.
fn require_reporter(caller: &Caller) -> ApiResult<()> {
    match caller.role {
        Role::Admin | Role::Partner => Ok(()),
        Role::Viewer => Err(ApiError::Forbidden("viewer tokens cannot post progress reports")),
    }
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
        return Err(v.finish().err().unwrap_or(ApiError::field("note", "is required")));
    };
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    visible(w.db(), &caller, milestone_id, false).await?;
    require_reporter(&caller)?;
    let id = Uuid::now_v7();
    let row = progress_report::ActiveModel {
        id: Set(id),
        milestone_id: Set(milestone_id),
        note: Set(note.into_string()),
        progress_percent: Set(progress_percent.map(|p| p.0)),
        reported_on: Set(reported_on.unwrap_or_else(today)),
        token_id: Set(caller.token_id),
        created_at: Set(Utc::now()),
    }
    .insert(w.db())
    .await?;
    let view = ProgressReport::from(row);
    let change = Change::created("progress_report", id, &view);
    let location = format!("/api/v1/milestones/{milestone_id}/reports/{id}");
    w.commit(change, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/milestones/{id}/reports/{report_id}", tag = "milestones",
    params(("id" = Uuid, Path), ("report_id" = Uuid, Path)),
    responses((status = 200, description = "The progress report", body = ProgressReport)))]
async fn get_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((milestone_id, report_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Reply> {
    visible(&state.db, &caller, milestone_id, false).await?;
    let row = progress_report::Entity::find_by_id(report_id)
        .filter(progress_report::Column::MilestoneId.eq(milestone_id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&ProgressReport::from(row)))
}
