//! Every rule about the fund's money, proved through the HTTP API as a
//! client sees it: status, problem `code`, the fields named in `errors`, and
//! exact amounts as strings. One test per rule, named after the rule; the
//! last test drives random sequences of money movements and checks that the
//! books always add up.

use crate::common::{Resp, TestApp, each_backend};
use axum::http::{Method, StatusCode};
use climate_tracker::domain::kinds::Role;
use climate_tracker::entities::audit_event;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

/// The decimal amount of a Money object, exactly (never a float).
fn dec(money: &Value) -> Decimal {
    money["amount"]
        .as_str()
        .unwrap_or_else(|| panic!("not Money: {money}"))
        .parse()
        .unwrap_or_else(|_| panic!("not a decimal: {money}"))
}

/// Minor units (fen) as a CNY amount string: 12345 → "123.45".
fn fen(minor: i64) -> String {
    Decimal::new(minor, 2).to_string()
}

/// The validation problem names `field` (or a sub-field of it, e.g. `amount.amount`).
fn assert_names(r: &Resp, field: &str) {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code(), "validation_failed", "{}", r.body);
    let fields = r.fields();
    assert!(
        fields.iter().any(|f| f == field || f.starts_with(&format!("{field}."))),
        "expected {field} among {fields:?}: {}",
        r.body
    );
}

fn assert_conflict(r: &Resp, code: &str) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.code(), code, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{}", r.body);
}

fn assert_status(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
}

/// A fund with `contributed` CNY, a project with a participant, and a draft grant of `award`.
struct Setup {
    fund: String,
    project: String,
    sponsor: String,
    recipient: String,
    grant: String,
}

async fn new_fund(app: &TestApp, code: &str, currency: &str, sponsor: &str) -> String {
    let f = app
        .post(
            "/api/v1/funds",
            json!({"code": code, "name": {"en": "Test fund", "zh": "测试基金"}, "currency": currency,
                "sponsor_institution_id": sponsor, "established_on": "2024-10-19", "focus_areas": []}),
        )
        .await;
    assert_status(&f, StatusCode::CREATED);
    f.id()
}

async fn contribute(app: &TestApp, fund: &str, sponsor: &str, amount: Value) -> Resp {
    app.post(
        &format!("/api/v1/funds/{fund}/contributions"),
        json!({"contributor_institution_id": sponsor, "amount": amount, "received_on": "2024-11-01"}),
    )
    .await
}

async fn setup(app: &TestApp, contributed: &str, award: &str) -> Setup {
    let sponsor = app.institution("xinfa-foundation", "CN").await;
    let recipient = app.institution("betio-council", "KI").await;
    let fund = new_fund(app, "test-fund", "CNY", &sponsor).await;
    let c = contribute(app, &fund, &sponsor, cny(contributed)).await;
    assert_status(&c, StatusCode::CREATED);
    let project = app.project("betio-solar", &["KI"]).await;
    app.participate(&project, &recipient, "beneficiary").await;
    let mut s = Setup {
        fund,
        project,
        sponsor,
        recipient,
        grant: String::new(),
    };
    s.grant = new_grant(app, &s, award).await;
    s
}

fn grant_body(s: &Setup, amount: Value) -> Value {
    json!({"fund_id": s.fund, "project_id": s.project, "recipient_institution_id": s.recipient,
        "title": {"en": "Solar lights", "zh": "太阳能灯"}, "amount": amount})
}

/// Another draft grant on the setup's fund, project and recipient.
async fn new_grant(app: &TestApp, s: &Setup, award: &str) -> String {
    let g = app.post("/api/v1/grants", grant_body(s, cny(award))).await;
    assert_status(&g, StatusCode::CREATED);
    assert_eq!(g.body["status"], "draft");
    g.id()
}

async fn transition(app: &TestApp, grant: &str, to: &str) -> Resp {
    app.post(
        &format!("/api/v1/grants/{grant}/transitions"),
        json!({"to": to, "note": "board decision"}),
    )
    .await
}

async fn move_ok(app: &TestApp, grant: &str, to: &str) -> Resp {
    let r = transition(app, grant, to).await;
    assert_status(&r, StatusCode::OK);
    assert_eq!(r.body["status"], to, "{}", r.body);
    r
}

/// Submits and approves a draft grant.
async fn approve(app: &TestApp, grant: &str) {
    move_ok(app, grant, "submitted").await;
    move_ok(app, grant, "approved").await;
}

async fn disburse(app: &TestApp, grant: &str, amount: &str) -> Resp {
    app.post(
        &format!("/api/v1/grants/{grant}/disbursements"),
        json!({"amount": cny(amount), "paid_on": "2025-01-02"}),
    )
    .await
}

async fn pay_ok(app: &TestApp, grant: &str, amount: &str) -> String {
    let d = disburse(app, grant, amount).await;
    assert_status(&d, StatusCode::CREATED);
    assert_eq!(d.body["amount"], cny(amount));
    d.id()
}

async fn reverse(app: &TestApp, disbursement: &str, reason: &str) -> Resp {
    app.post(
        &format!("/api/v1/disbursements/{disbursement}/reversal"),
        json!({"reason": reason}),
    )
    .await
}

async fn tranche(app: &TestApp, grant: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/grants/{grant}/tranches"), body).await
}

async fn milestone(app: &TestApp, project: &str, title: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/milestones"),
            json!({"title": {"en": title}, "due_on": "2025-06-30"}),
        )
        .await;
    assert_status(&r, StatusCode::CREATED);
    r.id()
}

async fn grant_view(app: &TestApp, grant: &str) -> Value {
    let g = app.get(&format!("/api/v1/grants/{grant}")).await;
    assert_status(&g, StatusCode::OK);
    g.body
}

async fn summary(app: &TestApp, fund: &str) -> Value {
    let r = app.get(&format!("/api/v1/funds/{fund}/summary")).await;
    assert_status(&r, StatusCode::OK);
    r.body
}

/// Every item of a list, following `next_cursor` with pages of `limit`.
async fn walk(app: &TestApp, path: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    for _ in 0..10_000 {
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            let c: String = form_urlencoded::byte_serialize(c.as_bytes()).collect();
            url.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&url).await;
        assert_status(&r, StatusCode::OK);
        let page = r.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {}", r.body));
        assert!(page.len() <= limit as usize, "page longer than limit");
        items.extend(page.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
    panic!("{path} never ended");
}

async fn ledger(app: &TestApp, fund: &str) -> Vec<Value> {
    walk(app, &format!("/api/v1/funds/{fund}/ledger"), 200).await
}

async fn audit_count(app: &TestApp, entity_id: &str) -> u64 {
    let id: Uuid = entity_id.parse().expect("uuid");
    audit_event::Entity::find()
        .filter(audit_event::Column::EntityId.eq(id))
        .count(&app.db)
        .await
        .expect("count audit events")
}

async fn audit_total(app: &TestApp) -> u64 {
    audit_event::Entity::find()
        .count(&app.db)
        .await
        .expect("count audit events")
}

async fn token(app: &TestApp, role: Role, institution: Option<&str>) -> String {
    let institution = institution.map(|i| i.parse().expect("uuid"));
    crate::common::make_token(&app.db, "p", role, institution).await.secret
}

/// Walks the whole ledger (`limit` entries a page) and checks it against
/// the summary and the fund's grants:
/// - `seq` runs 1..n in order, every amount is positive and in the fund's currency;
/// - each entry's `cash` and `available` follow from the one before by its
///   kind (a reversal returns money to `available` only when its grant no
///   longer holds a commitment, so either is accepted there);
/// - `available` is never negative;
/// - the last entry's `cash` and `available` equal the summary's
///   `contributed − disbursed` and `available`;
/// - `available = contributed − disbursed − committed`;
/// - `committed` = Σ over approved/active grants of (amount − disbursed),
///   `disbursed` = Σ of every grant's disbursed.
///
/// Returns the ledger.
async fn check_books(app: &TestApp, fund: &str, limit: u32) -> Vec<Value> {
    let entries = walk(app, &format!("/api/v1/funds/{fund}/ledger"), limit).await;
    let s = summary(app, fund).await;
    let mut cash = Decimal::ZERO;
    let mut available = Decimal::ZERO;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], json!(i as i64 + 1), "ledger out of order: {e}");
        assert_eq!(e["amount"]["currency"], "CNY", "{e}");
        assert_eq!(e["cash"]["currency"], "CNY", "{e}");
        assert_eq!(e["available"]["currency"], "CNY", "{e}");
        let amount = dec(&e["amount"]);
        assert!(amount > Decimal::ZERO, "ledger amounts are positive: {e}");
        match e["kind"].as_str().unwrap_or_default() {
            "contribution" => {
                assert!(e["contribution_id"].is_string(), "{e}");
                cash += amount;
                available += amount;
            }
            "commitment" => {
                assert!(e["grant_id"].is_string(), "{e}");
                available -= amount;
            }
            "commitment_release" => {
                assert!(e["grant_id"].is_string(), "{e}");
                available += amount;
            }
            "disbursement" => {
                assert!(e["grant_id"].is_string() && e["disbursement_id"].is_string(), "{e}");
                cash -= amount;
            }
            "reversal" => {
                assert!(e["grant_id"].is_string() && e["disbursement_id"].is_string(), "{e}");
                cash += amount;
                let after = dec(&e["available"]);
                assert!(
                    after == available || after == available + amount,
                    "a reversal leaves available alone or returns its amount: before {available}, {e}"
                );
                available = after;
            }
            other => panic!("unknown ledger kind {other}: {e}"),
        }
        assert_eq!(dec(&e["cash"]), cash, "cash is the running fold at {e}");
        assert_eq!(dec(&e["available"]), available, "available is the running fold at {e}");
        assert!(available >= Decimal::ZERO, "available went negative at {e}");
    }
    let contributed = dec(&s["contributed"]);
    let disbursed = dec(&s["disbursed"]);
    let committed = dec(&s["committed"]);
    let avail = dec(&s["available"]);
    assert_eq!(cash, contributed - disbursed, "ledger cash vs summary {s}");
    assert_eq!(available, avail, "ledger available vs summary {s}");
    assert_eq!(avail, contributed - disbursed - committed, "summary {s}");
    assert!(avail >= Decimal::ZERO, "{s}");
    let grants = walk(app, &format!("/api/v1/grants?fund_id={fund}"), 200).await;
    let mut held = Decimal::ZERO;
    let mut paid = Decimal::ZERO;
    for g in &grants {
        paid += dec(&g["disbursed"]);
        if matches!(g["status"].as_str(), Some("approved" | "active")) {
            held += dec(&g["amount"]) - dec(&g["disbursed"]);
        }
    }
    assert_eq!(committed, held, "committed vs open grants; summary {s}");
    assert_eq!(disbursed, paid, "disbursed vs grants; summary {s}");
    entries
}

// ---------------------------------------------------------------- money exactness

#[tokio::test]
async fn money_the_largest_amount_round_trips_exactly_through_contribution_and_summary() {
    each_backend(|app| async move {
        let sponsor = app.institution("xinfa-foundation", "CN").await;
        let fund = new_fund(&app, "big-fund", "CNY", &sponsor).await;
        let c = contribute(&app, &fund, &sponsor, cny("999999999999999.99")).await;
        assert_status(&c, StatusCode::CREATED);
        assert_eq!(c.body["amount"], cny("999999999999999.99"));
        let s = summary(&app, &fund).await;
        assert_eq!(s["contributed"], cny("999999999999999.99"));
        assert_eq!(s["available"], cny("999999999999999.99"));
        assert_eq!(s["disbursed"], cny("0.00"));
        assert_eq!(s["committed"], cny("0.00"));
        // Two of them still add exactly.
        let c = contribute(&app, &fund, &sponsor, cny("999999999999999.99")).await;
        assert_status(&c, StatusCode::CREATED);
        let s = summary(&app, &fund).await;
        assert_eq!(s["contributed"], cny("1999999999999999.98"));
        let l = ledger(&app, &fund).await;
        assert_eq!(l.last().unwrap()["cash"], cny("1999999999999999.98"));
        // Past 10^15 is refused.
        let c = contribute(&app, &fund, &sponsor, cny("1000000000000000.01")).await;
        assert_names(&c, "amount");
    })
    .await;
}

#[tokio::test]
async fn money_a_currency_without_minor_unit_refuses_decimals() {
    each_backend(|app| async move {
        let sponsor = app.institution("vanuatu-ministry", "VU").await;
        let fund = new_fund(&app, "vatu-fund", "VUV", &sponsor).await;
        let c = contribute(&app, &fund, &sponsor, json!({"amount": "1.5", "currency": "VUV"})).await;
        assert_names(&c, "amount");
        let c = contribute(&app, &fund, &sponsor, json!({"amount": "15", "currency": "VUV"})).await;
        assert_status(&c, StatusCode::CREATED);
        assert_eq!(c.body["amount"], json!({"amount": "15", "currency": "VUV"}));
        let s = summary(&app, &fund).await;
        assert_eq!(s["contributed"], json!({"amount": "15", "currency": "VUV"}));
        assert_eq!(ledger(&app, &fund).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn money_an_amount_sent_as_a_json_number_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app, "100.00", "50.00").await;
        let number = json!({"amount": 10, "currency": "CNY"});
        let c = contribute(&app, &s.fund, &s.sponsor, number.clone()).await;
        assert_names(&c, "amount");
        let g = app.post("/api/v1/grants", grant_body(&s, number.clone())).await;
        assert_names(&g, "amount");
        approve(&app, &s.grant).await;
        let d = app
            .post(
                &format!("/api/v1/grants/{}/disbursements", s.grant),
                json!({"amount": number, "paid_on": "2025-01-02"}),
            )
            .await;
        assert_names(&d, "amount");
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["contributed"], cny("100.00"));
        assert_eq!(sum["disbursed"], cny("0.00"));
    })
    .await;
}

#[tokio::test]
async fn money_a_negative_or_zero_amount_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app, "100.00", "50.00").await;
        approve(&app, &s.grant).await;
        for bad in ["-5.00", "0.00", "0", "-0.01"] {
            let c = contribute(&app, &s.fund, &s.sponsor, cny(bad)).await;
            assert_names(&c, "amount");
            let g = app.post("/api/v1/grants", grant_body(&s, cny(bad))).await;
            assert_names(&g, "amount");
            let t = tranche(&app, &s.grant, json!({"amount": cny(bad)})).await;
            assert_names(&t, "amount");
            let d = disburse(&app, &s.grant, bad).await;
            assert_names(&d, "amount");
        }
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["contributed"], cny("100.00"));
        assert_eq!(sum["disbursed"], cny("0.00"));
        assert_eq!(ledger(&app, &s.fund).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn money_more_decimals_than_the_currency_allows_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app, "100.00", "50.00").await;
        approve(&app, &s.grant).await;
        let c = contribute(&app, &s.fund, &s.sponsor, cny("1.234")).await;
        assert_names(&c, "amount");
        let g = app.post("/api/v1/grants", grant_body(&s, cny("1.234"))).await;
        assert_names(&g, "amount");
        let d = disburse(&app, &s.grant, "1.234").await;
        assert_names(&d, "amount");
        // One decimal is fine, and comes back with the currency's two.
        let c = contribute(&app, &s.fund, &s.sponsor, cny("1.5")).await;
        assert_status(&c, StatusCode::CREATED);
        assert_eq!(c.body["amount"], cny("1.50"));
        assert_eq!(summary(&app, &s.fund).await["contributed"], cny("101.50"));
    })
    .await;
}

#[tokio::test]
async fn money_in_another_currency_than_the_funds_is_refused_everywhere() {
    each_backend(|app| async move {
        let s = setup(&app, "100.00", "50.00").await;
        let top = json!({"amount": "10.00", "currency": "TOP"});
        let c = contribute(&app, &s.fund, &s.sponsor, top.clone()).await;
        assert_names(&c, "amount.currency");
        let g = app.post("/api/v1/grants", grant_body(&s, top.clone())).await;
        assert_names(&g, "amount.currency");
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"amount": top}))
            .await;
        assert_names(&p, "amount.currency");
        approve(&app, &s.grant).await;
        let t = tranche(&app, &s.grant, json!({"amount": top})).await;
        assert_names(&t, "amount.currency");
        let d = app
            .post(
                &format!("/api/v1/grants/{}/disbursements", s.grant),
                json!({"amount": top, "paid_on": "2025-01-02"}),
            )
            .await;
        assert_names(&d, "amount.currency");
        // The paid currency goes in local_amount, which may differ.
        let d = app
            .post(
                &format!("/api/v1/grants/{}/disbursements", s.grant),
                json!({"amount": cny("10.00"), "paid_on": "2025-01-02", "local_amount": top, "exchange_rate": "0.3251"}),
            )
            .await;
        assert_status(&d, StatusCode::CREATED);
        assert_eq!(d.body["local_amount"], top);
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["contributed"], cny("100.00"));
        assert_eq!(sum["disbursed"], cny("10.00"));
        assert_eq!(ledger(&app, &s.fund).await.len(), 3);
    })
    .await;
}

// ---------------------------------------------------------------- grant life cycle

#[tokio::test]
async fn grant_every_allowed_move_succeeds_and_decisions_are_dated() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        // draft → withdrawn
        let r = move_ok(&app, &s.grant, "withdrawn").await;
        assert!(r.body["decided_on"].is_null(), "{}", r.body);
        // draft → submitted → withdrawn
        let g = new_grant(&app, &s, "100.00").await;
        let r = move_ok(&app, &g, "submitted").await;
        assert!(r.body["decided_on"].is_null(), "{}", r.body);
        move_ok(&app, &g, "withdrawn").await;
        // submitted → rejected (dated)
        let g = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &g, "submitted").await;
        let r = move_ok(&app, &g, "rejected").await;
        let on = r.body["decided_on"].as_str().unwrap_or_else(|| panic!("{}", r.body));
        assert!(on.parse::<chrono::NaiveDate>().is_ok(), "{on}");
        // submitted → approved (dated) → cancelled
        let g = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &g, "submitted").await;
        let r = move_ok(&app, &g, "approved").await;
        let on = r.body["decided_on"].as_str().unwrap_or_else(|| panic!("{}", r.body));
        assert!(on.parse::<chrono::NaiveDate>().is_ok(), "{on}");
        let r = move_ok(&app, &g, "cancelled").await;
        assert_eq!(r.body["decided_on"], json!(on), "cancelling keeps the decision date");
        // approved → active → completed
        let g = new_grant(&app, &s, "100.00").await;
        approve(&app, &g).await;
        move_ok(&app, &g, "active").await;
        move_ok(&app, &g, "completed").await;
        // active → cancelled
        let g = new_grant(&app, &s, "100.00").await;
        approve(&app, &g).await;
        move_ok(&app, &g, "active").await;
        move_ok(&app, &g, "cancelled").await;
        let sum = summary(&app, &s.fund).await;
        let counts = &sum["grants_by_status"];
        assert_eq!(counts["withdrawn"], 2);
        assert_eq!(counts["rejected"], 1);
        assert_eq!(counts["cancelled"], 2);
        assert_eq!(counts["completed"], 1);
        assert_eq!(sum["committed"], cny("0.00"));
        assert_eq!(sum["available"], cny("1000.00"));
        check_books(&app, &s.fund, 3).await;
    })
    .await;
}

#[tokio::test]
async fn grant_a_refused_move_is_invalid_transition_and_changes_nothing() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let draft = s.grant.clone();
        let submitted = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &submitted, "submitted").await;
        let rejected = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &rejected, "submitted").await;
        move_ok(&app, &rejected, "rejected").await;
        let withdrawn = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &withdrawn, "withdrawn").await;
        let approved = new_grant(&app, &s, "100.00").await;
        approve(&app, &approved).await;
        let active = new_grant(&app, &s, "100.00").await;
        approve(&app, &active).await;
        move_ok(&app, &active, "active").await;
        let completed = new_grant(&app, &s, "100.00").await;
        approve(&app, &completed).await;
        move_ok(&app, &completed, "active").await;
        move_ok(&app, &completed, "completed").await;
        let cancelled = new_grant(&app, &s, "100.00").await;
        approve(&app, &cancelled).await;
        move_ok(&app, &cancelled, "cancelled").await;

        let before = ledger(&app, &s.fund).await.len();
        let refused = [
            (&draft, "draft", "approved"),
            (&draft, "draft", "active"),
            (&draft, "draft", "completed"),
            (&draft, "draft", "draft"),
            (&submitted, "submitted", "active"),
            (&submitted, "submitted", "completed"),
            (&rejected, "rejected", "approved"),
            (&rejected, "rejected", "submitted"),
            (&withdrawn, "withdrawn", "submitted"),
            (&approved, "approved", "submitted"),
            (&approved, "approved", "completed"),
            (&approved, "approved", "approved"),
            (&active, "active", "approved"),
            (&completed, "completed", "active"),
            (&completed, "completed", "cancelled"),
            (&cancelled, "cancelled", "active"),
            (&cancelled, "cancelled", "approved"),
        ];
        for (grant, from, to) in refused {
            let r = transition(&app, grant, to).await;
            assert_conflict(&r, "invalid_transition");
            assert_eq!(grant_view(&app, grant).await["status"], from, "{from} → {to}");
        }
        assert_eq!(ledger(&app, &s.fund).await.len(), before);
        check_books(&app, &s.fund, 4).await;
    })
    .await;
}

#[tokio::test]
async fn approval_beyond_available_is_insufficient_funds_and_changes_nothing() {
    each_backend(|app| async move {
        let s = setup(&app, "100.00", "100.01").await;
        move_ok(&app, &s.grant, "submitted").await;
        let ledger_before = ledger(&app, &s.fund).await;
        let summary_before = summary(&app, &s.fund).await;
        let audits_before = audit_total(&app).await;
        let r = transition(&app, &s.grant, "approved").await;
        assert_conflict(&r, "insufficient_funds");
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["status"], "submitted");
        assert!(g["decided_on"].is_null(), "{g}");
        assert_eq!(ledger(&app, &s.fund).await, ledger_before);
        assert_eq!(summary(&app, &s.fund).await, summary_before);
        assert_eq!(audit_total(&app).await, audits_before, "a refusal is not audited");
        // Exactly what is available can be approved.
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"amount": cny("100.00")}))
            .await;
        assert_status(&p, StatusCode::OK);
        move_ok(&app, &s.grant, "approved").await;
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["available"], cny("0.00"));
        assert_eq!(sum["committed"], cny("100.00"));
        // Nothing is left for another one fen.
        let g = new_grant(&app, &s, "0.01").await;
        move_ok(&app, &g, "submitted").await;
        assert_conflict(&transition(&app, &g, "approved").await, "insufficient_funds");
        check_books(&app, &s.fund, 2).await;
    })
    .await;
}

#[tokio::test]
async fn approval_writes_a_commitment_ledger_entry() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "250.50").await;
        approve(&app, &s.grant).await;
        let l = ledger(&app, &s.fund).await;
        assert_eq!(l.len(), 2, "{l:?}");
        let e = &l[1];
        assert_eq!(e["kind"], "commitment");
        assert_eq!(e["amount"], cny("250.50"));
        assert_eq!(e["grant_id"], json!(s.grant));
        assert_eq!(e["cash"], cny("1000.00"));
        assert_eq!(e["available"], cny("749.50"));
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["committed"], cny("250.50"));
        assert_eq!(sum["available"], cny("749.50"));
        assert_eq!(sum["contributed"], cny("1000.00"));
        assert_eq!(sum["disbursed"], cny("0.00"));
    })
    .await;
}

#[tokio::test]
async fn closing_a_grant_with_money_left_releases_exactly_the_rest() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        // approved → cancelled with nothing paid: all of it comes back.
        approve(&app, &s.grant).await;
        assert_eq!(summary(&app, &s.fund).await["available"], cny("900.00"));
        move_ok(&app, &s.grant, "cancelled").await;
        let l = ledger(&app, &s.fund).await;
        let e = l.last().unwrap();
        assert_eq!(e["kind"], "commitment_release");
        assert_eq!(e["amount"], cny("100.00"));
        assert_eq!(e["grant_id"], json!(s.grant));
        assert_eq!(e["available"], cny("1000.00"));
        // active → cancelled after 30.00 paid: 70.00 comes back.
        let g = new_grant(&app, &s, "100.00").await;
        approve(&app, &g).await;
        pay_ok(&app, &g, "30.00").await;
        assert_eq!(summary(&app, &s.fund).await["available"], cny("900.00"));
        move_ok(&app, &g, "cancelled").await;
        let e = ledger(&app, &s.fund).await.pop().unwrap();
        assert_eq!(e["kind"], "commitment_release");
        assert_eq!(e["amount"], cny("70.00"));
        assert_eq!(e["available"], cny("970.00"));
        // active → completed after 40.01 paid: 59.99 comes back.
        let g = new_grant(&app, &s, "100.00").await;
        approve(&app, &g).await;
        pay_ok(&app, &g, "40.01").await;
        assert_eq!(summary(&app, &s.fund).await["available"], cny("870.00"));
        move_ok(&app, &g, "completed").await;
        let e = ledger(&app, &s.fund).await.pop().unwrap();
        assert_eq!(e["kind"], "commitment_release");
        assert_eq!(e["amount"], cny("59.99"));
        assert_eq!(e["available"], cny("929.99"));
        // Completed with everything paid: nothing to release, no entry.
        let g = new_grant(&app, &s, "100.00").await;
        approve(&app, &g).await;
        pay_ok(&app, &g, "100.00").await;
        let n = ledger(&app, &s.fund).await.len();
        move_ok(&app, &g, "completed").await;
        assert_eq!(ledger(&app, &s.fund).await.len(), n, "no zero release");
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["committed"], cny("0.00"));
        assert_eq!(sum["disbursed"], cny("170.01"));
        assert_eq!(sum["available"], cny("829.99"));
        check_books(&app, &s.fund, 3).await;
    })
    .await;
}

// ---------------------------------------------------------------- disbursements

#[tokio::test]
async fn disbursement_the_first_makes_an_approved_grant_active() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = disburse(&app, &s.grant, "10.00").await;
        assert_status(&d, StatusCode::CREATED);
        assert!(d.header("location").is_some(), "a create has a Location");
        assert_eq!(d.body["grant_id"], json!(s.grant));
        assert!(d.body["reversal_of"].is_null());
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["status"], "active");
        assert_eq!(g["disbursed"], cny("10.00"));
        pay_ok(&app, &s.grant, "5.00").await;
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["status"], "active");
        assert_eq!(g["disbursed"], cny("15.00"));
        let e = ledger(&app, &s.fund).await.pop().unwrap();
        assert_eq!(e["kind"], "disbursement");
        assert_eq!(e["amount"], cny("5.00"));
        assert_eq!(e["cash"], cny("985.00"));
        assert_eq!(e["available"], cny("900.00"));
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["disbursed"], cny("15.00"));
        assert_eq!(sum["committed"], cny("85.00"));
        assert_eq!(sum["available"], cny("900.00"));
    })
    .await;
}

#[tokio::test]
async fn disbursement_on_a_grant_not_approved_or_active_is_invalid_state() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let draft = s.grant.clone();
        let submitted = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &submitted, "submitted").await;
        let cancelled = new_grant(&app, &s, "100.00").await;
        approve(&app, &cancelled).await;
        move_ok(&app, &cancelled, "cancelled").await;
        let rejected = new_grant(&app, &s, "100.00").await;
        move_ok(&app, &rejected, "submitted").await;
        move_ok(&app, &rejected, "rejected").await;
        let completed = new_grant(&app, &s, "100.00").await;
        approve(&app, &completed).await;
        pay_ok(&app, &completed, "1.00").await;
        move_ok(&app, &completed, "completed").await;
        let before = ledger(&app, &s.fund).await;
        for g in [&draft, &submitted, &cancelled, &rejected, &completed] {
            let status = grant_view(&app, g).await["status"].clone();
            let d = disburse(&app, g, "1.00").await;
            assert_conflict(&d, "invalid_state");
            assert_eq!(grant_view(&app, g).await["status"], status);
        }
        assert_eq!(ledger(&app, &s.fund).await, before);
        check_books(&app, &s.fund, 5).await;
    })
    .await;
}

#[tokio::test]
async fn disbursement_past_the_award_is_over_disbursement_at_the_exact_boundary() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        pay_ok(&app, &s.grant, "60.00").await;
        assert_conflict(&disburse(&app, &s.grant, "40.01").await, "over_disbursement");
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("60.00"));
        pay_ok(&app, &s.grant, "40.00").await;
        assert_conflict(&disburse(&app, &s.grant, "0.01").await, "over_disbursement");
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["disbursed"], cny("100.00"));
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["disbursed"], cny("100.00"));
        assert_eq!(sum["committed"], cny("0.00"));
        assert_eq!(sum["available"], cny("900.00"));
        // The fund has money, but it is not this grant's.
        assert_conflict(&disburse(&app, &s.grant, "500.00").await, "over_disbursement");
        check_books(&app, &s.fund, 2).await;
    })
    .await;
}

#[tokio::test]
async fn patch_only_a_draft_or_submitted_grant_changes() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let p = app
            .patch(
                &format!("/api/v1/grants/{}", s.grant),
                json!({"title": {"en": "Solar lights, phase 1"}, "amount": cny("80.00")}),
            )
            .await;
        assert_status(&p, StatusCode::OK);
        assert_eq!(p.body["amount"], cny("80.00"));
        assert_eq!(p.body["title"]["en"], "Solar lights, phase 1");
        assert_eq!(p.body["version"], 2);
        move_ok(&app, &s.grant, "submitted").await;
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"amount": cny("90.00")}))
            .await;
        assert_status(&p, StatusCode::OK);
        assert_eq!(p.body["amount"], cny("90.00"));
        move_ok(&app, &s.grant, "approved").await;
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"amount": cny("1.00")}))
            .await;
        assert_conflict(&p, "invalid_state");
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"title": {"en": "x"}}))
            .await;
        assert_conflict(&p, "invalid_state");
        pay_ok(&app, &s.grant, "1.00").await;
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"amount": cny("1.00")}))
            .await;
        assert_conflict(&p, "invalid_state");
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["amount"], cny("90.00"));
        assert_eq!(summary(&app, &s.fund).await["committed"], cny("89.00"));
    })
    .await;
}

// ---------------------------------------------------------------- tranches

#[tokio::test]
async fn tranche_sum_past_the_grant_is_tranche_over_allocated_at_the_exact_boundary() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let t = tranche(&app, &s.grant, json!({"amount": cny("60.00"), "due_on": "2025-03-01"})).await;
        assert_status(&t, StatusCode::CREATED);
        assert_eq!(t.body["amount"], cny("60.00"));
        assert_conflict(
            &tranche(&app, &s.grant, json!({"amount": cny("40.01")})).await,
            "tranche_over_allocated",
        );
        assert_status(
            &tranche(&app, &s.grant, json!({"amount": cny("40.00")})).await,
            StatusCode::CREATED,
        );
        assert_conflict(
            &tranche(&app, &s.grant, json!({"amount": cny("0.01")})).await,
            "tranche_over_allocated",
        );
        let list = walk(&app, &format!("/api/v1/grants/{}/tranches", s.grant), 1).await;
        assert_eq!(list.len(), 2);
        let planned: Decimal = list.iter().map(|t| dec(&t["amount"])).sum();
        assert_eq!(planned, Decimal::new(10000, 2));
        // Lowering the award below the tranches is refused too.
        let p = app
            .patch(&format!("/api/v1/grants/{}", s.grant), json!({"amount": cny("99.99")}))
            .await;
        assert_conflict(&p, "tranche_over_allocated");
        // Planning moves no money.
        assert_eq!(ledger(&app, &s.fund).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn tranche_tied_to_a_milestone_is_payable_only_once_it_is_achieved() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let m = milestone(&app, &s.project, "Panels installed").await;
        let t = tranche(&app, &s.grant, json!({"amount": cny("50.00"), "milestone_id": m})).await;
        assert_status(&t, StatusCode::CREATED);
        assert_eq!(t.body["milestone_id"], json!(m));
        let t = t.id();
        approve(&app, &s.grant).await;
        let body = json!({"amount": cny("50.00"), "paid_on": "2025-02-01", "tranche_id": t});
        let path = format!("/api/v1/grants/{}/disbursements", s.grant);
        let before = ledger(&app, &s.fund).await;
        assert_conflict(&app.post(&path, body.clone()).await, "milestone_not_achieved");
        assert_eq!(ledger(&app, &s.fund).await, before);
        assert_eq!(grant_view(&app, &s.grant).await["status"], "approved");
        let a = app
            .post(
                &format!("/api/v1/milestones/{m}/achieve"),
                json!({"achieved_on": "2025-01-20", "evidence": "Commissioning certificate 2025-114"}),
            )
            .await;
        assert_status(&a, StatusCode::OK);
        assert_eq!(a.body["status"], "achieved");
        let d = app.post(&path, body).await;
        assert_status(&d, StatusCode::CREATED);
        assert_eq!(d.body["tranche_id"], json!(t));
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("50.00"));
        // Money outside any tranche is still payable up to the award.
        pay_ok(&app, &s.grant, "50.00").await;
        check_books(&app, &s.fund, 2).await;
    })
    .await;
}

#[tokio::test]
async fn tranche_paying_past_its_amount_is_over_disbursement() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let t = tranche(&app, &s.grant, json!({"amount": cny("30.00")})).await;
        assert_status(&t, StatusCode::CREATED);
        let t = t.id();
        approve(&app, &s.grant).await;
        let path = format!("/api/v1/grants/{}/disbursements", s.grant);
        let pay = |amount: &str| json!({"amount": cny(amount), "paid_on": "2025-02-01", "tranche_id": t});
        let first = app.post(&path, pay("20.00")).await;
        assert_status(&first, StatusCode::CREATED);
        assert_conflict(&app.post(&path, pay("10.01")).await, "over_disbursement");
        assert_status(&app.post(&path, pay("10.00")).await, StatusCode::CREATED);
        assert_conflict(&app.post(&path, pay("0.01")).await, "over_disbursement");
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("30.00"));
        // A reversal frees the tranche again, by exactly its amount.
        assert_status(&reverse(&app, &first.id(), "paid twice").await, StatusCode::CREATED);
        assert_conflict(&app.post(&path, pay("20.01")).await, "over_disbursement");
        assert_status(&app.post(&path, pay("20.00")).await, StatusCode::CREATED);
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("30.00"));
        check_books(&app, &s.fund, 3).await;
    })
    .await;
}

#[tokio::test]
async fn tranche_milestone_of_another_project_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let other = app.project("tonga-seawall", &["TO"]).await;
        let m = milestone(&app, &other, "Seawall built").await;
        let t = tranche(&app, &s.grant, json!({"amount": cny("10.00"), "milestone_id": m})).await;
        assert_names(&t, "milestone_id");
        let t = tranche(
            &app,
            &s.grant,
            json!({"amount": cny("10.00"), "milestone_id": Uuid::new_v4()}),
        )
        .await;
        assert_names(&t, "milestone_id");
        let list = walk(&app, &format!("/api/v1/grants/{}/tranches", s.grant), 10).await;
        assert!(list.is_empty(), "{list:?}");
    })
    .await;
}

#[tokio::test]
async fn disbursement_tranche_of_another_grant_is_refused() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let other = new_grant(&app, &s, "100.00").await;
        let t = tranche(&app, &other, json!({"amount": cny("10.00")})).await;
        assert_status(&t, StatusCode::CREATED);
        approve(&app, &s.grant).await;
        approve(&app, &other).await;
        let before = ledger(&app, &s.fund).await;
        for tranche_id in [t.id(), Uuid::new_v4().to_string()] {
            let d = app
                .post(
                    &format!("/api/v1/grants/{}/disbursements", s.grant),
                    json!({"amount": cny("5.00"), "paid_on": "2025-02-01", "tranche_id": tranche_id}),
                )
                .await;
            assert_names(&d, "tranche_id");
        }
        assert_eq!(ledger(&app, &s.fund).await, before);
        assert_eq!(grant_view(&app, &s.grant).await["status"], "approved");
    })
    .await;
}

// ---------------------------------------------------------------- reversals

#[tokio::test]
async fn reversal_is_a_negative_entry_naming_the_original_and_lowers_disbursed() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "25.00").await;
        assert_eq!(summary(&app, &s.fund).await["available"], cny("900.00"));
        let r = reverse(&app, &d, "paid to the wrong account").await;
        assert_status(&r, StatusCode::CREATED);
        assert!(r.header("location").is_some(), "a reversal is a create");
        assert_eq!(r.body["amount"], cny("-25.00"));
        assert_eq!(r.body["reversal_of"], json!(d));
        assert_eq!(r.body["reason"], "paid to the wrong account");
        assert_eq!(r.body["grant_id"], json!(s.grant));
        assert_ne!(r.id(), d);
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["disbursed"], cny("0.00"));
        assert_eq!(g["status"], "active");
        // Nothing is deleted: both entries are listed.
        let list = walk(&app, &format!("/api/v1/grants/{}/disbursements", s.grant), 10).await;
        assert_eq!(list.len(), 2);
        let net: Decimal = list.iter().map(|d| dec(&d["amount"])).sum();
        assert_eq!(net, Decimal::ZERO);
        // The ledger records it positive; the money returns to the active grant.
        let e = ledger(&app, &s.fund).await.pop().unwrap();
        assert_eq!(e["kind"], "reversal");
        assert_eq!(e["amount"], cny("25.00"));
        assert_eq!(e["disbursement_id"], json!(r.id()));
        assert_eq!(e["cash"], cny("1000.00"));
        assert_eq!(e["available"], cny("900.00"));
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["disbursed"], cny("0.00"));
        assert_eq!(sum["committed"], cny("100.00"));
        // The award can be paid in full again.
        pay_ok(&app, &s.grant, "100.00").await;
        check_books(&app, &s.fund, 2).await;
    })
    .await;
}

#[tokio::test]
async fn reversal_after_the_grant_closed_returns_the_money_to_available() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "25.00").await;
        move_ok(&app, &s.grant, "cancelled").await;
        assert_eq!(summary(&app, &s.fund).await["available"], cny("975.00"));
        assert_status(&reverse(&app, &d, "returned by the bank").await, StatusCode::CREATED);
        let e = ledger(&app, &s.fund).await.pop().unwrap();
        assert_eq!(e["kind"], "reversal");
        assert_eq!(e["available"], cny("1000.00"));
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["available"], cny("1000.00"));
        assert_eq!(sum["committed"], cny("0.00"));
        assert_eq!(sum["disbursed"], cny("0.00"));
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("0.00"));
        check_books(&app, &s.fund, 2).await;
    })
    .await;
}

#[tokio::test]
async fn reversal_a_second_time_is_already_reversed() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "25.00").await;
        assert_status(&reverse(&app, &d, "wrong account").await, StatusCode::CREATED);
        let before = ledger(&app, &s.fund).await;
        assert_conflict(&reverse(&app, &d, "again").await, "already_reversed");
        assert_eq!(ledger(&app, &s.fund).await, before);
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("0.00"));
    })
    .await;
}

#[tokio::test]
async fn reversal_of_a_reversal_is_invalid_state() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "25.00").await;
        let r = reverse(&app, &d, "wrong account").await;
        assert_status(&r, StatusCode::CREATED);
        let before = ledger(&app, &s.fund).await;
        assert_conflict(&reverse(&app, &r.id(), "undo the undo").await, "invalid_state");
        assert_eq!(ledger(&app, &s.fund).await, before);
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("0.00"));
    })
    .await;
}

#[tokio::test]
async fn reversal_needs_a_reason() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "25.00").await;
        let path = format!("/api/v1/disbursements/{d}/reversal");
        assert_names(&app.post(&path, json!({})).await, "reason");
        assert_names(&app.post(&path, json!({"reason": ""})).await, "reason");
        assert_names(&app.post(&path, json!({"reason": null})).await, "reason");
        let unknown = format!("/api/v1/disbursements/{}/reversal", Uuid::new_v4());
        assert_eq!(
            app.post(&unknown, json!({"reason": "x"})).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("25.00"));
    })
    .await;
}

// ---------------------------------------------------------------- references

#[tokio::test]
async fn grant_recipient_must_be_a_participant_of_the_project() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let outsider = app.institution("usp-fiji", "FJ").await;
        let mut body = grant_body(&s, cny("10.00"));
        body["recipient_institution_id"] = json!(outsider);
        assert_names(
            &app.post("/api/v1/grants", body.clone()).await,
            "recipient_institution_id",
        );
        body["recipient_institution_id"] = json!(Uuid::new_v4());
        assert_names(&app.post("/api/v1/grants", body).await, "recipient_institution_id");
        let p = app
            .patch(
                &format!("/api/v1/grants/{}", s.grant),
                json!({"recipient_institution_id": outsider}),
            )
            .await;
        assert_names(&p, "recipient_institution_id");
        app.participate(&s.project, &outsider, "implementing").await;
        let p = app
            .patch(
                &format!("/api/v1/grants/{}", s.grant),
                json!({"recipient_institution_id": outsider}),
            )
            .await;
        assert_status(&p, StatusCode::OK);
        assert_eq!(p.body["recipient_institution_id"], json!(outsider));
    })
    .await;
}

#[tokio::test]
async fn grant_unknown_fund_or_project_is_refused_naming_the_field() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let mut body = grant_body(&s, cny("10.00"));
        body["fund_id"] = json!(Uuid::new_v4());
        assert_names(&app.post("/api/v1/grants", body).await, "fund_id");
        let mut body = grant_body(&s, cny("10.00"));
        body["project_id"] = json!(Uuid::new_v4());
        assert_names(&app.post("/api/v1/grants", body).await, "project_id");
        let c = app
            .post(
                &format!("/api/v1/funds/{}/contributions", s.fund),
                json!({"contributor_institution_id": Uuid::new_v4(), "amount": cny("1.00"), "received_on": "2024-11-01"}),
            )
            .await;
        assert_names(&c, "contributor_institution_id");
        let list = walk(&app, &format!("/api/v1/grants?fund_id={}", s.fund), 50).await;
        assert_eq!(list.len(), 1);
        assert_eq!(ledger(&app, &s.fund).await.len(), 1);
    })
    .await;
}

// ---------------------------------------------------------------- roles

#[tokio::test]
async fn partner_sees_only_grants_to_its_own_institution() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let neighbour = app.institution("tonga-college", "TO").await;
        app.participate(&s.project, &neighbour, "implementing").await;
        let mut body = grant_body(&s, cny("50.00"));
        body["recipient_institution_id"] = json!(neighbour);
        let g = app.post("/api/v1/grants", body).await;
        assert_status(&g, StatusCode::CREATED);
        let theirs = g.id();
        approve(&app, &theirs).await;
        let their_payment = pay_ok(&app, &theirs, "5.00").await;
        let partner = token(&app, Role::Partner, Some(&s.recipient)).await;

        let list = app.get_as(&partner, "/api/v1/grants?limit=200").await;
        assert_status(&list, StatusCode::OK);
        let ids: Vec<&str> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["id"].as_str())
            .collect();
        assert_eq!(ids, [s.grant.as_str()]);
        let filtered = app
            .get_as(
                &partner,
                &format!("/api/v1/grants?recipient_institution_id={neighbour}"),
            )
            .await;
        assert_status(&filtered, StatusCode::OK);
        assert_eq!(filtered.body["items"], json!([]));
        assert_status(
            &app.get_as(&partner, &format!("/api/v1/grants/{}", s.grant)).await,
            StatusCode::OK,
        );
        for path in [
            format!("/api/v1/grants/{theirs}"),
            format!("/api/v1/grants/{theirs}/disbursements"),
            format!("/api/v1/grants/{theirs}/tranches"),
        ] {
            let r = app.get_as(&partner, &path).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
            assert_eq!(r.code(), "not_found");
        }
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/disbursements/{their_payment}/reversal"),
                json!({"reason": "x"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/grants/{theirs}/disbursements"),
                json!({"amount": cny("1.00"), "paid_on": "2025-01-02"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert_eq!(grant_view(&app, &theirs).await["disbursed"], cny("5.00"));
    })
    .await;
}

#[tokio::test]
async fn partner_is_forbidden_the_books_and_every_money_write() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "10.00").await;
        let partner = token(&app, Role::Partner, Some(&s.recipient)).await;
        for path in [
            format!("/api/v1/funds/{}/contributions", s.fund),
            format!("/api/v1/funds/{}/summary", s.fund),
            format!("/api/v1/funds/{}/ledger", s.fund),
        ] {
            let r = app.get_as(&partner, &path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
            assert_eq!(r.code(), "forbidden");
        }
        let writes = [
            (
                format!("/api/v1/funds/{}/contributions", s.fund),
                json!({"contributor_institution_id": s.recipient, "amount": cny("1.00"), "received_on": "2024-11-01"}),
            ),
            (
                format!("/api/v1/grants/{}/disbursements", s.grant),
                json!({"amount": cny("1.00"), "paid_on": "2025-01-02"}),
            ),
            (
                format!("/api/v1/grants/{}/transitions", s.grant),
                json!({"to": "completed"}),
            ),
            (
                format!("/api/v1/grants/{}/tranches", s.grant),
                json!({"amount": cny("1.00")}),
            ),
            (format!("/api/v1/disbursements/{d}/reversal"), json!({"reason": "mine"})),
            ("/api/v1/grants".to_owned(), grant_body(&s, cny("1.00"))),
        ];
        for (path, body) in writes {
            let r = app.post_as(&partner, &path, body).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
            assert_eq!(r.code(), "forbidden");
        }
        let p = app
            .patch_as(
                &partner,
                &format!("/api/v1/grants/{}", s.grant),
                json!({"title": {"en": "x"}}),
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
        let g = grant_view(&app, &s.grant).await;
        assert_eq!(g["disbursed"], cny("10.00"));
        assert_eq!(g["status"], "active");
        assert_eq!(ledger(&app, &s.fund).await.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn viewer_reads_the_books_but_cannot_move_money() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let draft = new_grant(&app, &s, "10.00").await;
        approve(&app, &s.grant).await;
        let d = pay_ok(&app, &s.grant, "10.00").await;
        let viewer = token(&app, Role::Viewer, None).await;
        let sum = app.get_as(&viewer, &format!("/api/v1/funds/{}/summary", s.fund)).await;
        assert_status(&sum, StatusCode::OK);
        assert_eq!(sum.body["disbursed"], cny("10.00"));
        let l = app.get_as(&viewer, &format!("/api/v1/funds/{}/ledger", s.fund)).await;
        assert_status(&l, StatusCode::OK);
        assert_eq!(l.body["items"].as_array().unwrap().len(), 3);
        let c = app
            .get_as(&viewer, &format!("/api/v1/funds/{}/contributions", s.fund))
            .await;
        assert_status(&c, StatusCode::OK);
        assert_status(
            &app.get_as(&viewer, &format!("/api/v1/grants/{}/disbursements", s.grant))
                .await,
            StatusCode::OK,
        );
        let writes = [
            (
                format!("/api/v1/funds/{}/contributions", s.fund),
                json!({"contributor_institution_id": s.sponsor, "amount": cny("1.00"), "received_on": "2024-11-01"}),
            ),
            (
                format!("/api/v1/grants/{}/disbursements", s.grant),
                json!({"amount": cny("1.00"), "paid_on": "2025-01-02"}),
            ),
            (
                format!("/api/v1/grants/{draft}/transitions"),
                json!({"to": "submitted"}),
            ),
            (
                format!("/api/v1/grants/{}/tranches", s.grant),
                json!({"amount": cny("1.00")}),
            ),
            (
                format!("/api/v1/disbursements/{d}/reversal"),
                json!({"reason": "viewer"}),
            ),
            ("/api/v1/grants".to_owned(), grant_body(&s, cny("1.00"))),
        ];
        for (path, body) in writes {
            let r = app.post_as(&viewer, &path, body).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
            assert_eq!(r.code(), "forbidden");
        }
        let p = app
            .patch_as(
                &viewer,
                &format!("/api/v1/grants/{draft}"),
                json!({"amount": cny("1.00")}),
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
        assert_eq!(grant_view(&app, &draft).await["status"], "draft");
        assert_eq!(summary(&app, &s.fund).await, sum.body);
        assert_eq!(ledger(&app, &s.fund).await.len(), 3);
    })
    .await;
}

// ---------------------------------------------------------------- idempotency and audit

#[tokio::test]
async fn idempotency_a_repeated_disbursement_records_money_once() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        approve(&app, &s.grant).await;
        let path = format!("/api/v1/grants/{}/disbursements", s.grant);
        let body = json!({"amount": cny("25.00"), "paid_on": "2025-01-02", "reference": "BOC-1"});
        let send = || {
            app.request(
                Method::POST,
                &path,
                Some(&app.admin),
                Some(body.clone()),
                &[("idempotency-key", "pay-betio-1")],
            )
        };
        let first = send().await;
        assert_status(&first, StatusCode::CREATED);
        assert_ne!(first.header("idempotent-replayed"), Some("true"));
        let second = send().await;
        assert_status(&second, StatusCode::CREATED);
        assert_eq!(second.header("idempotent-replayed"), Some("true"));
        assert_eq!(second.body, first.body);
        let entries = ledger(&app, &s.fund).await;
        let paid: Vec<_> = entries.iter().filter(|e| e["kind"] == "disbursement").collect();
        assert_eq!(paid.len(), 1, "{entries:?}");
        assert_eq!(paid[0]["disbursement_id"], first.body["id"]);
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("25.00"));
        let list = walk(&app, &format!("/api/v1/grants/{}/disbursements", s.grant), 10).await;
        assert_eq!(list.len(), 1);
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["disbursed"], cny("25.00"));
        assert_eq!(sum["available"], cny("900.00"));
        assert_eq!(audit_count(&app, &first.id()).await, 1);
        // The same key with another body is refused, and moves nothing.
        let other = app
            .request(
                Method::POST,
                &path,
                Some(&app.admin),
                Some(json!({"amount": cny("26.00"), "paid_on": "2025-01-02"})),
                &[("idempotency-key", "pay-betio-1")],
            )
            .await;
        assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", other.body);
        assert_eq!(other.code(), "idempotency_key_reused");
        assert_eq!(grant_view(&app, &s.grant).await["disbursed"], cny("25.00"));
        check_books(&app, &s.fund, 2).await;
    })
    .await;
}

#[tokio::test]
async fn audit_each_money_change_writes_exactly_one_event() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "100.00").await;
        let contributions = walk(&app, &format!("/api/v1/funds/{}/contributions", s.fund), 10).await;
        let contribution = contributions[0]["id"].as_str().unwrap();
        assert_eq!(audit_count(&app, contribution).await, 1);
        assert_eq!(audit_count(&app, &s.grant).await, 1, "the grant's creation");

        let t = tranche(&app, &s.grant, json!({"amount": cny("10.00")})).await;
        assert_status(&t, StatusCode::CREATED);
        assert_eq!(audit_count(&app, &t.id()).await, 1);
        move_ok(&app, &s.grant, "submitted").await;
        assert_eq!(audit_count(&app, &s.grant).await, 2);
        move_ok(&app, &s.grant, "approved").await;
        assert_eq!(audit_count(&app, &s.grant).await, 3);

        let total = audit_total(&app).await;
        let d = pay_ok(&app, &s.grant, "25.00").await;
        assert_eq!(audit_count(&app, &d).await, 1);
        assert_eq!(audit_total(&app).await, total + 1, "one event for one payment");
        let event = audit_event::Entity::find()
            .filter(audit_event::Column::EntityId.eq(d.parse::<Uuid>().unwrap()))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.entity_type, "disbursement");
        assert_eq!(event.token_name, "test admin");
        assert!(event.token_id.is_some());
        assert!(event.after.is_some());

        let r = reverse(&app, &d, "wrong account").await;
        assert_status(&r, StatusCode::CREATED);
        assert_eq!(audit_count(&app, &r.id()).await, 1);
        assert_eq!(audit_total(&app).await, total + 2);

        // Refusals write nothing.
        assert_conflict(&reverse(&app, &d, "again").await, "already_reversed");
        assert_conflict(&disburse(&app, &s.grant, "100.01").await, "over_disbursement");
        assert_conflict(&transition(&app, &s.grant, "approved").await, "invalid_transition");
        assert_eq!(audit_total(&app).await, total + 2);

        move_ok(&app, &s.grant, "cancelled").await;
        assert_eq!(
            audit_count(&app, &s.grant).await,
            4,
            "a cancel with its release is one event"
        );
        let c = contribute(&app, &s.fund, &s.sponsor, cny("5.00")).await;
        assert_status(&c, StatusCode::CREATED);
        assert_eq!(audit_count(&app, &c.id()).await, 1);
        assert_eq!(audit_total(&app).await, total + 4);
    })
    .await;
}

// ---------------------------------------------------------------- the books add up

#[tokio::test]
async fn summary_equals_the_fold_of_the_ledger() {
    each_backend(|app| async move {
        let s = setup(&app, "1000.00", "300.00").await;
        let a = s.grant.clone();
        assert_status(
            &contribute(&app, &s.fund, &s.sponsor, cny("500.50")).await,
            StatusCode::CREATED,
        );
        let b = new_grant(&app, &s, "200.25").await;
        let c = new_grant(&app, &s, "5000.00").await;
        let _draft = new_grant(&app, &s, "100.00").await;
        let e = new_grant(&app, &s, "50.00").await;
        approve(&app, &a).await;
        approve(&app, &b).await;
        move_ok(&app, &c, "submitted").await;
        assert_conflict(&transition(&app, &c, "approved").await, "insufficient_funds");
        let a1 = pay_ok(&app, &a, "100.00").await;
        let a2 = pay_ok(&app, &a, "50.10").await;
        pay_ok(&app, &b, "200.25").await;
        move_ok(&app, &b, "completed").await;
        assert_status(&reverse(&app, &a2, "duplicate").await, StatusCode::CREATED);
        move_ok(&app, &a, "cancelled").await;
        assert_status(&reverse(&app, &a1, "returned").await, StatusCode::CREATED);
        approve(&app, &e).await;
        pay_ok(&app, &e, "20.00").await;
        assert_status(
            &contribute(&app, &s.fund, &s.sponsor, cny("0.01")).await,
            StatusCode::CREATED,
        );

        let entries = check_books(&app, &s.fund, 2).await;
        let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "contribution",
                "contribution",
                "commitment",
                "commitment",
                "disbursement",
                "disbursement",
                "disbursement",
                "reversal",
                "commitment_release",
                "reversal",
                "commitment",
                "disbursement",
                "contribution",
            ]
        );
        // The reversal on the active grant went back to the grant; the one
        // after its cancellation went back to available.
        assert_eq!(entries[7]["available"], entries[6]["available"]);
        assert_eq!(entries[8]["amount"], cny("200.00"));
        assert_eq!(entries[9]["available"], cny("1300.25"));
        let last = entries.last().unwrap();
        assert_eq!(last["cash"], cny("1280.26"));
        assert_eq!(last["available"], cny("1250.26"));
        let sum = summary(&app, &s.fund).await;
        assert_eq!(sum["contributed"], cny("1500.51"));
        assert_eq!(sum["disbursed"], cny("220.25"));
        assert_eq!(sum["committed"], cny("30.00"));
        assert_eq!(sum["available"], cny("1250.26"));
        let counts = &sum["grants_by_status"];
        assert_eq!(counts["draft"], 1);
        assert_eq!(counts["submitted"], 1);
        assert_eq!(counts["cancelled"], 1);
        assert_eq!(counts["completed"], 1);
        assert_eq!(counts["active"], 1);
        assert_eq!(counts["approved"], 0);
    })
    .await;
}

// ---------------------------------------------------------------- property

/// One client action on the fund. A `pick` chooses the grant (or payment):
/// mostly among those the action suits, one time in five among all of them,
/// so that refusals are exercised too.
#[derive(Debug, Clone)]
enum Step {
    Contribute(i64),
    CreateGrant(i64),
    Approve(usize),
    /// Pays this percentage (1 to 120) of what is left of the grant,
    /// at least one fen: past 100 it must be refused.
    Disburse(usize, i64),
    /// Pays exactly what is left of the grant (the boundary).
    DisburseRest(usize),
    Reverse(usize),
    Cancel(usize),
    Complete(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        2 => (1i64..=100_000).prop_map(Step::Contribute),
        2 => (1i64..=30_000).prop_map(Step::CreateGrant),
        3 => (0usize..64).prop_map(Step::Approve),
        7 => ((0usize..64), (1i64..=120)).prop_map(|(g, p)| Step::Disburse(g, p)),
        1 => (0usize..64).prop_map(Step::DisburseRest),
        3 => (0usize..64).prop_map(Step::Reverse),
        1 => (0usize..64).prop_map(Step::Cancel),
        1 => (0usize..64).prop_map(Step::Complete),
    ];
    prop::collection::vec(step, 5..=25)
}

/// What the client expects of one grant, in fen.
struct ModelGrant {
    id: String,
    amount: i64,
    disbursed: i64,
    status: &'static str,
}

impl ModelGrant {
    fn holds_commitment(&self) -> bool {
        matches!(self.status, "approved" | "active")
    }
}

/// The fund as the client expects it, in fen.
#[derive(Default)]
struct Model {
    contributed: i64,
    disbursed: i64,
    committed: i64,
    grants: Vec<ModelGrant>,
    /// (disbursement id, grant index, amount, reversed)
    payments: Vec<(String, usize, i64, bool)>,
}

impl Model {
    fn available(&self) -> i64 {
        self.contributed - self.disbursed - self.committed
    }

    /// A grant index: among those `suits` mostly, among all one time in five.
    fn pick(&self, i: usize, suits: impl Fn(&ModelGrant) -> bool) -> usize {
        let fitting: Vec<usize> = (0..self.grants.len()).filter(|&g| suits(&self.grants[g])).collect();
        if i.is_multiple_of(5) || fitting.is_empty() {
            i % self.grants.len()
        } else {
            fitting[i % fitting.len()]
        }
    }

    /// Closes grant `g` (cancel or complete), releasing what was not paid.
    fn close(&mut self, g: usize, to: &'static str) {
        let grant = &mut self.grants[g];
        self.committed -= (grant.amount - grant.disbursed).max(0);
        grant.status = to;
    }
}

/// Minor units of a CNY amount string.
fn minor_of(amount: &Value) -> i64 {
    let d = dec(amount) * Decimal::ONE_HUNDRED;
    assert!(d.fract().is_zero(), "{amount}");
    i64::try_from(d.trunc()).unwrap_or_else(|_| panic!("{amount}"))
}

/// The response is the success the model predicts, or the 409 `code` it predicts.
fn predicted(r: &Resp, ok: bool, success: StatusCode, code: &str, what: &str) {
    if ok {
        assert_eq!(r.status, success, "{what}: expected success, got {}", r.body);
    } else {
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "{what}: expected {code}, got {}",
            r.body
        );
        assert_eq!(r.code(), code, "{what}: {}", r.body);
    }
}

async fn drive(app: &TestApp, steps: &[Step]) {
    let s = setup(app, "100.00", "50.00").await;
    let mut m = Model {
        contributed: 10_000,
        ..Model::default()
    };
    m.grants.push(ModelGrant {
        id: s.grant.clone(),
        amount: 5_000,
        disbursed: 0,
        status: "draft",
    });
    for step in steps {
        let what = format!("{step:?}");
        match *step {
            Step::Contribute(minor) => {
                let c = contribute(app, &s.fund, &s.sponsor, cny(&fen(minor))).await;
                assert_status(&c, StatusCode::CREATED);
                m.contributed += minor;
            }
            Step::CreateGrant(minor) => {
                let id = new_grant(app, &s, &fen(minor)).await;
                m.grants.push(ModelGrant {
                    id,
                    amount: minor,
                    disbursed: 0,
                    status: "draft",
                });
            }
            Step::Approve(i) => {
                let g = m.pick(i, |g| matches!(g.status, "draft" | "submitted"));
                let id = m.grants[g].id.clone();
                let ok = m.grants[g].status == "draft";
                predicted(
                    &transition(app, &id, "submitted").await,
                    ok,
                    StatusCode::OK,
                    "invalid_transition",
                    &what,
                );
                if ok {
                    m.grants[g].status = "submitted";
                }
                let r = transition(app, &id, "approved").await;
                if m.grants[g].status != "submitted" {
                    predicted(&r, false, StatusCode::OK, "invalid_transition", &what);
                } else {
                    let ok = m.available() >= m.grants[g].amount;
                    predicted(&r, ok, StatusCode::OK, "insufficient_funds", &what);
                    if ok {
                        m.grants[g].status = "approved";
                        m.committed += m.grants[g].amount;
                    }
                }
            }
            Step::Disburse(i, percent) => {
                let g = m.pick(i, ModelGrant::holds_commitment);
                let grant = &m.grants[g];
                let minor = ((grant.amount - grant.disbursed) * percent / 100).max(1);
                let r = disburse(app, &grant.id, &fen(minor)).await;
                if !grant.holds_commitment() {
                    predicted(&r, false, StatusCode::CREATED, "invalid_state", &what);
                } else {
                    let ok = grant.disbursed + minor <= grant.amount;
                    predicted(&r, ok, StatusCode::CREATED, "over_disbursement", &what);
                    if ok {
                        m.payments.push((r.id(), g, minor, false));
                        let grant = &mut m.grants[g];
                        grant.disbursed += minor;
                        grant.status = "active";
                        m.disbursed += minor;
                        m.committed -= minor;
                    }
                }
            }
            Step::DisburseRest(i) => {
                let g = m.pick(i, ModelGrant::holds_commitment);
                let v = grant_view(app, &m.grants[g].id).await;
                let rest = minor_of(&v["amount"]) - minor_of(&v["disbursed"]);
                assert_eq!(rest, m.grants[g].amount - m.grants[g].disbursed, "{v}");
                if rest > 0 {
                    let r = disburse(app, &m.grants[g].id, &fen(rest)).await;
                    let ok = m.grants[g].holds_commitment();
                    predicted(&r, ok, StatusCode::CREATED, "invalid_state", &what);
                    if ok {
                        m.payments.push((r.id(), g, rest, false));
                        let grant = &mut m.grants[g];
                        grant.disbursed += rest;
                        grant.status = "active";
                        m.disbursed += rest;
                        m.committed -= rest;
                        let after = grant_view(app, &m.grants[g].id).await;
                        assert_eq!(after["disbursed"], v["amount"], "{what}");
                    }
                }
            }
            Step::Reverse(i) => {
                if m.payments.is_empty() {
                    continue;
                }
                let p = i % m.payments.len();
                let (id, g, minor, reversed) = m.payments[p].clone();
                let r = reverse(app, &id, "property test").await;
                predicted(&r, !reversed, StatusCode::CREATED, "already_reversed", &what);
                if !reversed {
                    m.payments[p].3 = true;
                    m.grants[g].disbursed -= minor;
                    m.disbursed -= minor;
                    if m.grants[g].holds_commitment() {
                        m.committed += minor;
                    }
                }
            }
            Step::Cancel(i) => {
                let g = m.pick(i, ModelGrant::holds_commitment);
                // Only approved and active grants are cancelled (the others are withdrawn).
                let ok = m.grants[g].holds_commitment();
                let r = transition(app, &m.grants[g].id, "cancelled").await;
                predicted(&r, ok, StatusCode::OK, "invalid_transition", &what);
                if ok {
                    m.close(g, "cancelled");
                }
            }
            Step::Complete(i) => {
                let g = m.pick(i, |g| g.status == "active");
                let ok = m.grants[g].status == "active";
                let r = transition(app, &m.grants[g].id, "completed").await;
                predicted(&r, ok, StatusCode::OK, "invalid_transition", &what);
                if ok {
                    m.close(g, "completed");
                }
            }
        }
        assert!(m.available() >= 0, "model went negative after {what}");
    }

    // The fund is what the client expects, and its books add up.
    let sum = summary(app, &s.fund).await;
    assert_eq!(minor_of(&sum["contributed"]), m.contributed, "{sum}");
    assert_eq!(minor_of(&sum["disbursed"]), m.disbursed, "{sum}");
    assert_eq!(minor_of(&sum["committed"]), m.committed, "{sum}");
    assert_eq!(minor_of(&sum["available"]), m.available(), "{sum}");
    for g in &m.grants {
        let v = grant_view(app, &g.id).await;
        assert_eq!(v["status"], g.status, "{v}");
        assert_eq!(minor_of(&v["disbursed"]), g.disbursed, "{v}");
    }
    let grants: Vec<String> = m.grants.iter().map(|g| g.id.clone()).collect();
    check_books(app, &s.fund, 3).await;
    for g in &grants {
        let v = grant_view(app, g).await;
        let amount = dec(&v["amount"]);
        let disbursed = dec(&v["disbursed"]);
        assert!(disbursed >= Decimal::ZERO && disbursed <= amount, "{v}");
        let list = walk(app, &format!("/api/v1/grants/{g}/disbursements"), 200).await;
        let reversed: BTreeSet<&str> = list.iter().filter_map(|d| d["reversal_of"].as_str()).collect();
        let mut net = Decimal::ZERO;
        let mut standing = Decimal::ZERO;
        let mut originals: BTreeMap<&str, Decimal> = BTreeMap::new();
        for d in &list {
            let a = dec(&d["amount"]);
            net += a;
            match d["reversal_of"].as_str() {
                Some(of) => {
                    assert!(a < Decimal::ZERO, "a reversal is negative: {d}");
                    assert!(d["reason"].is_string(), "{d}");
                    originals.insert(of, -a);
                }
                None => {
                    assert!(a > Decimal::ZERO, "a payment is positive: {d}");
                    if !reversed.contains(d["id"].as_str().unwrap()) {
                        standing += a;
                    }
                }
            }
        }
        for (of, a) in &originals {
            let original = list
                .iter()
                .find(|d| d["id"].as_str() == Some(of))
                .unwrap_or_else(|| panic!("reversal of an unknown disbursement {of}"));
            assert_eq!(dec(&original["amount"]), *a, "a reversal undoes exactly");
        }
        assert_eq!(reversed.len(), originals.len(), "each reversed once");
        assert_eq!(net, disbursed, "payments − reversals vs grant {v}");
        assert_eq!(standing, disbursed, "standing payments vs grant {v}");
    }
}

fn property_on(backend: Option<&str>, cases: u32) {
    let config = Config {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&steps(), |steps| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let app = match backend {
                Some(url) => TestApp::postgres(url).await,
                None => TestApp::sqlite().await,
            };
            drive(&app, &steps).await;
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", backend.map_or("sqlite", |_| "postgres"));
    }
}

#[test]
fn property_random_money_sequences_keep_the_books_consistent() {
    property_on(None, 16);
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        property_on(Some(&url), 4);
    }
}
