//! `/funds`: the funds of the cooperation. Only the fund records live here;
//! their money (contributions, summary, ledger) is a resource of its own.

use super::AppState;
use super::alliances::{FocusArea, check_institution, focus_areas, missing_reference};
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Input, Path, Query};
use super::input::Field;
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned, check_if_match};
use super::write::{Change, Write};
use crate::domain::Date;
use crate::domain::{Code, Currency, ShortText};
use crate::entities::fund;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch))
}

/// A fund: money in from contributors, out as grants, all in its one currency.
#[derive(Serialize, ToSchema)]
pub struct Fund {
    pub id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    /// The functional currency: every contribution, grant, tranche and disbursement of the fund is in it.
    #[schema(value_type = Currency)]
    pub currency: String,
    /// The institution backing the fund.
    pub sponsor_institution_id: Uuid,
    pub established_on: NaiveDate,
    #[schema(value_type = Vec<FocusArea>)]
    pub focus_areas: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<fund::Model> for Fund {
    fn from(m: fund::Model) -> Self {
        Fund {
            id: m.id,
            code: m.code,
            name: m.name,
            currency: m.currency,
            sponsor_institution_id: m.sponsor_institution_id,
            established_on: m.established_on,
            focus_areas: m.focus_areas,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
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
    let focus = focus_areas(&mut v, focus).unwrap_or_else(|| serde_json::json!([]));
    check_institution(&state.db, &mut v, "sponsor_institution_id", sponsor).await?;
    let (Some(code), Some(name), Some(currency), Some(sponsor), Some(established_on)) =
        (code, name, currency, sponsor, established_on)
    else {
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let now = Utc::now();
    let row = fund::ActiveModel {
        id: Set(Uuid::now_v7()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        code: Set(code.into()),
        search: Set(name.search_text()),
        name: Set(serde_json::to_value(&name).unwrap_or_default()),
        currency: Set(currency.code().to_owned()),
        sponsor_institution_id: Set(sponsor),
        established_on: Set(established_on),
        focus_areas: Set(focus),
    }
    .insert(w.db())
    .await
    .map_err(missing_reference("sponsor_institution_id"))?;
    let view = Fund::from(row);
    let change = Change::created("fund", view.id, &view);
    w.commit(change, Reply::created(format!("/api/v1/funds/{}", view.id), &view))
        .await
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
    headers: HeaderMap,
    Input(body, mut v): Input<FundChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.change("code", body.code);
    let name = v.change("name", body.name);
    let sponsor = v.change("sponsor_institution_id", body.sponsor_institution_id);
    let established_on = v.change("established_on", body.established_on).map(Date::naive);
    let focus = v.change("focus_areas", body.focus_areas);
    let focus = focus_areas(&mut v, focus);
    let currency_sent = !matches!(body.currency, Field::Missing);
    v.check(
        !currency_sent,
        "currency",
        "cannot change: the fund's money is recorded in it",
    );
    check_institution(&state.db, &mut v, "sponsor_institution_id", sponsor).await?;
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let current = fund::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.db())
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, current.version)?;
    let before = Fund::from(current.clone());
    let mut row: fund::ActiveModel = current.into();
    if let Some(code) = code {
        row.code = Set(code.into());
    }
    if let Some(name) = name {
        row.search = Set(name.search_text());
        row.name = Set(serde_json::to_value(&name).unwrap_or_default());
    }
    if let Some(sponsor) = sponsor {
        row.sponsor_institution_id = Set(sponsor);
    }
    if let Some(established_on) = established_on {
        row.established_on = Set(established_on);
    }
    if let Some(focus) = focus {
        row.focus_areas = Set(focus);
    }
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let updated = row
        .update(w.db())
        .await
        .map_err(missing_reference("sponsor_institution_id"))?;
    let view = Fund::from(updated);
    let change = Change::updated("fund", id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
}
