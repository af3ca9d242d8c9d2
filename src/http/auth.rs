//! Bearer tokens and the three roles.
//!
//! Secrets are random, shown once, and stored as SHA-256 hashes: a leaked
//! database does not leak usable tokens. A lookup is by hash, so the only
//! comparison that timing could reveal is between hashes, which says nothing
//! useful about a secret; the final check is in constant time all the same.

use super::AppState;
use super::error::ApiError;
use crate::app::Actor;
use crate::app::tokens::hash_secret;
use crate::entities::token;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use subtle::ConstantTimeEq;
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

/// Whether a stored hash is the hash of the presented secret, compared in
/// constant time (the database found the row by an ordinary comparison).
fn hashes_match(stored: &str, presented: &str) -> bool {
    stored.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// Middleware on `/api/v1`: resolves the bearer token into a [`Caller`].
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(ApiError::Unauthorized)?;
    let hash = hash_secret(secret);
    let row = token::Entity::find()
        .filter(token::Column::SecretHash.eq(&hash))
        .filter(token::Column::RevokedAt.is_null())
        .one(&state.db)
        .await?
        .filter(|row| hashes_match(&row.secret_hash, &hash))
        .ok_or(ApiError::Unauthorized)?;
    touch(&state, &row).await;
    req.extensions_mut().insert(Caller {
        token_id: row.id,
        actor: Actor::token(row.id, row.name, row.role, row.institution_id),
        idempotency_key: None,
    });
    Ok(next.run(req).await)
}

/// Records `last_used_at`, at most once a minute per token, so reads stay reads.
async fn touch(state: &AppState, row: &token::Model) {
    let now = Utc::now();
    if row.last_used_at.is_some_and(|t| now - t < chrono::Duration::minutes(1)) {
        return;
    }
    let update = token::ActiveModel {
        id: Set(row.id),
        last_used_at: Set(Some(now)),
        ..Default::default()
    };
    if let Err(e) = update.update(&state.db).await {
        tracing::warn!(error = %e, "could not record token use");
    }
}
