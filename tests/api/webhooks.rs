//! Webhooks (SPEC §8): endpoints, signed delivery to a real HTTP receiver
//! on this machine, retries, rotation, filters, SSRF refusals, and
//! delivery once across workers and instances.

use crate::common::{TestApp, TestDb, each_backend, local_webhooks};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use climate_tracker::app::clock::Clock;
use climate_tracker::jobs::webhooks::Deliverer;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

// ------------------------------------------------------------------ a receiver

/// What the receiver does with the next request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Answers 200, but only after this long.
    After(Duration),
}

#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    got: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
}

/// A real HTTP endpoint on 127.0.0.1 that records every request.
struct Receiver {
    addr: SocketAddr,
    script: Script,
}

impl Receiver {
    async fn start(answers: &[Answer]) -> Receiver {
        let script = Script::default();
        script.answers.lock().unwrap().extend(answers.iter().copied());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, script }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.script.got.lock().unwrap().clone()
    }
}

async fn receive(State(s): State<Script>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.got.lock().unwrap().push(Received { headers, body });
    s.arrived.notify_waiters();
    let answer = s.answers.lock().unwrap().pop_front().unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
        Answer::After(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
    }
}

// ------------------------------------------------------------------ helpers

fn deliverer(app: &TestApp) -> Deliverer {
    Deliverer::new(app.db.clone(), &local_webhooks(), Clock::default())
}

/// Runs delivery passes until nothing is left to do now.
async fn drain(d: &Deliverer) {
    for _ in 0..50 {
        if !d.pass().await.unwrap() {
            return;
        }
    }
    panic!("delivery never settled");
}

async fn hook(app: &TestApp, url: &str, types: Value) -> (String, String) {
    let r = app
        .post("/api/v1/webhooks", json!({"url": url, "event_types": types}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.id(), r.body["secret"].as_str().unwrap().to_owned())
}

async fn deliveries(app: &TestApp, hook: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// Makes every pending delivery due now, as if its retry delay had passed.
async fn time_passes(app: &TestApp) {
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared("UPDATE webhook_deliveries SET next_attempt_at = created_at WHERE status = 'pending'")
        .await
        .unwrap();
}

fn verify(secret: &str, r: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&r.body, &r.headers)
        .is_ok()
}

// ------------------------------------------------------------------ endpoints

#[tokio::test]
async fn an_endpoint_shows_its_secret_once_and_never_again() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let body = json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "description": "board dashboard"});
        let r = app
            .request(
                axum::http::Method::POST,
                "/api/v1/webhooks",
                Some(&app.admin),
                Some(body.clone()),
                &[("idempotency-key", "hook-1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_") && secret.len() >= 38, "{secret}");
        assert_eq!(r.body["enabled"], true);
        assert_eq!(r.body["event_types"], json!(["*"]));
        let id = r.id();

        let replay = app
            .request(
                axum::http::Method::POST,
                "/api/v1/webhooks",
                Some(&app.admin),
                Some(body),
                &[("idempotency-key", "hook-1")],
            )
            .await;
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert!(replay.body["secret"].is_null());

        let got = app.get(&format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(got.status, StatusCode::OK);
        assert!(got.body.get("secret").is_none());
        let everything = format!(
            "{}{}{}",
            app.get("/api/v1/webhooks").await.body,
            app.get("/api/v1/audit-events?entity_type=webhook").await.body,
            app.get("/api/v1/events?types=webhook.created").await.body
        );
        assert!(!everything.contains(&secret[6..]), "the secret leaked");

        let viewer = app.token("viewer", None).await;
        assert_eq!(
            app.get_as(&viewer, "/api/v1/webhooks").await.status,
            StatusCode::FORBIDDEN
        );
        let feed = app.get_as(&viewer, "/api/v1/events").await;
        assert!(
            !feed.body.to_string().contains("webhook.created"),
            "webhooks are an admin's business"
        );

        let patched = app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                json!({"enabled": false, "event_types": ["grant.created"]}),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["version"], 2);
        assert_eq!(
            app.delete(&format!("/api/v1/webhooks/{id}")).await.status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.get(&format!("/api/v1/webhooks/{id}")).await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn urls_must_be_https_and_public_unless_the_operator_allows_them() {
    each_backend(|app| async move {
        for url in [
            "http://93.184.216.34/hook",
            "https://127.0.0.1:9000/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/hook",
            "https://[::1]/hook",
            "not a url",
        ] {
            let r = app
                .post("/api/v1/webhooks", json!({"url": url, "event_types": ["*"]}))
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", r.body);
            assert_eq!(r.fields(), ["url"], "{url}");
        }
        for types in [json!([]), json!(["Grant"]), json!(["grant."])] {
            let r = app
                .post(
                    "/api/v1/webhooks",
                    json!({"url": "https://93.184.216.34/", "event_types": types}),
                )
                .await;
            assert_eq!(r.fields(), ["event_types"], "{types}");
        }
        // Allowed by the operator, as tests and local receivers are.
        let app = app.allowing_local_webhooks();
        let ok = app
            .post(
                "/api/v1/webhooks",
                json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
        let still = app
            .post(
                "/api/v1/webhooks",
                json!({"url": "http://10.0.0.1/hook", "event_types": ["*"]}),
            )
            .await;
        assert_eq!(still.fields(), ["url"]);
    })
    .await;
}

// ------------------------------------------------------------------ delivery

#[tokio::test]
async fn an_event_is_delivered_signed_to_the_endpoints_that_want_it() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let receiver = Receiver::start(&[]).await;
        let other = Receiver::start(&[]).await;
        let (hook_id, secret) = hook(&app, &receiver.url(), json!(["institution.created"])).await;
        hook(&app, &other.url(), json!(["grant.created"])).await;
        let d = deliverer(&app);
        let id = app.institution("usp-fiji", "FJ").await;
        drain(&d).await;

        let got = receiver.got();
        assert_eq!(got.len(), 1);
        assert!(other.got().is_empty(), "the other endpoint wants grants only");
        let r = &got[0];
        assert!(
            verify(&secret, r),
            "the signature verifies with the standardwebhooks crate"
        );
        assert!(!verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r));
        let body = r.json();
        assert_eq!(body["type"], "institution.created");
        assert_eq!(body["data"]["id"], id.as_str());
        assert_eq!(body["data"], app.get(&format!("/api/v1/institutions/{id}")).await.body);
        let feed = app.get("/api/v1/events?types=institution.created").await;
        let event = &feed.body["items"][0];
        assert_eq!(r.id(), event["id"].as_str().unwrap(), "webhook-id is the event's id");
        assert_eq!(body["id"], event["id"]);
        assert_eq!(r.headers["content-type"], "application/json");

        let log = deliveries(&app, &hook_id).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], "delivered");
        assert_eq!(log[0]["attempts"], 1);
        assert_eq!(log[0]["last_response_code"], 200);
        assert!(log[0]["next_attempt_at"].is_null());
    })
    .await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_webhook_id() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        // 500, then no answer in time (1 s here), then 200.
        let receiver = Receiver::start(&[Answer::Status(500), Answer::After(Duration::from_secs(3))]).await;
        let (hook_id, secret) = hook(&app, &receiver.url(), json!(["*"])).await;
        let d = deliverer(&app);
        app.institution("kiribati-college", "KI").await;
        drain(&d).await;
        let log = deliveries(&app, &hook_id).await;
        assert_eq!(log[0]["status"], "pending");
        assert_eq!(log[0]["attempts"], 1);
        assert_eq!(log[0]["last_response_code"], 500);
        assert!(log[0]["next_attempt_at"].is_string(), "a retry is scheduled");
        let hooked = app.get(&format!("/api/v1/webhooks/{hook_id}")).await;
        assert!(hooked.body["failing_since"].is_string());

        time_passes(&app).await;
        drain(&d).await;
        let log = deliveries(&app, &hook_id).await;
        assert_eq!(log[0]["status"], "pending");
        assert_eq!(log[0]["attempts"], 2);
        assert!(log[0]["last_response_code"].is_null());
        assert!(
            log[0]["last_error"].as_str().unwrap().contains("no answer within 1 s"),
            "{}",
            log[0]
        );

        time_passes(&app).await;
        drain(&d).await;
        let log = deliveries(&app, &hook_id).await;
        assert_eq!(log[0]["status"], "delivered");
        assert_eq!(log[0]["attempts"], 3);
        let got = receiver.got();
        assert_eq!(got.len(), 3);
        assert!(
            got.iter().all(|r| r.id() == got[0].id()),
            "the same webhook-id on every attempt"
        );
        assert!(verify(&secret, &got[2]));
        let hooked = app.get(&format!("/api/v1/webhooks/{hook_id}")).await;
        assert!(
            hooked.body["failing_since"].is_null(),
            "a success ends the run of failures"
        );
    })
    .await;
}

#[tokio::test]
async fn a_delivery_whose_retries_run_out_has_failed() {
    each_backend(|app| async move {
        use sea_orm::ConnectionTrait;
        let app = app.allowing_local_webhooks();
        let receiver = Receiver::start(&[Answer::Status(503)]).await;
        let (hook_id, _) = hook(&app, &receiver.url(), json!(["*"])).await;
        let d = deliverer(&app);
        app.institution("tonga-college", "TO").await;
        climate_tracker::jobs::webhooks::fan_out(&app.db, chrono::Utc::now())
            .await
            .unwrap();
        // As if eight attempts had failed over three days.
        app.db
            .execute_unprepared("UPDATE webhook_deliveries SET attempts = 9")
            .await
            .unwrap();
        drain(&d).await;
        let log = deliveries(&app, &hook_id).await;
        assert_eq!(log[0]["status"], "failed");
        assert_eq!(log[0]["attempts"], 10);
        assert!(log[0]["next_attempt_at"].is_null());
        let again = app
            .post(
                &format!(
                    "/api/v1/webhooks/{hook_id}/deliveries/{}/redeliver",
                    log[0]["id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        drain(&d).await;
        let got = receiver.got();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id(), got[1].id(), "a redelivery carries the same webhook-id");
        assert_eq!(deliveries(&app, &hook_id).await[1]["status"], "delivered");
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_failing_for_three_days_is_disabled_and_that_is_announced() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let receiver = Receiver::start(&[Answer::Status(500)]).await;
        let (hook_id, _) = hook(&app, &receiver.url(), json!(["institution.created"])).await;
        let watcher = Receiver::start(&[]).await;
        hook(&app, &watcher.url(), json!(["webhook.disabled"])).await;
        use climate_tracker::entities::webhook;
        use sea_orm::{EntityTrait, sea_query::Expr};
        // As if its deliveries had been failing for four days.
        let four_days_ago = chrono::Utc::now() - chrono::Duration::days(4);
        webhook::Entity::update_many()
            .col_expr(webhook::Column::FailingSince, Expr::value(Some(four_days_ago)))
            .exec(&app.db)
            .await
            .unwrap();
        let d = deliverer(&app);
        app.institution("nauru-ministry", "NR").await;
        drain(&d).await;
        let hooked = app.get(&format!("/api/v1/webhooks/{hook_id}")).await;
        assert_eq!(hooked.body["enabled"], false);
        let disabled = watcher.got();
        assert_eq!(disabled.len(), 1, "the other endpoint hears webhook.disabled");
        assert_eq!(disabled[0].json()["type"], "webhook.disabled");
        assert_eq!(disabled[0].json()["data"]["id"], hook_id.as_str());
        let audit = app.get(&format!("/api/v1/audit-events?entity_id={hook_id}")).await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"disable"), "{actions:?}");
    })
    .await;
}

#[tokio::test]
async fn during_a_rotation_deliveries_carry_both_signatures_for_a_day() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let receiver = Receiver::start(&[]).await;
        let (hook_id, old) = hook(&app, &receiver.url(), json!(["*"])).await;
        let r = app
            .post(&format!("/api/v1/webhooks/{hook_id}/rotate-secret"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let new = r.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        let until: chrono::DateTime<chrono::Utc> = r.body["previous_secret_until"].as_str().unwrap().parse().unwrap();
        let hours = (until - chrono::Utc::now()).num_minutes() as f64 / 60.0;
        assert!((23.9..=24.0).contains(&hours), "{hours}");
        let d = deliverer(&app);
        app.institution("samoa-ministry", "WS").await;
        drain(&d).await;
        let got = receiver.got();
        let delivered = got.last().unwrap();
        let signatures = delivered.headers["webhook-signature"].to_str().unwrap();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        assert!(verify(&new, delivered) && verify(&old, delivered));
    })
    .await;
}

#[tokio::test]
async fn a_test_event_reaches_only_the_endpoint_it_was_sent_to() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let one = Receiver::start(&[]).await;
        let two = Receiver::start(&[]).await;
        let (first, secret) = hook(&app, &one.url(), json!(["*"])).await;
        hook(&app, &two.url(), json!(["*"])).await;
        let r = app.post(&format!("/api/v1/webhooks/{first}/test"), json!({})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(r.body["type"], "webhook.test");
        drain(&deliverer(&app)).await;
        let got: Vec<Value> = one.got().iter().map(Received::json).collect();
        assert!(
            got.iter()
                .any(|b| b["type"] == "webhook.test" && b["id"] == r.body["event_id"])
        );
        assert!(!two.got().iter().any(|x| x.json()["type"] == "webhook.test"));
        assert!(verify(&secret, one.got().last().unwrap()));
    })
    .await;
}

#[tokio::test]
async fn a_paused_endpoint_gets_nothing_until_enabled_then_what_happened_meanwhile() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let receiver = Receiver::start(&[]).await;
        let (hook_id, _) = hook(&app, &receiver.url(), json!(["institution.created"])).await;
        let d = deliverer(&app);
        let paused = app
            .patch(&format!("/api/v1/webhooks/{hook_id}"), json!({"enabled": false}))
            .await;
        assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);

        let first = app.institution("usp-fiji", "FJ").await;
        let second = app.institution("tonga-ministry", "TO").await;
        drain(&d).await;
        assert!(receiver.got().is_empty(), "a disabled endpoint gets nothing");
        let test = app.post(&format!("/api/v1/webhooks/{hook_id}/test"), json!({})).await;
        assert_eq!(test.status, StatusCode::CONFLICT, "{}", test.body);
        assert_eq!(test.body["code"], "invalid_state");

        let enabled = app
            .patch(&format!("/api/v1/webhooks/{hook_id}"), json!({"enabled": true}))
            .await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
        drain(&d).await;
        let mut got: Vec<String> = receiver
            .got()
            .iter()
            .map(|r| r.json()["data"]["id"].as_str().unwrap().to_owned())
            .collect();
        // Calls of one pass run side by side: they may arrive in any order (as Standard Webhooks allows).
        got.sort();
        let mut made = [first, second];
        made.sort();
        assert_eq!(got, made, "the events of the pause, each once");
    })
    .await;
}

#[tokio::test]
async fn two_workers_on_one_database_deliver_each_event_once() {
    each_backend(|app| async move {
        let app = app.allowing_local_webhooks();
        let receiver = Receiver::start(&[]).await;
        hook(&app, &receiver.url(), json!(["institution.created"])).await;
        for i in 0..20 {
            app.institution(&format!("inst-{i:02}"), "FJ").await;
        }
        // Two "instances": each with its own connection pool to the same database.
        let url = app.url.clone();
        let other_pool = climate_tracker::db::connect(&url).await.unwrap();
        let a = deliverer(&app);
        let b = Deliverer::new(other_pool, &local_webhooks(), Clock::default());
        let (ra, rb) = tokio::join!(
            async {
                for _ in 0..30 {
                    a.pass().await.unwrap();
                }
            },
            async {
                for _ in 0..30 {
                    b.pass().await.unwrap();
                }
            }
        );
        let ((), ()) = (ra, rb);
        let mut ids: Vec<String> = receiver.got().iter().map(Received::id).collect();
        assert_eq!(ids.len(), 20, "each event once");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
    })
    .await;
}

// ------------------------------------------------------------------ a killed instance

struct Serve(Child);

impl Serve {
    fn start(url: &str) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_climate-tracker"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("CLIMATE_TRACKER_DATABASE_URL", url)
            .env("CLIMATE_TRACKER_ADMIN_TOKEN", "ctk_webhook-test-admin")
            .env("CLIMATE_TRACKER_WEBHOOK_ALLOW_HTTP", "true")
            .env("CLIMATE_TRACKER_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
            .env("CLIMATE_TRACKER_WEBHOOK_TIMEOUT_SECS", "2")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start climate-tracker");
        Serve(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An instance killed (SIGKILL) while its delivery is in flight loses
/// nothing: once its lease passes, another instance delivers the event,
/// with the same webhook-id.
#[tokio::test]
async fn a_delivery_in_flight_when_its_instance_is_killed_is_delivered_by_another() {
    let mut databases = vec![TestDb::sqlite()];
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        databases.push(TestDb::postgres(&url).await);
    }
    for db in databases {
        let app = TestApp::on(&db).await.allowing_local_webhooks();
        // The first attempt hangs past the (2 s) timeout; the instance is killed before it ends.
        let receiver = Receiver::start(&[Answer::After(Duration::from_secs(30))]).await;
        hook(&app, &receiver.url(), json!(["institution.created"])).await;
        let first = Serve::start(&db.url());
        let arrived = receiver.script.arrived.notified();
        app.institution("killed-mid-delivery", "TO").await;
        tokio::time::timeout(Duration::from_secs(60), arrived)
            .await
            .expect("the first instance attempts the delivery");
        drop(first); // SIGKILL
        let _second = Serve::start(&db.url());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while receiver.got().len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the second instance never delivered"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let got = receiver.got();
        assert_eq!(got[0].id(), got[1].id());
        assert_eq!(got[1].json()["data"]["code"], "killed-mid-delivery");
    }
}
