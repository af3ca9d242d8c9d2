//! The feed of changes (`GET /events`, SPEC §5): every audited change
//! appends its events in its own transaction, numbered in commit order, and
//! each reader sees what its role may see.

use crate::common::{TestApp, each_backend};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

fn items(r: &crate::common::Resp) -> Vec<Value> {
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

/// Every event the admin may read, following `next_cursor` from `after`.
async fn all_after(app: &TestApp, token: &str, mut after: i64) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = app
            .get_as(token, &format!("/api/v1/events?after={after}&limit=200"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = items(&r);
        if page.is_empty() {
            assert!(r.body["next_cursor"].is_null());
            return out;
        }
        after = r.body["next_cursor"].as_str().unwrap().parse().unwrap();
        assert_eq!(after, page.last().unwrap()["seq"].as_i64().unwrap());
        out.extend(page);
    }
}

async fn last_seq(app: &TestApp) -> i64 {
    all_after(app, &app.admin, 0)
        .await
        .last()
        .map_or(0, |e| e["seq"].as_i64().unwrap())
}

/// A fund with `amount` contributed, a project in Tonga with `recipient` taking part.
struct Funded {
    fund: String,
    project: String,
    recipient: String,
}

async fn funded(app: &TestApp, amount: &str) -> Funded {
    let sponsor = app.institution("xinfa-group-foundation", "CN").await;
    let r = app
        .post(
            "/api/v1/funds",
            json!({"code": "climate-fund", "name": {"en": "Fund"}, "currency": "CNY",
                   "sponsor_institution_id": sponsor, "established_on": "2024-10-28"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let fund = r.id();
    let r = app
        .post(
            &format!("/api/v1/funds/{fund}/contributions"),
            json!({"contributor_institution_id": sponsor, "amount": cny(amount), "received_on": "2025-01-02"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let recipient = app.institution("tonga-college", "TO").await;
    let project = app.project("solar-tonga", &["TO"]).await;
    app.participate(&project, &recipient, "lead").await;
    Funded {
        fund,
        project,
        recipient,
    }
}

async fn approved_grant(app: &TestApp, f: &Funded, code: &str, recipient: &str, amount: &str) -> String {
    let r = app
        .post(
            "/api/v1/grants",
            json!({"code": code, "fund_id": f.fund, "project_id": f.project, "recipient_institution_id": recipient,
                   "title": {"en": "Solar"}, "amount": cny(amount)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    for to in ["submitted", "approved"] {
        let r = app
            .post(&format!("/api/v1/grants/{id}/transitions"), json!({"to": to}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    id
}

#[tokio::test]
async fn every_change_appends_its_events_with_the_entity_as_the_api_shows_it() {
    each_backend(|app| async move {
        let f = funded(&app, "1000.00").await;
        let start = last_seq(&app).await;
        let grant = approved_grant(&app, &f, "g-1", &f.recipient, "300.00").await;
        let paid = app
            .post(
                &format!("/api/v1/grants/{grant}/disbursements"),
                json!({"amount": cny("100.00"), "paid_on": "2025-02-01"}),
            )
            .await;
        assert_eq!(paid.status, StatusCode::CREATED);
        let reversal = app
            .post(
                &format!("/api/v1/disbursements/{}/reversal", paid.id()),
                json!({"reason": "paid to the wrong account"}),
            )
            .await;
        assert_eq!(reversal.status, StatusCode::CREATED);
        let m = app
            .post(
                &format!("/api/v1/projects/{}/milestones", f.project),
                json!({"title": {"en": "Panels installed"}, "due_on": "2025-06-30"}),
            )
            .await;
        let achieved = app
            .post(
                &format!("/api/v1/milestones/{}/achieve", m.id()),
                json!({"achieved_on": "2025-06-01", "evidence": "commissioning certificate"}),
            )
            .await;
        assert_eq!(achieved.status, StatusCode::OK);

        let events = all_after(&app, &app.admin, start).await;
        assert_eq!(
            types(&events),
            [
                "grant.created",
                "grant.transitioned",
                "grant.transitioned",
                "disbursement.created",
                "disbursement.created",
                "disbursement.reversed",
                "milestone.created",
                "milestone.achieved",
            ]
        );
        // `seq` grows by one, with no gaps, in the order the changes were made.
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, ((start + 1)..=(start + 8)).collect::<Vec<_>>());
        // `data` is the entity as the API showed it after the change.
        assert_eq!(events[2]["data"]["status"], "approved");
        assert_eq!(events[2]["entity_id"], grant.as_str());
        assert_eq!(events[2]["project_id"], f.project.as_str());
        assert_eq!(events[3]["data"], paid.body);
        assert_eq!(events[4]["data"], reversal.body);
        assert_eq!(events[4]["entity_type"], "disbursement");
        assert_eq!(
            events[5]["entity_id"],
            paid.id().as_str(),
            "the original is announced as reversed"
        );
        assert_eq!(events[5]["data"]["reversal_of"], paid.id().as_str());
        assert_eq!(events[7]["data"], achieved.body);
        for e in &events {
            for key in ["id", "seq", "type", "occurred_at", "entity_type", "entity_id", "data"] {
                assert!(e.get(key).is_some(), "{key} missing from {e}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_refused_change_appends_nothing() {
    each_backend(|app| async move {
        let f = funded(&app, "100.00").await;
        let grant = approved_grant(&app, &f, "g-1", &f.recipient, "50.00").await;
        let before = last_seq(&app).await;
        let over = app
            .post(
                &format!("/api/v1/grants/{grant}/disbursements"),
                json!({"amount": cny("50.01"), "paid_on": "2025-02-01"}),
            )
            .await;
        assert_eq!(over.code(), "over_disbursement");
        let broke = app
            .post(
                "/api/v1/grants",
                json!({"fund_id": f.fund, "project_id": f.project, "recipient_institution_id": f.recipient,
                       "title": {"en": "Too much"}, "amount": cny("60.00")}),
            )
            .await;
        let id = broke.id();
        let after_create = last_seq(&app).await;
        assert_eq!(after_create, before + 1);
        app.post(&format!("/api/v1/grants/{id}/transitions"), json!({"to": "submitted"}))
            .await;
        let refused = app
            .post(&format!("/api/v1/grants/{id}/transitions"), json!({"to": "approved"}))
            .await;
        assert_eq!(refused.code(), "insufficient_funds");
        assert_eq!(
            last_seq(&app).await,
            after_create + 1,
            "only the submission was announced"
        );
    })
    .await;
}

#[tokio::test]
async fn types_after_and_limit_select_the_events() {
    each_backend(|app| async move {
        for code in ["a-one", "a-two", "a-three"] {
            app.institution(code, "FJ").await;
        }
        let created = app.get("/api/v1/events?types=institution.created").await;
        assert_eq!(created.status, StatusCode::OK);
        let all = items(&created);
        assert_eq!(all.len(), 3);
        assert!(types(&all).iter().all(|t| t == "institution.created"));

        let first = app.get("/api/v1/events?types=institution.created&limit=2").await;
        assert_eq!(items(&first).len(), 2);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        assert_eq!(cursor, all[1]["seq"].as_i64().unwrap().to_string());
        let rest = app
            .get(&format!("/api/v1/events?types=institution.created&after={cursor}"))
            .await;
        assert_eq!(items(&rest), all[2..]);
        let none = app
            .get("/api/v1/events?types=institution.created,project.deleted&after=999999")
            .await;
        assert!(items(&none).is_empty());
        assert!(none.body["next_cursor"].is_null());

        for (query, field) in [
            ("after=-1", "after"),
            ("after=x", "after"),
            ("types=Grant", "types"),
            ("types=grant.", "types"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("wait=0", "wait"),
            ("wait=31", "wait"),
        ] {
            let r = app.get(&format!("/api/v1/events?{query}")).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", r.body);
            assert_eq!(r.fields(), [field], "{query}");
        }
    })
    .await;
}

#[tokio::test]
async fn partners_read_their_projects_events_and_only_their_own_grants() {
    each_backend(|app| async move {
        let f = funded(&app, "1000.00").await;
        let other = app.institution("fiji-partner", "FJ").await;
        app.participate(&f.project, &other, "implementing").await;
        let elsewhere = app.project("elsewhere", &["FJ"]).await;
        let ours = approved_grant(&app, &f, "g-ours", &f.recipient, "100.00").await;
        let theirs = approved_grant(&app, &f, "g-theirs", &other, "100.00").await;
        let partner = app.token("partner", Some(&f.recipient)).await;
        let viewer = app.token("viewer", None).await;

        let seen = all_after(&app, &partner, 0).await;
        assert!(!seen.is_empty());
        for e in &seen {
            assert_eq!(e["project_id"], f.project.as_str(), "{e}");
            assert_ne!(e["entity_id"], theirs.as_str(), "a grant to another partner: {e}");
        }
        assert!(seen.iter().any(|e| e["entity_id"] == ours.as_str()));
        assert!(!seen.iter().any(|e| e["entity_id"] == elsewhere.as_str()));

        // Staff read everything, but tokens' own events are for admins.
        let by_viewer = all_after(&app, &viewer, 0).await;
        assert!(by_viewer.iter().any(|e| e["entity_id"] == theirs.as_str()));
        assert!(by_viewer.iter().any(|e| e["type"] == "fund.created"));
        assert!(!by_viewer.iter().any(|e| e["entity_type"] == "token"));
        let by_admin = all_after(&app, &app.admin, 0).await;
        assert!(by_admin.iter().any(|e| e["type"] == "token.created"));
        assert!(by_admin.len() > by_viewer.len());
    })
    .await;
}

#[tokio::test]
async fn a_waiting_reader_is_answered_when_the_next_event_commits() {
    each_backend(|app| async move {
        let app = Arc::new(app);
        let after = last_seq(&app).await;
        let writer = {
            let app = app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                app.institution("late-comer", "KI").await
            })
        };
        let r = app.get(&format!("/api/v1/events?after={after}&wait=20")).await;
        let id = writer.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        let got = items(&r);
        assert_eq!(got.len(), 1, "{}", r.body);
        assert_eq!(got[0]["entity_id"], id.as_str());

        // Nothing new: an empty page once the wait is over.
        let quiet = app.get(&format!("/api/v1/events?after={}&wait=1", got[0]["seq"])).await;
        assert_eq!(quiet.status, StatusCode::OK);
        assert!(items(&quiet).is_empty());
    })
    .await;
}

/// A waiting reader holds a request slot; past an eighth of the slots, a
/// further `wait` answers at once, so long-polls can never take them all.
#[tokio::test]
async fn waiting_readers_never_hold_more_than_an_eighth_of_the_slots() {
    each_backend(|app| async move {
        let app = Arc::new(app.with_security(climate_tracker::config::Security {
            max_concurrent_requests: 8,
            ..Default::default()
        }));
        let after = last_seq(&app).await;
        let waiting = {
            let app = app.clone();
            tokio::spawn(async move { app.get(&format!("/api/v1/events?after={after}&wait=10")).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the first reader waits");

        let second = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app.get(&format!("/api/v1/events?after={after}&wait=10")),
        )
        .await
        .expect("the second reader is answered at once");
        assert_eq!(second.status, StatusCode::OK);
        assert!(items(&second).is_empty());

        // The first is still answered by the next event.
        let id = app.institution("late-comer", "KI").await;
        let first = waiting.await.unwrap();
        assert_eq!(items(&first)[0]["entity_id"], id.as_str());
    })
    .await;
}

/// `seq` is handed out in commit order: a reader that follows the feed
/// while many writers commit at once never later finds an event below one
/// it has already seen (which a database sequence would allow on
/// PostgreSQL, where numbers are taken before commit).
#[tokio::test]
async fn racing_writers_never_put_an_event_behind_one_a_reader_has_seen() {
    each_backend(|app| async move {
        let app = Arc::new(app);
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let app = app.clone();
                tokio::spawn(async move {
                    for i in 0..6 {
                        app.institution(&format!("w{w}-i{i}"), "TO").await;
                    }
                })
            })
            .collect();
        let reader = {
            let app = app.clone();
            tokio::spawn(async move {
                let (mut after, mut seen) = (0i64, Vec::new());
                for _ in 0..400 {
                    let r = app.get(&format!("/api/v1/events?after={after}&limit=200")).await;
                    for e in items(&r) {
                        let seq = e["seq"].as_i64().unwrap();
                        assert!(seq > after, "seq {seq} after {after}");
                        after = seq;
                        seen.push(seq);
                    }
                    if seen.len() >= 49 {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                seen
            })
        };
        for w in writers {
            w.await.unwrap();
        }
        let followed = reader.await.unwrap();
        let everything: Vec<i64> = all_after(&app, &app.admin, 0)
            .await
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        // 48 institutions and the test admin token.
        assert_eq!(everything.len(), 49);
        assert_eq!(everything, (1..=49).collect::<Vec<_>>());
        assert_eq!(followed, everything, "the reader following the feed missed an event");
    })
    .await;
}
