//! `/institutions`: the partner registry.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{IfMatch, Input, Path, Query};
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned};
use crate::app::institutions::{self, Institution};
use crate::domain::kinds::InstitutionKind;
use crate::domain::{Code, CountryCode, Email, Line, ShortText, TimeZone};
use crate::entities::institution;
use axum::extract::State;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch, delete))
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
        /// IANA zone its deadlines are judged in; default: the country's (e.g. TO → Pacific/Tongatapu).
        time_zone: Option<TimeZone>,
        /// Where reminders of the projects it leads are sent.
        contact_email: Option<Email>,
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
        /// `null` goes back to the country's default zone.
        time_zone: Option<TimeZone>,
        contact_email: Option<Email>,
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
    let time_zone = v.optional("time_zone", body.time_zone);
    let contact_email = v.optional("contact_email", body.contact_email);
    let (Some(name), Some(kind), Some(country)) = (name, kind, country) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = institutions::New {
        code,
        name,
        kind,
        country,
        city,
        website,
        iati_org_id,
        time_zone,
        contact_email,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = institutions::create(&mut uow, new).await?;
    let location = format!("/api/v1/institutions/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
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
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<InstitutionChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let changes = institutions::Changes {
        code: v.change_nullable("code", body.code),
        name: v.change("name", body.name),
        kind: v.change("kind", body.kind),
        country: v.change("country", body.country),
        city: v.change_nullable("city", body.city),
        website: v.change_nullable("website", body.website),
        iati_org_id: v.change_nullable("iati_org_id", body.iati_org_id),
        time_zone: v.change_nullable("time_zone", body.time_zone),
        contact_email: v.change_nullable("contact_email", body.contact_email),
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = institutions::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(delete, path = "/institutions/{id}", tag = "institutions", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`still_referenced`: memberships, projects, funds or tokens refer to it", body = super::error::Problem, content_type = "application/problem+json"),
    ))]
async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    caller.require_admin()?;
    let mut uow = caller.begin(&state.db).await?;
    institutions::delete(&mut uow, id).await?;
    caller.commit(uow, Reply::no_content()).await
}
