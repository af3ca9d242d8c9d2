//! The HTTP API: one module per resource, each with its routes and
//! handlers side by side, plus the shared machinery every handler uses.

pub mod auth;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod input;
pub mod ops;
pub mod pagination;
pub mod reply;
pub mod security;
pub mod write;

mod alliances;
mod audit_events;
pub(crate) mod dashboard;
mod docs;
mod events;
mod exports;
mod funds;
mod grants;
mod institutions;
pub mod ledger;
mod milestones;
mod page;
mod projects;
mod results;
mod status;
mod tokens;
mod transfer;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};

/// Where the versioned API is mounted.
pub const API_PREFIX: &str = "/api/v1";

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub metrics: PrometheusHandle,
    /// Limits, headers, CORS and rate limiting, from the settings.
    pub security: security::Security,
    /// What time it is (fixed in tests): "today" per project comes from it.
    pub clock: crate::app::clock::Clock,
    /// What a webhook URL may point at (`--webhook-allow-http`, `--webhook-allow-hosts`).
    pub url_policy: crate::config::UrlPolicy,
}

/// The versioned API and its OpenAPI document, declared together.
fn api(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(institutions::router())
        .merge(alliances::router())
        .merge(funds::router())
        .merge(ledger::router())
        .merge(grants::router())
        .merge(projects::router())
        .merge(status::router())
        .merge(dashboard::router())
        .merge(exports::router())
        .merge(milestones::router())
        .merge(results::router())
        .merge(tokens::router())
        .merge(audit_events::router())
        .merge(events::router())
        .merge(webhooks::router())
        // Outermost last: a slot; the token, its role, its share, its rate (one
        // layer: each layer costs every request); only then the body.
        .layer(from_fn_with_state(state.clone(), idempotency::idempotent))
        .layer(from_fn_with_state(state.clone(), security::read_body))
        .layer(from_fn_with_state(state.clone(), auth::admit))
        .layer(from_fn_with_state(state.clone(), security::limit));
    let (router, mut doc) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .nest(API_PREFIX, v1)
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    docs::add_problem_responses(&mut doc);
    (router, doc)
}

/// The OpenAPI document, as `climate-tracker openapi` prints it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    // The document does not depend on the connection; a disconnected one serves.
    let state = AppState {
        db: DatabaseConnection::default(),
        metrics: ops::metrics_handle(),
        security: Default::default(),
        clock: Default::default(),
        url_policy: Default::default(),
    };
    api(&state).1
}

/// The whole service: API, docs, ops endpoints and the layers around them.
pub fn router(state: AppState) -> Router {
    let (api_router, doc) = api(&state);
    api_router
        .merge(docs::ui(doc))
        .merge(page::router())
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(ops::record_metrics))
        .layer(from_fn(transfer::not_modified))
        .layer(from_fn_with_state(state.clone(), security::headers))
        .layer(tower::util::option_layer(security::cors(&state.security)))
        .layer(transfer::compression())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
