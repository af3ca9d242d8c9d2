//! `/tokens`: API tokens, admin only.
//!
//! A secret is shown once, in the 201 of its creation, and never again: not
//! in lists, not in the audit trail, and not in an idempotent replay (the
//! stored reply carries `secret: null`, because storing it would keep a
//! usable secret in the database for a day). A client that lost the first
//! response revokes that token and creates another.
//!
//! Revoking is the only way a token ends; revoked tokens stay listed. A token
//! may revoke itself (rotation: create the new one, retire the old), but the
//! last live admin token cannot be revoked, so the service is never left
//! without an administrator.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Input, Path, Query};
use super::input::Field;
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned};
use crate::app::tokens::{self, Token};
use crate::domain::Line;
use crate::domain::kinds::Role;
use crate::entities::token;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, revoke))
}

/// A caller with the admin role. As an extractor it runs before the query
/// or body is read, so a viewer or partner gets 403 whatever it sends.
pub(super) struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_admin()?;
        Ok(Admin(caller))
    }
}

// Tokens are never edited, only revoked, so they carry no version and no ETag.
impl Versioned for Token {
    fn version(&self) -> Option<i32> {
        None
    }
}

/// A token just created, with its secret.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub institution_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Send as `Authorization: Bearer <secret>`. Shown only in this response:
    /// only its hash is stored, and an idempotent replay carries null.
    #[schema(example = "ctk_3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    pub secret: Option<String>,
}

impl CreatedToken {
    fn new(token: Token, secret: Option<String>) -> Self {
        CreatedToken {
            id: token.id,
            name: token.name,
            role: token.role,
            institution_id: token.institution_id,
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            revoked_at: token.revoked_at,
            secret,
        }
    }
}

impl Versioned for CreatedToken {
    fn version(&self) -> Option<i32> {
        None
    }
}

crate::input! {
    /// A new token. `institution_id` is required for, and only for, a partner token.
    #[schema(example = json!({"name": "University of the South Pacific reporting", "role": "partner",
        "institution_id": "0193a1b2-0000-7000-8000-000000000000"}))]
    pub struct NewToken {
        #[schema(required = true)]
        name: Line,
        #[schema(required = true)]
        role: Role,
        institution_id: Option<Uuid>,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTokens {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/tokens", tag = "tokens", params(ListTokens),
    responses((status = 200, description = "A page of tokens, revoked ones included, oldest first", body = Page<Token>)))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<ListTokens>,
) -> ApiResult<axum::Json<Page<Token>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = token::Entity::find();
    if let Some(after) = page.after {
        select = select.filter(token::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(token::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Token::from)))
}

#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe; a replay carries `secret: null`")),
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = CreatedToken, headers(("Location" = String))),
    ))]
async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Input(body, mut v): Input<NewToken>,
) -> ApiResult<Reply> {
    // Whether `institution_id` came as a usable value, before the validator takes it.
    let institution_absent = matches!(body.institution_id, Field::Missing | Field::Value(None));
    let institution_given = matches!(body.institution_id, Field::Value(Some(_)));
    let name = v.required("name", body.name);
    let role = v.required("role", body.role);
    let institution_id = v.optional("institution_id", body.institution_id);
    match role {
        Some(Role::Partner) => v.check(!institution_absent, "institution_id", "is required for a partner token"),
        Some(Role::Admin | Role::Viewer) => v.check(
            !institution_given,
            "institution_id",
            "is allowed only for a partner token",
        ),
        None => {}
    }
    let (Some(name), Some(role)) = (name, role) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = tokens::New {
        name: name.into_string(),
        role,
        institution_id,
    };
    let mut uow = caller.begin(&state.db).await?;
    let created = tokens::create(&mut uow, new).await?;
    let location = format!("/api/v1/tokens/{}", created.token.id);
    // What an idempotent retry replays: everything but the secret.
    let replayed = Reply::created(location.clone(), &CreatedToken::new(created.token.clone(), None));
    caller.commit_replaying(uow, &replayed).await?;
    Ok(Reply::created(
        location,
        &CreatedToken::new(created.token, Some(created.secret)),
    ))
}

#[utoipa::path(get, path = "/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The token, without its secret", body = Token)))]
async fn get(State(state): State<AppState>, _admin: Admin, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = token::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&Token::from(row)))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked (or already revoked): the token now answers 401. A token may revoke itself."),
        (status = 409, description = "`invalid_state`: this is the last live admin token; create another admin token first",
            body = super::error::Problem, content_type = "application/problem+json"),
    ))]
async fn revoke(State(state): State<AppState>, Admin(caller): Admin, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let mut uow = caller.begin(&state.db).await?;
    if tokens::revoke(&mut uow, id).await?.is_none() {
        // DELETE is idempotent: nothing changed, so nothing is committed or audited.
        return Ok(Reply::no_content());
    }
    caller.commit(uow, Reply::no_content()).await
}
