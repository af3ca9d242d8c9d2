use crate::common::{TestApp, each_backend};
use axum::http::{Method, StatusCode};
use climate_tracker::domain::kinds::Role;
use climate_tracker::entities::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

fn alliance_body(code: &str) -> Value {
    json!({
        "code": code,
        "name": {"en": format!("Alliance {code}"), "zh": "绿色发展合作联盟"},
        "founded_on": "2024-10-28",
        "focus_areas": ["clean energy", "climate adaptation"]
    })
}

async fn alliance(app: &TestApp, code: &str) -> String {
    let r = app.post("/api/v1/alliances", alliance_body(code)).await;
    assert_eq!(r.status, StatusCode::CREATED, "alliance create: {}", r.body);
    r.id()
}

async fn join(app: &TestApp, alliance_id: &str, institution_id: &str, joined_on: &str) -> crate::common::Resp {
    let body = json!({"institution_id": institution_id, "role": "member", "joined_on": joined_on});
    app.post(&format!("/api/v1/alliances/{alliance_id}/members"), body)
        .await
}

async fn token(app: &TestApp, role: Role, institution_id: Option<&str>) -> String {
    let institution = institution_id.map(|i| Uuid::parse_str(i).unwrap());
    crate::common::make_token(&app.db, "test token", role, institution)
        .await
        .secret
}

async fn request_with(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: &str,
) -> crate::common::Resp {
    let admin = app.admin.clone();
    app.request(method, path, Some(&admin), body, &[("if-match", if_match)])
        .await
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn items(r: &crate::common::Resp) -> Vec<Value> {
    r.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_alliance_is_created_read_and_listed() {
    each_backend(|app| async move {
        let secretariat = app.institution("liaocheng-university", "CN").await;
        let mut body = alliance_body("green-development-alliance");
        body["secretariat_institution_id"] = json!(secretariat);
        body["description"] = json!({"en": "Low-carbon cooperation with Pacific Island Countries"});
        let r = app.post("/api/v1/alliances", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.id();
        assert_eq!(r.header("location"), Some(format!("/api/v1/alliances/{id}").as_str()));
        assert_eq!(r.header("etag"), Some("\"1\""));

        let r = app.get(&format!("/api/v1/alliances/{id}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["code"], "green-development-alliance");
        assert_eq!(r.body["founded_on"], "2024-10-28");
        assert_eq!(r.body["secretariat_institution_id"], secretariat.as_str());
        assert_eq!(r.body["focus_areas"], json!(["clean energy", "climate adaptation"]));
        assert_eq!(r.body["version"], 1);

        alliance(&app, "vocational-education-alliance").await;
        let list = app.get("/api/v1/alliances").await;
        assert_eq!(items(&list).len(), 2);
        assert_eq!(list.body["next_cursor"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn alliances_are_searched_by_name_in_any_language() {
    each_backend(|app| async move {
        let mut body = alliance_body("green-development-alliance");
        body["name"] = json!({"en": "Green Development Cooperation Alliance", "zh": "绿色发展合作联盟"});
        app.post("/api/v1/alliances", body).await;
        let mut body = alliance_body("vocational-education-alliance");
        body["name"] = json!({"en": "Vocational Education Alliance", "zh": "职业教育联盟"});
        app.post("/api/v1/alliances", body).await;

        let by_zh = app.get("/api/v1/alliances?q=%E8%81%8C%E4%B8%9A").await; // 职业
        assert_eq!(items(&by_zh).len(), 1);
        assert_eq!(items(&by_zh)[0]["code"], "vocational-education-alliance");
        let by_en = app.get("/api/v1/alliances?q=GREEN").await;
        assert_eq!(items(&by_en).len(), 1);
        assert_eq!(items(&by_en)[0]["code"], "green-development-alliance");
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_alliance_code_is_409_duplicate() {
    each_backend(|app| async move {
        alliance(&app, "green-development-alliance").await;
        let r = app
            .post("/api/v1/alliances", alliance_body("green-development-alliance"))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.code(), "duplicate");
    })
    .await;
}

#[tokio::test]
async fn an_invalid_alliance_lists_every_bad_field_at_once() {
    each_backend(|app| async move {
        let r = app
            .post(
                "/api/v1/alliances",
                json!({
                    "code": "Not A Slug",
                    "name": {},
                    "founded_on": "2024-13-01",
                    "secretariat_institution_id": Uuid::now_v7(),
                    "focus_areas": ["clean energy", " "]
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code(), "validation_failed");
        let fields = r.fields();
        for field in [
            "code",
            "name",
            "founded_on",
            "secretariat_institution_id",
            "focus_areas[1]",
        ] {
            assert!(fields.contains(&field.to_string()), "{field} missing from {fields:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn more_than_20_focus_areas_is_422() {
    each_backend(|app| async move {
        let mut body = alliance_body("green-development-alliance");
        body["focus_areas"] = json!((0..21).map(|i| format!("area {i}")).collect::<Vec<_>>());
        let r = app.post("/api/v1/alliances", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["focus_areas"]);

        let mut body = alliance_body("green-development-alliance");
        body["focus_areas"] = json!(["x".repeat(101)]);
        let r = app.post("/api/v1/alliances", body).await;
        assert_eq!(r.fields(), ["focus_areas[0]"]);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_field_in_an_alliance_is_422() {
    each_backend(|app| async move {
        let mut body = alliance_body("green-development-alliance");
        body["nmae"] = json!({"en": "typo"});
        let r = app.post("/api/v1/alliances", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["nmae"]);

        let id = alliance(&app, "green-development-alliance").await;
        let r = app
            .patch(&format!("/api/v1/alliances/{id}"), json!({"status": "active"}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["status"]);
    })
    .await;
}

#[tokio::test]
async fn an_alliance_patch_changes_only_what_is_sent() {
    each_backend(|app| async move {
        let secretariat = app.institution("liaocheng-university", "CN").await;
        let id = alliance(&app, "green-development-alliance").await;
        let path = format!("/api/v1/alliances/{id}");
        let r = app
            .patch(
                &path,
                json!({"secretariat_institution_id": secretariat, "focus_areas": ["ecology"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["version"], 2);
        assert_eq!(r.header("etag"), Some("\"2\""));
        assert_eq!(r.body["focus_areas"], json!(["ecology"]));
        assert_eq!(r.body["code"], "green-development-alliance");

        let r = app.patch(&path, json!({"secretariat_institution_id": null})).await;
        assert_eq!(r.body["secretariat_institution_id"], Value::Null);

        let r = app
            .patch(&path, json!({"secretariat_institution_id": Uuid::now_v7()}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["secretariat_institution_id"]);
    })
    .await;
}

#[tokio::test]
async fn a_stale_if_match_on_an_alliance_is_412() {
    each_backend(|app| async move {
        let id = alliance(&app, "green-development-alliance").await;
        let path = format!("/api/v1/alliances/{id}");
        let r = request_with(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"founded_on": "2024-10-29"})),
            "\"1\"",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = request_with(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"founded_on": "2024-10-30"})),
            "\"1\"",
        )
        .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(r.code(), "version_mismatch");
        assert_eq!(app.get(&path).await.body["founded_on"], "2024-10-29");
    })
    .await;
}

#[tokio::test]
async fn a_viewer_cannot_change_alliances_or_members() {
    each_backend(|app| async move {
        let viewer = token(&app, Role::Viewer, None).await;
        let institution = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        assert_eq!(
            join(&app, &id, &institution, "2024-10-28").await.status,
            StatusCode::CREATED
        );

        let r = app
            .post_as(&viewer, "/api/v1/alliances", alliance_body("another-alliance"))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "forbidden");
        let r = app
            .patch_as(
                &viewer,
                &format!("/api/v1/alliances/{id}"),
                json!({"founded_on": "2024-01-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let body = json!({"institution_id": institution, "role": "observer", "joined_on": "2024-10-28"});
        let r = app
            .post_as(&viewer, &format!("/api/v1/alliances/{id}/members"), body)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let member = format!("/api/v1/alliances/{id}/members/{institution}");
        assert_eq!(
            app.patch_as(&viewer, &member, json!({"role": "observer"})).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.delete_as(&viewer, &member).await.status, StatusCode::FORBIDDEN);

        assert_eq!(
            app.get_as(&viewer, &format!("/api/v1/alliances/{id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.get_as(&viewer, &format!("/api/v1/alliances/{id}/members"))
                .await
                .status,
            StatusCode::OK
        );
    })
    .await;
}

#[tokio::test]
async fn a_partner_may_read_alliances_and_their_members() {
    each_backend(|app| async move {
        let institution = app.institution("university-of-tonga", "TO").await;
        let partner = token(&app, Role::Partner, Some(&institution)).await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &institution, "2024-10-28").await;

        assert_eq!(items(&app.get_as(&partner, "/api/v1/alliances").await).len(), 1);
        assert_eq!(
            app.get_as(&partner, &format!("/api/v1/alliances/{id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            items(&app.get_as(&partner, &format!("/api/v1/alliances/{id}/members")).await).len(),
            1
        );
        let r = app
            .post_as(&partner, "/api/v1/alliances", alliance_body("another-alliance"))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_alliance_is_404() {
    each_backend(|app| async move {
        let missing = Uuid::now_v7();
        assert_eq!(
            app.get(&format!("/api/v1/alliances/{missing}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get(&format!("/api/v1/alliances/{missing}/members")).await.status,
            StatusCode::NOT_FOUND
        );
        let institution = app.institution("university-of-tonga", "TO").await;
        assert_eq!(
            join(&app, &missing.to_string(), &institution, "2024-10-28")
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get("/api/v1/alliances/not-a-uuid").await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn a_member_joins_an_alliance() {
    each_backend(|app| async move {
        let institution = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        let r = join(&app, &id, &institution, "2024-10-28").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            r.header("location"),
            Some(format!("/api/v1/alliances/{id}/members/{institution}").as_str())
        );
        assert_eq!(r.body["alliance_id"], id.as_str());
        assert_eq!(r.body["institution_id"], institution.as_str());
        assert_eq!(r.body["role"], "member");
        assert_eq!(r.body["joined_on"], "2024-10-28");
        assert_eq!(r.body["left_on"], Value::Null);
        assert_eq!(r.body["version"], 1);

        let current = app.get(&format!("/api/v1/alliances/{id}/members/{institution}")).await;
        assert_eq!(current.status, StatusCode::OK);
        assert_eq!(current.body["id"], r.body["id"]);
        let list = app.get(&format!("/api/v1/alliances/{id}/members")).await;
        assert_eq!(items(&list).len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_second_active_membership_is_409_duplicate() {
    each_backend(|app| async move {
        let institution = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &institution, "2024-10-28").await;
        let r = join(&app, &id, &institution, "2025-01-01").await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.code(), "duplicate");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_member_institution_is_422_naming_institution_id() {
    each_backend(|app| async move {
        let id = alliance(&app, "green-development-alliance").await;
        let body = json!({"institution_id": Uuid::now_v7(), "role": "chair", "joined_on": "2024-10-28"});
        let r = app.post(&format!("/api/v1/alliances/{id}/members"), body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code(), "validation_failed");
        let fields = r.fields();
        assert!(fields.contains(&"institution_id".to_string()), "{fields:?}");
        assert!(fields.contains(&"role".to_string()), "{fields:?}");
    })
    .await;
}

#[tokio::test]
async fn ending_a_membership_keeps_it_listed_with_left_on() {
    each_backend(|app| async move {
        let tonga = app.institution("university-of-tonga", "TO").await;
        let kiribati = app.institution("kiribati-institute-of-technology", "KI").await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &tonga, "2024-10-28").await;
        join(&app, &id, &kiribati, "2024-10-28").await;

        let member = format!("/api/v1/alliances/{id}/members/{tonga}");
        let r = app.delete(&member).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.body, Value::Null);

        let all = items(&app.get(&format!("/api/v1/alliances/{id}/members")).await);
        assert_eq!(all.len(), 2);
        let ended = all.iter().find(|m| m["institution_id"] == tonga.as_str()).unwrap();
        assert_eq!(ended["left_on"], today().as_str());
        assert_eq!(ended["version"], 2);

        let active = items(&app.get(&format!("/api/v1/alliances/{id}/members?active=true")).await);
        assert_eq!(active.len(), 1);
        assert_eq!(active[0]["institution_id"], kiribati.as_str());

        assert_eq!(app.get(&member).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&member).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.patch(&member, json!({"role": "observer"})).await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn a_membership_that_has_not_begun_ends_on_the_day_it_would_have_begun() {
    each_backend(|app| async move {
        let tonga = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &tonga, "2099-01-01").await;
        assert_eq!(
            app.delete(&format!("/api/v1/alliances/{id}/members/{tonga}"))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let all = items(&app.get(&format!("/api/v1/alliances/{id}/members")).await);
        assert_eq!(all[0]["left_on"], "2099-01-01");
    })
    .await;
}

#[tokio::test]
async fn an_institution_may_rejoin_after_leaving() {
    each_backend(|app| async move {
        let tonga = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &tonga, "2024-10-28").await;
        app.delete(&format!("/api/v1/alliances/{id}/members/{tonga}")).await;

        let r = join(&app, &id, &tonga, &today()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let all = items(&app.get(&format!("/api/v1/alliances/{id}/members")).await);
        assert_eq!(all.len(), 2);
        let active = items(&app.get(&format!("/api/v1/alliances/{id}/members?active=true")).await);
        assert_eq!(active.len(), 1);
        assert_eq!(active[0]["id"], r.body["id"]);
    })
    .await;
}

#[tokio::test]
async fn rejoining_before_the_previous_membership_ended_is_422() {
    each_backend(|app| async move {
        let tonga = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &tonga, "2024-10-28").await;
        app.delete(&format!("/api/v1/alliances/{id}/members/{tonga}")).await;

        let r = join(&app, &id, &tonga, "2024-11-01").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["joined_on"]);
    })
    .await;
}

#[tokio::test]
async fn a_membership_role_and_joined_on_can_be_changed() {
    each_backend(|app| async move {
        let tonga = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        join(&app, &id, &tonga, "2024-10-28").await;
        let member = format!("/api/v1/alliances/{id}/members/{tonga}");

        let body = json!({"role": "founding_member", "joined_on": "2024-10-27"});
        let r = request_with(&app, Method::PATCH, &member, Some(body), "\"1\"").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["role"], "founding_member");
        assert_eq!(r.body["joined_on"], "2024-10-27");
        assert_eq!(r.header("etag"), Some("\"2\""));

        let r = request_with(&app, Method::PATCH, &member, Some(json!({"role": "observer"})), "\"1\"").await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(r.code(), "version_mismatch");

        let r = app.patch(&member, json!({"left_on": "2025-01-01"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["left_on"]);
    })
    .await;
}

/// Follows `next_cursor` from the first page to the last; returns every id seen.
async fn walk(app: &TestApp, path: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=3&cursor={c}"),
            None => format!("{path}?limit=3"),
        };
        let r = app.get(&url).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        pages += 1;
        ids.extend(items(&r).iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn alliance_pages_walk_to_the_end_without_gaps_or_duplicates() {
    each_backend(|app| async move {
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(alliance(&app, &format!("alliance-{i}")).await);
        }
        let (seen, pages) = walk(&app, "/api/v1/alliances").await;
        assert_eq!(seen, created);
        assert_eq!(pages, 3);
    })
    .await;
}

#[tokio::test]
async fn member_pages_walk_to_the_end_without_gaps_or_duplicates() {
    each_backend(|app| async move {
        let id = alliance(&app, "green-development-alliance").await;
        let mut created = Vec::new();
        for i in 0..5 {
            let institution = app.institution(&format!("institution-{i}"), "TO").await;
            created.push(join(&app, &id, &institution, "2024-10-28").await.id());
        }
        let (seen, pages) = walk(&app, &format!("/api/v1/alliances/{id}/members")).await;
        assert_eq!(seen, created);
        assert_eq!(pages, 2);
    })
    .await;
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_422() {
    each_backend(|app| async move {
        let r = app.get("/api/v1/alliances?limit=0").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["limit"]);
        let r = app.get("/api/v1/alliances?cursor=nonsense!").await;
        assert_eq!(r.fields(), ["cursor"]);
        let id = alliance(&app, "green-development-alliance").await;
        let r = app.get(&format!("/api/v1/alliances/{id}/members?active=maybe")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["active"]);
    })
    .await;
}

#[tokio::test]
async fn every_alliance_and_membership_change_writes_an_audit_event() {
    each_backend(|app| async move {
        let tonga = app.institution("university-of-tonga", "TO").await;
        let id = alliance(&app, "green-development-alliance").await;
        app.patch(&format!("/api/v1/alliances/{id}"), json!({"founded_on": "2024-10-29"}))
            .await;
        let membership = join(&app, &id, &tonga, "2024-10-28").await.id();
        let member = format!("/api/v1/alliances/{id}/members/{tonga}");
        app.patch(&member, json!({"role": "founding_member"})).await;
        app.delete(&member).await;
        // Refused changes leave no trace.
        app.post("/api/v1/alliances", alliance_body("green-development-alliance"))
            .await;

        let actions = |entity: String| {
            let db = app.db.clone();
            async move {
                audit_event::Entity::find()
                    .filter(audit_event::Column::EntityId.eq(Uuid::parse_str(&entity).unwrap()))
                    .order_by_asc(audit_event::Column::Id)
                    .all(&db)
                    .await
                    .unwrap()
            }
        };
        let events = actions(id.clone()).await;
        let names: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(names, ["create", "update"]);
        assert!(
            events
                .iter()
                .all(|e| e.entity_type == "alliance" && e.token_name == "test admin")
        );
        assert_eq!(events[1].before.as_ref().unwrap()["founded_on"], "2024-10-28");
        assert_eq!(events[1].after.as_ref().unwrap()["founded_on"], "2024-10-29");

        let events = actions(membership).await;
        let names: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(names, ["create", "update", "end"]);
        assert!(events.iter().all(|e| e.entity_type == "membership"));
        assert_eq!(events[2].after.as_ref().unwrap()["left_on"], today().as_str());

        let alliance_events = audit_event::Entity::find()
            .filter(audit_event::Column::EntityType.eq("alliance"))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(alliance_events.len(), 2, "the refused duplicate wrote an event");
    })
    .await;
}
