//! Results and indicators (SPEC §6): `/projects/{id}/results`, `/results`,
//! `/indicators`, `/periods`, `/updates` and `/standard-indicators` (the
//! use cases are `app::results`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned};
use crate::app::access::{self, Lock};
use crate::app::results::standard::{self, Progress, StandardIndicator};
use crate::app::results::{self, Baseline, Indicator, IndicatorProgress, Period, ProjectResult, Target, Update};
use crate::domain::results::{Dimension, Disaggregation, Measure, ResultType, UpdateStatus, Value};
use crate::domain::{Code, CountryCode, Date, Line, LongText, Note, ShortText};
use crate::entities::{indicator, indicator_period, indicator_update, result, standard_indicator};
use crate::store::indicator_tallies::Scope;
use axum::extract::State;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_standard, create_standard))
        .routes(routes!(get_standard, patch_standard))
        .routes(routes!(standard_progress))
        .routes(routes!(list_results, create_result))
        .routes(routes!(get_result, patch_result, delete_result))
        .routes(routes!(project_indicators))
        .routes(routes!(list_indicators, create_indicator))
        .routes(routes!(get_indicator, patch_indicator))
        .routes(routes!(list_periods, create_period))
        .routes(routes!(get_period, patch_period))
        .routes(routes!(list_updates, create_update))
        .routes(routes!(get_update, patch_update))
        .routes(routes!(transition_update))
}

macro_rules! versioned {
    ($($t:ty),+) => {$(
        impl Versioned for $t {
            fn version(&self) -> Option<i32> {
                Some(self.version)
            }
        }
    )+};
}
versioned!(StandardIndicator, ProjectResult, Indicator, Update);

impl Versioned for Period {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }

    /// `actual` moves when an update is approved, without a new version of the period.
    fn fixed_by_version(&self) -> bool {
        false
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

/// A page of rows in id order (ids are time-ordered: oldest first), each
/// made into its view; a view that cannot be made (damaged data) fails the page.
async fn page_of<E, V>(
    state: &AppState,
    select: Select<E>,
    id: E::Column,
    q: PageParams,
    key: impl Fn(&E::Model) -> Uuid,
    view: impl Fn(E::Model) -> crate::app::AppResult<V>,
) -> ApiResult<Page<V>>
where
    E: EntityTrait,
    E::Column: ColumnTrait,
{
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = select;
    if let Some(after) = page.after {
        select = select.filter(id.gt(after));
    }
    let rows = select.order_by_asc(id).limit(page.fetch()).all(&state.db).await?;
    let Page { items, next_cursor } = Page::from_rows(rows, page, key, |r| r);
    let items = items.into_iter().map(view).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

// ----- standard indicators -----

crate::input! {
    /// A standard indicator: what the fund sums across projects.
    #[schema(example = json!({"code": "ghg-emissions-reduced", "title": {"en": "GHG emissions reduced", "zh": "温室气体减排量"},
        "measure": "unit", "unit": "tCO2e"}))]
    pub struct NewStandardIndicator {
        #[schema(required = true)]
        code: Code,
        #[schema(required = true)]
        title: ShortText,
        /// `unit` or `percentage`.
        #[schema(required = true)]
        measure: Measure,
        /// Required for `unit`.
        unit: Option<Line>,
        /// Default true: a higher value is better.
        ascending: bool,
    }
}

crate::input! {
    /// Changes to a standard indicator; measure and unit are fixed once an indicator links to it.
    pub struct StandardIndicatorChanges {
        title: ShortText,
        measure: Measure,
        unit: Option<Line>,
        ascending: bool,
    }
}

#[utoipa::path(get, path = "/standard-indicators", tag = "results", params(PageParams),
    responses((status = 200, description = "The standard indicators, oldest first", body = Page<StandardIndicator>)))]
async fn list_standard(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<StandardIndicator>>> {
    let page = page_of(
        &state,
        standard_indicator::Entity::find(),
        standard_indicator::Column::Id,
        q,
        |r| r.id,
        |r| Ok(StandardIndicator::from(r)),
    )
    .await?;
    Ok(axum::Json(page))
}

#[utoipa::path(post, path = "/standard-indicators", tag = "results", request_body = NewStandardIndicator,
    responses(
        (status = 201, description = "Created", body = StandardIndicator, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_standard(
    State(state): State<AppState>,
    caller: Caller,
    Input(body, mut v): Input<NewStandardIndicator>,
) -> ApiResult<Reply> {
    let code = v.required("code", body.code);
    let title = v.required("title", body.title);
    let measure = v.required("measure", body.measure);
    let unit = v.optional("unit", body.unit);
    let ascending = v.change("ascending", body.ascending).unwrap_or(true);
    let (Some(code), Some(title), Some(measure)) = (code, title, measure) else {
        return Err(v.incomplete());
    };
    v.finish()?;
    let new = standard::New {
        code,
        title,
        measure,
        unit,
        ascending,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = standard::create(&mut uow, new).await?;
    let location = format!("/api/v1/standard-indicators/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/standard-indicators/{id}", tag = "results", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The standard indicator", body = StandardIndicator, headers(("ETag" = String)))))]
async fn get_standard(State(state): State<AppState>, _caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = standard_indicator::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&StandardIndicator::from(row)))
}

#[utoipa::path(patch, path = "/standard-indicators/{id}", tag = "results", request_body = StandardIndicatorChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = StandardIndicator, headers(("ETag" = String))),
        (status = 409, description = "`still_referenced`: indicators link to it, so its measure and unit stay", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_standard(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<StandardIndicatorChanges>,
) -> ApiResult<Reply> {
    let changes = standard::Changes {
        title: v.change("title", body.title),
        measure: v.change("measure", body.measure),
        unit: v.change_nullable("unit", body.unit),
        ascending: v.change("ascending", body.ascending),
    };
    v.finish()?;
    let mut uow = caller.begin(&state.db).await?;
    let view = standard::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressParams {
    /// Only periods that end in this year.
    #[param(minimum = 1900, maximum = 2200)]
    year: Option<i32>,
    /// Only projects with a grant of this fund that is approved, active or completed.
    fund_id: Option<Uuid>,
    /// Only projects in this country.
    country: Option<CountryCode>,
    alliance_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/standard-indicators/{id}/progress", tag = "results",
    params(("id" = Uuid, Path), ProgressParams),
    responses((status = 200, description = "Baseline, target and actual summed over the linked indicators in scope (staff)", body = Progress)))]
async fn standard_progress(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<ProgressParams>,
) -> ApiResult<axum::Json<Progress>> {
    caller.require_staff()?;
    if let Some(y) = q.year
        && !(1900..=2200).contains(&y)
    {
        return Err(ApiError::field("year", "must be between 1900 and 2200"));
    }
    let scope = Scope {
        year: q.year,
        fund_id: q.fund_id,
        country: q.country.map(|c| c.as_str().to_owned()),
        alliance_id: q.alliance_id,
    };
    Ok(axum::Json(standard::progress(&state.db, id, &scope).await?))
}

// ----- results -----

crate::input! {
    /// A result a project aims at.
    #[schema(example = json!({"type": "outcome", "title": {"en": "Lower diesel use on Tongatapu", "zh": "汤加塔布岛柴油用量下降"}}))]
    pub struct NewResult {
        #[serde(rename = "type")]
        #[schema(required = true)]
        result_type: ResultType,
        #[schema(required = true)]
        title: ShortText,
        description: Option<LongText>,
    }
}

crate::input! {
    /// Changes to a result: absent fields stay, `null` clears the description.
    pub struct ResultChanges {
        #[serde(rename = "type")]
        result_type: ResultType,
        title: ShortText,
        description: Option<LongText>,
    }
}

#[utoipa::path(get, path = "/projects/{id}/results", tag = "results", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The project's results, oldest first", body = Page<ProjectResult>)))]
async fn list_results(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<ProjectResult>>> {
    access::project(&state.db, &caller, id, Lock::No).await?;
    let select = result::Entity::find().filter(result::Column::ProjectId.eq(id));
    let page = page_of(
        &state,
        select,
        result::Column::Id,
        q,
        |r| r.id,
        |r| Ok(ProjectResult::from(r)),
    )
    .await?;
    Ok(axum::Json(page))
}

#[utoipa::path(post, path = "/projects/{id}/results", tag = "results", request_body = NewResult,
    params(("id" = Uuid, Path)),
    responses((status = 201, description = "Created", body = ProjectResult, headers(("Location" = String), ("ETag" = String)))))]
async fn create_result(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<Uuid>,
    Input(body, mut v): Input<NewResult>,
) -> ApiResult<Reply> {
    let result_type = v.required("type", body.result_type);
    let title = v.required("title", body.title);
    let description = v.optional("description", body.description);
    let (Some(result_type), Some(title)) = (result_type, title) else {
        return Err(v.incomplete());
    };
    v.finish()?;
    let new = results::NewResult {
        result_type,
        title,
        description,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = results::create_result(&mut uow, project_id, new).await?;
    let location = format!("/api/v1/results/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/results/{id}", tag = "results", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The result", body = ProjectResult, headers(("ETag" = String)))))]
async fn get_result(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = results::seen_result(&state.db, &caller, id).await?;
    Ok(Reply::ok(&ProjectResult::from(row)))
}

#[utoipa::path(patch, path = "/results/{id}", tag = "results", request_body = ResultChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = ProjectResult, headers(("ETag" = String))),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_result(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<ResultChanges>,
) -> ApiResult<Reply> {
    let changes = results::ResultChanges {
        result_type: v.change("type", body.result_type),
        title: v.change("title", body.title),
        description: v.change_nullable("description", body.description),
    };
    v.finish()?;
    let mut uow = caller.begin(&state.db).await?;
    let view = results::update_result(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(delete, path = "/results/{id}", tag = "results", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted, with its indicators, periods and their updates"),
        (status = 409, description = "`still_referenced`: an approved update reports on it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_result(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let mut uow = caller.begin(&state.db).await?;
    results::delete_result(&mut uow, id).await?;
    caller.commit(uow, Reply::no_content()).await
}

// ----- indicators -----

crate::input! {
    /// A new indicator of a result.
    #[schema(example = json!({"title": {"en": "Diesel displaced"}, "measure": "unit", "unit": "tCO2e",
        "baseline": {"year": 2024, "value": "0"}, "standard_indicator_id": null}))]
    pub struct NewIndicator {
        #[schema(required = true)]
        title: ShortText,
        description: Option<LongText>,
        #[schema(required = true)]
        measure: Measure,
        /// What a value counts, e.g. `tCO2e`; required for `unit`.
        unit: Option<Line>,
        /// Default true.
        ascending: bool,
        /// Default false.
        cumulative: bool,
        standard_indicator_id: Option<Uuid>,
        baseline: Option<Baseline>,
        /// Only for `unit` measures, e.g. `[{"name": "sex", "values": ["female", "male"]}]`.
        dimensions: Vec<Dimension>,
    }
}

crate::input! {
    /// Changes to an indicator: absent fields stay, `null` clears.
    /// `measure` cannot change once a period exists, `dimensions` once an update does.
    pub struct IndicatorChanges {
        title: ShortText,
        description: Option<LongText>,
        measure: Measure,
        unit: Option<Line>,
        ascending: bool,
        cumulative: bool,
        standard_indicator_id: Option<Uuid>,
        baseline: Option<Baseline>,
        dimensions: Vec<Dimension>,
    }
}

#[utoipa::path(get, path = "/projects/{id}/indicators", tag = "results", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "Every indicator of the project's results, oldest first, each with its \
        periods (targets and actuals): a project's progress in one request", body = Page<IndicatorProgress>)))]
async fn project_indicators(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<IndicatorProgress>>> {
    access::project(&state.db, &caller, id, Lock::No).await?;
    let select = indicator::Entity::find().filter(indicator::Column::ProjectId.eq(id));
    let page = page_of(&state, select, indicator::Column::Id, q, |r| r.id, Ok).await?;
    Ok(axum::Json(Page {
        items: results::progress_of(&state.db, page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/results/{id}/indicators", tag = "results", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The result's indicators, oldest first", body = Page<Indicator>)))]
async fn list_indicators(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Indicator>>> {
    results::seen_result(&state.db, &caller, id).await?;
    let select = indicator::Entity::find().filter(indicator::Column::ResultId.eq(id));
    let page = page_of(&state, select, indicator::Column::Id, q, |r| r.id, Indicator::try_from).await?;
    Ok(axum::Json(page))
}

#[utoipa::path(post, path = "/results/{id}/indicators", tag = "results", request_body = NewIndicator,
    params(("id" = Uuid, Path)),
    responses((status = 201, description = "Created", body = Indicator, headers(("Location" = String), ("ETag" = String)))))]
async fn create_indicator(
    State(state): State<AppState>,
    caller: Caller,
    Path(result_id): Path<Uuid>,
    Input(body, mut v): Input<NewIndicator>,
) -> ApiResult<Reply> {
    let title = v.required("title", body.title);
    let description = v.optional("description", body.description);
    let measure = v.required("measure", body.measure);
    let unit = v.optional("unit", body.unit);
    let ascending = v.change("ascending", body.ascending).unwrap_or(true);
    let cumulative = v.change("cumulative", body.cumulative).unwrap_or(false);
    let standard_indicator_id = v.optional("standard_indicator_id", body.standard_indicator_id);
    let baseline = v.optional("baseline", body.baseline);
    let dimensions = v.change("dimensions", body.dimensions).unwrap_or_default();
    let (Some(title), Some(measure)) = (title, measure) else {
        return Err(v.incomplete());
    };
    v.finish()?;
    let new = results::NewIndicator {
        title,
        description,
        measure,
        unit,
        ascending,
        cumulative,
        standard_indicator_id,
        baseline,
        dimensions,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = results::create_indicator(&mut uow, result_id, new).await?;
    let location = format!("/api/v1/indicators/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/indicators/{id}", tag = "results", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The indicator", body = Indicator, headers(("ETag" = String)))))]
async fn get_indicator(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = results::seen_indicator(&state.db, &caller, id).await?;
    Ok(Reply::ok(&Indicator::try_from(row)?))
}

#[utoipa::path(patch, path = "/indicators/{id}", tag = "results", request_body = IndicatorChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Indicator, headers(("ETag" = String))),
        (status = 409, description = "`invalid_state`: the measure with periods, or the dimensions with updates", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_indicator(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<IndicatorChanges>,
) -> ApiResult<Reply> {
    let changes = results::IndicatorChanges {
        title: v.change("title", body.title),
        description: v.change_nullable("description", body.description),
        measure: v.change("measure", body.measure),
        unit: v.change_nullable("unit", body.unit),
        ascending: v.change("ascending", body.ascending),
        cumulative: v.change("cumulative", body.cumulative),
        standard_indicator_id: v.change_nullable("standard_indicator_id", body.standard_indicator_id),
        baseline: v.change_nullable("baseline", body.baseline),
        dimensions: v.change("dimensions", body.dimensions),
    };
    v.finish()?;
    let mut uow = caller.begin(&state.db).await?;
    let view = results::update_indicator(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

// ----- periods -----

crate::input! {
    /// A reporting period: `period_start` before `period_end`, overlapping no other period of the indicator.
    #[schema(example = json!({"period_start": "2025-01-01", "period_end": "2025-12-31", "target": {"value": "120"}}))]
    pub struct NewPeriod {
        #[schema(required = true)]
        period_start: Date,
        #[schema(required = true)]
        period_end: Date,
        target: Option<Target>,
    }
}

crate::input! {
    /// Changes to a period; a locked period takes only `{"locked": false}`.
    pub struct PeriodChanges {
        period_start: Date,
        period_end: Date,
        target: Option<Target>,
        locked: bool,
    }
}

#[utoipa::path(get, path = "/indicators/{id}/periods", tag = "results", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The indicator's periods with their actuals, oldest first", body = Page<Period>)))]
async fn list_periods(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Period>>> {
    let indicator = results::seen_indicator(&state.db, &caller, id).await?;
    let select = indicator_period::Entity::find().filter(indicator_period::Column::IndicatorId.eq(id));
    let page = page_of(&state, select, indicator_period::Column::Id, q, |r| r.id, Ok).await?;
    let items = results::periods_with_actuals(&state.db, &indicator, page.items).await?;
    Ok(axum::Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(post, path = "/indicators/{id}/periods", tag = "results", request_body = NewPeriod,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Created", body = Period, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`conflict`: it overlaps another period of the indicator", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_period(
    State(state): State<AppState>,
    caller: Caller,
    Path(indicator_id): Path<Uuid>,
    Input(body, mut v): Input<NewPeriod>,
) -> ApiResult<Reply> {
    let period_start = v.required("period_start", body.period_start).map(Date::naive);
    let period_end = v.required("period_end", body.period_end).map(Date::naive);
    let target = v.optional("target", body.target);
    let (Some(period_start), Some(period_end)) = (period_start, period_end) else {
        return Err(v.incomplete());
    };
    v.check(period_start < period_end, "period_end", "must be after period_start");
    v.finish()?;
    let new = results::NewPeriod {
        period_start,
        period_end,
        target,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = results::create_period(&mut uow, indicator_id, new).await?;
    let location = format!("/api/v1/periods/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/periods/{id}", tag = "results", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The period with its actual", body = Period, headers(("ETag" = String)))))]
async fn get_period(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = results::seen_period(&state.db, &caller, id).await?;
    Ok(Reply::ok(&results::period_view(&state.db, row).await?))
}

#[utoipa::path(patch, path = "/periods/{id}", tag = "results", request_body = PeriodChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Period, headers(("ETag" = String))),
        (status = 409, description = "`conflict`: overlap; `period_locked`: only unlocking changes a locked period", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_period(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<PeriodChanges>,
) -> ApiResult<Reply> {
    let changes = results::PeriodChanges {
        period_start: v.change("period_start", body.period_start).map(Date::naive),
        period_end: v.change("period_end", body.period_end).map(Date::naive),
        target: v.change_nullable("target", body.target),
        locked: v.change("locked", body.locked),
    };
    v.finish()?;
    let mut uow = caller.begin(&state.db).await?;
    let view = results::update_period(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

// ----- updates -----

crate::input! {
    /// What was achieved in the period: `value` (unit), `numerator` and `denominator` (percentage),
    /// `narrative` (required for qualitative). It starts `draft`.
    #[schema(example = json!({"value": "42", "narrative": "Two villages connected",
        "disaggregations": [{"dimension": "sex", "value": "female", "amount": "25"}, {"dimension": "sex", "value": "male", "amount": "17"}]}))]
    pub struct NewUpdate {
        value: Option<Value>,
        numerator: Option<Value>,
        denominator: Option<Value>,
        narrative: Option<Note>,
        /// Default today (UTC).
        reported_on: Option<Date>,
        disaggregations: Vec<Disaggregation>,
    }
}

crate::input! {
    /// Changes to an update in `draft` or `returned`: absent fields stay, `null` clears.
    pub struct UpdateChanges {
        value: Option<Value>,
        numerator: Option<Value>,
        denominator: Option<Value>,
        narrative: Option<Note>,
        reported_on: Date,
        disaggregations: Vec<Disaggregation>,
    }
}

crate::input! {
    /// A move of the review: `submitted` (author's side), `approved` or `returned` (admin).
    pub struct UpdateTransition {
        #[schema(required = true)]
        to: UpdateStatus,
        note: Option<Note>,
    }
}

#[utoipa::path(get, path = "/periods/{id}/updates", tag = "results", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The period's updates, oldest first", body = Page<Update>)))]
async fn list_updates(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Update>>> {
    results::seen_period(&state.db, &caller, id).await?;
    let select = indicator_update::Entity::find().filter(indicator_update::Column::PeriodId.eq(id));
    let page = page_of(
        &state,
        select,
        indicator_update::Column::Id,
        q,
        |r| r.id,
        Update::try_from,
    )
    .await?;
    Ok(axum::Json(page))
}

#[utoipa::path(post, path = "/periods/{id}/updates", tag = "results", request_body = NewUpdate,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Created, status `draft`", body = Update, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`period_locked`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(period_id): Path<Uuid>,
    Input(body, mut v): Input<NewUpdate>,
) -> ApiResult<Reply> {
    let value = v.optional("value", body.value);
    let numerator = v.optional("numerator", body.numerator);
    let denominator = v.optional("denominator", body.denominator);
    let narrative = v.optional("narrative", body.narrative);
    let reported_on = v.optional("reported_on", body.reported_on).map(Date::naive);
    if let Some(day) = reported_on {
        v.check(
            day <= super::milestones::latest_today(),
            "reported_on",
            "may not be in the future",
        );
    }
    let disaggregations = v.change("disaggregations", body.disaggregations).unwrap_or_default();
    v.finish()?;
    let new = results::NewUpdate {
        value,
        numerator,
        denominator,
        narrative,
        reported_on: reported_on.unwrap_or_else(crate::app::milestones::today),
        disaggregations,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = results::create_update(&mut uow, period_id, new).await?;
    let location = format!("/api/v1/updates/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/updates/{id}", tag = "results", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The update", body = Update, headers(("ETag" = String)))))]
async fn get_update(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = results::seen_update(&state.db, &caller, id).await?;
    Ok(Reply::ok(&Update::try_from(row)?))
}

#[utoipa::path(patch, path = "/updates/{id}", tag = "results", request_body = UpdateChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Update, headers(("ETag" = String))),
        (status = 409, description = "`invalid_state`: not in draft or returned; `period_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<UpdateChanges>,
) -> ApiResult<Reply> {
    let changes = results::UpdateChanges {
        value: v.change_nullable("value", body.value),
        numerator: v.change_nullable("numerator", body.numerator),
        denominator: v.change_nullable("denominator", body.denominator),
        narrative: v.change_nullable("narrative", body.narrative),
        reported_on: v.change("reported_on", body.reported_on).map(Date::naive),
        disaggregations: v.change("disaggregations", body.disaggregations),
    };
    if let Some(day) = changes.reported_on {
        v.check(
            day <= super::milestones::latest_today(),
            "reported_on",
            "may not be in the future",
        );
    }
    v.finish()?;
    let mut uow = caller.begin(&state.db).await?;
    let view = results::update_update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(post, path = "/updates/{id}/transitions", tag = "results", request_body = UpdateTransition,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The update in its new status", body = Update, headers(("ETag" = String))),
        (status = 409, description = "`invalid_transition`, or `period_locked`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn transition_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<UpdateTransition>,
) -> ApiResult<Reply> {
    let to = v.required("to", body.to);
    let note = v.optional("note", body.note);
    let Some(to) = to else {
        return Err(v.incomplete());
    };
    v.finish()?;
    let mut uow = caller.begin(&state.db).await?;
    let view = results::transition_update(&mut uow, id, to, note).await?;
    caller.commit(uow, Reply::ok(&view)).await
}
