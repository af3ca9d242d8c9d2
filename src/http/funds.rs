//! `/funds`: the funds of the cooperation. Only the fund records live here;
//! their money (contributions, summary, ledger) is a resource of its own.

use super::AppState;
use super::alliances::{check_institution, focus_areas};
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::input::Field;
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned};
use crate::app::funds::{self, Fund};
use crate::domain::Date;
use crate::domain::{Code, Currency, FocusArea, ShortText};
use crate::entities::fund;
use axum::extract::State;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch))
}

impl Versioned for Fund {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

crate::input! {
    /// A new fund.
    #[schema(example = json!({"code": "liaocheng-climate-fund",
        "name": {"en": "Liaocheng Climate Change Cooperation Fund", "zh": "聊城气候变化合作基金"},
        "currency": "CNY", "sponsor_institution_id": "01936a5e-7c2b-7d1e-9f00-3a1b2c3d4e5f",
        "established_on": "2024-10-28", "focus_areas": ["climate adaptation"]}))]
    pub struct NewFund {
        #[schema(required = true)]
        code: Code,
        #[schema(required = true)]
        name: ShortText,
        /// Fixed for the life of the fund.
        #[schema(required = true)]
        currency: Currency,
        #[schema(required = true)]
        sponsor_institution_id: Uuid,
        #[schema(required = true)]
        established_on: Date,
        /// At most 20, each 1 to 100 characters; duplicates are dropped. Default none.
        #[schema(max_items = 20)]
        focus_areas: Vec<FocusArea>,
    }
}

crate::input! {
    /// Changes to a fund: absent fields stay. The currency cannot change,
    /// since the fund's money is recorded in it; sending it is a 422.
    pub struct FundChanges {
        code: Code,
        name: ShortText,
        sponsor_institution_id: Uuid,
        established_on: Date,
        #[schema(max_items = 20)]
        focus_areas: Vec<FocusArea>,
        /// Accepted only to be refused with a reason, so it is not documented.
        #[schema(ignore)]
        currency: serde_json::Value,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFunds {
    /// Matches the name in any language, case-insensitively.
    q: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/funds", tag = "funds", params(ListFunds),
    responses((status = 200, description = "A page of funds", body = Page<Fund>)))]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ListFunds>,
) -> ApiResult<axum::Json<Page<Fund>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = fund::Entity::find();
    if let Some(text) = q.q.as_deref().filter(|t| !t.is_empty()) {
        select = select.filter(fund::Column::Search.like(contains_pattern(text)));
    }
    if let Some(after) = page.after {
        select = select.filter(fund::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(fund::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Fund::from)))
}

#[utoipa::path(post, path = "/funds", tag = "funds", request_body = NewFund,
    responses(
        (status = 201, description = "Created", body = Fund, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(State(state): State<AppState>, caller: Caller, Input(body, mut v): Input<NewFund>) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.required("code", body.code);
    let name = v.required("name", body.name);
    let currency = v.required("currency", body.currency);
    let sponsor = v.required("sponsor_institution_id", body.sponsor_institution_id);
    let established_on = v.required("established_on", body.established_on).map(Date::naive);
    let focus = v.change("focus_areas", body.focus_areas);
    let focus = focus_areas(&mut v, focus).unwrap_or_default();
    check_institution(&state.db, &mut v, "sponsor_institution_id", sponsor).await?;
    let (Some(code), Some(name), Some(currency), Some(sponsor), Some(established_on)) =
        (code, name, currency, sponsor, established_on)
    else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = funds::New {
        code,
        name,
        currency,
        sponsor_institution_id: sponsor,
        established_on,
        focus_areas: focus,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = funds::create(&mut uow, new).await?;
    let location = format!("/api/v1/funds/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/funds/{id}", tag = "funds", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The fund", body = Fund, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, _caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = fund::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&Fund::from(row)))
}

#[utoipa::path(patch, path = "/funds/{id}", tag = "funds", request_body = FundChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Fund, headers(("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<FundChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let changes = funds::Changes {
        code: v.change("code", body.code),
        name: v.change("name", body.name),
        sponsor_institution_id: v.change("sponsor_institution_id", body.sponsor_institution_id),
        established_on: v.change("established_on", body.established_on).map(Date::naive),
        focus_areas: {
            let focus = v.change("focus_areas", body.focus_areas);
            focus_areas(&mut v, focus)
        },
    };
    let currency_sent = !matches!(body.currency, Field::Missing);
    v.check(
        !currency_sent,
        "currency",
        "cannot change: the fund's money is recorded in it",
    );
    check_institution(
        &state.db,
        &mut v,
        "sponsor_institution_id",
        changes.sponsor_institution_id,
    )
    .await?;
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = funds::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}
