//! The one API error type, mapped once to RFC 9457 problem details.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use serde::Serialize;
use utoipa::ToSchema;

/// One failing field of a request.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `amount.amount` or `countries[1]`.
    #[schema(example = "amount.amount")]
    pub field: String,
    #[schema(example = "CNY allows at most 2 decimal places, '1.234' has 3")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

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

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> ApiError {
        if is_restricted_delete(&e) {
            return ApiError::conflict("still_referenced", "other records still refer to this one");
        }
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                return ApiError::conflict("duplicate", "a resource with this code already exists");
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return ApiError::conflict("still_referenced", "other records still refer to this one");
            }
            _ => {}
        }
        if is_data_exception(&e) {
            // A last line of defence: the parsers refuse such values first.
            tracing::warn!(error = %e, "the database refused a value from a request");
            return ApiError::field(
                "request",
                "holds a value the database cannot store (a NUL character, or a date or number out of range)",
            );
        }
        if is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(e.to_string())
    }
}

/// SQLite reports `ON DELETE RESTRICT` as code 1811 (SQLITE_CONSTRAINT_TRIGGER),
/// which sea-orm does not classify as a foreign-key violation.
fn is_restricted_delete(e: &DbErr) -> bool {
    match e {
        DbErr::Query(RuntimeErr::SqlxError(x)) | DbErr::Exec(RuntimeErr::SqlxError(x)) => match &**x {
            sea_orm::sqlx::Error::Database(d) => {
                d.code().as_deref() == Some("1811") && d.message().contains("FOREIGN KEY")
            }
            _ => false,
        },
        _ => false,
    }
}

/// PostgreSQL's class 22, "data exception": a value in the statement could
/// not be stored or compared (NUL in text, a year out of range…). Only a
/// request can bring such a value, so it is the client's 422, not a 500.
fn is_data_exception(e: &DbErr) -> bool {
    match e {
        DbErr::Query(RuntimeErr::SqlxError(x)) | DbErr::Exec(RuntimeErr::SqlxError(x)) => match &**x {
            sea_orm::sqlx::Error::Database(d) => {
                d.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                    .is_some()
                    && d.code().is_some_and(|c| c.starts_with("22"))
            }
            _ => false,
        },
        _ => false,
    }
}

/// Connection trouble (the database is down, the pool is exhausted, a lock
/// wait timed out): the client may retry, so it is a 503, not a 500.
fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as X;
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(x)) | DbErr::Exec(RuntimeErr::SqlxError(x)) => match &**x {
            X::Io(_) | X::PoolTimedOut | X::PoolClosed | X::WorkerCrashed | X::Tls(_) => true,
            X::Database(d) => {
                let code = d.code().unwrap_or_default();
                // SQLite busy/locked; PostgreSQL serialization, deadlock, lock timeout, shutdown.
                matches!(
                    &*code,
                    "5" | "6" | "517" | "40001" | "40P01" | "55P03" | "57P01" | "57P03"
                )
            }
            _ => false,
        },
        _ => false,
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
