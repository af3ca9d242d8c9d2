//! `/alliances`: the alliances of the cooperation and their members.
//!
//! A membership is never deleted: ending it sets `left_on`, so the history of
//! who belonged when stays. At most one membership of an institution in an
//! alliance is active at a time (the unique index `memberships_one_active`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Input, Path, Query};
use super::input::Validator;
use super::pagination::{Page, PageRequest, contains_pattern};
use super::reply::{Reply, Versioned, check_if_match};
use super::write::{Change, Write};
use crate::domain::Date;
use crate::domain::kinds::MemberRole;
use crate::domain::{Code, LongText, ShortText};
use crate::entities::{alliance, institution, membership};
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch))
        .routes(routes!(list_members, add_member))
        .routes(routes!(get_member, patch_member, end_member))
}

/// The most focus areas an alliance or fund may list.
pub(super) const MAX_FOCUS_AREAS: usize = 20;

/// A focus area of an alliance or a fund, e.g. `clean energy`: plain text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, max_length = 100, example = "clean energy")]
pub struct FocusArea(String);

impl TryFrom<String> for FocusArea {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() {
            Err("may not be empty".into())
        } else if s.chars().count() > 100 {
            Err("is longer than 100 characters".into())
        } else {
            Ok(FocusArea(s))
        }
    }
}

impl From<FocusArea> for String {
    fn from(f: FocusArea) -> String {
        f.0
    }
}

/// Checks the count of focus areas and returns them as stored: distinct, in the order given.
pub(super) fn focus_areas(v: &mut Validator, areas: Option<Vec<FocusArea>>) -> Option<serde_json::Value> {
    let areas = areas?;
    v.check(
        areas.len() <= MAX_FOCUS_AREAS,
        "focus_areas",
        "may list at most 20 focus areas",
    );
    let mut distinct: Vec<String> = Vec::with_capacity(areas.len());
    for area in areas {
        if !distinct.contains(&area.0) {
            distinct.push(area.0);
        }
    }
    Some(serde_json::Value::from(distinct))
}

/// A reference to an institution in a body: when none has this id, the
/// field is named among the other validation errors (422), not a 404.
pub(super) async fn check_institution(
    db: &impl ConnectionTrait,
    v: &mut Validator,
    field: &str,
    id: Option<Uuid>,
) -> ApiResult<()> {
    if let Some(id) = id {
        let found = institution::Entity::find_by_id(id).count(db).await? > 0;
        v.check(found, field, "no institution has this id");
    }
    Ok(())
}

/// The foreign key still guards a reference whose institution was deleted
/// between the check and the write; that is the client's 422 too, not a 409.
pub(super) fn missing_reference(field: &'static str) -> impl Fn(DbErr) -> ApiError {
    move |e| match ApiError::from(e) {
        ApiError::Conflict {
            code: "still_referenced",
            ..
        } => ApiError::field(field, "no institution has this id"),
        other => other,
    }
}

/// An alliance of the cooperation.
#[derive(Serialize, ToSchema)]
pub struct Alliance {
    pub id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub description: Option<serde_json::Value>,
    pub founded_on: NaiveDate,
    /// The institution that hosts the secretariat.
    pub secretariat_institution_id: Option<Uuid>,
    #[schema(value_type = Vec<FocusArea>)]
    pub focus_areas: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<alliance::Model> for Alliance {
    fn from(m: alliance::Model) -> Self {
        Alliance {
            id: m.id,
            code: m.code,
            name: m.name,
            description: m.description,
            founded_on: m.founded_on,
            secretariat_institution_id: m.secretariat_institution_id,
            focus_areas: m.focus_areas,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Versioned for Alliance {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

/// The membership of an institution in an alliance; `left_on` is set once it ended.
#[derive(Serialize, ToSchema)]
pub struct Membership {
    pub id: Uuid,
    pub alliance_id: Uuid,
    pub institution_id: Uuid,
    #[schema(value_type = MemberRole)]
    pub role: String,
    pub joined_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<membership::Model> for Membership {
    fn from(m: membership::Model) -> Self {
        Membership {
            id: m.id,
            alliance_id: m.alliance_id,
            institution_id: m.institution_id,
            role: m.role,
            joined_on: m.joined_on,
            left_on: m.left_on,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
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
    let focus = focus_areas(&mut v, focus).unwrap_or_else(|| serde_json::json!([]));
    check_institution(&state.db, &mut v, "secretariat_institution_id", secretariat).await?;
    let (Some(code), Some(name), Some(founded_on)) = (code, name, founded_on) else {
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let now = Utc::now();
    let row = alliance::ActiveModel {
        id: Set(Uuid::now_v7()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        code: Set(code.into()),
        search: Set(name.search_text()),
        name: Set(serde_json::to_value(&name).unwrap_or_default()),
        description: Set(description.map(|d| serde_json::to_value(&d).unwrap_or_default())),
        founded_on: Set(founded_on),
        secretariat_institution_id: Set(secretariat),
        focus_areas: Set(focus),
    }
    .insert(w.db())
    .await
    .map_err(missing_reference("secretariat_institution_id"))?;
    let view = Alliance::from(row);
    let change = Change::created("alliance", view.id, &view);
    w.commit(change, Reply::created(format!("/api/v1/alliances/{}", view.id), &view))
        .await
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
    headers: HeaderMap,
    Input(body, mut v): Input<AllianceChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.change("code", body.code);
    let name = v.change("name", body.name);
    let description = v.change_nullable("description", body.description);
    let founded_on = v.change("founded_on", body.founded_on).map(Date::naive);
    let secretariat = v.change_nullable("secretariat_institution_id", body.secretariat_institution_id);
    let focus = v.change("focus_areas", body.focus_areas);
    let focus = focus_areas(&mut v, focus);
    check_institution(&state.db, &mut v, "secretariat_institution_id", secretariat.flatten()).await?;
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    let current = alliance::Entity::find_by_id(id)
        .lock_exclusive()
        .one(w.db())
        .await?
        .ok_or(ApiError::NotFound)?;
    check_if_match(&headers, current.version)?;
    let before = Alliance::from(current.clone());
    let mut row: alliance::ActiveModel = current.into();
    if let Some(code) = code {
        row.code = Set(code.into());
    }
    if let Some(name) = name {
        row.search = Set(name.search_text());
        row.name = Set(serde_json::to_value(&name).unwrap_or_default());
    }
    if let Some(description) = description {
        row.description = Set(description.map(|d| serde_json::to_value(&d).unwrap_or_default()));
    }
    if let Some(founded_on) = founded_on {
        row.founded_on = Set(founded_on);
    }
    if let Some(secretariat) = secretariat {
        row.secretariat_institution_id = Set(secretariat);
    }
    if let Some(focus) = focus {
        row.focus_areas = Set(focus);
    }
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let updated = row
        .update(w.db())
        .await
        .map_err(missing_reference("secretariat_institution_id"))?;
    let view = Alliance::from(updated);
    let change = Change::updated("alliance", id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
}

/// Loads an alliance, or 404. Inside a write it is locked, so that changes
/// to one alliance's members queue behind each other (PostgreSQL; SQLite
/// writes are serialized already).
async fn alliance_for(db: &impl ConnectionTrait, id: Uuid, lock: bool) -> ApiResult<alliance::Model> {
    let mut select = alliance::Entity::find_by_id(id);
    if lock {
        select = select.lock_exclusive();
    }
    select.one(db).await?.ok_or(ApiError::NotFound)
}

/// The current membership of an institution in an alliance, or 404.
async fn active_membership(
    db: &impl ConnectionTrait,
    alliance_id: Uuid,
    institution_id: Uuid,
) -> ApiResult<membership::Model> {
    membership::Entity::find()
        .filter(membership::Column::AllianceId.eq(alliance_id))
        .filter(membership::Column::InstitutionId.eq(institution_id))
        .filter(membership::Column::LeftOn.is_null())
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The day the institution's latest earlier membership of the alliance
/// ended: a membership may not begin before the previous one ended, so
/// the history never overlaps.
async fn last_left_on(
    db: &impl ConnectionTrait,
    alliance_id: Uuid,
    institution_id: Uuid,
) -> ApiResult<Option<NaiveDate>> {
    let last = membership::Entity::find()
        .filter(membership::Column::AllianceId.eq(alliance_id))
        .filter(membership::Column::InstitutionId.eq(institution_id))
        .filter(membership::Column::LeftOn.is_not_null())
        .order_by_desc(membership::Column::LeftOn)
        .one(db)
        .await?;
    Ok(last.and_then(|m| m.left_on))
}

fn check_joined_after(joined_on: NaiveDate, last_left_on: Option<NaiveDate>) -> ApiResult<()> {
    match last_left_on {
        Some(left) if joined_on < left => Err(ApiError::field(
            "joined_on",
            format!("may not be before {left}, when the previous membership ended"),
        )),
        _ => Ok(()),
    }
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
        return Err(v.finish().err().unwrap_or(ApiError::field("body", "is incomplete")));
    };
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    alliance_for(w.db(), id, true).await?;
    check_joined_after(joined_on, last_left_on(w.db(), id, institution_id).await?)?;
    let now = Utc::now();
    let row = membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        alliance_id: Set(id),
        institution_id: Set(institution_id),
        role: Set(role.as_str().to_owned()),
        joined_on: Set(joined_on),
        left_on: Set(None),
    }
    .insert(w.db())
    .await
    .map_err(|e| match missing_reference("institution_id")(e) {
        ApiError::Conflict { code: "duplicate", .. } => ApiError::conflict(
            "duplicate",
            "this institution is already an active member of the alliance",
        ),
        other => other,
    })?;
    let view = Membership::from(row);
    let change = Change::created("membership", view.id, &view);
    let location = format!("/api/v1/alliances/{id}/members/{institution_id}");
    w.commit(change, Reply::created(location, &view)).await
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
    headers: HeaderMap,
    Input(body, mut v): Input<MembershipChanges>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let role = v.change("role", body.role);
    let joined_on = v.change("joined_on", body.joined_on).map(Date::naive);
    v.finish()?;

    let w = Write::begin(&state.db, &caller).await?;
    alliance_for(w.db(), id, true).await?;
    let current = active_membership(w.db(), id, institution_id).await?;
    check_if_match(&headers, current.version)?;
    if let Some(joined_on) = joined_on {
        check_joined_after(joined_on, last_left_on(w.db(), id, institution_id).await?)?;
    }
    let before = Membership::from(current.clone());
    let mut row: membership::ActiveModel = current.into();
    if let Some(role) = role {
        row.role = Set(role.as_str().to_owned());
    }
    if let Some(joined_on) = joined_on {
        row.joined_on = Set(joined_on);
    }
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Membership::from(row.update(w.db()).await?);
    let change = Change::updated("membership", view.id, &before, &view);
    w.commit(change, Reply::ok(&view)).await
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
    headers: HeaderMap,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let w = Write::begin(&state.db, &caller).await?;
    alliance_for(w.db(), id, true).await?;
    let current = active_membership(w.db(), id, institution_id).await?;
    check_if_match(&headers, current.version)?;
    let before = Membership::from(current.clone());
    // A membership recorded ahead of its start ends on the day it would
    // have begun, so `left_on` is never before `joined_on`.
    let left_on = Utc::now().date_naive().max(current.joined_on);
    let mut row: membership::ActiveModel = current.into();
    row.left_on = Set(Some(left_on));
    row.version = Set(before.version + 1);
    row.updated_at = Set(Utc::now());
    let view = Membership::from(row.update(w.db()).await?);
    let change = Change::action("end", "membership", view.id, &before, &view);
    w.commit(change, Reply::no_content()).await
}
