//! Invariants under racing requests: exactly as many succeed as fit.

use crate::common::{TestApp, each_backend};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

/// A CNY fund of `sponsor` holding `contributed`.
async fn funded(app: &TestApp, code: &str, sponsor: &str, contributed: &str) -> String {
    let fund = app
        .post(
            "/api/v1/funds",
            json!({"code": code, "name": {"en": code}, "currency": "CNY", "sponsor_institution_id": sponsor,
                "established_on": "2024-10-19", "focus_areas": []}),
        )
        .await
        .id();
    let c = app
        .post(
            &format!("/api/v1/funds/{fund}/contributions"),
            json!({"contributor_institution_id": sponsor, "amount": cny(contributed), "received_on": "2024-11-01"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    fund
}

/// A CNY fund holding `contributed`, and a project with one participant.
async fn fund_and_project(app: &TestApp, contributed: &str) -> (String, String, String) {
    let sponsor = app.institution("xinfa-foundation", "CN").await;
    let recipient = app.institution("vavau-council", "TO").await;
    let fund = funded(app, "race-fund", &sponsor, contributed).await;
    let project = app.project("race-project", &["TO"]).await;
    app.participate(&project, &recipient, "lead").await;
    (fund, project, recipient)
}

async fn grant(app: &TestApp, fund: &str, project: &str, recipient: &str, amount: &str) -> String {
    let g = app
        .post(
            "/api/v1/grants",
            json!({"fund_id": fund, "project_id": project, "recipient_institution_id": recipient,
                "title": {"en": "Grant"}, "amount": cny(amount)}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    let id = g.id();
    let s = app
        .post(&format!("/api/v1/grants/{id}/transitions"), json!({"to": "submitted"}))
        .await;
    assert_eq!(s.status, StatusCode::OK);
    id
}

/// Sends all requests at once, each on its own task; returns their statuses and codes.
async fn race(app: &TestApp, requests: Vec<(String, Value)>) -> Vec<(StatusCode, String)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            let router = app.router.clone();
            let req = Request::post(path)
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request");
            tokio::spawn(async move {
                let resp = router.oneshot(req).await.expect("router");
                let status = resp.status();
                let bytes = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .expect("body")
                    .to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                (status, body["code"].as_str().unwrap_or("").to_owned())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_disbursements_pay_exactly_what_fits() {
    each_backend(|app| async move {
        let (fund, project, recipient) = fund_and_project(&app, "1000.00").await;
        let id = grant(&app, &fund, &project, &recipient, "200.00").await;
        let approved = app
            .post(&format!("/api/v1/grants/{id}/transitions"), json!({"to": "approved"}))
            .await;
        assert_eq!(approved.status, StatusCode::OK);

        let requests = (0..50)
            .map(|i| {
                (
                    format!("/api/v1/grants/{id}/disbursements"),
                    json!({"amount": cny("10.00"), "paid_on": "2025-02-01", "reference": format!("r{i}")}),
                )
            })
            .collect();
        let results = race(&app, requests).await;
        let paid = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let refused = results
            .iter()
            .filter(|(s, c)| *s == StatusCode::CONFLICT && c == "over_disbursement")
            .count();
        assert!(
            results.iter().all(|(s, _)| !s.is_server_error()),
            "{} {results:?}",
            app.backend
        );
        assert_eq!((paid, refused), (20, 30), "{}: {results:?}", app.backend);

        let g = app.get(&format!("/api/v1/grants/{id}")).await;
        assert_eq!(g.body["disbursed"], cny("200.00"));
        let summary = app.get(&format!("/api/v1/funds/{fund}/summary")).await;
        assert_eq!(summary.body["disbursed"], cny("200.00"));
        assert_eq!(summary.body["committed"], cny("0.00"));
        assert_eq!(summary.body["available"], cny("800.00"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_approvals_never_over_commit_the_fund() {
    each_backend(|app| async move {
        let (fund, project, recipient) = fund_and_project(&app, "100.00").await;
        let mut grants = Vec::new();
        for _ in 0..10 {
            grants.push(grant(&app, &fund, &project, &recipient, "30.00").await);
        }
        let requests = grants
            .iter()
            .map(|g| (format!("/api/v1/grants/{g}/transitions"), json!({"to": "approved"})))
            .collect();
        let results = race(&app, requests).await;
        let approved = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        let refused = results
            .iter()
            .filter(|(s, c)| *s == StatusCode::CONFLICT && c == "insufficient_funds")
            .count();
        assert_eq!((approved, refused), (3, 7), "{}: {results:?}", app.backend);
        let summary = app.get(&format!("/api/v1/funds/{fund}/summary")).await;
        assert_eq!(summary.body["committed"], cny("90.00"));
        assert_eq!(summary.body["available"], cny("10.00"));
        assert_eq!(summary.body["grants_by_status"]["approved"], 3);
        assert_eq!(summary.body["grants_by_status"]["submitted"], 7);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_retries_with_one_idempotency_key_pay_once() {
    each_backend(|app| async move {
        let (fund, project, recipient) = fund_and_project(&app, "100.00").await;
        let id = grant(&app, &fund, &project, &recipient, "50.00").await;
        app.post(&format!("/api/v1/grants/{id}/transitions"), json!({"to": "approved"}))
            .await;
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let router = app.router.clone();
                let req = Request::post(format!("/api/v1/grants/{id}/disbursements"))
                    .header("authorization", format!("Bearer {}", app.admin))
                    .header("content-type", "application/json")
                    .header("idempotency-key", "pay-once")
                    .body(Body::from(
                        json!({"amount": cny("7.00"), "paid_on": "2025-02-01"}).to_string(),
                    ))
                    .expect("request");
                tokio::spawn(async move { router.oneshot(req).await.expect("router").status() })
            })
            .collect();
        for t in tasks {
            let status = t.await.expect("task");
            assert!(
                status == StatusCode::CREATED || status == StatusCode::CONFLICT,
                "{status}"
            );
        }
        let g = app.get(&format!("/api/v1/grants/{id}")).await;
        assert_eq!(g.body["disbursed"], cny("7.00"), "{}", app.backend);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writes_on_one_project_keep_the_dashboards_exact() {
    each_backend(|app| async move {
        // Two funds, so payments on the project's two grants hold different fund locks and truly overlap.
        let (first, project, recipient) = fund_and_project(&app, "1000.00").await;
        let sponsor = app.institution("second-sponsor", "CN").await;
        let second = funded(&app, "second-fund", &sponsor, "1000.00").await;
        let mut paying = Vec::new();
        for fund in [&first, &second] {
            let g = grant(&app, fund, &project, &recipient, "500.00").await;
            app.post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": "approved"}))
                .await;
            paying.push(g);
        }
        let newcomer = app.institution("newcomer", "FJ").await;

        let mut requests: Vec<(String, Value)> = Vec::new();
        for i in 0..15 {
            for g in &paying {
                requests.push((
                    format!("/api/v1/grants/{g}/disbursements"),
                    json!({"amount": cny("10.00"), "paid_on": "2025-02-01", "reference": format!("r{i}")}),
                ));
            }
        }
        for fund in [&first, &second] {
            requests.push((
                "/api/v1/grants".into(),
                json!({"fund_id": fund, "project_id": project, "recipient_institution_id": recipient,
                    "title": {"en": "Late grant"}, "amount": cny("20.00")}),
            ));
        }
        requests.push((
            format!("/api/v1/projects/{project}/participants"),
            json!({"institution_id": newcomer, "role": "implementing"}),
        ));
        requests.push((
            format!("/api/v1/projects/{project}/transitions"),
            json!({"to": "active"}),
        ));
        let results = race(&app, requests).await;
        assert!(
            results.iter().all(|(s, _)| s.is_success()),
            "{}: {results:?}",
            app.backend
        );

        let off = climate_tracker::store::tallies::differences(&app.db).await.unwrap();
        assert!(
            off.is_empty(),
            "{}: the tallies are off:\n{}",
            app.backend,
            off.join("\n")
        );
        let breakdown = app.get("/api/v1/dashboard/breakdown?by=country").await;
        let tonga = &breakdown.body["rows"][0];
        assert_eq!(tonga["key"], "TO");
        assert_eq!(
            (tonga["projects"].as_u64(), tonga["grants"].as_u64()),
            (Some(1), Some(4))
        );
        assert_eq!(tonga["disbursed"], json!([cny("300.00")]));
        let summary = app.get("/api/v1/dashboard/summary").await;
        assert_eq!(summary.body["projects_by_status"]["active"], 1);
        assert_eq!(summary.body["grants_by_status"]["active"], 2);
        assert_eq!(summary.body["grants_by_status"]["draft"], 2);
    })
    .await;
}
