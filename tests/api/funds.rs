use crate::common::{TestApp, each_backend};
use axum::http::{Method, StatusCode};
use climate_tracker::domain::kinds::Role;
use climate_tracker::entities::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

fn fund_body(code: &str, sponsor: &str) -> Value {
    json!({
        "code": code,
        "name": {"en": "Liaocheng Climate Change Cooperation Fund", "zh": "聊城气候变化合作基金"},
        "currency": "CNY",
        "sponsor_institution_id": sponsor,
        "established_on": "2024-10-28",
        "focus_areas": ["climate adaptation", "clean energy"]
    })
}

async fn sponsor(app: &TestApp) -> String {
    app.institution("xinfa-group-foundation", "CN").await
}

async fn fund(app: &TestApp, code: &str, sponsor: &str) -> String {
    let r = app.post("/api/v1/funds", fund_body(code, sponsor)).await;
    assert_eq!(r.status, StatusCode::CREATED, "fund create: {}", r.body);
    r.id()
}

async fn token(app: &TestApp, role: Role, institution_id: Option<&str>) -> String {
    let institution = institution_id.map(|i| Uuid::parse_str(i).unwrap());
    crate::common::make_token(&app.db, "test token", role, institution)
        .await
        .secret
}

fn items(r: &crate::common::Resp) -> Vec<Value> {
    r.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_fund_is_created_read_and_listed() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let r = app
            .post("/api/v1/funds", fund_body("liaocheng-climate-fund", &sponsor))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.id();
        assert_eq!(r.header("location"), Some(format!("/api/v1/funds/{id}").as_str()));
        assert_eq!(r.header("etag"), Some("\"1\""));

        let r = app.get(&format!("/api/v1/funds/{id}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["code"], "liaocheng-climate-fund");
        assert_eq!(r.body["currency"], "CNY");
        assert_eq!(r.body["sponsor_institution_id"], sponsor.as_str());
        assert_eq!(r.body["established_on"], "2024-10-28");
        assert_eq!(r.body["focus_areas"], json!(["climate adaptation", "clean energy"]));
        assert_eq!(r.body["version"], 1);

        let list = app.get("/api/v1/funds").await;
        assert_eq!(items(&list).len(), 1);
        assert_eq!(list.body["next_cursor"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn funds_are_searched_by_name_in_any_language() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        fund(&app, "liaocheng-climate-fund", &sponsor).await;
        let mut other = fund_body("pacific-resilience-fund", &sponsor);
        other["name"] = json!({"en": "Pacific Resilience Fund"});
        app.post("/api/v1/funds", other).await;

        let by_zh = app.get("/api/v1/funds?q=%E8%81%8A%E5%9F%8E").await; // 聊城
        assert_eq!(items(&by_zh).len(), 1);
        assert_eq!(items(&by_zh)[0]["code"], "liaocheng-climate-fund");
        let by_en = app.get("/api/v1/funds?q=resilience").await;
        assert_eq!(items(&by_en).len(), 1);
        assert_eq!(items(&by_en)[0]["code"], "pacific-resilience-fund");
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_fund_code_is_409_duplicate() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        fund(&app, "liaocheng-climate-fund", &sponsor).await;
        let r = app
            .post("/api/v1/funds", fund_body("liaocheng-climate-fund", &sponsor))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.code(), "duplicate");
    })
    .await;
}

#[tokio::test]
async fn an_invalid_fund_lists_every_bad_field_at_once() {
    each_backend(|app| async move {
        let r = app
            .post(
                "/api/v1/funds",
                json!({
                    "code": "-bad",
                    "currency": "XXX",
                    "sponsor_institution_id": Uuid::now_v7(),
                    "focus_areas": "clean energy"
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code(), "validation_failed");
        let fields = r.fields();
        for field in [
            "code",
            "name",
            "currency",
            "sponsor_institution_id",
            "established_on",
            "focus_areas",
        ] {
            assert!(fields.contains(&field.to_string()), "{field} missing from {fields:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_unknown_field_in_a_fund_is_422() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let mut body = fund_body("liaocheng-climate-fund", &sponsor);
        body["amout"] = json!("100.00");
        let r = app.post("/api/v1/funds", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["amout"]);
    })
    .await;
}

#[tokio::test]
async fn the_currency_of_a_fund_cannot_change() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let id = fund(&app, "liaocheng-climate-fund", &sponsor).await;
        let path = format!("/api/v1/funds/{id}");
        let r = app
            .patch(&path, json!({"currency": "USD", "focus_areas": ["ecology"]}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["currency"]);
        assert!(
            r.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("cannot change")
        );

        let r = app.get(&path).await;
        assert_eq!(r.body["currency"], "CNY");
        assert_eq!(r.body["version"], 1);
    })
    .await;
}

#[tokio::test]
async fn a_fund_patch_changes_only_what_is_sent() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let other = app.institution("liaocheng-university", "CN").await;
        let id = fund(&app, "liaocheng-climate-fund", &sponsor).await;
        let path = format!("/api/v1/funds/{id}");
        let r = app
            .patch(
                &path,
                json!({"sponsor_institution_id": other, "name": {"en": "Renamed"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["sponsor_institution_id"], other.as_str());
        assert_eq!(r.body["name"], json!({"en": "Renamed"}));
        assert_eq!(r.body["code"], "liaocheng-climate-fund");
        assert_eq!(r.body["version"], 2);
        assert_eq!(items(&app.get("/api/v1/funds?q=renamed").await).len(), 1);

        let r = app
            .patch(&path, json!({"sponsor_institution_id": Uuid::now_v7()}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["sponsor_institution_id"]);
        let r = app.patch(&path, json!({"sponsor_institution_id": null})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["sponsor_institution_id"]);
    })
    .await;
}

#[tokio::test]
async fn a_stale_if_match_on_a_fund_is_412() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let id = fund(&app, "liaocheng-climate-fund", &sponsor).await;
        let path = format!("/api/v1/funds/{id}");
        let admin = app.admin.clone();
        let first = json!({"established_on": "2024-11-01"});
        let r = app
            .request(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(first),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let second = json!({"established_on": "2024-12-01"});
        let r = app
            .request(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(second),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(r.code(), "version_mismatch");
        assert_eq!(app.get(&path).await.body["established_on"], "2024-11-01");
    })
    .await;
}

#[tokio::test]
async fn a_viewer_cannot_change_funds() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let viewer = token(&app, Role::Viewer, None).await;
        let id = fund(&app, "liaocheng-climate-fund", &sponsor).await;
        let r = app
            .post_as(&viewer, "/api/v1/funds", fund_body("another-fund", &sponsor))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "forbidden");
        let r = app
            .patch_as(
                &viewer,
                &format!("/api/v1/funds/{id}"),
                json!({"established_on": "2024-01-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.get_as(&viewer, &format!("/api/v1/funds/{id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(items(&app.get_as(&viewer, "/api/v1/funds").await).len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_partner_may_read_funds_but_not_change_them() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let tonga = app.institution("university-of-tonga", "TO").await;
        let partner = token(&app, Role::Partner, Some(&tonga)).await;
        let id = fund(&app, "liaocheng-climate-fund", &sponsor).await;
        assert_eq!(
            app.get_as(&partner, &format!("/api/v1/funds/{id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(items(&app.get_as(&partner, "/api/v1/funds").await).len(), 1);
        let r = app
            .patch_as(
                &partner,
                &format!("/api/v1/funds/{id}"),
                json!({"established_on": "2024-01-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_fund_is_404() {
    each_backend(|app| async move {
        let missing = Uuid::now_v7();
        assert_eq!(
            app.get(&format!("/api/v1/funds/{missing}")).await.status,
            StatusCode::NOT_FOUND
        );
        let r = app
            .patch(
                &format!("/api/v1/funds/{missing}"),
                json!({"established_on": "2024-01-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn fund_pages_walk_to_the_end_without_gaps_or_duplicates() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(fund(&app, &format!("fund-{i}"), &sponsor).await);
        }
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut url = "/api/v1/funds?limit=3".to_owned();
        loop {
            let r = app.get(&url).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            pages += 1;
            seen.extend(items(&r).iter().map(|f| f["id"].as_str().unwrap().to_owned()));
            match r.body["next_cursor"].as_str() {
                Some(c) => url = format!("/api/v1/funds?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, created);
        assert_eq!(pages, 3);
    })
    .await;
}

#[tokio::test]
async fn every_fund_change_writes_an_audit_event() {
    each_backend(|app| async move {
        let sponsor = sponsor(&app).await;
        let id = fund(&app, "liaocheng-climate-fund", &sponsor).await;
        app.patch(&format!("/api/v1/funds/{id}"), json!({"focus_areas": []}))
            .await;
        // Refused changes leave no trace.
        app.patch(&format!("/api/v1/funds/{id}"), json!({"currency": "USD"}))
            .await;

        let events = audit_event::Entity::find()
            .filter(audit_event::Column::EntityId.eq(Uuid::parse_str(&id).unwrap()))
            .order_by_asc(audit_event::Column::Id)
            .all(&app.db)
            .await
            .unwrap();
        let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "update"]);
        assert!(
            events
                .iter()
                .all(|e| e.entity_type == "fund" && e.token_name == "test admin")
        );
        assert_eq!(events[0].before, None);
        assert_eq!(events[0].after.as_ref().unwrap()["currency"], "CNY");
        assert_eq!(
            events[1].before.as_ref().unwrap()["focus_areas"],
            json!(["climate adaptation", "clean energy"])
        );
        assert_eq!(events[1].after.as_ref().unwrap()["focus_areas"], json!([]));
    })
    .await;
}
