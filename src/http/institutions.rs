//! `/institutions`: the partner registry.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Input, Path, Query};
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned, check_if_match};
use super::write::{Change, Write};
use crate::domain::kinds::InstitutionKind;
use crate::domain::{Code, CountryCode, Line, ShortText};
use crate::entities::institution;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch, delete))
}

/// A partner institution.
#[derive(Serialize, ToSchema)]
pub struct Institution {
    pub id: Uuid,
    #[schema(value_type = Option<Code>)]
    pub code: Option<String>,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    #[schema(value_type = InstitutionKind)]
    pub kind: String,
    #[schema(value_type = CountryCode)]
    pub country: String,
    pub city: Option<String>,
    pub website: Option<String>,
    /// IATI organisation identifier, e.g. `CN-USCC-12371500MB2852376F`.
    pub iati_org_id: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<institution::Model> for Institution {
    fn from(m: institution::Model) -> Self {
        Institution {
            id: m.id,
            code: m.code,
            name: m.name,
            kind: m.kind,
            country: m.country,
            city: m.city,
            website: m.website,
            iati_org_id: m.iati_org_id,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Versioned for Institution {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

crate::input! {
    /// A new institution.
    #[schema(example = json!({"code": "liaocheng-university", "name": {"en": "Liaocheng University", "zh": "聊城大学"},
        "kind": "university", "country": "CN", "city": "Liaocheng"}))]
    pub struct NewInstitution {
        code: Option<Code>,
        #[schema(required = true)]
        name: ShortText,
        #[schema(required = true)]
        kind: InstitutionKind,
        #[schema(required = true)]
        country: CountryCode,
        city: Option<Line>,
        website: Option<Line>,
        iati_org_id: Option<Line>,
    }
}

crate::input! {
    /// Changes to an institution: absent fields stay, `null` clears an optional one.
    pub struct InstitutionChanges {
        code: Option<Code>,
        name: ShortText,
        kind: InstitutionKind,
        country: CountryCode,
        city: Option<Line>,
        website: Option<Line>,
        iati_org_id: Option<Line>,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListInstitutions {
    /// Only institutions of this country (ISO alpha-2).
    #[param(value_type = Option<CountryCode>)]
    country: Option<CountryCode>,
    kind: Option<InstitutionKind>,
    /// Matches the name in any language, case-insensitively.
    q: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/institutions", tag = "institutions", params(ListInstitutions),
    responses((status = 200, description = "A page of institutions", body = Page<Institution>)))]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ListInstitutions>,
) -> ApiResult<axum::Json<Page<Institution>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = institution::Entity::find();
    if let Some(country) = q.country {
        select = select.filter(institution::Column::Country.eq(country.as_str()));
    }
    if let Some(kind) = q.kind {
        select = select.filter(institution::Column::Kind.eq(kind.as_str()));
    }
    if let Some(text) = q.q.as_deref().filter(|t| !t.is_empty()) {
        select = select.filter(institution::Column::Search.like(contains_pattern(text)));
    }
    if let Some(after) = page.after {
        select = select.filter(institution::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(institution::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Institution::from)))
}

#[utoipa::path(post, path = "/institutions", tag = "institutions", request_body = NewInstitution,
    responses(
        (status = 201, description = "Created", body = Institution, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body, mut v): Input<NewInstitution>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.optional("code", body.code);
    let name = v.required("name", body.name);
    let kind = v.required("kind", body.kind);
    let country = v.required("country", body.country);
    let city = v.optional("city", body.city);
    let website = v.optional("website", body.website);
    let iati_org_id = v.optional("iati_org_id", body.iati_org_id);
    let (Some(name), Some(kind), Some(country)) = (name, kind, country) else {
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let now = Utc::now();
    let row = institution::ActiveModel {
        id: Set(Uuid::now_v7()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        code: Set(code.map(String::from)),
        search: Set(name.search_text()),
        name: Set(serde_json::to_value(&name).unwrap_or_default()),
        kind: Set(kind.as_str().to_owned()),
        country: Set(country.to_string()),
        city: Set(city.map(Line::into_string)),
        website: Set(website.map(Line::into_string)),
        iati_org_id: Set(iati_org_id.map(Line::into_string)),
    }
    .insert(w.db())
    .await?;
    let view = Institution::from(row);
    let change = Change::created("institution", view.id, &view);
    w.commit(
        change,
        Reply::created(format!("/api/v1/institutions/{}", view.id), &view),
    )
    .await
}

#[utoipa::path(get, path = "/institutions/{id}", tag = "institutions", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The institution", body = Institution, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, _caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = institution::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&Institution::from(row)))
}

#[utoipa::path(patch, path = "/institutions/{id}", tag = "institutions", request_body = InstitutionChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Institution, headers(("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = super::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Input(body, mut v): Input<InstitutionChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.change_nullable("code", body.code);
    let name = v.change("name", body.name);
    let kind = v.change("kind", body.kind);
    let country = v.change("country", body.country);
    let city = v.change_nullable("city", body.city);
    let website = v.change_nullable("website", body.website);
    let iati_org_id = v.change_nullable("iati_org_id", body.iati_org_id);
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let current = institution::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.db())
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, current.version)?;
    let before = Institution::from(current.clone());
    let mut row: institution::ActiveModel = current.into();
    if let Some(code) = code {
        row.code = Set(code.map(String::from));
    }
    if let Some(name) = name {
        row.search = Set(name.search_text());
        row.name = Set(serde_json::to_value(&name).unwrap_or_default());
    }
    if let Some(kind) = kind {
        row.kind = Set(kind.as_str().to_owned());
    }
    if let Some(country) = country {
        row.country = Set(country.to_string());
    }
    if let Some(city) = city {
        row.city = Set(city.map(Line::into_string));
    }
    if let Some(website) = website {
        row.website = Set(website.map(Line::into_string));
    }
    if let Some(iati) = iati_org_id {
        row.iati_org_id = Set(iati.map(Line::into_string));
    }
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Institution::from(row.update(w.db()).await?);
    let change = Change::updated("institution", id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
}

#[utoipa::path(delete, path = "/institutions/{id}", tag = "institutions", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`still_referenced`: memberships, projects, funds or tokens refer to it", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    caller.require_admin()?;
    let w = Write::begin(&state.db, &caller).await?;
    let current = institution::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.db())
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = Institution::from(current);
    institution::Entity::delete_by_id(id)
        .exec(w.db())
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict {
                code: "still_referenced",
                ..
            } => ApiError::conflict(
                "still_referenced",
                "memberships, projects, funds, grants or tokens still refer to this institution",
            ),
            other => other,
        })?;
    w.commit(Change::deleted("institution", id, &before), Reply::no_content())
        .await
}
