//! Test harness: the real router against a real, fresh database per test.
//!
//! Every test body runs on SQLite, and again on PostgreSQL when
//! `TEST_POSTGRES_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/postgres`);
//! each run gets its own randomly named database, dropped afterwards.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use climate_tracker::domain::kinds::Role;
use climate_tracker::http::{AppState, ops};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::future::Future;
use tower::ServiceExt;
use uuid::Uuid;

pub struct TestApp {
    pub db: DatabaseConnection,
    pub router: axum::Router,
    pub admin: String,
    pub backend: &'static str,
    pub clock: climate_tracker::app::clock::Clock,
    pub url_policy: climate_tracker::config::UrlPolicy,
    /// Dropped last: removes the database (none when the test owns it, see [`TestApp::on`]).
    _database: Option<TestDb>,
    /// The database's URL, for other processes or pools on it.
    pub url: String,
}

/// Test bodies are `async move` blocks, which capture only the fields they
/// use (`app.db`, say) and drop the rest at once. A `Drop` of its own makes
/// them take the whole `TestApp`, so its database lives until the test ends.
impl Drop for TestApp {
    fn drop(&mut self) {}
}

/// A database of its own for one test: a SQLite file, or a fresh
/// PostgreSQL database; removed on drop.
pub enum TestDb {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite(std::env::temp_dir().join(format!("climate-tracker-test-{}.db", Uuid::new_v4())))
    }

    pub async fn postgres(admin_url: &str) -> TestDb {
        let name = format!("ct_test_{}", Uuid::new_v4().simple());
        let admin = climate_tracker::db::connect(admin_url)
            .await
            .expect("TEST_POSTGRES_URL must be reachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        TestDb::Postgres {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(path) => format!("sqlite://{}?mode=rwc", path.display()),
            TestDb::Postgres { admin_url, name } => {
                format!("{}/{name}", admin_url.rsplit_once('/').expect("a database path").0)
            }
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite(_) => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async; a short-lived runtime on its own thread
                // drops the database (FORCE ends the pool's open connections).
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        if let Ok(admin) = climate_tracker::db::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The problem `code` of an error response.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    /// Field names listed in a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned()
    }
}

/// Runs `test` on SQLite, then on PostgreSQL when `TEST_POSTGRES_URL` is set.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    test(TestApp::sqlite().await).await;
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        test(TestApp::postgres(&url).await).await;
    }
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        TestApp::start(TestDb::sqlite()).await
    }

    pub async fn postgres(admin_url: &str) -> TestApp {
        TestApp::start(TestDb::postgres(admin_url).await).await
    }

    /// The service on a database the test owns (and shares with other processes).
    pub async fn on(database: &TestDb) -> TestApp {
        TestApp::open(database.url(), database.backend(), None).await
    }

    async fn start(database: TestDb) -> TestApp {
        TestApp::open(database.url(), database.backend(), Some(database)).await
    }

    async fn open(url: String, backend: &'static str, database: Option<TestDb>) -> TestApp {
        let db = climate_tracker::db::connect(&url).await.expect("connect");
        climate_tracker::db::migrate_up(&db).await.expect("migrate");
        let admin = make_token(&db, "test admin", Role::Admin, None).await.secret;
        let router = climate_tracker::http::router(AppState {
            db: db.clone(),
            metrics: ops::metrics_handle(),
            security: Default::default(),
            clock: Default::default(),
            url_policy: Default::default(),
        });
        TestApp {
            db,
            router,
            admin,
            backend,
            clock: Default::default(),
            url_policy: Default::default(),
            _database: database,
            url,
        }
    }

    /// The same database behind a router with these protections (limits, CORS, rate limit).
    pub fn with_security(mut self, settings: climate_tracker::config::Security) -> TestApp {
        self.router = climate_tracker::http::router(AppState {
            db: self.db.clone(),
            metrics: ops::metrics_handle(),
            security: climate_tracker::http::security::Security::new(settings),
            clock: self.clock,
            url_policy: self.url_policy.clone(),
        });
        self
    }

    /// The same database behind a router whose clock stands at `at`.
    pub fn at(mut self, at: chrono::DateTime<chrono::Utc>) -> TestApp {
        self.clock = climate_tracker::app::clock::Clock::fixed(at);
        self.router = climate_tracker::http::router(AppState {
            db: self.db.clone(),
            metrics: ops::metrics_handle(),
            security: Default::default(),
            clock: self.clock,
            url_policy: self.url_policy.clone(),
        });
        self
    }

    /// The same database behind a router that lets webhooks reach this machine
    /// over plain HTTP (as `--webhook-allow-http --webhook-allow-hosts 127.0.0.1`).
    pub fn allowing_local_webhooks(mut self) -> TestApp {
        self.url_policy = local_webhooks().url_policy();
        self.router = climate_tracker::http::router(AppState {
            db: self.db.clone(),
            metrics: ops::metrics_handle(),
            security: Default::default(),
            clock: self.clock,
            url_policy: self.url_policy.clone(),
        });
        self
    }

    /// The reference data of REFERENCE.md, as `serve` loads it.
    pub async fn with_reference(self) -> TestApp {
        climate_tracker::seed::reference(&self.db)
            .await
            .expect("seed reference");
        self
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let response = self.router.clone().oneshot(req).await.expect("router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, Some(&self.admin.clone()), None, &[])
            .await
    }
    pub async fn get_as(&self, token: &str, path: &str) -> Resp {
        self.request(Method::GET, path, Some(token), None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(&self.admin.clone()), Some(body), &[])
            .await
    }
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(token), Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(&self.admin.clone()), Some(body), &[])
            .await
    }
    pub async fn patch_as(&self, token: &str, path: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(token), Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, Some(&self.admin.clone()), None, &[])
            .await
    }
    pub async fn delete_as(&self, token: &str, path: &str) -> Resp {
        self.request(Method::DELETE, path, Some(token), None, &[]).await
    }

    /// Creates a token through the API and returns its secret.
    pub async fn token(&self, role: &str, institution_id: Option<&str>) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                json!({"name": format!("{role} token"), "role": role, "institution_id": institution_id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "token create: {}", r.body);
        r.body["secret"].as_str().expect("secret").to_owned()
    }

    /// Creates an institution through the API; returns its id.
    pub async fn institution(&self, code: &str, country: &str) -> String {
        let r = self
            .post(
                "/api/v1/institutions",
                json!({"code": code, "name": {"en": code, "zh": "机构"}, "kind": "university", "country": country}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "institution create: {}", r.body);
        r.id()
    }

    /// Creates a fund sponsored by `sponsor` holding one contribution of
    /// `amount` in `currency`; returns its id.
    pub async fn fund(&self, code: &str, currency: &str, sponsor: &str, amount: &str) -> String {
        let r = self
            .post(
                "/api/v1/funds",
                json!({"code": code, "name": {"en": code}, "currency": currency,
                "sponsor_institution_id": sponsor, "established_on": "2024-10-19", "focus_areas": []}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "fund create: {}", r.body);
        let f = r.id();
        let r = self
            .post(
                &format!("/api/v1/funds/{f}/contributions"),
                json!({"contributor_institution_id": sponsor, "amount": {"amount": amount, "currency": currency},
                "received_on": "2024-11-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "contribution: {}", r.body);
        f
    }

    /// Creates a project through the API; returns its id.
    pub async fn project(&self, code: &str, countries: &[&str]) -> String {
        let r = self.post("/api/v1/projects", project_body(code, countries)).await;
        assert_eq!(r.status, StatusCode::CREATED, "project create: {}", r.body);
        r.id()
    }

    /// Adds an institution to a project.
    pub async fn participate(&self, project_id: &str, institution_id: &str, role: &str) {
        let r = self
            .post(
                &format!("/api/v1/projects/{project_id}/participants"),
                json!({"institution_id": institution_id, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "participant: {}", r.body);
    }
}

/// Job settings for tests: webhooks may reach 127.0.0.1 over HTTP, and an
/// endpoint that does not answer within a second has failed.
pub fn local_webhooks() -> climate_tracker::config::Jobs {
    climate_tracker::config::Jobs {
        webhook_allow_http: true,
        webhook_allow_hosts: vec!["127.0.0.1".into()],
        webhook_timeout_secs: 1,
        ..Default::default()
    }
}

/// A token made outside the API, as `climate-tracker token create` makes one.
pub async fn make_token(
    db: &DatabaseConnection,
    name: &str,
    role: Role,
    institution_id: Option<Uuid>,
) -> climate_tracker::app::tokens::Created {
    let new = climate_tracker::app::tokens::New {
        name: name.to_owned(),
        role,
        institution_id,
    };
    climate_tracker::app::tokens::create_as_system(db, "system:test", new)
        .await
        .expect("token")
}

pub fn project_body(code: &str, countries: &[&str]) -> Value {
    json!({
        "code": code,
        "title": {"en": format!("Project {code}"), "zh": "项目"},
        "sector": "climate_adaptation",
        "countries": countries,
        "rio_markers": {"mitigation": 1, "adaptation": 2},
        "planned_start": "2025-01-01",
        "planned_end": "2026-12-31"
    })
}
