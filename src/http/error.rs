//! The one API error type, mapped once to RFC 9457 problem details.

use crate::app::AppError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::app::FieldError;

/// RFC 9457 problem details, as every error response carries them.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://climate-tracker.org/problems/validation_failed",
    "title": "Validation failed", "status": 422,
    "detail": "2 fields are invalid", "code": "validation_failed",
    "errors": [{"field": "country", "message": "'XX' is not an ISO 3166-1 alpha-2 country code (upper case, e.g. TO)"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable word, e.g. `validation_failed`, `insufficient_funds`.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Malformed(String),
    #[error("not found")]
    NotFound,
    #[error("missing or unknown token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A rule of the domain refused the change: 409 with its own code.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{0}")]
    VersionMismatch(String),
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("the request body exceeds 1 MiB")]
    PayloadTooLarge,
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the database is unavailable")]
    Unavailable,
    #[error("the service is at capacity; retry shortly")]
    Overloaded,
    #[error("the request took longer than {0} s and was cut off; nothing was changed")]
    TimedOut(u64),
    /// The client did not send the whole body in time: its fault, so 408, not 503.
    #[error("the request body did not arrive within {0} s; nothing was changed")]
    BodyTimedOut(u64),
    /// Too many requests for one token: 429 with `Retry-After` (whole seconds, at least 1).
    #[error("too many requests for this token; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::VersionMismatch(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable | ApiError::Overloaded | ApiError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::Malformed(_) => "malformed_json",
            ApiError::NotFound => "not_found",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict { code, .. } => code,
            ApiError::VersionMismatch(_) => "version_mismatch",
            ApiError::IdempotencyKeyReused(_) => "idempotency_key_reused",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable | ApiError::Overloaded | ApiError::TimedOut(_) => "service_unavailable",
            ApiError::BodyTimedOut(_) => "request_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Validation(errors) if errors.len() == 1 => {
                format!("{}: {}", errors[0].field, errors[0].message)
            }
            ApiError::Validation(errors) => format!("{} fields are invalid", errors.len()),
            // Never leak internals to a client; they are in the log.
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            other => other.to_string(),
        };
        Problem {
            kind: format!("https://climate-tracker.org/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(msg) = &self {
            tracing::error!(error = %msg, "internal error");
        }
        let status = self.status();
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            _ => None,
        };
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::Invalid(errors) => ApiError::Validation(errors),
            AppError::NotFound => ApiError::NotFound,
            AppError::Forbidden(why) => ApiError::Forbidden(why),
            AppError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            AppError::VersionMismatch(detail) => ApiError::VersionMismatch(detail),
            AppError::Store(e) => ApiError::from(e),
        }
    }
}

/// What the store's errors mean to a client, decided here once.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Duplicate(_) => ApiError::conflict("duplicate", "a resource with this code already exists"),
            StoreError::ForeignKey(_) => {
                ApiError::conflict("still_referenced", "other records still refer to this one")
            }
            StoreError::BadValue(e) => {
                // A last line of defence: the parsers refuse such values first.
                tracing::warn!(error = %e, "the database refused a value from a request");
                ApiError::field(
                    "request",
                    "holds a value the database cannot store (a NUL character, or a date or number out of range)",
                )
            }
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::NotFound => ApiError::NotFound,
            e @ (StoreError::Refused(_) | StoreError::OutOfRange) => ApiError::from(AppError::from(e)),
            StoreError::Db(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> ApiError {
        ApiError::from(StoreError::from(e))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
