//! Two server processes on one PostgreSQL database: the invariants hold
//! across instances because they live in the database, not in memory.
//! Runs only when TEST_POSTGRES_URL is set.

use crate::common::TestDb;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the built binary on a free port and waits for its "listening on" line.
fn start(database_url: &str, admin: &str) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_climate-tracker"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("CLIMATE_TRACKER_DATABASE_URL", database_url)
        .env("CLIMATE_TRACKER_ADMIN_TOKEN", admin)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start climate-tracker");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server exits before listening")
            .expect("stderr line");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Instance { child, base }
}

async fn call(client: &reqwest::Client, base: &str, admin: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .expect("http");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_pay_exactly_what_fits() {
    let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
        return;
    };
    // Declared first, dropped last: the instances stop before the database goes.
    let database = TestDb::postgres(&admin_url).await;
    let url = database.url();
    let admin = "two-instance-admin-secret";

    let a = start(&url, admin);
    let b = start(&url, admin);
    let client = reqwest::Client::new();
    let cny = |a: &str| json!({"amount": a, "currency": "CNY"});
    let (_, sponsor) = call(
        &client,
        &a.base,
        admin,
        "/api/v1/institutions",
        json!({"name": {"en": "Sponsor"}, "kind": "foundation", "country": "CN"}),
    )
    .await;
    let (_, recipient) = call(
        &client,
        &b.base,
        admin,
        "/api/v1/institutions",
        json!({"name": {"en": "Recipient"}, "kind": "ngo", "country": "TO"}),
    )
    .await;
    let (sponsor, recipient) = (sponsor["id"].as_str().unwrap(), recipient["id"].as_str().unwrap());
    let (_, fund) = call(
        &client,
        &a.base,
        admin,
        "/api/v1/funds",
        json!({"code": "two-fund", "name": {"en": "F"}, "currency": "CNY",
        "sponsor_institution_id": sponsor, "established_on": "2024-10-19", "focus_areas": []}),
    )
    .await;
    let fund = fund["id"].as_str().unwrap().to_owned();
    call(
        &client,
        &b.base,
        admin,
        &format!("/api/v1/funds/{fund}/contributions"),
        json!({"contributor_institution_id": sponsor, "amount": cny("1000.00"), "received_on": "2024-11-01"}),
    )
    .await;
    let (_, project) = call(&client, &a.base, admin, "/api/v1/projects", json!({"code": "two-project", "title": {"en": "P"}, "sector": "clean_energy",
        "countries": ["TO"], "rio_markers": {"mitigation": 2, "adaptation": 0}, "planned_start": "2025-01-01", "planned_end": "2025-12-31"})).await;
    let project = project["id"].as_str().unwrap().to_owned();
    call(
        &client,
        &b.base,
        admin,
        &format!("/api/v1/projects/{project}/participants"),
        json!({"institution_id": recipient, "role": "lead"}),
    )
    .await;
    let (_, grant) = call(
        &client,
        &a.base,
        admin,
        "/api/v1/grants",
        json!({"fund_id": fund, "project_id": project,
        "recipient_institution_id": recipient, "title": {"en": "G"}, "amount": cny("150.00")}),
    )
    .await;
    let grant = grant["id"].as_str().unwrap().to_owned();
    for to in ["submitted", "approved"] {
        let (s, body) = call(
            &client,
            &b.base,
            admin,
            &format!("/api/v1/grants/{grant}/transitions"),
            json!({"to": to}),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }

    // 40 payments of 10.00 against an award of 150.00, alternating instances.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
            let (client, grant) = (client.clone(), grant.clone());
            tokio::spawn(async move {
                call(
                    &client,
                    &base,
                    admin,
                    &format!("/api/v1/grants/{grant}/disbursements"),
                    json!({"amount": {"amount": "10.00", "currency": "CNY"}, "paid_on": "2025-03-01"}),
                )
                .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task").0);
    }
    let paid = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((paid, refused), (15, 25), "{statuses:?}");

    let summary: Value = client
        .get(format!("{}/api/v1/funds/{fund}/summary", a.base))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["disbursed"], cny("150.00"));
    assert_eq!(summary["available"], cny("850.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_started_at_once_on_an_empty_database_both_serve() {
    let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
        return;
    };
    // Declared first, dropped last: the instances stop before the database goes.
    let database = TestDb::postgres(&admin_url).await;
    let url = database.url();
    let admin = "twin-admin-secret";

    // Both migrate, load the reference data and make the admin token at the same moment.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start(&url, admin));
        let b = s.spawn(|| start(&url, admin));
        (a.join().expect("first instance"), b.join().expect("second instance"))
    });
    let client = reqwest::Client::new();
    for base in [&a.base, &b.base] {
        let r = client
            .get(format!("{base}/api/v1/institutions?limit=1"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("http");
        assert_eq!(r.status(), 200, "{base}");
    }
    let db = climate_tracker::db::connect(&url).await.expect("connect");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql))
                .await
                .expect("query")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("count")
        }
    };
    let reference: Value = serde_json::from_str(include_str!("../../seed/reference.json")).expect("reference data");
    let institutions = reference["institutions"].as_array().map_or(0, Vec::len) as i64;
    assert_eq!(
        count("SELECT COUNT(*) FROM institutions").await,
        institutions,
        "the reference data once"
    );
    assert_eq!(count("SELECT COUNT(*) FROM tokens").await, 1, "one admin token");
    db.close().await.ok();
}
