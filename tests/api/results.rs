//! Results and indicators (SPEC §6): the framework, the review of updates,
//! actuals computed by the right rule, standard-indicator progress from
//! the maintained shares, and who may do what.

use crate::common::{Resp, TestApp, each_backend};
use axum::http::StatusCode;
use climate_tracker::store::tallies;
use serde_json::{Value, json};

fn created(r: &Resp, what: &str) -> String {
    assert_eq!(r.status, StatusCode::CREATED, "{what}: {}", r.body);
    r.id()
}

async fn result(app: &TestApp, project: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/results"),
            json!({"type": "outcome", "title": {"en": "Cleaner power", "zh": "清洁电力"}}),
        )
        .await;
    created(&r, "result")
}

async fn indicator(app: &TestApp, result: &str, body: Value) -> String {
    let r = app.post(&format!("/api/v1/results/{result}/indicators"), body).await;
    created(&r, "indicator")
}

async fn period(app: &TestApp, indicator: &str, start: &str, end: &str, target: Option<&str>) -> String {
    let mut body = json!({"period_start": start, "period_end": end});
    if let Some(t) = target {
        body["target"] = json!({"value": t});
    }
    let r = app.post(&format!("/api/v1/indicators/{indicator}/periods"), body).await;
    created(&r, "period")
}

/// Reports an update as `token` and moves it through the review to `approved`.
async fn approved(app: &TestApp, token: &str, period: &str, body: Value) -> String {
    let r = app
        .post_as(token, &format!("/api/v1/periods/{period}/updates"), body)
        .await;
    let id = created(&r, "update");
    let r = app
        .post_as(
            token,
            &format!("/api/v1/updates/{id}/transitions"),
            json!({"to": "submitted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "submit: {}", r.body);
    let r = app
        .post(
            &format!("/api/v1/updates/{id}/transitions"),
            json!({"to": "approved", "note": "checked"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "approve: {}", r.body);
    id
}

fn actual(r: &Resp) -> &Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    &r.body["actual"]
}

/// A project with a partner institution taking part, and that partner's token.
async fn partnered(app: &TestApp, code: &str, country: &str) -> (String, String) {
    let (project, token, _) = partnered_by(app, code, country).await;
    (project, token)
}

/// As [`partnered`], with the partner institution's id.
async fn partnered_by(app: &TestApp, code: &str, country: &str) -> (String, String, String) {
    let project = app.project(code, &[country]).await;
    let inst = app.institution(&format!("{code}-college"), country).await;
    app.participate(&project, &inst, "lead").await;
    let token = app.token("partner", Some(&inst)).await;
    (project, token, inst)
}

#[tokio::test]
async fn a_partner_reports_staff_review_and_the_period_shows_the_approved_sum() {
    each_backend(|app| async move {
        let (project, partner) = partnered(&app, "solar-kiribati", "KI").await;
        let res = result(&app, &project).await;
        let ind = indicator(
            &app,
            &res,
            json!({"title": {"en": "People trained"}, "measure": "unit", "unit": "people",
                   "baseline": {"year": 2024, "value": "0"},
                   "dimensions": [{"name": "sex", "values": ["female", "male"]}]}),
        )
        .await;
        let per = period(&app, &ind, "2025-01-01", "2025-12-31", Some("100")).await;

        let split = |f: &str, m: &str| {
            json!([{"dimension": "sex", "value": "female", "amount": f},
                   {"dimension": "sex", "value": "male", "amount": m}])
        };
        approved(
            &app,
            &partner,
            &per,
            json!({"value": "12.5", "disaggregations": split("7.5", "5"),
            "reported_on": "2025-03-01"}),
        )
        .await;
        approved(
            &app,
            &partner,
            &per,
            json!({"value": "30", "disaggregations": split("10", "20"),
            "reported_on": "2025-06-01"}),
        )
        .await;
        // A draft and a submitted update do not count yet.
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/periods/{per}/updates"),
                json!({"value": "1000"}),
            )
            .await;
        let pending = created(&r, "draft");
        app.post_as(
            &partner,
            &format!("/api/v1/updates/{pending}/transitions"),
            json!({"to": "submitted"}),
        )
        .await;

        let r = app.get_as(&partner, &format!("/api/v1/periods/{per}")).await;
        let a = actual(&r);
        assert_eq!(a["value"], "42.5", "0.1-exact sum of approved values: {a}");
        assert_eq!(a["updates"], 2);
        assert_eq!(r.body["target"]["value"], "100");
        let parts: Vec<(String, String)> = a["disaggregations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["value"].as_str().unwrap().into(),
                    d["amount"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(parts, [("female".into(), "17.5".into()), ("male".into(), "25".into())]);

        let s = app
            .get_as(&partner, &format!("/api/v1/projects/{project}/status"))
            .await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.body);
        assert_eq!(
            s.body["indicators"],
            json!({"total": 1, "with_actual": 1, "submitted_updates": 1})
        );

        // The feed tells of each step of the review, and the partner sees it.
        let r = app
            .get_as(
                &partner,
                "/api/v1/events?types=indicator_update.submitted,indicator_update.approved&limit=200",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let kinds: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "indicator_update.approved").count(),
            2,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "indicator_update.submitted").count(),
            3,
            "{kinds:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn cumulative_takes_the_latest_percentages_divide_sums_and_narratives_stand_alone() {
    each_backend(|app| async move {
        let (project, partner) = partnered(&app, "wind-tonga", "TO").await;
        let res = result(&app, &project).await;

        let cumulative = indicator(
            &app,
            &res,
            json!({"title": {"en": "Capacity"}, "measure": "unit",
            "unit": "kW", "cumulative": true}),
        )
        .await;
        let per = period(&app, &cumulative, "2025-01-01", "2025-12-31", None).await;
        approved(
            &app,
            &partner,
            &per,
            json!({"value": "50", "reported_on": "2025-09-01"}),
        )
        .await;
        approved(
            &app,
            &partner,
            &per,
            json!({"value": "30", "reported_on": "2025-02-01"}),
        )
        .await;
        let r = app.get(&format!("/api/v1/periods/{per}")).await;
        assert_eq!(
            actual(&r)["value"],
            "50",
            "the latest by reported_on, not the last approved"
        );

        let share = indicator(
            &app,
            &res,
            json!({"title": {"en": "Women among trainees"},
            "measure": "percentage"}),
        )
        .await;
        let per = period(&app, &share, "2025-01-01", "2025-12-31", Some("50")).await;
        let one = approved(&app, &partner, &per, json!({"numerator": "9", "denominator": "10"})).await;
        approved(&app, &partner, &per, json!({"numerator": "1", "denominator": "90"})).await;
        let r = app.get(&format!("/api/v1/updates/{one}")).await;
        assert_eq!(r.body["value"], "90", "{}", r.body);
        let r = app.get(&format!("/api/v1/periods/{per}")).await;
        // 10 of 100: 10 %, not the average of 90 % and 1.11 %.
        assert_eq!(actual(&r)["value"], "10");

        let story = indicator(
            &app,
            &res,
            json!({"title": {"en": "Community view"},
            "measure": "qualitative"}),
        )
        .await;
        let per = period(&app, &story, "2025-01-01", "2025-12-31", None).await;
        approved(
            &app,
            &partner,
            &per,
            json!({"narrative": "Elders asked for a second site",
            "reported_on": "2025-05-01"}),
        )
        .await;
        let r = app.get(&format!("/api/v1/periods/{per}")).await;
        let a = actual(&r);
        assert_eq!(
            (a["value"].clone(), a["narrative"].clone()),
            (Value::Null, json!("Elders asked for a second site"))
        );
    })
    .await;
}

#[tokio::test]
async fn bad_figures_are_refused_field_by_field_and_nothing_is_stored() {
    each_backend(|app| async move {
        let app = app.with_reference().await;
        let project = app.project("rules", &["FJ"]).await;
        let res = result(&app, &project).await;
        let path = format!("/api/v1/results/{res}/indicators");

        let r = app.post(&path, json!({"title": {"en": "x"}, "measure": "unit"})).await;
        assert_eq!((r.status, r.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["unit".to_owned()]));
        let r = app
            .post(&path, json!({"title": {"en": "x"}, "measure": "qualitative", "baseline": {"year": 2024, "value": "3"}}))
            .await;
        assert_eq!((r.status, r.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["baseline.value".to_owned()]));
        let r = app
            .post(&path, json!({"title": {"en": "x"}, "measure": "unit", "unit": "t", "baseline": {"year": 2024, "value": 3.5}}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a JSON number is not a decimal string: {}", r.body);
        let r = app
            .post(&path, json!({"title": {"en": "x"}, "measure": "unit", "unit": "t", "baseline": {"year": 2024, "value": "1.1234567"}}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        // A standard indicator of another unit.
        let ghg = standard_id(&app, "ghg-emissions-reduced").await;
        let r = app
            .post(&path, json!({"title": {"en": "x"}, "measure": "unit", "unit": "kW", "standard_indicator_id": ghg}))
            .await;
        assert_eq!(r.fields(), ["standard_indicator_id"], "{}", r.body);
        assert_eq!(app.get(&path).await.body["items"], json!([]), "nothing stored");

        let ind = indicator(&app, &res, json!({"title": {"en": "t"}, "measure": "unit", "unit": "t",
            "dimensions": [{"name": "island", "values": ["Viti Levu", "Vanua Levu"]}]})).await;
        let r = app
            .post(&format!("/api/v1/indicators/{ind}/periods"), json!({"period_start": "2025-06-01", "period_end": "2025-06-01"}))
            .await;
        assert_eq!((r.status, r.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["period_end".to_owned()]));
        let per = period(&app, &ind, "2025-01-01", "2025-06-30", None).await;
        let r = app
            .post(&format!("/api/v1/indicators/{ind}/periods"), json!({"period_start": "2025-06-30", "period_end": "2025-12-31"}))
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "overlaps by one day: {}", r.body);
        period(&app, &ind, "2025-07-01", "2025-12-31", None).await;

        let updates = format!("/api/v1/periods/{per}/updates");
        let r = app
            .post(&updates, json!({"value": "10", "disaggregations": [
                {"dimension": "island", "value": "Viti Levu", "amount": "6"},
                {"dimension": "island", "value": "Vanua Levu", "amount": "3.999999"}]}))
            .await;
        assert_eq!((r.status, r.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["disaggregations".to_owned()]));
        let r = app.post(&updates, json!({"numerator": "1", "denominator": "2"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.fields().contains(&"value".to_owned()), "{:?}", r.fields());
        assert_eq!(app.get(&updates).await.body["items"], json!([]), "nothing stored");

        let share = indicator(&app, &res, json!({"title": {"en": "share"}, "measure": "percentage"})).await;
        let share_period = period(&app, &share, "2025-01-01", "2025-12-31", None).await;
        let r = app
            .post(&format!("/api/v1/periods/{share_period}/updates"), json!({"denominator": "10"}))
            .await;
        assert_eq!(r.fields(), ["numerator"], "no word on a denominator that is fine: {}", r.body);
        let r = app
            .post(&format!("/api/v1/periods/{share_period}/updates"), json!({"numerator": "-1", "denominator": "10"}))
            .await;
        assert_eq!(r.fields(), ["numerator"], "{}", r.body);

        // An actual stays within 10^15: the approval that would pass it is refused.
        let big = indicator(&app, &res, json!({"title": {"en": "big"}, "measure": "unit", "unit": "t"})).await;
        let big_period = period(&app, &big, "2025-01-01", "2025-12-31", None).await;
        approved(&app, &app.admin, &big_period, json!({"value": "1000000000000000"})).await;
        let r = app
            .post(&format!("/api/v1/periods/{big_period}/updates"), json!({"value": "0.000001"}))
            .await;
        let one_more = created(&r, "update");
        let moves = format!("/api/v1/updates/{one_more}/transitions");
        assert_eq!(app.post(&moves, json!({"to": "submitted"})).await.status, StatusCode::OK);
        let r = app.post(&moves, json!({"to": "approved"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "out_of_range"), "{}", r.body);
        let r = app.get(&format!("/api/v1/periods/{big_period}")).await;
        assert_eq!(actual(&r)["value"], "1000000000000000");

        // The measure is fixed once a period exists.
        let r = app.patch(&format!("/api/v1/indicators/{ind}"), json!({"measure": "percentage"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "invalid_state"), "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn the_review_is_a_one_way_street_and_locked_periods_take_nothing() {
    each_backend(|app| async move {
        let (project, partner) = partnered(&app, "review", "SB").await;
        let res = result(&app, &project).await;
        let ind = indicator(
            &app,
            &res,
            json!({"title": {"en": "t"}, "measure": "unit", "unit": "t"}),
        )
        .await;
        let per = period(&app, &ind, "2025-01-01", "2025-12-31", None).await;
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/periods/{per}/updates"),
                json!({"value": "5"}),
            )
            .await;
        let u = created(&r, "update");
        assert_eq!(
            (r.body["status"].as_str(), r.body["author"]["name"].as_str()),
            (Some("draft"), Some("partner token"))
        );
        let to = |t: &str| json!({"to": t, "note": "see the site visit"});
        let moves = format!("/api/v1/updates/{u}/transitions");

        let r = app.post_as(&partner, &moves, to("approved")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "a partner cannot approve: {}", r.body);
        assert_eq!(
            app.post_as(&partner, &moves, to("submitted")).await.status,
            StatusCode::OK
        );
        let r = app
            .patch_as(&partner, &format!("/api/v1/updates/{u}"), json!({"value": "6"}))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "invalid_state"),
            "submitted is not editable"
        );
        let r = app.post(&moves, to("returned")).await;
        assert_eq!(
            (r.status, r.body["review_note"].as_str()),
            (StatusCode::OK, Some("see the site visit"))
        );
        let r = app
            .patch_as(&partner, &format!("/api/v1/updates/{u}"), json!({"value": "6"}))
            .await;
        assert_eq!(
            (r.status, r.body["value"].as_str()),
            (StatusCode::OK, Some("6")),
            "{}",
            r.body
        );
        assert_eq!(
            app.post_as(&partner, &moves, to("submitted")).await.status,
            StatusCode::OK
        );
        assert_eq!(app.post(&moves, to("approved")).await.status, StatusCode::OK);
        let r = app.post(&moves, to("returned")).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "invalid_transition"),
            "approved is final"
        );

        let r = app
            .patch(&format!("/api/v1/periods/{per}"), json!({"locked": true}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/periods/{per}/updates"),
                json!({"value": "1"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "period_locked"));
        let r = app
            .patch(&format!("/api/v1/periods/{per}"), json!({"target": {"value": "9"}}))
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "period_locked"));
        assert_eq!(
            app.patch(&format!("/api/v1/periods/{per}"), json!({"locked": false}))
                .await
                .status,
            StatusCode::OK
        );

        // A result that approved figures report on stays.
        let r = app.delete(&format!("/api/v1/results/{res}")).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "still_referenced"));
        let other = result(&app, &project).await;
        let ind = indicator(
            &app,
            &other,
            json!({"title": {"en": "t"}, "measure": "unit", "unit": "t"}),
        )
        .await;
        let per = period(&app, &ind, "2025-01-01", "2025-12-31", None).await;
        app.post_as(
            &partner,
            &format!("/api/v1/periods/{per}/updates"),
            json!({"value": "1"}),
        )
        .await;
        assert_eq!(
            app.delete(&format!("/api/v1/results/{other}")).await.status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.get(&format!("/api/v1/indicators/{ind}")).await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn partners_see_and_report_only_on_their_own_projects_and_viewers_only_read() {
    each_backend(|app| async move {
        let app = app.with_reference().await;
        let (mine, partner) = partnered(&app, "mine", "KI").await;
        let (theirs, _) = partnered(&app, "theirs", "TV").await;
        let viewer = app.token("viewer", None).await;
        let res = result(&app, &theirs).await;
        let ind = indicator(
            &app,
            &res,
            json!({"title": {"en": "t"}, "measure": "unit", "unit": "t"}),
        )
        .await;
        let per = period(&app, &ind, "2025-01-01", "2025-12-31", None).await;

        for path in [
            format!("/api/v1/results/{res}"),
            format!("/api/v1/indicators/{ind}"),
            format!("/api/v1/periods/{per}"),
            format!("/api/v1/projects/{theirs}/results"),
        ] {
            assert_eq!(
                app.get_as(&partner, &path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
            assert_eq!(app.get_as(&viewer, &path).await.status, StatusCode::OK, "{path}");
        }
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/periods/{per}/updates"),
                json!({"value": "1"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "not its project: {}", r.body);
        let r = app
            .post_as(
                &viewer,
                &format!("/api/v1/periods/{per}/updates"),
                json!({"value": "1"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app
            .post_as(
                &partner,
                &format!("/api/v1/projects/{mine}/results"),
                json!({"type": "output", "title": {"en": "x"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "admins frame the results: {}", r.body);
        let r = app
            .get_as(
                &partner,
                &format!(
                    "/api/v1/standard-indicators/{}/progress",
                    standard_id(&app, "people-trained").await
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "fund-wide figures are for staff");
    })
    .await;
}

async fn standard_id(app: &TestApp, code: &str) -> String {
    let r = app.get("/api/v1/standard-indicators?limit=200").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("no standard indicator {code} in {}", r.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn progress(app: &TestApp, standard: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/standard-indicators/{standard}/progress?{query}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn standard_indicator_progress_sums_linked_indicators_exactly_and_stays_exact() {
    each_backend(|app| async move {
        let app = app.with_reference().await;
        let ghg = standard_id(&app, "ghg-emissions-reduced").await;
        let (tonga, partner_to, tonga_college) = partnered_by(&app, "solar-tonga", "TO").await;
        let (kiribati, partner_ki) = partnered(&app, "solar-kiribati", "KI").await;
        let linked = |baseline: &str, cumulative: bool| {
            json!({"title": {"en": "Emissions avoided"}, "measure": "unit", "unit": "tCO2e",
                   "standard_indicator_id": ghg, "cumulative": cumulative,
                   "baseline": {"year": 2024, "value": baseline}})
        };
        let r1 = result(&app, &tonga).await;
        let to = indicator(&app, &r1, linked("1.5", false)).await;
        let to25 = period(&app, &to, "2025-01-01", "2025-12-31", Some("100.25")).await;
        let to26 = period(&app, &to, "2026-01-01", "2026-12-31", Some("200")).await;
        approved(
            &app,
            &partner_to,
            &to25,
            json!({"value": "40.1", "reported_on": "2025-04-01"}),
        )
        .await;
        approved(
            &app,
            &partner_to,
            &to25,
            json!({"value": "0.2", "reported_on": "2025-05-01"}),
        )
        .await;
        approved(
            &app,
            &partner_to,
            &to26,
            json!({"value": "7", "reported_on": "2025-12-01"}),
        )
        .await;

        let r2 = result(&app, &kiribati).await;
        let ki = indicator(&app, &r2, linked("2", true)).await;
        let ki25a = period(&app, &ki, "2025-01-01", "2025-06-30", Some("10")).await;
        let ki25b = period(&app, &ki, "2025-07-01", "2025-12-31", Some("20")).await;
        approved(
            &app,
            &partner_ki,
            &ki25a,
            json!({"value": "8", "reported_on": "2025-06-01"}),
        )
        .await;
        approved(
            &app,
            &partner_ki,
            &ki25b,
            json!({"value": "19.9", "reported_on": "2025-11-01"}),
        )
        .await;
        // Not linked: never counted.
        let unlinked = indicator(
            &app,
            &r2,
            json!({"title": {"en": "x"}, "measure": "unit", "unit": "tCO2e"}),
        )
        .await;
        let p = period(&app, &unlinked, "2025-01-01", "2025-12-31", Some("999")).await;
        approved(&app, &partner_ki, &p, json!({"value": "999"})).await;

        let p = progress(&app, &ghg, "year=2025").await;
        // Tonga sums its 2025 updates (40.3); Kiribati is cumulative: its latest (19.9).
        assert_eq!(
            (p["baseline"].as_str(), p["target"].as_str(), p["actual"].as_str()),
            (Some("3.5"), Some("120.25"), Some("60.2")),
            "{p}"
        );
        assert_eq!((p["projects"].as_u64(), p["indicators"].as_u64()), (Some(2), Some(2)));
        let p = progress(&app, &ghg, "year=2026").await;
        assert_eq!(
            (p["target"].as_str(), p["actual"].as_str(), p["projects"].as_u64()),
            (Some("200"), Some("7"), Some(1))
        );
        let p = progress(&app, &ghg, "").await;
        assert_eq!(
            (p["target"].as_str(), p["actual"].as_str()),
            (Some("320.25"), Some("67.2")),
            "{p}"
        );
        let p = progress(&app, &ghg, "year=2025&country=KI").await;
        assert_eq!((p["actual"].as_str(), p["projects"].as_u64()), (Some("19.9"), Some(1)));
        let p = progress(&app, &ghg, "year=2030").await;
        assert_eq!((p["actual"].clone(), p["projects"].as_u64()), (Value::Null, Some(0)));

        // Only projects a fund has awarded a grant to count for that fund.
        let sponsor = app.institution("sponsor", "CN").await;
        let fund = app.fund("fund-a", "CNY", &sponsor, "1000.00").await;
        assert_eq!(progress(&app, &ghg, &format!("fund_id={fund}")).await["projects"], 0);
        let g = app
            .post(
                "/api/v1/grants",
                json!({"fund_id": fund, "project_id": tonga, "recipient_institution_id": tonga_college,
                "title": {"en": "g"}, "amount": {"amount": "100.00", "currency": "CNY"}}),
            )
            .await;
        let g = created(&g, "grant");
        for to in ["submitted", "approved"] {
            let r = app
                .post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": to}))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let p = progress(&app, &ghg, &format!("fund_id={fund}&year=2025")).await;
        assert_eq!((p["actual"].as_str(), p["projects"].as_u64()), (Some("40.3"), Some(1)));

        // Unlinking moves the figures at once; the tallies equal a fresh count throughout.
        assert!(tallies::differences(&app.db).await.unwrap().is_empty());
        let r = app
            .patch(
                &format!("/api/v1/indicators/{to}"),
                json!({"standard_indicator_id": null}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let p = progress(&app, &ghg, "year=2025").await;
        assert_eq!((p["actual"].as_str(), p["projects"].as_u64()), (Some("19.9"), Some(1)));
        let off = tallies::differences(&app.db).await.unwrap();
        assert!(off.is_empty(), "{off:?}");
    })
    .await;
}

#[tokio::test]
async fn the_reference_data_holds_the_standard_indicators_a_climate_fund_reports() {
    each_backend(|app| async move {
        let app = app.with_reference().await;
        for (code, unit) in [
            ("ghg-emissions-reduced", "tCO2e"),
            ("people-trained", "people"),
            ("renewable-capacity-installed", "kW"),
            ("direct-beneficiaries", "people"),
        ] {
            let id = standard_id(&app, code).await;
            let r = app.get(&format!("/api/v1/standard-indicators/{id}")).await;
            assert_eq!(
                (r.body["measure"].as_str(), r.body["unit"].as_str()),
                (Some("unit"), Some(unit))
            );
        }
        let r = app
            .post(
                "/api/v1/standard-indicators",
                json!({"code": "people-trained", "title": {"en": "again"}, "measure": "unit", "unit": "people"}),
            )
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "duplicate"));
        let r = app
            .post(
                "/api/v1/standard-indicators",
                json!({"code": "stories", "title": {"en": "s"}, "measure": "qualitative"}),
            )
            .await;
        assert_eq!(r.fields(), ["measure"]);
    })
    .await;
}

/// A funded project (so it is in the IATI file) with a results framework of every kind.
async fn funded_framework(app: &TestApp) -> (String, String, String) {
    let (project, partner, college) = partnered_by(app, "export-tonga", "TO").await;
    let sponsor = app.institution("export-sponsor", "CN").await;
    let fund = app.fund("export-fund", "CNY", &sponsor, "1000.00").await;
    let r = app
        .post(
            "/api/v1/grants",
            json!({"fund_id": fund, "project_id": project, "recipient_institution_id": college,
            "title": {"en": "g"}, "amount": {"amount": "100.00", "currency": "CNY"}}),
        )
        .await;
    let g = created(&r, "grant");
    for to in ["submitted", "approved"] {
        let r = app
            .post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": to}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let ghg = standard_id(app, "ghg-emissions-reduced").await;
    let res = result(app, &project).await;
    let unit = indicator(app, &res, json!({"title": {"en": "Emissions avoided", "zh": "减排"}, "measure": "unit",
        "unit": "tCO2e", "standard_indicator_id": ghg, "baseline": {"year": 2024, "value": "0", "comment": "before the array"},
        "dimensions": [{"name": "island", "values": ["Tongatapu", "Vava'u"]}]})).await;
    let p1 = period(app, &unit, "2025-01-01", "2025-06-30", Some("50")).await;
    period(app, &unit, "2025-07-01", "2025-12-31", None).await;
    approved(
        app,
        &partner,
        &p1,
        json!({"value": "42.5", "disaggregations": [
        {"dimension": "island", "value": "Tongatapu", "amount": "40"},
        {"dimension": "island", "value": "Vava'u", "amount": "2.5"}]}),
    )
    .await;
    let share = indicator(
        app,
        &res,
        json!({"title": {"en": "Women trained"}, "measure": "percentage"}),
    )
    .await;
    let p = period(app, &share, "2025-01-01", "2025-12-31", Some("40")).await;
    approved(app, &partner, &p, json!({"numerator": "1", "denominator": "3"})).await;
    let story = indicator(
        app,
        &res,
        json!({"title": {"en": "What people say"}, "measure": "qualitative",
        "baseline": {"year": 2024, "comment": "diesel noise at night"}}),
    )
    .await;
    let p = period(app, &story, "2025-01-01", "2025-12-31", None).await;
    approved(
        app,
        &partner,
        &p,
        json!({"narrative": "Quiet nights & <cheaper> power"}),
    )
    .await;
    // A result with no indicator yet: the XSD wants at least one, so it is left out.
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/results"),
            json!({"type": "impact", "title": {"en": "Empty so far"}}),
        )
        .await;
    created(&r, "empty result");
    (project, fund, p1)
}

fn attr<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    n.attribute(name)
}

fn kids<'a>(n: roxmltree::Node<'a, 'a>, name: &'static str) -> Vec<roxmltree::Node<'a, 'a>> {
    n.children().filter(|c| c.has_tag_name(name)).collect()
}

#[tokio::test]
async fn the_iati_file_carries_results_valid_against_the_xsd_and_the_iati_rules() {
    each_backend(|app| async move {
        let app = app.with_reference().await;
        funded_framework(&app).await;
        let out = crate::exports::download(&app, &app.admin, "/api/v1/exports/iati-activities.xml").await;
        assert_eq!(out.status, StatusCode::OK, "{}", out.text());
        crate::exports::assert_valid_iati(&out.bytes);

        let doc = roxmltree::Document::parse(out.text()).expect("well-formed");
        let activity = doc
            .root_element()
            .children()
            .find(|c| c.has_tag_name("iati-activity"))
            .expect("an activity");
        let results = kids(activity, "result");
        assert_eq!(results.len(), 1, "the empty result is left out");
        let mut measures = Vec::new();
        for r in &results {
            let indicators = kids(*r, "indicator");
            // 8.11.1: a reference at indicator level, never also at result level.
            let at_indicator = indicators.iter().any(|i| !kids(*i, "reference").is_empty());
            assert!(!at_indicator || kids(*r, "reference").is_empty(), "8.11.1");
            for i in indicators {
                let measure = attr(i, "measure").unwrap();
                measures.push(measure);
                let valued: Vec<_> = kids(i, "baseline")
                    .into_iter()
                    .chain(
                        kids(i, "period")
                            .into_iter()
                            .flat_map(|p| kids(p, "target").into_iter().chain(kids(p, "actual"))),
                    )
                    .collect();
                for v in valued {
                    match (measure, attr(v, "value")) {
                        ("1" | "2" | "3" | "4", None) => {
                            panic!("8.8.1–8.10.1: <{}> without @value", v.tag_name().name())
                        }
                        ("5", Some(_)) => panic!(
                            "8.8.3–8.10.3: <{}> of a qualitative indicator with @value",
                            v.tag_name().name()
                        ),
                        (_, Some(value)) => {
                            // 8.8.2–8.10.2: number(@value) = @value.
                            let n: rust_decimal::Decimal = value.parse().expect("a number");
                            assert_eq!(n.normalize().to_string(), value, "8.x.2");
                        }
                        _ => {}
                    }
                }
                for p in kids(i, "period") {
                    let start = attr(kids(p, "period-start")[0], "iso-date").unwrap();
                    let end = attr(kids(p, "period-end")[0], "iso-date").unwrap();
                    assert!(start < end, "8.6.1: {start} before {end}");
                }
            }
        }
        assert_eq!(measures, ["1", "2", "5"]);

        let unit = kids(results[0], "indicator")[0];
        assert_eq!(attr(kids(unit, "reference")[0], "code"), Some("ghg-emissions-reduced"));
        let first = kids(unit, "period")[0];
        assert_eq!(attr(kids(first, "target")[0], "value"), Some("50"));
        let actuals: Vec<(Option<&str>, Option<&str>)> = kids(first, "actual")
            .into_iter()
            .map(|a| {
                (
                    attr(a, "value"),
                    kids(a, "dimension").first().and_then(|d| attr(*d, "value")),
                )
            })
            .collect();
        assert_eq!(
            actuals,
            [
                (Some("42.5"), None),
                (Some("40"), Some("Tongatapu")),
                (Some("2.5"), Some("Vava'u"))
            ]
        );
        let second = kids(unit, "period")[1];
        assert!(
            kids(second, "target").is_empty() && kids(second, "actual").is_empty(),
            "nothing to report yet"
        );
        let share = kids(results[0], "indicator")[1];
        assert_eq!(
            attr(kids(kids(share, "period")[0], "actual")[0], "value"),
            Some("33.33")
        );
        let story = kids(results[0], "indicator")[2];
        let said = kids(kids(story, "period")[0], "actual")[0];
        assert!(out.text().contains("Quiet nights &amp; &lt;cheaper&gt; power"));
        assert!(
            said.descendants()
                .any(|n| n.text() == Some("Quiet nights & <cheaper> power"))
        );
    })
    .await;
}

#[tokio::test]
async fn results_csv_has_a_row_per_period_and_dimension_value_equal_to_the_api() {
    each_backend(|app| async move {
        let app = app.with_reference().await;
        let (project, fund, p1) = funded_framework(&app).await;
        let out =
            crate::exports::download(&app, &app.admin, &format!("/api/v1/exports/results.csv?fund_id={fund}")).await;
        assert_eq!(out.status, StatusCode::OK, "{}", out.text());
        assert!(out.bytes.starts_with(b"\xEF\xBB\xBF"), "a byte-order mark for Excel");
        let mut reader = csv::Reader::from_reader(&out.bytes[3..]);
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        let rows: Vec<std::collections::BTreeMap<String, String>> = reader
            .records()
            .map(|r| {
                header
                    .iter()
                    .cloned()
                    .zip(r.unwrap().iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        // 4 periods, and 2 more rows for the dimension values of the first.
        assert_eq!(rows.len(), 6, "{rows:#?}");
        assert!(rows.iter().all(|r| r["project_id"] == project));
        let first: Vec<_> = rows.iter().filter(|r| r["period_id"] == p1).collect();
        let api = app.get(&format!("/api/v1/periods/{p1}")).await;
        assert_eq!(first[0]["actual_value"], api.body["actual"]["value"].as_str().unwrap());
        assert_eq!(
            (first[0]["target_value"].as_str(), first[0]["approved_updates"].as_str()),
            ("50", "1")
        );
        assert_eq!(
            (first[0]["standard_indicator"].as_str(), first[0]["unit"].as_str()),
            ("ghg-emissions-reduced", "tCO2e")
        );
        let split: Vec<(&str, &str)> = first[1..]
            .iter()
            .map(|r| (r["dimension_value"].as_str(), r["actual_value"].as_str()))
            .collect();
        assert_eq!(split, [("Tongatapu", "40"), ("Vava'u", "2.5")]);
        let story = rows.iter().find(|r| r["measure"] == "qualitative").unwrap();
        assert_eq!(
            (story["actual_value"].as_str(), story["actual_narrative"].as_str()),
            ("", "Quiet nights & <cheaper> power")
        );

        let other = app.institution("nobody", "CN").await;
        let empty_fund = app.fund("empty-fund", "CNY", &other, "1.00").await;
        let out = crate::exports::download(
            &app,
            &app.admin,
            &format!("/api/v1/exports/results.csv?fund_id={empty_fund}"),
        )
        .await;
        assert_eq!(csv::Reader::from_reader(&out.bytes[3..]).records().count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approvals_across_projects_keep_the_totals_exact() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    each_backend(|app| async move {
        let app = app.with_reference().await;
        let ghg = standard_id(&app, "ghg-emissions-reduced").await;
        // Eight projects, each with a linked indicator and two submitted updates in 2025.
        let mut submitted = Vec::new();
        for n in 0..8 {
            let project = app.project(&format!("race-{n}"), &["FJ"]).await;
            let res = result(&app, &project).await;
            let ind = indicator(
                &app,
                &res,
                json!({"title": {"en": "t"}, "measure": "unit", "unit": "tCO2e",
                "standard_indicator_id": ghg, "baseline": {"year": 2024, "value": "1"}}),
            )
            .await;
            let per = period(&app, &ind, "2025-01-01", "2025-12-31", Some("10")).await;
            for value in ["0.1", "2"] {
                let r = app
                    .post(&format!("/api/v1/periods/{per}/updates"), json!({"value": value}))
                    .await;
                let u = created(&r, "update");
                let r = app
                    .post(&format!("/api/v1/updates/{u}/transitions"), json!({"to": "submitted"}))
                    .await;
                assert_eq!(r.status, StatusCode::OK);
                submitted.push(u);
            }
        }
        // Approve all sixteen at once: every approval moves the same two total rows.
        let tasks: Vec<_> = submitted
            .iter()
            .map(|u| {
                let router = app.router.clone();
                let req = Request::post(format!("/api/v1/updates/{u}/transitions"))
                    .header("authorization", format!("Bearer {}", app.admin))
                    .header("content-type", "application/json")
                    .body(Body::from(json!({"to": "approved"}).to_string()))
                    .expect("request");
                tokio::spawn(async move { router.oneshot(req).await.expect("router").status() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.expect("task"), StatusCode::OK, "{}", app.backend);
        }
        let p = progress(&app, &ghg, "year=2025").await;
        assert_eq!(
            (
                p["baseline"].as_str(),
                p["target"].as_str(),
                p["actual"].as_str(),
                p["projects"].as_u64()
            ),
            (Some("8"), Some("80"), Some("16.8"), Some(8)),
            "{}",
            app.backend
        );
        let off = tallies::differences(&app.db).await.unwrap();
        assert!(off.is_empty(), "{off:?}");
    })
    .await;
}
