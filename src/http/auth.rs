//! Bearer tokens and the three roles.
//!
//! Secrets are random, shown once, and stored as SHA-256 hashes: a leaked
//! database does not leak usable tokens. A lookup is by hash, so the only
//! comparison that timing could reveal is between hashes, which says nothing
//! useful about a secret; the final check is in constant time all the same
//! (`app::tokens::presented`).

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::security;
use crate::app::Actor;
use crate::app::tokens;
use crate::domain::kinds::Role;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

/// Who is calling, resolved once per request by [`authenticate`]: the
/// actor of the use cases, the token it came with, and the request's
/// `Idempotency-Key` once it has been claimed.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    pub token_id: Uuid,
    pub idempotency_key: Option<String>,
}

impl std::ops::Deref for Caller {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.actor
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or(ApiError::Unauthorized)
    }
}

/// Middleware on `/api/v1`, inside the cap on requests in flight: who is
/// calling (the bearer token, looked up afresh so a revocation holds at once
/// on every instance), may its role send this, and is the token within its
/// share of the slots and its rate. One layer, in that order, before any of
/// the body is read; the request then carries its [`Caller`].
pub async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_secret)
        .ok_or(ApiError::Unauthorized)?;
    let row = tokens::presented(&state.db, secret)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let caller = Caller {
        token_id: row.id,
        actor: Actor::token(row.id, row.name, row.role, row.institution_id),
        idempotency_key: None,
    };
    let mut req = authorize(&state, &caller, req).await?;
    let _in_flight = security::InFlight::enter(&state.security, caller.token_id)?;
    security::within_rate(&state.security, caller.token_id)?;
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

/// The secret of an `Authorization: Bearer <secret>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1), so `BEARER` and `bearer` work too.
fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty() && secret.len() <= 256).then_some(secret)
}

/// The writes a partner may send, by route template. Every other write is
/// for admins only, and a viewer only reads (GET, HEAD, OPTIONS). What a
/// reader may see is narrowed further by the handlers (a partner's own
/// projects, no tokens for viewers); this table is only about changes.
const PARTNER_WRITES: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/milestones/{id}/reports"),
    (Method::POST, "/api/v1/periods/{id}/updates"),
    (Method::PATCH, "/api/v1/updates/{id}"),
    (Method::POST, "/api/v1/updates/{id}/transitions"),
];

fn may_send(role: Role, method: &Method, route: &str) -> bool {
    match role {
        Role::Admin => true,
        _ if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) => true,
        Role::Partner => PARTNER_WRITES.iter().any(|(m, r)| m == method && *r == route),
        Role::Viewer => false,
    }
}

/// Refuses a write the caller's role may not send, before any of its body
/// is read, so a token cannot hold a request slot with a body it may not
/// send; hands the request back otherwise. A partner is refused with the
/// 404 a read would give when it cannot see what the write names, and with
/// 403 otherwise, as the handlers would answer.
async fn authorize(state: &AppState, caller: &Caller, req: Request) -> Result<Request, ApiError> {
    let route = req.extensions().get::<MatchedPath>().map_or("", |p| p.as_str());
    if may_send(caller.role, req.method(), route) {
        return Ok(req);
    }
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let route = route.as_deref().unwrap_or_default();
    if caller.partner_scope().is_some() && !can_see_named(state, caller, route, req).await? {
        return Err(ApiError::NotFound);
    }
    Err(ApiError::Forbidden(match caller.role {
        Role::Viewer => "viewer tokens can only read",
        _ => "this action needs an admin token",
    }))
}

/// Whether the caller can see the resource a route names by its `{id}`
/// (`/api/v1/projects/{id}/transitions` names a project).
async fn can_see_named(state: &AppState, caller: &Caller, route: &str, req: Request) -> ApiResult<bool> {
    let Some(kind) = route
        .strip_prefix(super::API_PREFIX)
        .and_then(|r| r.strip_prefix('/'))
        .and_then(|r| {
            r.strip_suffix("/{id}")
                .or_else(|| r.split_once("/{id}/").map(|(kind, _)| kind))
        })
    else {
        return Ok(true);
    };
    let (mut parts, _) = req.into_parts();
    let id = RawPathParams::from_request_parts(&mut parts, state)
        .await
        .ok()
        .and_then(|params| params.iter().find(|(name, _)| *name == "id").map(|(_, v)| v.to_owned()))
        .and_then(|v| Uuid::parse_str(&v).ok());
    match id {
        Some(id) => Ok(crate::app::access::can_see(&state.db, caller, kind, id).await?),
        // Not an id: a read would not find it either.
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_secret;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer ctk_x", "bearer ctk_x", "BEARER ctk_x", "BeArEr  ctk_x "] {
            assert_eq!(bearer_secret(value), Some("ctk_x"), "{value}");
        }
        for value in ["Basic ctk_x", "Bearer", "Bearer ", "Bearerctk_x", "ctk_x"] {
            assert_eq!(bearer_secret(value), None, "{value}");
        }
    }
}
