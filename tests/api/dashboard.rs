//! Project status and dashboards on a small hand-built dataset whose
//! figures are known exactly.

use crate::common::{TestApp, each_backend};
use axum::http::StatusCode;
use climate_tracker::domain::kinds::Role;
use serde_json::{Value, json};

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

async fn milestone(app: &TestApp, project: &str, due_on: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/milestones"),
            json!({"title": {"en": format!("due {due_on}")}, "due_on": due_on}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

struct Data {
    fund: String,
    tonga: String,
    kiribati: String,
    uni: String,
}

/// Two projects: "tonga" (TO) with four milestones and two grants, "kiribati" (KI, TV) with none.
async fn dataset(app: &TestApp) -> Data {
    let sponsor = app.institution("xinfa-foundation", "CN").await;
    let uni = app.institution("tonga-uni", "TO").await;
    let fund = app
        .post(
            "/api/v1/funds",
            json!({"code": "dash-fund", "name": {"en": "Fund"}, "currency": "CNY",
            "sponsor_institution_id": sponsor, "established_on": "2024-10-19", "focus_areas": []}),
        )
        .await
        .id();
    app.post(
        &format!("/api/v1/funds/{fund}/contributions"),
        json!({"contributor_institution_id": sponsor, "amount": cny("1000.00"), "received_on": "2024-11-01"}),
    )
    .await;
    let tonga = app.project("tonga", &["TO"]).await;
    let kiribati = app.project("kiribati", &["KI", "TV"]).await;
    app.participate(&tonga, &uni, "lead").await;
    app.participate(&kiribati, &uni, "implementing").await;
    app.post(
        &format!("/api/v1/projects/{tonga}/transitions"),
        json!({"to": "active"}),
    )
    .await;

    let achieved = milestone(app, &tonga, "2025-01-10").await;
    let r = app
        .post(
            &format!("/api/v1/milestones/{achieved}/achieve"),
            json!({"achieved_on": "2025-01-09", "evidence": "report"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    milestone(app, &tonga, "2025-03-01").await; // open: overdue after March 1st
    milestone(app, &tonga, "2025-06-01").await; // open
    let cancelled = milestone(app, &tonga, "2025-02-01").await;
    app.post(
        &format!("/api/v1/milestones/{cancelled}/transitions"),
        json!({"to": "cancelled"}),
    )
    .await;

    for (amount, pay) in [("300.00", Some("120.50")), ("100.00", None)] {
        let g = app
            .post(
                "/api/v1/grants",
                json!({"fund_id": fund, "project_id": tonga, "recipient_institution_id": uni,
                "title": {"en": "g"}, "amount": cny(amount)}),
            )
            .await
            .id();
        for to in ["submitted", "approved"] {
            app.post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": to}))
                .await;
        }
        if let Some(p) = pay {
            let d = app
                .post(
                    &format!("/api/v1/grants/{g}/disbursements"),
                    json!({"amount": cny(p), "paid_on": "2025-02-01"}),
                )
                .await;
            assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
        }
    }
    Data {
        fund,
        tonga,
        kiribati,
        uni,
    }
}

#[tokio::test]
async fn project_status_counts_milestones_progress_and_funding() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let s = app.get(&format!("/api/v1/projects/{}/status?as_of=2025-02-15", d.tonga)).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        assert_eq!(s.body["milestones"], json!({"total": 4, "planned": 2, "in_progress": 0, "achieved": 1, "missed": 0, "cancelled": 1, "overdue": 0}));
        assert_eq!(s.body["progress"], "0.33");
        assert_eq!(s.body["health"], "on_track");
        assert_eq!(s.body["next_milestone"]["due_on"], "2025-03-01");
        assert_eq!(s.body["funding"], json!([{"awarded": cny("400.00"), "disbursed": cny("120.50"), "remaining": cny("279.50")}]));
        assert_eq!(s.body["as_of"], "2025-02-15");

        let empty = app.get(&format!("/api/v1/projects/{}/status", d.kiribati)).await;
        assert_eq!(empty.body["progress"], "0.00");
        assert_eq!(empty.body["next_milestone"], Value::Null);
        assert_eq!(empty.body["funding"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn health_turns_at_risk_then_delayed_as_a_milestone_ages() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let at = |day: &'static str| {
            let path = format!("/api/v1/projects/{}/status?as_of={day}", d.tonga);
            let app = &app;
            async move { app.get(&path).await.body["health"].as_str().unwrap().to_owned() }
        };
        assert_eq!(at("2025-03-01").await, "on_track"); // due that day: not yet overdue
        assert_eq!(at("2025-03-02").await, "at_risk");
        assert_eq!(at("2025-03-31").await, "at_risk"); // 30 days overdue
        assert_eq!(at("2025-04-01").await, "delayed"); // 31 days
        let s = app
            .get(&format!("/api/v1/projects/{}/status?as_of=2025-03-02", d.tonga))
            .await;
        assert_eq!(s.body["milestones"]["overdue"], 1);
        assert_eq!(s.body["next_milestone"]["overdue"], true);
        assert_eq!(
            app.get(&format!("/api/v1/projects/{}/status?as_of=someday", d.tonga))
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    })
    .await;
}

#[tokio::test]
async fn a_missed_milestone_delays_and_a_final_project_shows_its_status() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let m = milestone(&app, &d.kiribati, "2030-01-01").await;
        app.post(&format!("/api/v1/milestones/{m}/transitions"), json!({"to": "missed"}))
            .await;
        let s = app
            .get(&format!("/api/v1/projects/{}/status?as_of=2025-01-01", d.kiribati))
            .await;
        assert_eq!(s.body["health"], "delayed");
        app.post(
            &format!("/api/v1/projects/{}/transitions", d.kiribati),
            json!({"to": "cancelled"}),
        )
        .await;
        let s = app.get(&format!("/api/v1/projects/{}/status", d.kiribati)).await;
        assert_eq!(s.body["health"], "cancelled");
    })
    .await;
}

#[tokio::test]
async fn dashboard_summary_adds_up_exactly() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let s = app.get("/api/v1/dashboard/summary?as_of=2025-02-15").await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        assert_eq!(s.body["projects_by_status"]["active"], 1);
        assert_eq!(s.body["projects_by_status"]["planned"], 1);
        assert_eq!(s.body["grants_by_status"]["active"], 1);
        assert_eq!(s.body["grants_by_status"]["approved"], 1);
        assert_eq!(s.body["grants_by_status"]["draft"], 0);
        assert_eq!(s.body["institutions"], 2);
        assert_eq!(s.body["countries"], 3);
        assert_eq!(
            s.body["milestones"],
            json!({"overdue": 0, "due_next_30_days": 1, "achieved": 1})
        );
        let fund = &s.body["funds"][0];
        assert_eq!(fund["fund_id"], d.fund.as_str());
        assert_eq!(fund["contributed"], cny("1000.00"));
        assert_eq!(fund["disbursed"], cny("120.50"));
        assert_eq!(fund["committed"], cny("279.50"));
        assert_eq!(fund["available"], cny("600.00"));
    })
    .await;
}

#[tokio::test]
async fn breakdowns_group_projects_grants_and_money() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let by = |dim: &str| format!("/api/v1/dashboard/breakdown?by={dim}");
        let country = app.get(&by("country")).await;
        assert_eq!(country.status, StatusCode::OK, "{}", country.body);
        let rows = country.body["rows"].as_array().unwrap();
        let to = rows.iter().find(|r| r["key"] == "TO").unwrap();
        assert_eq!((to["projects"].as_u64(), to["grants"].as_u64()), (Some(1), Some(2)));
        assert_eq!(to["awarded"], json!([cny("400.00")]));
        assert_eq!(to["disbursed"], json!([cny("120.50")]));
        assert_eq!(to["label"], "Tonga");
        let tv = rows.iter().find(|r| r["key"] == "TV").unwrap();
        assert_eq!((tv["projects"].as_u64(), tv["grants"].as_u64()), (Some(1), Some(0)));

        let inst = app.get(&by("institution")).await;
        let row = inst.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == d.uni.as_str())
            .unwrap()
            .clone();
        assert_eq!((row["projects"].as_u64(), row["grants"].as_u64()), (Some(2), Some(2)));
        assert_eq!(row["label"], "tonga-uni");

        let year = app.get(&by("year")).await;
        let y2025 = year.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "2025")
            .unwrap()
            .clone();
        assert_eq!(y2025["projects"], 2);

        let sector = app.get(&format!("{}&fund_id={}", by("sector"), d.fund)).await;
        let rows = sector.body["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "only the funded project's sector: {rows:?}");
        assert_eq!(rows[0]["awarded"], json!([cny("400.00")]));
        let nil = app
            .get(&format!(
                "{}&fund_id=00000000-0000-0000-0000-000000000000",
                by("sector")
            ))
            .await;
        assert_eq!(nil.body["rows"], json!([]), "the nil UUID names no fund");

        let alliance = app.get(&by("alliance")).await;
        assert_eq!(alliance.body["rows"][0]["key"], Value::Null);
        assert_eq!(alliance.body["rows"][0]["projects"], 2);
        assert_eq!(app.get(&by("planet")).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn partners_see_their_project_status_but_not_dashboards() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let outsider = app.institution("outsider", "FJ").await;
        let mine = crate::common::make_token(&app.db, "p", Role::Partner, Some(d.uni.parse().unwrap()))
            .await
            .secret;
        let other = crate::common::make_token(&app.db, "o", Role::Partner, Some(outsider.parse().unwrap()))
            .await
            .secret;
        assert_eq!(
            app.get_as(&mine, &format!("/api/v1/projects/{}/status", d.tonga))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.get_as(&other, &format!("/api/v1/projects/{}/status", d.tonga))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get_as(&mine, "/api/v1/dashboard/summary").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get_as(&mine, "/api/v1/dashboard/breakdown?by=country").await.status,
            StatusCode::FORBIDDEN
        );
        let viewer = crate::common::make_token(&app.db, "v", Role::Viewer, None).await.secret;
        assert_eq!(
            app.get_as(&viewer, "/api/v1/dashboard/summary").await.status,
            StatusCode::OK
        );
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_view_is_the_summary_and_both_breakdowns_in_one_answer() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let alliance = app
            .post(
                "/api/v1/alliances",
                json!({"code": "gdca", "name": {"en": "Green Alliance", "zh": "绿色发展合作联盟"},
                "founded_on": "2024-10-28", "focus_areas": []}),
            )
            .await
            .id();
        let mut body = crate::common::project_body("allied", &["FJ"]);
        body["alliance_id"] = json!(alliance);
        assert_eq!(app.post("/api/v1/projects", body).await.status, StatusCode::CREATED);
        let standard = app
            .post(
                "/api/v1/standard-indicators",
                json!({"code": "people-trained", "title": {"en": "People trained"}, "measure": "unit", "unit": "people"}),
            )
            .await
            .id();

        let view = app.get("/api/v1/dashboard?as_of=2025-02-15").await;
        assert_eq!(view.status, StatusCode::OK, "{}", view.body);
        let summary = app.get("/api/v1/dashboard/summary?as_of=2025-02-15").await;
        let by_country = app.get("/api/v1/dashboard/breakdown?by=country").await;
        let by_alliance = app.get("/api/v1/dashboard/breakdown?by=alliance").await;
        let progress = app.get(&format!("/api/v1/standard-indicators/{standard}/progress")).await;
        assert_eq!(
            view.body,
            json!({"summary": summary.body, "by_country": by_country.body, "by_alliance": by_alliance.body,
                   "indicators": [progress.body]})
        );
        // What the page used to ask /funds and /alliances for comes with the figures.
        let fund = &summary.body["funds"][0];
        assert_eq!(fund["fund_id"], d.fund.as_str());
        assert_eq!(
            (&fund["code"], &fund["name"]),
            (&json!("dash-fund"), &json!({"en": "Fund"}))
        );
        let rows = by_alliance.body["rows"].as_array().unwrap();
        let allied = rows.iter().find(|r| r["key"] == alliance.as_str()).unwrap();
        assert_eq!(allied["label"], "Green Alliance");
        assert_eq!(
            allied["name"],
            json!({"en": "Green Alliance", "zh": "绿色发展合作联盟"})
        );
        let none = rows.iter().find(|r| r["key"].is_null()).unwrap();
        assert!(none.get("name").is_none(), "{none}");
        let fiji = by_country.body["rows"].as_array().unwrap();
        assert!(
            fiji.iter().all(|r| r.get("name").is_none()),
            "countries are labelled by code"
        );

        let partner = crate::common::make_token(&app.db, "p", Role::Partner, Some(d.uni.parse().unwrap()))
            .await
            .secret;
        assert_eq!(
            app.get_as(&partner, "/api/v1/dashboard").await.status,
            StatusCode::FORBIDDEN
        );
    })
    .await;
}

#[tokio::test]
async fn a_project_list_carries_each_projects_health_as_its_status_judges_it() {
    each_backend(|mut app| async move {
        let d = dataset(&app).await;
        let cancelled = app.project("stopped", &["WS"]).await;
        app.post(
            &format!("/api/v1/projects/{cancelled}/transitions"),
            json!({"to": "cancelled"}),
        )
        .await;
        // Tonga's open milestone is due on March 1st: at noon UTC that day it
        // is already the 2nd in Tonga (UTC+13), so it is overdue there.
        for (at, tonga) in [
            ("2025-02-20T12:00:00Z", "on_track"),
            ("2025-03-01T12:00:00Z", "at_risk"),
            ("2025-04-15T12:00:00Z", "delayed"),
        ] {
            app = app.at(at.parse().unwrap());
            let list = app.get("/api/v1/projects?include=health&limit=50").await;
            assert_eq!(list.status, StatusCode::OK, "{}", list.body);
            let items = list.body["items"].as_array().unwrap();
            assert_eq!(items.len(), 3);
            for p in items {
                let id = p["id"].as_str().unwrap();
                let status = app.get(&format!("/api/v1/projects/{id}/status")).await;
                assert_eq!(p["health"], status.body["health"], "{at}: {}", p["code"]);
            }
            let health = |id: &str| items.iter().find(|p| p["id"] == id).unwrap()["health"].clone();
            assert_eq!(health(&d.tonga), tonga, "{at}");
            assert_eq!(health(&d.kiribati), "on_track", "{at}");
            assert_eq!(health(&cancelled), "cancelled", "{at}");
        }

        let plain = app.get("/api/v1/projects?limit=50").await;
        assert!(plain.body["items"][0].get("health").is_none(), "only when asked");
        let wrong = app.get("/api/v1/projects?include=everything").await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
        let mine = crate::common::make_token(&app.db, "p", Role::Partner, Some(d.uni.parse().unwrap()))
            .await
            .secret;
        let own = app.get_as(&mine, "/api/v1/projects?include=health").await;
        assert_eq!(own.body["items"].as_array().unwrap().len(), 2, "the partner's own two");
    })
    .await;
}
