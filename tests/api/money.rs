use crate::common::{TestApp, each_backend};
use axum::http::StatusCode;
use serde_json::{Value, json};

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

/// A fund with `contributed` CNY, a project with a participant, and a draft grant of `award`.
struct Setup {
    fund: String,
    project: String,
    recipient: String,
    grant: String,
}

async fn setup(app: &TestApp, contributed: &str, award: &str) -> Setup {
    let sponsor = app.institution("xinfa-foundation", "CN").await;
    let recipient = app.institution("betio-council", "KI").await;
    let f = app
        .post(
            "/api/v1/funds",
            json!({"code": "test-fund", "name": {"en": "Test fund"}, "currency": "CNY", "sponsor_institution_id": sponsor,
                "established_on": "2024-10-19", "focus_areas": []}),
        )
        .await;
    assert_eq!(f.status, StatusCode::CREATED, "{}", f.body);
    let fund = f.id();
    let c = app
        .post(
            &format!("/api/v1/funds/{fund}/contributions"),
            json!({"contributor_institution_id": sponsor, "amount": cny(contributed), "received_on": "2024-11-01"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let project = app.project("betio-solar", &["KI"]).await;
    app.participate(&project, &recipient, "beneficiary").await;
    let g = app
        .post(
            "/api/v1/grants",
            json!({"fund_id": fund, "project_id": project, "recipient_institution_id": recipient,
            "title": {"en": "Solar lights"}, "amount": cny(award)}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    Setup {
        fund,
        project,
        recipient,
        grant: g.id(),
    }
}

async fn approve(app: &TestApp, grant: &str) -> crate::common::Resp {
    let s = app
        .post(
            &format!("/api/v1/grants/{grant}/transitions"),
            json!({"to": "submitted"}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    app.post(
        &format!("/api/v1/grants/{grant}/transitions"),
        json!({"to": "approved"}),
    )
    .await
}

#[tokio::test]
async fn ten_disbursements_of_ten_fen_make_one_yuan() {
    each_backend(|app| async move {
        let s = setup(&app, "100.00", "5.00").await;
        assert_eq!(approve(&app, &s.grant).await.status, StatusCode::OK);
        for _ in 0..10 {
            let d = app
                .post(
                    &format!("/api/v1/grants/{}/disbursements", s.grant),
                    json!({"amount": cny("0.10"), "paid_on": "2025-01-02"}),
                )
                .await;
            assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
        }
        let g = app.get(&format!("/api/v1/grants/{}", s.grant)).await;
        assert_eq!(g.body["disbursed"], cny("1.00"));
        assert_eq!(g.body["status"], "active");
        let sum = app.get(&format!("/api/v1/funds/{}/summary", s.fund)).await;
        assert_eq!(sum.status, StatusCode::OK, "{}", sum.body);
        assert_eq!(sum.body["disbursed"], cny("1.00"));
        assert_eq!(sum.body["committed"], cny("4.00"));
        assert_eq!(sum.body["available"], cny("95.00"));
        assert_eq!(sum.body["contributed"], cny("100.00"));
        let ledger = app.get(&format!("/api/v1/funds/{}/ledger?limit=200", s.fund)).await;
        let entries = ledger.body["items"].as_array().unwrap();
        assert_eq!(entries.len(), 12);
        assert_eq!(entries.last().unwrap()["cash"], cny("99.00"));
        assert_eq!(entries.last().unwrap()["available"], cny("95.00"));
        let _ = (&s.project, &s.recipient);
    })
    .await;
}
