//! `/alliances`: the alliances of the cooperation and their members
//! (the use cases are `app::alliances`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::input::Validator;
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned};
use crate::app::alliances::{self, Alliance, Membership, active_membership, alliance_for};
use crate::app::institutions;
use crate::domain::Date;
use crate::domain::kinds::MemberRole;
use crate::domain::{Code, FocusArea, LongText, ShortText};
use crate::entities::{alliance, membership};
use axum::extract::State;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch))
        .routes(routes!(list_members, add_member))
        .routes(routes!(get_member, patch_member, end_member))
}

/// Checks the count of focus areas (at most 20).
pub(super) fn focus_areas(v: &mut Validator, areas: Option<Vec<FocusArea>>) -> Option<Vec<FocusArea>> {
    let areas = areas?;
    v.check(
        areas.len() <= FocusArea::MAX_LISTED,
        "focus_areas",
        "may list at most 20 focus areas",
    );
    Some(areas)
}

/// A reference to an institution in a body: when none has this id, the
/// field is named among the other validation errors (one 422 for all). The
/// use case checks again inside its transaction; this read is for the report.
pub(super) async fn check_institution(
    db: &impl ConnectionTrait,
    v: &mut Validator,
    field: &str,
    id: Option<Uuid>,
) -> ApiResult<()> {
    if let Some(id) = id {
        v.check(institutions::exists(db, id).await?, field, "no institution has this id");
    }
    Ok(())
}

impl Versioned for Alliance {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

impl Versioned for Membership {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

crate::input! {
    /// A new alliance.
    #[schema(example = json!({"code": "green-development-alliance",
        "name": {"en": "Green Development Cooperation Alliance", "zh": "绿色发展合作联盟"},
        "founded_on": "2024-10-28", "focus_areas": ["low-carbon demonstration", "clean energy"]}))]
    pub struct NewAlliance {
        #[schema(required = true)]
        code: Code,
        #[schema(required = true)]
        name: ShortText,
        description: Option<LongText>,
        #[schema(required = true)]
        founded_on: Date,
        secretariat_institution_id: Option<Uuid>,
        /// At most 20, each 1 to 100 characters; duplicates are dropped. Default none.
        #[schema(max_items = 20)]
        focus_areas: Vec<FocusArea>,
    }
}

crate::input! {
    /// Changes to an alliance: absent fields stay, `null` clears an optional one.
    pub struct AllianceChanges {
        code: Code,
        name: ShortText,
        description: Option<LongText>,
        founded_on: Date,
        secretariat_institution_id: Option<Uuid>,
        #[schema(max_items = 20)]
        focus_areas: Vec<FocusArea>,
    }
}

crate::input! {
    /// An institution joining an alliance.
    #[schema(example = json!({"institution_id": "01936a5e-7c2b-7d1e-9f00-3a1b2c3d4e5f", "role": "member", "joined_on": "2024-10-28"}))]
    pub struct NewMembership {
        #[schema(required = true)]
        institution_id: Uuid,
        #[schema(required = true)]
        role: MemberRole,
        #[schema(required = true)]
        joined_on: Date,
    }
}

crate::input! {
    /// Changes to an active membership.
    pub struct MembershipChanges {
        role: MemberRole,
        joined_on: Date,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAlliances {
    /// Matches the name in any language, case-insensitively.
    q: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMembers {
    /// `true`: current members only; otherwise ended memberships are listed too.
    active: Option<bool>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/alliances", tag = "alliances", params(ListAlliances),
    responses((status = 200, description = "A page of alliances", body = Page<Alliance>)))]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ListAlliances>,
) -> ApiResult<axum::Json<Page<Alliance>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = alliance::Entity::find();
    if let Some(text) = q.q.as_deref().filter(|t| !t.is_empty()) {
        select = select.filter(alliance::Column::Search.like(contains_pattern(text)));
    }
    if let Some(after) = page.after {
        select = select.filter(alliance::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(alliance::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Alliance::from)))
}

#[utoipa::path(post, path = "/alliances", tag = "alliances", request_body = NewAlliance,
    responses(
        (status = 201, description = "Created", body = Alliance, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body, mut v): Input<NewAlliance>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.required("code", body.code);
    let name = v.required("name", body.name);
    let description = v.optional("description", body.description);
    let founded_on = v.required("founded_on", body.founded_on).map(Date::naive);
    let secretariat = v.optional("secretariat_institution_id", body.secretariat_institution_id);
    let focus = v.change("focus_areas", body.focus_areas);
    let focus = focus_areas(&mut v, focus).unwrap_or_default();
    check_institution(&state.db, &mut v, "secretariat_institution_id", secretariat).await?;
    let (Some(code), Some(name), Some(founded_on)) = (code, name, founded_on) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = alliances::New {
        code,
        name,
        description,
        founded_on,
        secretariat_institution_id: secretariat,
        focus_areas: focus,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = alliances::create(&mut uow, new).await?;
    let location = format!("/api/v1/alliances/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/alliances/{id}", tag = "alliances", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The alliance", body = Alliance, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, _caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = alliance::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&Alliance::from(row)))
}

#[utoipa::path(patch, path = "/alliances/{id}", tag = "alliances", request_body = AllianceChanges,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Alliance, headers(("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<AllianceChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let changes = alliances::Changes {
        code: v.change("code", body.code),
        name: v.change("name", body.name),
        description: v.change_nullable("description", body.description),
        founded_on: v.change("founded_on", body.founded_on).map(Date::naive),
        secretariat_institution_id: v.change_nullable("secretariat_institution_id", body.secretariat_institution_id),
        focus_areas: {
            let focus = v.change("focus_areas", body.focus_areas);
            focus_areas(&mut v, focus)
        },
    };
    let secretariat = changes.secretariat_institution_id.flatten();
    check_institution(&state.db, &mut v, "secretariat_institution_id", secretariat).await?;
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = alliances::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(get, path = "/alliances/{id}/members", tag = "alliances", params(("id" = Uuid, Path), ListMembers),
    responses((status = 200, description = "Memberships, ended ones included unless `active=true`, oldest first", body = Page<Membership>)))]
async fn list_members(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<ListMembers>,
) -> ApiResult<axum::Json<Page<Membership>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    alliance_for(&state.db, id, false).await?;
    let mut select = membership::Entity::find().filter(membership::Column::AllianceId.eq(id));
    if q.active == Some(true) {
        select = select.filter(membership::Column::LeftOn.is_null());
    }
    if let Some(after) = page.after {
        select = select.filter(membership::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(membership::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Membership::from)))
}

#[utoipa::path(post, path = "/alliances/{id}/members", tag = "alliances", request_body = NewMembership,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Joined", body = Membership, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the institution is a member already", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewMembership>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let institution_id = v.required("institution_id", body.institution_id);
    let role = v.required("role", body.role);
    let joined_on = v.required("joined_on", body.joined_on).map(Date::naive);
    check_institution(&state.db, &mut v, "institution_id", institution_id).await?;
    let (Some(institution_id), Some(role), Some(joined_on)) = (institution_id, role, joined_on) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = alliances::NewMember {
        institution_id,
        role,
        joined_on,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = alliances::add_member(&mut uow, id, new).await?;
    let location = format!("/api/v1/alliances/{id}/members/{institution_id}");
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/alliances/{id}/members/{institution_id}", tag = "alliances",
    params(("id" = Uuid, Path), ("institution_id" = Uuid, Path)),
    responses((status = 200, description = "The institution's current membership", body = Membership, headers(("ETag" = String)))))]
async fn get_member(
    State(state): State<AppState>,
    _caller: Caller,
    Path((id, institution_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Reply> {
    let row = active_membership(&state.db, id, institution_id).await?;
    Ok(Reply::ok(&Membership::from(row)))
}

#[utoipa::path(patch, path = "/alliances/{id}/members/{institution_id}", tag = "alliances", request_body = MembershipChanges,
    params(("id" = Uuid, Path), ("institution_id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Membership, headers(("ETag" = String))),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, institution_id)): Path<(Uuid, Uuid)>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<MembershipChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let changes = alliances::MemberChanges {
        role: v.change("role", body.role),
        joined_on: v.change("joined_on", body.joined_on).map(Date::naive),
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = alliances::update_member(&mut uow, id, institution_id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(delete, path = "/alliances/{id}/members/{institution_id}", tag = "alliances",
    params(("id" = Uuid, Path), ("institution_id" = Uuid, Path)),
    responses(
        (status = 204, description = "The membership ended today (UTC); it stays listed with `left_on`"),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, institution_id)): Path<(Uuid, Uuid)>,
    IfMatch(expected): IfMatch,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let mut uow = caller.begin(&state.db).await?;
    alliances::end_member(&mut uow, id, institution_id, expected).await?;
    caller.commit(uow, Reply::no_content()).await
}
