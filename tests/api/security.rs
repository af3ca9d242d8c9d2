//! Issue #7, security: tokens kept only as hashes, limits that answer
//! instead of hanging, security headers on every response, CORS only for
//! named origins, and a per-token rate limit.

use crate::common::{Resp, TestApp, each_backend};
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use clap::Parser;
use climate_tracker::config::{self, Origin};
use climate_tracker::entities::{audit_event, idempotency_key, institution, token};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const INSTITUTIONS: &str = "/api/v1/institutions";
const STRICT_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

fn assert_problem(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{}", r.body);
    assert_eq!(r.body["status"], status.as_u16(), "{}", r.body);
    assert_eq!(r.code(), code, "{}", r.body);
}

fn settings() -> config::Security {
    config::Security::default()
}

/// A POST whose body never arrives: the request stays in flight until dropped.
fn stalled_post(app: &TestApp) -> Request<Body> {
    let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
    Request::builder()
        .method(Method::POST)
        .uri(INSTITUTIONS)
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", "application/json")
        .body(Body::from_stream(never))
        .unwrap()
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(Body::empty()).unwrap()
}

// ---- Tokens ---------------------------------------------------------------

#[tokio::test]
async fn a_token_secret_is_stored_nowhere_only_its_hash() {
    each_backend(|app| async move {
        let r = app
            .request(
                Method::POST,
                "/api/v1/tokens",
                Some(&app.admin.clone()),
                Some(json!({"name": "dashboard", "role": "viewer"})),
                &[("idempotency-key", "token-1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        assert_eq!(app.get_as(&secret, INSTITUTIONS).await.status, StatusCode::OK);

        let expected_hash: String = Sha256::digest(secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let row = token::Entity::find_by_id(uuid::Uuid::parse_str(&r.id()).unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.secret_hash, expected_hash);

        // Every row that could have kept it: tokens, the audit trail, the stored idempotent reply.
        let tokens = format!("{:?}", token::Entity::find().all(&app.db).await.unwrap());
        let events = format!("{:?}", audit_event::Entity::find().all(&app.db).await.unwrap());
        let replies = format!("{:?}", idempotency_key::Entity::find().all(&app.db).await.unwrap());
        for (table, dump) in [
            ("tokens", tokens),
            ("audit_events", events),
            ("idempotency_keys", replies),
        ] {
            assert!(!dump.contains(&secret), "{table} holds the secret");
            let unprefixed = secret.trim_start_matches("ctk_");
            assert!(!dump.contains(unprefixed), "{table} holds the secret");
        }
    })
    .await;
}

#[tokio::test]
async fn a_secret_that_differs_by_one_character_is_refused() {
    each_backend(|app| async move {
        let mut near = app.admin.clone();
        let last = near.pop().unwrap();
        near.push(if last == 'A' { 'B' } else { 'A' });
        let r = app.get_as(&near, INSTITUTIONS).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
        // The stored hash itself is not a credential either.
        let hash: String = Sha256::digest(app.admin.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_problem(
            &app.get_as(&hash, INSTITUTIONS).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    })
    .await;
}

// ---- Limits ---------------------------------------------------------------

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413_problem() {
    let app = TestApp::sqlite().await;
    let big = json!({"code": "big", "name": {"en": "x".repeat(1024 * 1024)}, "kind": "ngo", "country": "TO"});
    assert_problem(
        &app.post(INSTITUTIONS, big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn a_request_that_runs_too_long_is_cut_off_with_a_503_problem() {
    let app = TestApp::sqlite().await.with_security(config::Security {
        request_timeout_secs: 1,
        ..settings()
    });
    let started = Instant::now();
    let r = app.send(stalled_post(&app)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(
        r.body["detail"].as_str().unwrap().contains("longer than 1 s"),
        "{}",
        r.body
    );
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_are_refused_at_once_not_queued() {
    let app = TestApp::sqlite().await.with_security(config::Security {
        max_concurrent_requests: 2,
        ..settings()
    });
    let in_flight: Vec<_> = (0..2)
        .map(|_| tokio::spawn(app.router.clone().oneshot(stalled_post(&app))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    // The ops endpoints stay outside the limit (tests/hardening.rs); the API sheds.
    let shed = app.send(get(INSTITUTIONS, Some(&app.admin))).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_problem(&shed, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(
        shed.body["detail"].as_str().unwrap().contains("capacity"),
        "{}",
        shed.body
    );
    assert_eq!(shed.header("retry-after"), Some("5"));
    let shed_api = app.get(INSTITUTIONS).await;
    assert_problem(&shed_api, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");

    // A slot frees as soon as a request ends.
    in_flight[0].abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.get(INSTITUTIONS).await.status, StatusCode::OK);
    in_flight[1].abort();
}

// ---- Headers --------------------------------------------------------------

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::sqlite().await;
    let admin = app.admin.clone();
    let requests = [
        ("/healthz", Some(admin.as_str())),
        ("/openapi.json", None),
        ("/", None),
        ("/assets/dashboard.css", None),
        (INSTITUTIONS, Some(admin.as_str())),
        (INSTITUTIONS, None),
        ("/api/v1/no-such-thing", Some(admin.as_str())),
        ("/no-such-page", None),
    ];
    for (path, token) in requests {
        let r = app.send(get(path, token)).await;
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(r.header("content-security-policy"), Some(STRICT_CSP), "{path}");
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "{path}: HSTS is off by default"
        );
    }
}

#[tokio::test]
async fn the_api_docs_get_a_policy_swagger_ui_can_run_under() {
    let app = TestApp::sqlite().await;
    let page = app.send(get("/docs/", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.body.as_str().unwrap();
    // Swagger UI's page has no inline script, so scripts stay 'self' only.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=").count(),
        "{html}"
    );
    assert!(!html.contains("<style"), "{html}");
    for path in ["/docs/", "/docs/swagger-initializer.js", "/docs/swagger-ui.css"] {
        let r = app.send(get(path, None)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
        assert!(csp.contains("style-src 'self' 'unsafe-inline'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
    }
    let init = app.send(get("/docs/swagger-initializer.js", None)).await;
    assert!(init.body.as_str().unwrap().contains("/openapi.json"));
    // Outside /docs the policy stays strict.
    let r = app.send(get("/docsx", None)).await;
    assert_eq!(r.header("content-security-policy"), Some(STRICT_CSP));
}

#[tokio::test]
async fn hsts_is_sent_only_when_configured() {
    let app = TestApp::sqlite().await.with_security(config::Security {
        hsts: true,
        ..settings()
    });
    let r = app.send(get("/healthz", None)).await;
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

// ---- CORS -----------------------------------------------------------------

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri(INSTITUTIONS)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let app = TestApp::sqlite().await;
    let r = app.send(preflight("https://dash.example.org")).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    let mut req = get(INSTITUTIONS, Some(&app.admin));
    req.headers_mut()
        .insert("origin", "https://dash.example.org".parse().unwrap());
    assert_eq!(app.send(req).await.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_admits_the_configured_origins_only() {
    let app = TestApp::sqlite().await.with_security(config::Security {
        cors_origins: vec![Origin::Exact("https://dash.example.org".parse().unwrap())],
        ..settings()
    });
    let ok = app.send(preflight("https://dash.example.org")).await;
    assert!(ok.status.is_success(), "{}", ok.status);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://dash.example.org")
    );
    let allowed = ok.header("access-control-allow-headers").unwrap().to_lowercase();
    for h in ["authorization", "content-type", "idempotency-key", "if-match"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let methods = ok.header("access-control-allow-methods").unwrap();
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }

    let mut req = get(INSTITUTIONS, Some(&app.admin));
    req.headers_mut()
        .insert("origin", "https://dash.example.org".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://dash.example.org")
    );
    let exposed = r.header("access-control-expose-headers").unwrap().to_lowercase();
    for h in ["etag", "location", "idempotent-replayed", "retry-after"] {
        assert!(exposed.contains(h), "{exposed}");
    }

    let other = app.send(preflight("https://evil.example.com")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn settings_come_from_flags_or_environment_and_bad_values_are_refused() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        security: config::Security,
    }
    let defaults = Cli::try_parse_from(["ct"]).unwrap().security;
    assert_eq!(defaults.max_concurrent_requests, 512);
    assert_eq!(defaults.request_timeout_secs, 30);
    assert_eq!(defaults.rate_limit_per_minute, 0);
    assert!(defaults.cors_origins.is_empty());
    assert!(!defaults.hsts);

    let set = Cli::try_parse_from([
        "ct",
        "--cors-origins",
        "https://a.example.org, http://localhost:5173",
        "--rate-limit-per-minute",
        "600",
        "--hsts",
    ])
    .unwrap()
    .security;
    assert_eq!(
        set.cors_origins,
        vec![
            Origin::Exact("https://a.example.org".parse().unwrap()),
            Origin::Exact("http://localhost:5173".parse().unwrap())
        ]
    );
    assert_eq!(set.rate_limit_per_minute, 600);
    assert!(set.hsts);

    for bad in [
        ["ct", "--cors-origins", "https://a.example.org/"],
        ["ct", "--cors-origins", "a.example.org"],
        ["ct", "--max-concurrent-requests", "0"],
        ["ct", "--request-timeout-secs", "0"],
        ["ct", "--request-timeout-secs", "120"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
    }
}

// ---- Rate limit -----------------------------------------------------------

#[tokio::test]
async fn past_its_rate_limit_a_token_gets_429_with_retry_after() {
    each_backend(|app| async move {
        let viewer = app.token("viewer", None).await;
        let app = app.with_security(config::Security {
            rate_limit_per_minute: 3,
            ..settings()
        });
        for _ in 0..3 {
            assert_eq!(app.get(INSTITUTIONS).await.status, StatusCode::OK);
        }
        let limited = app.get(INSTITUTIONS).await;
        assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry_after), "{retry_after}");
        // Writes count too, and are refused before they change anything.
        let write = app
            .post(
                INSTITUTIONS,
                json!({"code": "limited", "name": {"en": "L"}, "kind": "ngo", "country": "TO"}),
            )
            .await;
        assert_problem(&write, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let created = institution::Entity::find()
            .filter(institution::Column::Code.eq("limited"))
            .one(&app.db)
            .await
            .unwrap();
        assert!(created.is_none());

        // The limit is per token: another token is unaffected.
        assert_eq!(app.get_as(&viewer, INSTITUTIONS).await.status, StatusCode::OK);
        // Unauthenticated ops endpoints are not rate limited.
        for _ in 0..5 {
            assert_eq!(app.send(get("/healthz", None)).await.status, StatusCode::OK);
        }
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_429_on_every_api_operation() {
    let doc = serde_json::to_value(climate_tracker::http::openapi()).unwrap();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let r = &op["responses"]["429"];
            assert!(r.is_object(), "{method} {path} lacks 429");
            assert!(r["headers"]["Retry-After"].is_object(), "{method} {path}");
            seen += 1;
        }
    }
    assert!(seen > 20);
}
