//! Protections around every request: a cap on requests in flight (load is
//! shed with 503, never queued into a hang), a per-request time limit,
//! security headers with a Content-Security-Policy, CORS for the origins an
//! operator names, and a per-token rate limit.
//!
//! The rate limit is kept in process memory, per instance: behind a load
//! balancer with N instances a token gets up to N times the configured rate.
//! That is a deliberate trade: it protects each instance from one noisy
//! client at no cost to the database, whereas a shared counter would add a
//! write to every request. It guards capacity, not a business invariant;
//! every invariant stays in the database.

use super::error::ApiError;
use super::{AppState, MAX_BODY_BYTES};
use crate::config::{self, Origin};
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use uuid::Uuid;

/// The policy for the API, the dashboard page and everything else: nothing
/// inline, nothing from elsewhere, never framed.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Swagger UI at `/docs`: its page loads only its own files, but the UI
/// sets `style` attributes as it renders, so styles may be inline there
/// (scripts still may not).
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The settings and the shared state the protections need; cheap to clone.
#[derive(Clone)]
pub struct Security(Arc<Inner>);

struct Inner {
    settings: config::Security,
    /// One permit per API request in flight.
    slots: Arc<Semaphore>,
    /// Requests in flight per token; a token appears only while it has some.
    per_token: Mutex<HashMap<Uuid, u32>>,
    /// Per token; `None` when rate limiting is off.
    limiter: Option<DefaultKeyedRateLimiter<Uuid>>,
    /// Long-polls of the feed held open at once: an eighth of the slots.
    waiting: Semaphore,
}

impl Security {
    pub fn new(settings: config::Security) -> Security {
        let limiter = NonZeroU32::new(settings.rate_limit_per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let slots = Arc::new(Semaphore::new(settings.max_concurrent_requests as usize));
        let waiting = Semaphore::new((settings.max_concurrent_requests as usize / 8).max(1));
        Security(Arc::new(Inner {
            settings,
            slots,
            per_token: Mutex::default(),
            limiter,
            waiting,
        }))
    }

    pub fn settings(&self) -> &config::Security {
        &self.0.settings
    }

    /// Leave to hold a request open waiting for events, if fewer than an
    /// eighth of the slots are already held so: a waiting request keeps its
    /// slot, and waiting readers must never hold them all.
    pub fn may_wait(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.0.waiting.try_acquire().ok()
    }
}

impl Default for Security {
    fn default() -> Self {
        Security::new(config::Security::default())
    }
}

/// Middleware around `/api/v1`: refuses a request at once when the
/// instance is at capacity, and cuts off one that runs too long (dropping
/// its future rolls back any open transaction). The ops endpoints stay
/// outside it, so `/healthz` and `/metrics` answer while the API sheds load.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let Ok(_slot) = state.security.0.slots.clone().try_acquire_owned() else {
        metrics::counter!("http_requests_shed_total").increment(1);
        return Err(ApiError::Overloaded);
    };
    let seconds = state.security.settings().request_timeout_secs;
    tokio::time::timeout(Duration::from_secs(seconds), next.run(req))
        .await
        .map_err(|_| ApiError::TimedOut(seconds))
}

/// Middleware on `/api/v1`, after the role check: a request's body is read
/// here, whole, before anything else runs. A declared `Content-Length` over
/// the limit is refused at once (413, nothing read), and a body that does not
/// arrive within the body-read timeout is refused with 408, so a slow client
/// holds a request slot for seconds, not for the whole request timeout.
pub async fn read_body(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    }
    let seconds = state.security.settings().body_read_timeout_secs;
    let read = Limited::new(body, MAX_BODY_BYTES).collect();
    let bytes = match tokio::time::timeout(Duration::from_secs(seconds), read).await {
        Err(_) => {
            metrics::counter!("http_request_bodies_timed_out_total").increment(1);
            return Err(ApiError::BodyTimedOut(seconds));
        }
        Ok(Err(e)) if e.is::<LengthLimitError>() => return Err(ApiError::PayloadTooLarge),
        Ok(Err(e)) => return Err(ApiError::Malformed(format!("could not read the body: {e}"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    Ok(next.run(Request::from_parts(parts, Body::from(bytes))).await)
}

/// One request of a token in flight, at most the configured number per
/// token, so that one token (a partner's with slow bodies, say) cannot take
/// every slot; past it 429 with `Retry-After`. Dropping it (the request
/// ended, or was cut off) gives its place back.
pub struct InFlight {
    security: Security,
    token: Uuid,
}

impl InFlight {
    pub fn enter(security: &Security, token: Uuid) -> Result<InFlight, ApiError> {
        let mut counts = security.0.per_token.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(token).or_insert(0);
        if *count >= security.settings().max_concurrent_requests_per_token {
            metrics::counter!("http_requests_rate_limited_total").increment(1);
            return Err(ApiError::RateLimited { retry_after: 1 });
        }
        *count += 1;
        Ok(InFlight {
            security: security.clone(),
            token,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.security.0.per_token.lock().unwrap_or_else(PoisonError::into_inner);
        if let Entry::Occupied(mut count) = counts.entry(self.token) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

/// Middleware around every route: the security headers, unless a handler
/// chose its own, and the one caching rule of the API.
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_docs = req.uri().path() == "/docs" || req.uri().path().starts_with("/docs/");
    let is_api = req.uri().path().starts_with(super::API_PREFIX);
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    let mut response = next.run(req).await;
    if is_api {
        let value = api_cache_control(is_read, response.status());
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    let headers = response.headers_mut();
    let csp = if is_docs { DOCS_CSP } else { CSP };
    let mut set = |name: HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CONTENT_SECURITY_POLICY, csp);
    if state.security.settings().hsts {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

/// Every API response is one token's view (one carries a new token's
/// secret), so none may sit in a shared cache. A successful read may be kept
/// by the client but is revalidated each time (the ETag makes that cheap on a
/// slow link); anything else, errors and the replies to writes, is never stored.
fn api_cache_control(is_read: bool, status: StatusCode) -> &'static str {
    if is_read && (status.is_success() || status == StatusCode::NOT_MODIFIED) {
        "private, no-cache"
    } else {
        "no-store"
    }
}

/// CORS for the configured origins; `None` (no CORS headers at all) when none are.
pub fn cors(security: &Security) -> Option<CorsLayer> {
    let origins = &security.settings().cors_origins;
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.contains(&Origin::Any) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| match o {
            Origin::Exact(v) => Some(v.clone()),
            Origin::Any => None,
        }))
    };
    let idempotency_key = HeaderName::from_static(super::idempotency::HEADER);
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                idempotency_key,
                header::IF_MATCH,
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                HeaderName::from_static("idempotent-replayed"),
                header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// At most the configured number of requests per minute per token (a burst
/// of that size, refilled evenly), else 429 with `Retry-After`.
pub fn within_rate(security: &Security, token: Uuid) -> Result<(), ApiError> {
    let Some(limiter) = &security.0.limiter else {
        return Ok(());
    };
    if let Err(not_until) = limiter.check_key(&token) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        // Whole seconds, rounded up, so a client that waits that long gets in.
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        metrics::counter!("http_requests_rate_limited_total").increment(1);
        return Err(ApiError::RateLimited {
            retry_after: retry_after.max(1),
        });
    }
    Ok(())
}
