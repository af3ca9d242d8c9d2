//! `Idempotency-Key` on every POST, kept in the database so that every
//! instance sees every key.
//!
//! The first request with a key claims it by inserting a row (the primary
//! key makes exactly one claim win, across instances). Its reply is stored
//! by the unit of work inside the same transaction as the change, so a stored
//! reply exists if and only if the change committed. A retry replays that
//! reply; a retry that arrives while the first is still running waits for it
//! and replays, or gets 409 `idempotency_in_progress` after a while. A
//! request that fails (4xx/5xx) gives its claim back, so a corrected retry
//! with the same key is possible.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::reply::Reply;
use crate::store::idempotency;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration as StdDuration;

pub const HEADER: &str = "idempotency-key";
/// Keys are kept at least this long.
const KEEP_FOR: Duration = Duration::hours(24);
/// A claim with no reply after this long belongs to a request that died
/// (requests time out after 30 s); it did not commit, so it may be retried.
const ABANDONED_AFTER: Duration = Duration::seconds(60);
/// How long a retry waits for the first request before answering 409.
const WAIT_FOR_FIRST: StdDuration = StdDuration::from_secs(5);

/// Middleware after authentication: claims, replays or refuses the key.
pub async fn idempotent(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get(HEADER) else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| ApiError::field("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?
        .to_owned();
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or(ApiError::Unauthorized)?;

    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();

    let started = tokio::time::Instant::now();
    loop {
        if idempotency::claim(&state.db, caller.token_id, &key, &hash).await? {
            break;
        }
        let existing = idempotency::find(&state.db, caller.token_id, &key).await?;
        let Some(existing) = existing else { continue };
        let age = Utc::now() - existing.created_at;
        if age > KEEP_FOR || (existing.status_code.is_none() && age > ABANDONED_AFTER) {
            idempotency::release(&state.db, caller.token_id, &key, existing.status_code.is_some()).await?;
            continue;
        }
        if existing.request_hash != hash {
            return Err(ApiError::IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request".into(),
            ));
        }
        if let Some(status) = existing.status_code {
            return Ok(replay(status, existing.location, existing.body));
        }
        if started.elapsed() > WAIT_FOR_FIRST {
            return Err(ApiError::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            ));
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }

    let mut parts = parts;
    parts.extensions.insert(Caller {
        idempotency_key: Some(key.clone()),
        ..caller.clone()
    });
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if !response.status().is_success() {
        // Nothing committed: give the key back.
        idempotency::release(&state.db, caller.token_id, &key, false).await?;
    }
    Ok(response)
}

fn replay(status: i16, location: Option<String>, body: Option<String>) -> Response {
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let etag = body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("version").and_then(|v| v.as_i64()))
        .map(|v| v as i32);
    let reply = Reply {
        status,
        location,
        etag,
        // A replay answers a POST, never a conditional GET.
        etag_follows_body: false,
        body: body.map(String::into_bytes),
    };
    let mut response = reply.into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
