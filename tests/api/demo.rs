//! `climate-tracker seed demo`: sample data built through the service's own
//! rules, marked as samples, idempotent, and with books that add up, on
//! SQLite and on PostgreSQL.

use crate::common::{TestApp, each_backend};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::Value;
use std::collections::BTreeSet;
use std::str::FromStr;

async fn items(app: &TestApp, path: &str) -> Vec<Value> {
    let r = app.get(path).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    assert!(r.body["next_cursor"].is_null(), "{path} fits one page");
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v["amount"].as_str().unwrap_or_else(|| panic!("no amount in {v}")))
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

async fn fund_id(app: &TestApp) -> String {
    let funds = items(app, "/api/v1/funds?limit=200").await;
    let fund = funds
        .iter()
        .find(|f| f["code"] == "liaocheng-climate-fund")
        .expect("the reference fund");
    fund["id"].as_str().expect("id").to_owned()
}

/// Everything the seed could add, counted through the API.
async fn snapshot(app: &TestApp) -> Vec<(String, usize)> {
    let fund = fund_id(app).await;
    let mut counts = Vec::new();
    for path in [
        "/api/v1/institutions?limit=200".to_owned(),
        "/api/v1/projects?limit=200".to_owned(),
        "/api/v1/grants?limit=200".to_owned(),
        "/api/v1/milestones?limit=200".to_owned(),
        "/api/v1/tokens?limit=200".to_owned(),
        "/api/v1/audit-events?limit=200".to_owned(),
        format!("/api/v1/funds/{fund}/contributions?limit=200"),
        format!("/api/v1/funds/{fund}/ledger?limit=200"),
    ] {
        let n = items(app, &path).await.len();
        counts.push((path, n));
    }
    counts
}

#[tokio::test]
async fn seed_demo_run_twice_changes_nothing_the_second_time() {
    each_backend(|app| async move {
        let first = climate_tracker::seed::demo(&app.db).await.expect("seed demo");
        assert_eq!((first.contributions, first.projects), (2, 5), "{}", app.backend);
        assert!(first.reference > 0, "the reference data comes first");
        let before = snapshot(&app).await;

        let second = climate_tracker::seed::demo(&app.db).await.expect("seed demo again");
        assert_eq!(second, climate_tracker::seed::DemoAdded::default(), "{}", app.backend);
        assert_eq!(snapshot(&app).await, before, "{}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn the_demo_fund_summary_equals_its_last_ledger_entry_and_its_grants() {
    each_backend(|app| async move {
        climate_tracker::seed::demo(&app.db).await.expect("seed demo");
        let fund = fund_id(&app).await;
        let summary = app.get(&format!("/api/v1/funds/{fund}/summary")).await.body;
        let ledger = items(&app, &format!("/api/v1/funds/{fund}/ledger?limit=200")).await;
        let last = ledger.last().expect("ledger entries");
        assert_eq!(last["available"], summary["available"], "{}", app.backend);
        assert_eq!(
            dec(&last["cash"]),
            dec(&summary["contributed"]) - dec(&summary["disbursed"]),
            "{}",
            app.backend
        );

        // The ledger's entries, summed by kind, give the summary.
        let sum = |kinds: &[&str]| -> Decimal {
            ledger
                .iter()
                .filter(|e| kinds.contains(&e["kind"].as_str().unwrap_or("")))
                .map(|e| dec(&e["amount"]))
                .sum()
        };
        assert_eq!(sum(&["contribution"]), dec(&summary["contributed"]));
        assert_eq!(sum(&["disbursement"]) - sum(&["reversal"]), dec(&summary["disbursed"]));

        // And so do the grants: disbursed is their net paid, committed what approved and active ones still owe.
        let grants = items(&app, &format!("/api/v1/grants?fund_id={fund}&limit=200")).await;
        let disbursed: Decimal = grants.iter().map(|g| dec(&g["disbursed"])).sum();
        let committed: Decimal = grants
            .iter()
            .filter(|g| g["status"] == "approved" || g["status"] == "active")
            .map(|g| dec(&g["amount"]) - dec(&g["disbursed"]))
            .sum();
        assert_eq!(disbursed, dec(&summary["disbursed"]));
        assert_eq!(committed, dec(&summary["committed"]));
        assert_eq!(
            dec(&summary["available"]),
            dec(&summary["contributed"]) - disbursed - committed
        );
        assert_eq!(summary["available"]["amount"], "4600000.00", "{}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn the_demo_has_milestones_and_grants_in_every_state_and_a_reversal() {
    each_backend(|app| async move {
        climate_tracker::seed::demo(&app.db).await.expect("seed demo");
        let statuses = |list: &[Value]| -> BTreeSet<String> {
            list.iter()
                .filter_map(|v| v["status"].as_str().map(str::to_owned))
                .collect()
        };
        let grants = items(&app, "/api/v1/grants?limit=200").await;
        let all_grant_states = [
            "draft",
            "submitted",
            "approved",
            "active",
            "completed",
            "rejected",
            "withdrawn",
            "cancelled",
        ];
        assert_eq!(
            statuses(&grants),
            all_grant_states.iter().map(|s| s.to_string()).collect()
        );
        let milestones = items(&app, "/api/v1/milestones?limit=200").await;
        let all_milestone_states = ["planned", "in_progress", "achieved", "missed", "cancelled"];
        assert_eq!(
            statuses(&milestones),
            all_milestone_states.iter().map(|s| s.to_string()).collect()
        );
        assert!(
            milestones.iter().any(|m| m["overdue"] == true),
            "some milestone is overdue"
        );

        let mut reversals = 0;
        let mut tranches = 0;
        for g in &grants {
            let id = g["id"].as_str().expect("id");
            reversals += items(&app, &format!("/api/v1/grants/{id}/disbursements?limit=200"))
                .await
                .iter()
                .filter(|d| !d["reversal_of"].is_null())
                .count();
            tranches += items(&app, &format!("/api/v1/grants/{id}/tranches?limit=200"))
                .await
                .len();
        }
        assert_eq!(reversals, 1);
        assert!(tranches > 0);

        let mut health = BTreeSet::new();
        for p in items(&app, "/api/v1/projects?limit=200").await {
            let status = app
                .get(&format!("/api/v1/projects/{}/status", p["id"].as_str().unwrap_or("")))
                .await;
            health.insert(status.body["health"].as_str().unwrap_or("").to_owned());
        }
        for h in ["on_track", "at_risk", "delayed", "completed"] {
            assert!(health.contains(h), "a project is {h}: {health:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn every_demo_record_is_marked_as_a_sample() {
    each_backend(|app| async move {
        climate_tracker::seed::demo(&app.db).await.expect("seed demo");
        let projects = items(&app, "/api/v1/projects?limit=200").await;
        assert_eq!(projects.len(), 5);
        for p in &projects {
            assert!(p["code"].as_str().unwrap_or("").starts_with("sample-"), "{p}");
            assert!(
                p["summary"]["en"].as_str().unwrap_or("").starts_with("Sample data"),
                "{p}"
            );
        }
        for g in items(&app, "/api/v1/grants?limit=200").await {
            assert!(g["code"].as_str().unwrap_or("").starts_with("sample-"), "{g}");
            assert!(
                g["purpose"]["en"].as_str().unwrap_or("").starts_with("Sample data"),
                "{g}"
            );
        }
        let fund = fund_id(&app).await;
        for c in items(&app, &format!("/api/v1/funds/{fund}/contributions?limit=200")).await {
            assert!(c["reference"].as_str().unwrap_or("").contains("Sample data"), "{c}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_demo_is_audited_as_the_system_and_its_report_under_a_revoked_partner_token() {
    each_backend(|app| async move {
        climate_tracker::seed::demo(&app.db).await.expect("seed demo");
        let events = items(&app, "/api/v1/audit-events?limit=200").await;
        let by_system: Vec<&Value> = events
            .iter()
            .filter(|e| e["token_name"] == "system:seed" && e["token_id"].is_null())
            .collect();
        assert!(
            by_system.len() > 50,
            "the seed's changes are audited as the system: {}",
            by_system.len()
        );
        assert!(
            by_system.iter().any(|e| e["entity_type"] == "disbursement"),
            "payments too"
        );

        // The one progress report needs a token to name its author: a partner
        // token made for it, revoked after use; no other token is made.
        let tokens = items(&app, "/api/v1/tokens?limit=200").await;
        let names: Vec<&str> = tokens.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, ["test admin", "sample partner (Sample data)"], "{}", app.backend);
        let partner = &tokens[1];
        assert_eq!(partner["role"], "partner");
        assert!(!partner["institution_id"].is_null(), "bound to the reporting partner");
        assert!(!partner["revoked_at"].is_null(), "revoked after use");
        let id = partner["id"].as_str().unwrap_or("");
        let reports = items(&app, &format!("/api/v1/audit-events?actor={id}&limit=200")).await;
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0]["entity_type"], "progress_report");
        assert_eq!(reports[0]["after"]["reported_by"], partner["id"]);
        let managed = |action: &str| {
            by_system
                .iter()
                .any(|e| e["entity_type"] == "token" && e["entity_id"] == partner["id"] && e["action"] == action)
        };
        assert!(managed("create") && managed("revoke"), "the system made and revoked it");
    })
    .await;
}

#[tokio::test]
async fn on_a_database_without_a_live_token_the_demo_is_built_and_leaves_none() {
    use climate_tracker::entities::token;
    each_backend(|app| async move {
        // Only the test's own admin exists; revoke it: the demo needs no token of its own.
        let live = token::Entity::find()
            .filter(token::Column::RevokedAt.is_null())
            .all(&app.db)
            .await
            .expect("tokens");
        for t in live {
            let mut row: token::ActiveModel = t.into();
            row.revoked_at = Set(Some(chrono::Utc::now()));
            row.update(&app.db).await.expect("revoke");
        }
        let added = climate_tracker::seed::demo(&app.db).await.expect("seed demo");
        assert_eq!(added.projects, 5);
        let live = token::Entity::find()
            .filter(token::Column::RevokedAt.is_null())
            .count(&app.db)
            .await
            .expect("count");
        assert_eq!(
            live, 0,
            "the report's partner token, whose secret is dropped, is not left live"
        );
    })
    .await;
}
