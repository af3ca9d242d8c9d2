//! The cross-cutting rules of SPEC §2 (auth, bodies, errors, versions,
//! pagination, idempotency, audit) and the ops endpoints, proved through
//! `/api/v1/institutions`, `/tokens` and `/audit-events`.

use crate::common::{Resp, TestApp, each_backend};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use climate_tracker::entities::{audit_event, institution};
use http_body_util::BodyExt;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

const INSTITUTIONS: &str = "/api/v1/institutions";

fn institution_body(code: &str) -> Value {
    json!({"code": code, "name": {"en": format!("Institution {code}"), "to": "Ako"}, "kind": "university", "country": "TO"})
}

/// Sends a raw body with the given content type as the admin.
async fn post_raw(app: &TestApp, path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Resp {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {}", app.admin));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    app.send(req.body(body.into()).unwrap()).await
}

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: Value) -> Resp {
    app.request(
        Method::POST,
        INSTITUTIONS,
        Some(token),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

async fn institution_count(app: &TestApp) -> u64 {
    institution::Entity::find().count(&app.db).await.unwrap()
}

async fn audit_events_of(app: &TestApp, id: &str) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::EntityId.eq(Uuid::parse_str(id).unwrap()))
        .all(&app.db)
        .await
        .unwrap()
}

fn assert_problem(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{}", r.body);
    for key in ["type", "title", "detail", "code"] {
        assert!(r.body[key].is_string(), "problem without {key}: {}", r.body);
    }
    assert_eq!(r.body["status"], status.as_u16(), "{}", r.body);
    assert_eq!(r.code(), code, "{}", r.body);
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---- Auth ----------------------------------------------------------------

#[tokio::test]
async fn a_missing_unknown_or_revoked_token_is_401_with_a_bearer_challenge() {
    each_backend(|app| async move {
        let missing = app.request(Method::GET, INSTITUTIONS, None, None, &[]).await;
        let unknown = app.get_as("ctk_not-a-real-token", INSTITUTIONS).await;
        let not_bearer = app
            .request(
                Method::GET,
                INSTITUTIONS,
                None,
                None,
                &[("authorization", "Basic YWRtaW46YWRtaW4=")],
            )
            .await;

        let r = app
            .post("/api/v1/tokens", json!({"name": "soon revoked", "role": "viewer"}))
            .await;
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        app.delete(&format!("/api/v1/tokens/{}", r.id())).await;
        let revoked = app.get_as(&secret, INSTITUTIONS).await;
        let revoked_write = app.post_as(&secret, INSTITUTIONS, institution_body("x-one")).await;

        for r in [missing, unknown, not_bearer, revoked, revoked_write] {
            assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    })
    .await;
}

#[tokio::test]
async fn a_viewer_may_read_but_not_write() {
    each_backend(|app| async move {
        let id = app.institution("usp", "FJ").await;
        let viewer = app.token("viewer", None).await;
        assert_eq!(app.get_as(&viewer, INSTITUTIONS).await.status, StatusCode::OK);
        assert_eq!(
            app.get_as(&viewer, &format!("{INSTITUTIONS}/{id}")).await.status,
            StatusCode::OK
        );

        let create = app.post_as(&viewer, INSTITUTIONS, institution_body("by-viewer")).await;
        let patch = app
            .patch_as(&viewer, &format!("{INSTITUTIONS}/{id}"), json!({"city": "Suva"}))
            .await;
        let delete = app.delete_as(&viewer, &format!("{INSTITUTIONS}/{id}")).await;
        for r in [create, patch, delete] {
            assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
        }
        assert_eq!(institution_count(&app).await, 1);
    })
    .await;
}

#[tokio::test]
async fn tokens_and_audit_events_are_403_for_viewers_and_partners() {
    each_backend(|app| async move {
        let usp = app.institution("usp", "FJ").await;
        let viewer = app.token("viewer", None).await;
        let partner = app.token("partner", Some(&usp)).await;
        for who in [&viewer, &partner] {
            for path in ["/api/v1/tokens", "/api/v1/audit-events", "/api/v1/audit-events?limit=0"] {
                assert_problem(&app.get_as(who, path).await, StatusCode::FORBIDDEN, "forbidden");
            }
            let create = app
                .post_as(who, "/api/v1/tokens", json!({"name": "escalate", "role": "admin"}))
                .await;
            assert_problem(&create, StatusCode::FORBIDDEN, "forbidden");
        }
        let partner_write = app
            .post_as(&partner, INSTITUTIONS, institution_body("by-partner"))
            .await;
        assert_problem(&partner_write, StatusCode::FORBIDDEN, "forbidden");
    })
    .await;
}

// ---- Bodies --------------------------------------------------------------

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    each_backend(|app| async move {
        let body = institution_body("plain").to_string();
        let text = post_raw(&app, INSTITUTIONS, Some("text/plain"), body.clone()).await;
        let form = post_raw(&app, INSTITUTIONS, Some("application/x-www-form-urlencoded"), "code=x").await;
        let none = post_raw(&app, INSTITUTIONS, None, body.clone()).await;
        for r in [text, form, none] {
            assert_problem(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        }
        let with_charset = post_raw(&app, INSTITUTIONS, Some("application/json; charset=utf-8"), body).await;
        assert_eq!(with_charset.status, StatusCode::CREATED, "{}", with_charset.body);
    })
    .await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    each_backend(|app| async move {
        let mut body = institution_body("big");
        body["city"] = json!("x".repeat(1024 * 1024 + 10));
        let plain = post_raw(&app, INSTITUTIONS, Some("application/json"), body.to_string()).await;
        assert_problem(&plain, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

        let admin = app.admin.clone();
        let keyed = post_with_key(&app, &admin, "big-one", body).await;
        assert_problem(&keyed, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        assert_eq!(institution_count(&app).await, 0);
    })
    .await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    each_backend(|app| async move {
        for raw in ["{\"code\": ", "not json", "{\"code\": \"a\",}", ""] {
            let r = post_raw(&app, INSTITUTIONS, Some("application/json"), raw).await;
            assert_problem(&r, StatusCode::BAD_REQUEST, "malformed_json");
        }
    })
    .await;
}

#[tokio::test]
async fn an_unknown_field_is_422_and_named() {
    each_backend(|app| async move {
        let mut body = institution_body("typo");
        body["citty"] = json!("Nuku'alofa");
        let r = app.post(INSTITUTIONS, body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.fields(), ["citty"]);
        assert_eq!(institution_count(&app).await, 0);

        let patch_typo = app
            .patch(
                &format!("{INSTITUTIONS}/{}", Uuid::now_v7()),
                json!({"nmae": {"en": "x"}}),
            )
            .await;
        assert_eq!(patch_typo.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(patch_typo.fields(), ["nmae"]);
    })
    .await;
}

#[tokio::test]
async fn every_invalid_field_is_listed_at_once() {
    each_backend(|app| async move {
        let r = app
            .post(
                INSTITUTIONS,
                json!({"code": "Bad Code!", "name": {}, "kind": "castle", "country": "XX", "website": "", "extra": 1}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(
            sorted(r.fields()),
            ["code", "country", "extra", "kind", "name", "website"]
        );
        for e in r.body["errors"].as_array().unwrap() {
            assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
        }

        let empty = app.post(INSTITUTIONS, json!({})).await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(sorted(empty.fields()), ["country", "kind", "name"]);

        let array = app.post(INSTITUTIONS, json!([1, 2])).await;
        assert_problem(&array, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    })
    .await;
}

// ---- Codes, versions, statuses of success ----------------------------------

#[tokio::test]
async fn a_duplicate_code_is_409() {
    each_backend(|app| async move {
        app.institution("tonga-tvet", "TO").await;
        let r = app.post(INSTITUTIONS, institution_body("tonga-tvet")).await;
        assert_problem(&r, StatusCode::CONFLICT, "duplicate");

        let other = app.institution("fiji-national", "FJ").await;
        let patch = app
            .patch(&format!("{INSTITUTIONS}/{other}"), json!({"code": "tonga-tvet"}))
            .await;
        assert_problem(&patch, StatusCode::CONFLICT, "duplicate");
        assert_eq!(institution_count(&app).await, 2);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_if_match_is_422_naming_the_header_and_changes_nothing() {
    each_backend(|app| async move {
        let id = app.institution("kiribati-college", "KI").await;
        let path = format!("{INSTITUTIONS}/{id}");
        for bad in ["banana", "\"1", "1\"", "\"-1\"", "\"\"", "W/", "1, 2"] {
            let r = app
                .request(
                    Method::PATCH,
                    &path,
                    Some(&app.admin),
                    Some(json!({"city": "Tarawa"})),
                    &[("if-match", bad)],
                )
                .await;
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(r.fields(), ["If-Match"], "{bad}");
        }
        let unchanged = app.get(&path).await;
        assert_eq!(unchanged.body["version"], 1);
        assert!(unchanged.body["city"].is_null());
    })
    .await;
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_the_current_one_succeeds() {
    each_backend(|app| async move {
        let id = app.institution("kiribati-college", "KI").await;
        let path = format!("{INSTITUTIONS}/{id}");
        let admin = app.admin.clone();
        let patch = |version: &'static str, city: &'static str| {
            let (admin, path) = (admin.clone(), path.clone());
            let app = &app;
            async move {
                app.request(
                    Method::PATCH,
                    &path,
                    Some(&admin),
                    Some(json!({"city": city})),
                    &[("if-match", version)],
                )
                .await
            }
        };

        let stale = patch("\"7\"", "Tarawa").await;
        assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");

        let ok = patch("\"1\"", "Tarawa").await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(ok.header("etag"), Some("\"2\""));
        assert_eq!(ok.body["version"], 2);
        assert_eq!(ok.body["city"], "Tarawa");

        let replayed_stale = patch("\"1\"", "Betio").await;
        assert_problem(&replayed_stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");

        let weak = patch("W/\"2\"", "Betio").await;
        assert_eq!(weak.status, StatusCode::OK);
        assert_eq!(weak.header("etag"), Some("\"3\""));

        let read = app.get(&path).await;
        assert_eq!(read.header("etag"), Some("\"3\""));
        assert_eq!(read.body["city"], "Betio");
    })
    .await;
}

#[tokio::test]
async fn a_create_is_201_with_location_and_a_delete_is_204() {
    each_backend(|app| async move {
        let r = app.post(INSTITUTIONS, institution_body("samoa-nuol")).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("etag"), Some("\"1\""));
        let location = r.header("location").expect("Location").to_owned();
        assert_eq!(location, format!("{INSTITUTIONS}/{}", r.id()));
        let read = app.get(&location).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.body, r.body);

        let d = app.delete(&location).await;
        assert_eq!(d.status, StatusCode::NO_CONTENT);
        assert_eq!(d.body, Value::Null);
        assert_problem(&app.get(&location).await, StatusCode::NOT_FOUND, "not_found");
        assert_problem(&app.delete(&location).await, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

// ---- Lists ---------------------------------------------------------------

#[tokio::test]
async fn a_bad_limit_or_cursor_is_422() {
    each_backend(|app| async move {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("limit=abc", "limit"),
            ("limit=-1", "limit"),
            ("cursor=garbage!!", "cursor"),
            ("cursor=AAAA", "cursor"),
        ] {
            for base in [INSTITUTIONS, "/api/v1/tokens", "/api/v1/audit-events"] {
                let r = app.get(&format!("{base}?{query}")).await;
                assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
                assert_eq!(r.fields(), [field], "{base}?{query}");
            }
        }
        assert_eq!(app.get(&format!("{INSTITUTIONS}?limit=1")).await.status, StatusCode::OK);
        assert_eq!(
            app.get(&format!("{INSTITUTIONS}?limit=200")).await.status,
            StatusCode::OK
        );
        let bad_filter = app.get(&format!("{INSTITUTIONS}?country=tonga")).await;
        assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad_filter.fields(), ["country"]);
    })
    .await;
}

#[tokio::test]
async fn pages_walk_to_the_end_without_gaps_or_duplicates() {
    each_backend(|app| async move {
        let mut created = Vec::new();
        for i in 0..25 {
            created.push(app.institution(&format!("inst-{i:02}"), "TO").await);
        }
        let mut seen: Vec<String> = Vec::new();
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("{INSTITUTIONS}?limit=7&cursor={c}"),
                None => format!("{INSTITUTIONS}?limit=7"),
            };
            let r = app.get(&path).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let items = r.body["items"].as_array().unwrap();
            pages.push(items.len());
            seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, [7, 7, 7, 4]);
        assert_eq!(seen, created, "creation order, no gaps, no duplicates");

        let default = app.get(INSTITUTIONS).await;
        assert_eq!(default.body["items"].as_array().unwrap().len(), 25);
        assert_eq!(default.body["next_cursor"], Value::Null);
    })
    .await;
}

// ---- Idempotency ---------------------------------------------------------

#[tokio::test]
async fn the_same_key_and_body_replays_the_first_response() {
    each_backend(|app| async move {
        let admin = app.admin.clone();
        let first = post_with_key(&app, &admin, "create-usp", institution_body("usp")).await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(first.header("idempotent-replayed"), None);

        let again = post_with_key(&app, &admin, "create-usp", institution_body("usp")).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.body, first.body);
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(again.header("etag"), first.header("etag"));
        assert_eq!(institution_count(&app).await, 1);
        assert_eq!(audit_events_of(&app, &first.id()).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    each_backend(|app| async move {
        let admin = app.admin.clone();
        let first = post_with_key(&app, &admin, "k-1", institution_body("usp")).await;
        assert_eq!(first.status, StatusCode::CREATED);
        let other = post_with_key(&app, &admin, "k-1", institution_body("fnu")).await;
        assert_problem(&other, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
        assert_eq!(institution_count(&app).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_failed_request_does_not_burn_its_key() {
    each_backend(|app| async move {
        let admin = app.admin.clone();
        let mut bad = institution_body("usp");
        bad["country"] = json!("XX");
        let failed = post_with_key(&app, &admin, "retry-me", bad).await;
        assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);

        let fixed = post_with_key(&app, &admin, "retry-me", institution_body("usp")).await;
        assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.body);
        assert_eq!(fixed.header("idempotent-replayed"), None);
        let replay = post_with_key(&app, &admin, "retry-me", institution_body("usp")).await;
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(replay.id(), fixed.id());
    })
    .await;
}

#[tokio::test]
async fn keys_belong_to_one_token() {
    each_backend(|app| async move {
        let other_admin = app.token("admin", None).await;
        let admin = app.admin.clone();
        let mine = post_with_key(
            &app,
            &admin,
            "shared",
            json!({"name": {"en": "A"}, "kind": "ngo", "country": "TO"}),
        )
        .await;
        let theirs = post_with_key(
            &app,
            &other_admin,
            "shared",
            json!({"name": {"en": "A"}, "kind": "ngo", "country": "TO"}),
        )
        .await;
        assert_eq!((mine.status, theirs.status), (StatusCode::CREATED, StatusCode::CREATED));
        assert_eq!(theirs.header("idempotent-replayed"), None);
        assert_ne!(mine.id(), theirs.id());
    })
    .await;
}

/// Sends a request on a clone of the router (so it can run on another task).
async fn send_on(router: axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = router.oneshot(req).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_identical_requests_take_effect_once() {
    each_backend(|app| async move {
        // No code: a unique code would turn a double create into a 409 and hide it.
        let body =
            json!({"name": {"en": "Racing Institute"}, "kind": "research_institute", "country": "VU"}).to_string();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let req = Request::builder()
                    .method(Method::POST)
                    .uri(INSTITUTIONS)
                    .header("authorization", format!("Bearer {}", app.admin))
                    .header("content-type", "application/json")
                    .header("idempotency-key", "race-1")
                    .body(Body::from(body.clone()))
                    .unwrap();
                tokio::spawn(send_on(app.router.clone(), req))
            })
            .collect();
        let results: Vec<_> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();

        let mut ids = Vec::new();
        let mut originals = 0;
        for (status, headers, body) in &results {
            match *status {
                StatusCode::CREATED => {
                    ids.push(body["id"].as_str().unwrap().to_owned());
                    if headers.get("idempotent-replayed").is_none() {
                        originals += 1;
                    }
                }
                StatusCode::CONFLICT => assert_eq!(body["code"], "idempotency_in_progress", "{body}"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(originals, 1, "exactly one request took effect");
        ids.dedup();
        assert_eq!(ids.len(), 1, "every 201 names the same institution: {ids:?}");
        assert_eq!(institution_count(&app).await, 1);
        assert_eq!(audit_events_of(&app, &ids[0]).await.len(), 1);
    })
    .await;
}

// ---- Audit ---------------------------------------------------------------

#[tokio::test]
async fn each_change_writes_exactly_one_audit_event() {
    each_backend(|app| async move {
        let admin_id = app.get("/api/v1/tokens").await.body["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = app.institution("nuku-alofa-council", "TO").await;
        let path = format!("{INSTITUTIONS}/{id}");
        assert_eq!(
            app.patch(&path, json!({"city": "Nuku'alofa"})).await.status,
            StatusCode::OK
        );
        // Refused changes write nothing.
        assert_eq!(
            app.patch(&path, json!({"country": "ZZ"})).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let stale = app
            .request(
                Method::PATCH,
                &path,
                Some(&app.admin.clone()),
                Some(json!({"city": "x"})),
                &[("if-match", "\"9\"")],
            )
            .await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(app.get(&path).await.status, StatusCode::OK);
        assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);

        let events = audit_events_of(&app, &id).await;
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "update", "delete"]);
        for e in &events {
            assert_eq!(e.entity_type, "institution");
            assert_eq!(e.token_id.map(|t| t.to_string()), Some(admin_id.clone()));
            assert_eq!(e.token_name, "test admin");
        }
        let (create, update, delete) = (&events[0], &events[1], &events[2]);
        assert!(create.before.is_none() && create.after.is_some());
        assert_eq!(update.before.as_ref().unwrap()["city"], Value::Null);
        assert_eq!(update.after.as_ref().unwrap()["city"], "Nuku'alofa");
        assert!(delete.before.is_some() && delete.after.is_none());
    })
    .await;
}

#[tokio::test]
async fn audit_events_are_listed_filtered_and_paginated_for_admins() {
    each_backend(|app| async move {
        let a = app.institution("inst-a", "TO").await;
        app.institution("inst-b", "FJ").await;
        app.patch(&format!("{INSTITUTIONS}/{a}"), json!({"city": "Neiafu"}))
            .await;
        let other_admin = app.token("admin", None).await;
        let by_other = app
            .post_as(&other_admin, INSTITUTIONS, institution_body("inst-c"))
            .await;
        let other_id = app.get("/api/v1/tokens").await.body["items"][1]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let all = app.get("/api/v1/audit-events?entity_type=institution").await;
        assert_eq!(all.status, StatusCode::OK);
        let items = all.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        for key in [
            "id",
            "occurred_at",
            "token_id",
            "token_name",
            "action",
            "entity_type",
            "entity_id",
            "before",
            "after",
        ] {
            assert!(items[0].get(key).is_some(), "{key} missing from {}", items[0]);
        }

        let of_a = app.get(&format!("/api/v1/audit-events?entity_id={a}")).await;
        let actions: Vec<&str> = of_a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["create", "update"]);

        let by_actor = app.get(&format!("/api/v1/audit-events?actor={other_id}")).await;
        let items = by_actor.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["entity_id"], by_other.id().as_str());
        assert_eq!(items[0]["token_name"], "admin token");

        // The test's own admin token (made outside the API, by the system) and the other admin's.
        let tokens_only = app.get("/api/v1/audit-events?entity_type=token").await;
        let made: Vec<&str> = tokens_only.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["token_name"].as_str().unwrap())
            .collect();
        assert_eq!(made, ["system:test", "test admin"]);

        // Walk everything two at a time: oldest first, no repeats.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let r = app.get(&format!("/api/v1/audit-events?limit=2&cursor={cursor}")).await;
            assert_eq!(r.status, StatusCode::OK);
            seen.extend(
                r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_owned()),
            );
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        // Four institution events, two token creations.
        assert_eq!(seen.len(), 6);
        assert_eq!(sorted(seen.clone()), seen);

        let bad = app.get("/api/v1/audit-events?entity_id=not-a-uuid").await;
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(bad.fields(), ["entity_id"]);
        assert_eq!(app.get("/api/v1/audit-events?actor=x").await.fields(), ["actor"]);
    })
    .await;
}

// ---- Outside /api/v1 -------------------------------------------------------

#[tokio::test]
async fn health_readiness_metrics_and_docs_answer_without_auth() {
    each_backend(|app| async move {
        let get = |path: &'static str| app.request(Method::GET, path, None, None, &[]);
        assert_eq!(get("/healthz").await.status, StatusCode::OK);
        assert_eq!(get("/readyz").await.status, StatusCode::OK);

        app.get(INSTITUTIONS).await;
        let metrics = get("/metrics").await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(metrics.body.as_str().unwrap().contains("http_requests_total"));

        let doc = get("/openapi.json").await;
        assert_eq!(doc.status, StatusCode::OK);
        assert!(doc.header("content-type").unwrap().starts_with("application/json"));
        let paths = doc.body["paths"].as_object().expect("paths");
        for p in [
            "/api/v1/institutions",
            "/api/v1/tokens",
            "/api/v1/tokens/{id}",
            "/api/v1/audit-events",
        ] {
            assert!(paths.contains_key(p), "{p} is not documented");
        }

        let docs = get("/docs/").await;
        assert_eq!(docs.status, StatusCode::OK);
        assert!(docs.header("content-type").unwrap().starts_with("text/html"));
        assert!(docs.body.as_str().unwrap().to_lowercase().contains("<html"));
    })
    .await;
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    each_backend(|app| async move {
        assert_problem(
            &app.get("/api/v1/no-such-thing").await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_problem(
            &app.request(Method::GET, "/nowhere", None, None, &[]).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let bad_id = app.get(&format!("{INSTITUTIONS}/not-a-uuid")).await;
        assert_problem(&bad_id, StatusCode::NOT_FOUND, "not_found");
        let missing = app.get(&format!("{INSTITUTIONS}/{}", Uuid::now_v7())).await;
        assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}
