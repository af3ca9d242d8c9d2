//! The partner's own clock (SPEC §8): institutions have a time zone (by
//! default their country's), a project's deadlines live in its lead's zone,
//! and where `as_of` is omitted "today" is each project's own date: at 09:00
//! on 15 March in Tonga a milestone due on 14 March is overdue, although it
//! is still 14 March in UTC.

use crate::common::{TestApp, each_backend};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

#[tokio::test]
async fn an_institution_lives_in_its_countrys_zone_unless_it_names_another() {
    each_backend(|app| async move {
        let tonga = app.institution("tonga-ministry", "TO").await;
        let r = app.get(&format!("/api/v1/institutions/{tonga}")).await;
        assert_eq!(r.body["time_zone"], "Pacific/Tongatapu");
        assert!(r.body["contact_email"].is_null());

        let kanton = app
            .post(
                "/api/v1/institutions",
                json!({"code": "kanton-school", "name": {"en": "Kanton school"}, "kind": "other", "country": "KI",
                       "time_zone": "Pacific/Kanton", "contact_email": "head@kanton.example.ki"}),
            )
            .await;
        assert_eq!(kanton.status, StatusCode::CREATED, "{}", kanton.body);
        assert_eq!(kanton.body["time_zone"], "Pacific/Kanton");
        assert_eq!(kanton.body["contact_email"], "head@kanton.example.ki");

        let bad = app
            .post(
                "/api/v1/institutions",
                json!({"name": {"en": "X"}, "kind": "other", "country": "FJ", "time_zone": "Pacific/Atlantis",
                       "contact_email": "not an address"}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut fields = bad.fields();
        fields.sort();
        assert_eq!(fields, ["contact_email", "time_zone"]);

        let back = app
            .patch(
                &format!("/api/v1/institutions/{}", kanton.id()),
                json!({"time_zone": null}),
            )
            .await;
        assert_eq!(
            back.body["time_zone"], "Pacific/Tarawa",
            "null goes back to the country's zone"
        );
    })
    .await;
}

/// A project led from Tonga and one with no lead (UTC), each with a
/// milestone due on 2025-03-14.
async fn two_projects(app: &TestApp) -> (String, String, String, String) {
    let tonga = app.institution("tonga-ministry", "TO").await;
    let led = app.project("solar-tongatapu", &["TO"]).await;
    app.participate(&led, &tonga, "lead").await;
    let unled = app.project("unled", &["FJ"]).await;
    let mut milestones = Vec::new();
    for p in [&led, &unled] {
        let r = app
            .post(
                &format!("/api/v1/projects/{p}/milestones"),
                json!({"title": {"en": "Panels installed"}, "due_on": "2025-03-14"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        milestones.push(r.id());
    }
    (led, unled, milestones[0].clone(), milestones[1].clone())
}

#[tokio::test]
async fn in_tonga_a_milestone_is_overdue_the_morning_after_while_utc_is_still_on_its_day() {
    each_backend(|app| async move {
        let (led, unled, tongan, other) = two_projects(&app).await;

        // 20:00 UTC on the 14th is 09:00 on the 15th in Tonga.
        let app = app.at(at("2025-03-14T20:00:00Z"));
        let status = app.get(&format!("/api/v1/projects/{led}/status")).await;
        assert_eq!(status.body["time_zone"], "Pacific/Tongatapu");
        assert_eq!(status.body["as_of"], "2025-03-15");
        assert_eq!(status.body["milestones"]["overdue"], 1);
        assert_eq!(status.body["health"], "at_risk");
        let status = app.get(&format!("/api/v1/projects/{unled}/status")).await;
        assert_eq!(status.body["time_zone"], "UTC");
        assert_eq!(status.body["as_of"], "2025-03-14");
        assert_eq!(status.body["milestones"]["overdue"], 0);

        let overdue = app.get("/api/v1/milestones?overdue=true").await;
        let ids: Vec<&str> = overdue.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [tongan.as_str()]);
        let not = app.get("/api/v1/milestones?overdue=false").await;
        assert_eq!(not.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(
            app.get(&format!("/api/v1/milestones/{tongan}")).await.body["overdue"],
            true
        );
        assert_eq!(
            app.get(&format!("/api/v1/milestones/{other}")).await.body["overdue"],
            false
        );
        assert_eq!(
            app.get("/api/v1/dashboard/summary").await.body["milestones"]["overdue"],
            1
        );

        // 23:00 on the 14th in Tonga: not yet.
        let app = app.at(at("2025-03-14T10:00:00Z"));
        assert_eq!(
            app.get(&format!("/api/v1/projects/{led}/status")).await.body["milestones"]["overdue"],
            0
        );
        assert_eq!(
            app.get("/api/v1/dashboard/summary").await.body["milestones"]["overdue"],
            0
        );
        assert!(
            app.get("/api/v1/milestones?overdue=true").await.body["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // Noon UTC on the 15th: overdue everywhere.
        let app = app.at(at("2025-03-15T12:00:00Z"));
        assert_eq!(
            app.get("/api/v1/dashboard/summary").await.body["milestones"]["overdue"],
            2
        );
        assert_eq!(
            app.get("/api/v1/milestones?overdue=true").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        // An explicit as_of is one date for every project.
        let app = app.at(at("2025-03-14T10:00:00Z"));
        let fixed = app.get("/api/v1/dashboard/summary?as_of=2025-03-15").await;
        assert_eq!(fixed.body["milestones"]["overdue"], 2);
        assert_eq!(fixed.body["as_of"], "2025-03-15");
        let status = app
            .get(&format!("/api/v1/projects/{unled}/status?as_of=2025-03-15"))
            .await;
        assert_eq!(status.body["milestones"]["overdue"], 1);
    })
    .await;
}

async fn due_soon(app: &TestApp) -> serde_json::Value {
    let s = app.get("/api/v1/dashboard/summary").await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    s.body["milestones"]["due_next_30_days"].clone()
}

#[tokio::test]
async fn due_within_30_days_is_judged_on_each_projects_own_clock() {
    each_backend(|app| async move {
        two_projects(&app).await;
        // 20:00 UTC on 12 February is 09:00 on the 13th in Tonga: the 30
        // days from the 13th reach 14 March there, not yet from the 12th in UTC.
        let app = app.at(at("2025-02-12T20:00:00Z"));
        assert_eq!(due_soon(&app).await, 1);
        // 23:00 on the 12th in Tonga: in neither window yet.
        let app = app.at(at("2025-02-12T10:00:00Z"));
        assert_eq!(due_soon(&app).await, 0);
        // Well inside both windows, on every clock.
        let app = app.at(at("2025-03-01T12:00:00Z"));
        assert_eq!(due_soon(&app).await, 2);
        // 09:00 on the 15th in Tonga, still the 14th in UTC: one is due today, one overdue.
        let app = app.at(at("2025-03-14T20:00:00Z"));
        let s = app.get("/api/v1/dashboard/summary").await;
        assert_eq!(s.body["milestones"]["due_next_30_days"], 1);
        assert_eq!(s.body["milestones"]["overdue"], 1);
    })
    .await;
}

#[tokio::test]
async fn a_project_follows_its_leads_clock_and_the_tallies_stay_exact() {
    each_backend(|app| async move {
        let (led, _, _, _) = two_projects(&app).await;
        let lead = app.get("/api/v1/institutions?country=TO").await.body["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/api/v1/projects/{led}/status");
        assert_eq!(app.get(&path).await.body["time_zone"], "Pacific/Tongatapu");

        // The lead names another zone: the project's deadlines move with it.
        let r = app
            .patch(
                &format!("/api/v1/institutions/{lead}"),
                json!({"time_zone": "Pacific/Niue"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.get(&path).await.body["time_zone"], "Pacific/Niue");
        assert!(
            climate_tracker::store::tallies::differences(&app.db)
                .await
                .unwrap()
                .is_empty()
        );
        // At 09:00 on the 15th in Tonga it is 09:00 on the 14th in Niue (UTC−11): not overdue there.
        let later = app.at(at("2025-03-14T20:00:00Z"));
        assert_eq!(
            later.get("/api/v1/dashboard/summary").await.body["milestones"]["overdue"],
            0
        );

        // No lead any more: UTC.
        let r = later
            .delete(&format!("/api/v1/projects/{led}/participants/{lead}"))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(later.get(&path).await.body["time_zone"], "UTC");
        assert!(
            climate_tracker::store::tallies::differences(&later.db)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}
