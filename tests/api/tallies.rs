//! The dashboards read aggregates kept up to date by every write. These
//! tests change every input of those aggregates through the API and check,
//! after each change, that the stored figures equal a fresh count of the
//! data and that the dashboards show the change where a user would look.

use crate::common::{TestApp, each_backend};
use axum::http::StatusCode;
use climate_tracker::store::tallies;
use serde_json::{Value, json};

fn money(amount: &str, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

async fn exact(app: &TestApp, after: &str) {
    let off = tallies::differences(&app.db).await.expect("count the tallies");
    assert!(
        off.is_empty(),
        "after {after}, the tallies are off:\n{}",
        off.join("\n")
    );
}

async fn ok(app: &TestApp, r: crate::common::Resp, what: &str) -> String {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.body);
    exact(app, what).await;
    r.body["id"].as_str().map(str::to_owned).unwrap_or_default()
}

/// A CNY fund holding 1000.00, a project in `countries` with one
/// participant, and a draft grant of `amount` to it: (fund, project, grant).
async fn one_grant(app: &TestApp, countries: &[&str], amount: &str) -> (String, String, String) {
    let sponsor = app.institution("sponsor", "CN").await;
    let uni = app.institution("usp", "FJ").await;
    let f = app.fund("cny-fund", "CNY", &sponsor, "1000.00").await;
    let p = app.project("solar", countries).await;
    app.participate(&p, &uni, "lead").await;
    let g = app
        .post(
            "/api/v1/grants",
            json!({"fund_id": f, "project_id": p, "recipient_institution_id": uni, "title": {"en": "g"}, "amount": money(amount, "CNY")}),
        )
        .await
        .id();
    (f, p, g)
}

/// The row of a breakdown with this key.
async fn row(app: &TestApp, query: &str, key: &str) -> Option<Value> {
    let r = app.get(&format!("/api/v1/dashboard/breakdown?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .cloned()
}

#[tokio::test]
async fn every_change_keeps_the_dashboards_exact() {
    each_backend(|app| async move {
        let sponsor = app.institution("sponsor", "CN").await;
        let uni = app.institution("usp", "FJ").await;
        let college = app.institution("kiribati-college", "KI").await;
        let cny = app.fund("cny-fund", "CNY", &sponsor, "1000.00").await;
        let usd = app.fund("usd-fund", "USD", &sponsor, "500.00").await;
        let alliance = app
            .post(
                "/api/v1/alliances",
                json!({"code": "gdca", "name": {"en": "Green"}, "founded_on": "2024-10-28", "focus_areas": []}),
            )
            .await
            .id();

        let p = app.project("solar", &["TO", "KI"]).await;
        exact(&app, "a project").await;
        ok(&app, app.post(&format!("/api/v1/projects/{p}/participants"), json!({"institution_id": uni, "role": "lead"})).await, "a participant").await;
        ok(&app, app.post(&format!("/api/v1/projects/{p}/participants"), json!({"institution_id": college, "role": "implementing"})).await, "a second participant").await;
        ok(&app, app.post(&format!("/api/v1/projects/{p}/transitions"), json!({"to": "active"})).await, "a project transition").await;

        let grant = |fund: &str, amount: Value, recipient: &str| {
            json!({"fund_id": fund, "project_id": p, "recipient_institution_id": recipient, "title": {"en": "g"}, "amount": amount})
        };
        let g1 = ok(&app, app.post("/api/v1/grants", grant(&cny, money("300.00", "CNY"), &uni)).await, "a CNY grant").await;
        let g2 = ok(&app, app.post("/api/v1/grants", grant(&usd, money("200.00", "USD"), &uni)).await, "a USD grant").await;
        let g3 = ok(&app, app.post("/api/v1/grants", grant(&cny, money("50.00", "CNY"), &uni)).await, "a grant to reject").await;
        ok(&app, app.patch(&format!("/api/v1/grants/{g1}"), json!({"amount": money("400.00", "CNY"), "recipient_institution_id": college})).await, "a grant patch").await;
        for g in [&g1, &g2, &g3] {
            ok(&app, app.post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": "submitted"})).await, "a submission").await;
        }
        for g in [&g1, &g2] {
            ok(&app, app.post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": "approved"})).await, "an approval").await;
        }
        ok(&app, app.post(&format!("/api/v1/grants/{g3}/transitions"), json!({"to": "rejected"})).await, "a rejection").await;
        let paid = ok(&app, app.post(&format!("/api/v1/grants/{g1}/disbursements"), json!({"amount": money("150.25", "CNY"), "paid_on": "2025-02-01"})).await, "a disbursement").await;
        ok(&app, app.post(&format!("/api/v1/grants/{g2}/disbursements"), json!({"amount": money("20.00", "USD"), "paid_on": "2025-02-01"})).await, "a USD disbursement").await;
        ok(&app, app.post(&format!("/api/v1/disbursements/{paid}/reversal"), json!({"reason": "wrong account"})).await, "a reversal").await;
        ok(&app, app.post(&format!("/api/v1/grants/{g1}/disbursements"), json!({"amount": money("100.00", "CNY"), "paid_on": "2025-03-01"})).await, "a second disbursement").await;

        let to = row(&app, "by=country", "TO").await.expect("a Tonga row");
        assert_eq!((to["projects"].as_u64(), to["grants"].as_u64()), (Some(1), Some(3)));
        assert_eq!(to["awarded"], json!([money("400.00", "CNY"), money("200.00", "USD")]));
        assert_eq!(to["disbursed"], json!([money("100.00", "CNY"), money("20.00", "USD")]));
        let usd_only = row(&app, &format!("by=country&fund_id={usd}"), "TO").await.expect("a Tonga row for the USD fund");
        assert_eq!(usd_only["grants"], 1);
        assert_eq!(usd_only["awarded"], json!([money("200.00", "USD")]));

        // The project moves: its grants' money moves with it.
        ok(&app, app.patch(&format!("/api/v1/projects/{p}"), json!({"countries": ["FJ"], "sector": "clean_energy", "alliance_id": alliance, "planned_start": "2024-06-01"})).await, "a project patch").await;
        assert_eq!(row(&app, "by=country", "TO").await, None, "nothing is left in Tonga");
        let fj = row(&app, "by=country", "FJ").await.expect("a Fiji row");
        assert_eq!(fj["disbursed"], json!([money("100.00", "CNY"), money("20.00", "USD")]));
        let a = row(&app, "by=alliance", &alliance).await.expect("an alliance row");
        assert_eq!((a["projects"].as_u64(), a["grants"].as_u64()), (Some(1), Some(3)));
        assert_eq!(row(&app, "by=year", "2024").await.expect("2024")["projects"], 1);
        assert_eq!(row(&app, "by=sector", "clean_energy").await.expect("clean energy")["awarded"], json!([money("400.00", "CNY"), money("200.00", "USD")]));

        // The recipient of g1 is the college; the university may leave once nothing is granted to it but g2 and g3.
        let college_row = row(&app, "by=institution", &college).await.expect("a college row");
        assert_eq!(college_row["grants"], 1);
        assert_eq!(college_row["disbursed"], json!([money("100.00", "CNY")]));
        ok(&app, app.post(&format!("/api/v1/grants/{g2}/transitions"), json!({"to": "completed"})).await, "a completion").await;
        ok(&app, app.post(&format!("/api/v1/projects/{p}/transitions"), json!({"to": "completed"})).await, "a completed project").await;

        let m = ok(&app, app.post(&format!("/api/v1/projects/{p}/milestones"), json!({"title": {"en": "m"}, "due_on": "2025-05-01"})).await, "a milestone").await;
        ok(&app, app.patch(&format!("/api/v1/milestones/{m}"), json!({"due_on": "2025-06-01"})).await, "a new due date").await;
        ok(&app, app.post(&format!("/api/v1/milestones/{m}/transitions"), json!({"to": "in_progress"})).await, "a milestone transition").await;
        let s = app.get("/api/v1/dashboard/summary?as_of=2025-05-15").await;
        assert_eq!(s.body["milestones"], json!({"overdue": 0, "due_next_30_days": 1, "achieved": 0}));
        ok(&app, app.post(&format!("/api/v1/milestones/{m}/achieve"), json!({"achieved_on": "2025-05-20", "evidence": "photos"})).await, "an achievement").await;
        let s = app.get("/api/v1/dashboard/summary?as_of=2025-07-01").await;
        assert_eq!(s.body["milestones"], json!({"overdue": 0, "due_next_30_days": 0, "achieved": 1}));
        assert_eq!(s.body["projects_by_status"]["completed"], 1);
        assert_eq!(s.body["grants_by_status"]["rejected"], 1);
        assert_eq!(s.body["grants_by_status"]["completed"], 1);
        assert_eq!(s.body["grants_by_status"]["active"], 1);
        assert_eq!(s.body["countries"], 1);

        // Refused writes change nothing.
        let refused = app.post(&format!("/api/v1/grants/{g1}/disbursements"), json!({"amount": money("9999.00", "CNY"), "paid_on": "2025-03-01"})).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        exact(&app, "a refused disbursement").await;
    })
    .await;
}

#[tokio::test]
async fn a_stale_tally_is_counted_afresh_when_the_service_starts() {
    each_backend(|app| async move {
        let (f, p, g) = one_grant(&app, &["TO", "FJ"], "300.00").await;
        for to in ["submitted", "approved"] {
            app.post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": to}))
                .await;
        }
        app.post(
            &format!("/api/v1/grants/{g}/disbursements"),
            json!({"amount": money("12.34", "CNY"), "paid_on": "2025-02-01"}),
        )
        .await;
        app.post(
            &format!("/api/v1/projects/{p}/milestones"),
            json!({"title": {"en": "m"}, "due_on": "2025-05-01"}),
        )
        .await;
        let views = [
            "/api/v1/dashboard/summary?as_of=2025-04-15",
            "/api/v1/dashboard/breakdown?by=country",
            "/api/v1/dashboard/breakdown?by=institution",
            &format!("/api/v1/dashboard/breakdown?by=year&fund_id={f}"),
            &format!("/api/v1/funds/{f}/summary"),
        ];
        let mut before = Vec::new();
        for v in &views {
            before.push(app.get(v).await.body);
        }
        assert_eq!(before[0]["milestones"]["due_next_30_days"], 1);

        // Figures lost (as if the rows were written around the service), then marked stale.
        use sea_orm::ConnectionTrait;
        app.db
            .execute_unprepared("DELETE FROM dashboard_tallies")
            .await
            .unwrap();
        app.db
            .execute_unprepared("DELETE FROM milestone_tallies")
            .await
            .unwrap();
        app.db
            .execute_unprepared("DELETE FROM milestone_day_tallies")
            .await
            .unwrap();
        assert_ne!(app.get(views[1]).await.body, before[1], "the figures are gone");
        tallies::mark_stale(&app.db).await.unwrap();
        climate_tracker::db::migrate_up(&app.db).await.unwrap();

        for (v, b) in views.iter().zip(&before) {
            assert_eq!(&app.get(v).await.body, b, "{v}");
        }
        exact(&app, "the rebuild").await;
    })
    .await;
}

#[tokio::test]
async fn a_write_that_would_overflow_a_dashboard_total_is_refused_and_changes_nothing() {
    use climate_tracker::entities::dashboard_tally::{Column, Entity};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    each_backend(|app| async move {
        let (f, _, g) = one_grant(&app, &["TO"], "100.00").await;
        app.post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": "submitted"}))
            .await;
        // A total 50.00 short of the BIGINT limit, as if years of grants had filled it.
        Entity::update_many()
            .col_expr(Column::AwardedMinor, Expr::value(i64::MAX - 5000))
            .filter(Column::Dimension.eq("sector"))
            .filter(Column::Key.eq("climate_adaptation"))
            .filter(Column::FundId.eq(tallies::ALL_FUNDS))
            .filter(Column::Currency.eq("CNY"))
            .exec(&app.db)
            .await
            .unwrap();

        let r = app
            .post(&format!("/api/v1/grants/{g}/transitions"), json!({"to": "approved"}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {}",
            app.backend,
            r.body
        );
        assert_eq!(r.fields(), ["amount"]);
        assert_eq!(
            app.get(&format!("/api/v1/grants/{g}")).await.body["status"],
            "submitted"
        );
        assert_eq!(
            app.get(&format!("/api/v1/funds/{f}/summary")).await.body["committed"],
            money("0.00", "CNY")
        );
        let sector = row(&app, "by=sector", "climate_adaptation")
            .await
            .expect("the sector row");
        assert_eq!(sector["grants"], 1, "the breakdown still reads: {sector}");
    })
    .await;
}
