//! Successful responses: JSON with `ETag` from the resource's version, and
//! `Location` on a create. A `Reply` is plain data so that an idempotent
//! POST can store it and replay it byte for byte.

use crate::app::Expected;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A resource that carries an optimistic-concurrency version.
pub trait Versioned {
    fn version(&self) -> Option<i32>;

    /// Whether the view stays the same for as long as its version does, so
    /// a client holding its ETag may be answered 304. Not so for a view
    /// with a figure judged on today (a milestone's `overdue`) or a field
    /// the service keeps without a new version (a project's zone, an
    /// endpoint's `failing_since`).
    fn fixed_by_version(&self) -> bool {
        true
    }
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    pub etag: Option<i32>,
    /// The ETag changes whenever the body does (see [`Versioned::fixed_by_version`]).
    pub etag_follows_body: bool,
    pub body: Option<Vec<u8>>,
}

impl Reply {
    fn json<T: Serialize + Versioned>(status: StatusCode, location: Option<String>, value: &T) -> Reply {
        Reply {
            status,
            location,
            etag: value.version(),
            etag_follows_body: value.fixed_by_version(),
            // Serializing our own view types cannot fail (no maps with non-string keys).
            body: Some(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    pub fn ok<T: Serialize + Versioned>(value: &T) -> Reply {
        Reply::json(StatusCode::OK, None, value)
    }

    pub fn created<T: Serialize + Versioned>(location: String, value: &T) -> Reply {
        Reply::json(StatusCode::CREATED, Some(location), value)
    }

    /// 202: taken on, done later (e.g. a test event, delivered by the workers).
    pub fn accepted<T: Serialize + Versioned>(value: &T) -> Reply {
        Reply::json(StatusCode::ACCEPTED, None, value)
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            location: None,
            etag: None,
            etag_follows_body: false,
            body: None,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if let Some(v) = self.etag.and_then(|v| HeaderValue::from_str(&format!("\"{v}\"")).ok()) {
            headers.insert(header::ETAG, v);
        }
        if let Some(v) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, v);
        }
        if self.etag.is_some() && self.etag_follows_body {
            response.extensions_mut().insert(super::transfer::EtagFollowsBody);
        }
        response
    }
}

/// The version `If-Match` asks for: none or `*` is any; `"3"`, `W/"3"` or
/// `3` is version 3; anything else is a malformed header (422 naming it),
/// not a mismatch.
pub fn if_match(headers: &axum::http::HeaderMap) -> super::error::ApiResult<Expected> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(Expected::Any);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(Expected::Any);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    match tag.parse::<u64>() {
        // A version past any real one is simply a mismatch.
        Ok(v) if tag.bytes().all(|b| b.is_ascii_digit()) => Ok(Expected::Version(i32::try_from(v).unwrap_or(i32::MAX))),
        _ => Err(super::error::ApiError::field(
            "If-Match",
            "must be * or a version as the ETag gives it, e.g. \"3\"",
        )),
    }
}
