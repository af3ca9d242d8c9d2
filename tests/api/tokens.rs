//! `/tokens`: admin only, secrets shown once, revocation, and the rules of
//! partner binding.

use crate::common::{TestApp, each_backend};
use axum::http::{Method, StatusCode};
use climate_tracker::entities::{audit_event, idempotency_key};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

async fn create_token(app: &TestApp, body: Value) -> crate::common::Resp {
    app.post("/api/v1/tokens", body).await
}

/// Every token, as the admin lists them.
async fn all_tokens(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/v1/tokens?limit=200").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_created_token_carries_its_secret_once_and_works() {
    each_backend(|app| async move {
        let r = create_token(&app, json!({"name": "dashboard", "role": "viewer"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.id();
        assert_eq!(r.header("location"), Some(format!("/api/v1/tokens/{id}").as_str()));
        assert_eq!(r.body["role"], "viewer");
        assert_eq!(r.body["institution_id"], Value::Null);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("ctk_"));

        let me = app.get_as(&secret, "/api/v1/institutions").await;
        assert_eq!(me.status, StatusCode::OK);

        let read = app.get(&format!("/api/v1/tokens/{id}")).await;
        assert_eq!(read.status, StatusCode::OK);
        assert!(read.body.get("secret").is_none());
    })
    .await;
}

#[tokio::test]
async fn lists_never_show_a_secret_or_its_hash() {
    each_backend(|app| async move {
        let secret = app.token("viewer", None).await;
        let r = app.get("/api/v1/tokens").await;
        assert_eq!(r.status, StatusCode::OK);
        let text = r.body.to_string();
        assert!(!text.contains(&secret));
        assert!(!text.contains(&climate_tracker::app::tokens::hash_secret(&secret)));
        for item in r.body["items"].as_array().unwrap() {
            let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "created_at",
                    "id",
                    "institution_id",
                    "last_used_at",
                    "name",
                    "revoked_at",
                    "role"
                ]
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_partner_token_needs_an_institution() {
    each_backend(|app| async move {
        let r = create_token(&app, json!({"name": "usp", "role": "partner"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["institution_id"]);

        let r = create_token(&app, json!({"name": "usp", "role": "partner", "institution_id": null})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["institution_id"]);

        let usp = app.institution("usp", "FJ").await;
        let r = create_token(&app, json!({"name": "usp", "role": "partner", "institution_id": usp})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["institution_id"], usp.as_str());
    })
    .await;
}

#[tokio::test]
async fn only_a_partner_token_is_bound_to_an_institution() {
    each_backend(|app| async move {
        let usp = app.institution("usp", "FJ").await;
        for role in ["admin", "viewer"] {
            let r = create_token(&app, json!({"name": "x", "role": role, "institution_id": usp})).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{role}");
            assert_eq!(r.fields(), ["institution_id"]);
        }
    })
    .await;
}

#[tokio::test]
async fn an_unknown_institution_is_a_validation_error() {
    each_backend(|app| async move {
        let r = create_token(
            &app,
            json!({"name": "ghost", "role": "partner", "institution_id": uuid::Uuid::now_v7()}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(r.fields(), ["institution_id"]);

        let r = create_token(
            &app,
            json!({"name": "ghost", "role": "partner", "institution_id": "not-a-uuid"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), ["institution_id"]);
    })
    .await;
}

#[tokio::test]
async fn every_bad_field_of_a_token_is_listed() {
    each_backend(|app| async move {
        let r = create_token(&app, json!({"name": " ", "role": "superuser", "secret": "mine"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut fields = r.fields();
        fields.sort();
        assert_eq!(fields, ["name", "role", "secret"]);
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_gets_401_and_stays_listed() {
    each_backend(|app| async move {
        let r = create_token(&app, json!({"name": "old", "role": "viewer"})).await;
        let (id, secret) = (r.id(), r.body["secret"].as_str().unwrap().to_owned());
        assert_eq!(app.get_as(&secret, "/api/v1/institutions").await.status, StatusCode::OK);

        let d = app.delete(&format!("/api/v1/tokens/{id}")).await;
        assert_eq!(d.status, StatusCode::NO_CONTENT);

        let after = app.get_as(&secret, "/api/v1/institutions").await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
        assert_eq!(after.header("www-authenticate"), Some("Bearer"));

        let listed = all_tokens(&app)
            .await
            .into_iter()
            .find(|t| t["id"] == id.as_str())
            .expect("still listed");
        assert!(listed["revoked_at"].is_string());
        assert!(listed["last_used_at"].is_string(), "it was used before: {listed}");
    })
    .await;
}

#[tokio::test]
async fn revoking_twice_is_harmless_and_audited_once() {
    each_backend(|app| async move {
        let id = create_token(&app, json!({"name": "old", "role": "viewer"})).await.id();
        let first = app.delete(&format!("/api/v1/tokens/{id}")).await;
        let revoked_at = all_tokens(&app)
            .await
            .into_iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()["revoked_at"]
            .clone();
        let second = app.delete(&format!("/api/v1/tokens/{id}")).await;
        assert_eq!(
            (first.status, second.status),
            (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT)
        );
        let again = all_tokens(&app)
            .await
            .into_iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()["revoked_at"]
            .clone();
        assert_eq!(revoked_at, again, "the first revocation time is kept");

        let events = audit_event::Entity::find()
            .filter(audit_event::Column::EntityId.eq(uuid::Uuid::parse_str(&id).unwrap()))
            .all(&app.db)
            .await
            .unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "revoke"]);
    })
    .await;
}

#[tokio::test]
async fn revoking_an_unknown_token_is_404() {
    each_backend(|app| async move {
        let r = app.delete(&format!("/api/v1/tokens/{}", uuid::Uuid::now_v7())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.code(), "not_found");
        assert_eq!(
            app.delete("/api/v1/tokens/not-a-uuid").await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_may_revoke_itself_but_not_the_last_admin() {
    each_backend(|app| async move {
        let me = all_tokens(&app).await[0]["id"].as_str().unwrap().to_owned();
        let r = app.delete(&format!("/api/v1/tokens/{me}")).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.code(), "invalid_state");
        assert_eq!(
            app.get("/api/v1/tokens").await.status,
            StatusCode::OK,
            "the last admin still works"
        );

        // With a second admin, the first may retire itself (rotation).
        let second = app.token("admin", None).await;
        let r = app.delete(&format!("/api/v1/tokens/{me}")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/api/v1/tokens").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get_as(&second, "/api/v1/tokens").await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn two_admins_revoking_each_other_at_once_leave_one() {
    each_backend(|app| async move {
        let first = all_tokens(&app).await[0]["id"].as_str().unwrap().to_owned();
        let r = create_token(&app, json!({"name": "second admin", "role": "admin"})).await;
        let (second, second_secret) = (r.id(), r.body["secret"].as_str().unwrap().to_owned());
        let admin = app.admin.clone();
        let (revoke_second, revoke_first) = (format!("/api/v1/tokens/{second}"), format!("/api/v1/tokens/{first}"));
        let (a, b) = tokio::join!(
            app.delete_as(&admin, &revoke_second),
            app.delete_as(&second_secret, &revoke_first)
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        // The loser either saw the last-admin rule (409) or, if the winner
        // committed before it authenticated, was already revoked (401).
        assert_eq!(statuses[0], StatusCode::NO_CONTENT, "{} / {}", a.body, b.body);
        assert!(
            matches!(statuses[1], StatusCode::CONFLICT | StatusCode::UNAUTHORIZED),
            "{} / {}",
            a.body,
            b.body
        );
        let live = tokens_where_live_admin(&app).await;
        assert_eq!(live, 1);
    })
    .await;
}

async fn tokens_where_live_admin(app: &TestApp) -> usize {
    use climate_tracker::entities::token;
    token::Entity::find()
        .filter(token::Column::Role.eq("admin"))
        .filter(token::Column::RevokedAt.is_null())
        .all(&app.db)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn viewers_and_partners_get_403_on_every_token_route() {
    each_backend(|app| async move {
        let usp = app.institution("usp", "FJ").await;
        let viewer = app.token("viewer", None).await;
        let partner = app.token("partner", Some(&usp)).await;
        let some_id = all_tokens(&app).await[0]["id"].as_str().unwrap().to_owned();
        for who in [&viewer, &partner] {
            let list = app.get_as(who, "/api/v1/tokens").await;
            let one = app.get_as(who, &format!("/api/v1/tokens/{some_id}")).await;
            let create = app
                .post_as(who, "/api/v1/tokens", json!({"name": "mine", "role": "admin"}))
                .await;
            // 403 before the body is even read.
            let bad = app.post_as(who, "/api/v1/tokens", json!({"nonsense": true})).await;
            let revoke = app.delete_as(who, &format!("/api/v1/tokens/{some_id}")).await;
            for r in [list, one, create, bad, revoke] {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
                assert_eq!(r.code(), "forbidden");
            }
        }
        assert_eq!(tokens_where_live_admin(&app).await, 1, "no admin token was made");
    })
    .await;
}

#[tokio::test]
async fn token_changes_are_audited_without_secrets() {
    each_backend(|app| async move {
        let r = create_token(&app, json!({"name": "audited", "role": "viewer"})).await;
        let (id, secret) = (r.id(), r.body["secret"].as_str().unwrap().to_owned());
        app.delete(&format!("/api/v1/tokens/{id}")).await;

        let events = app
            .get(&format!("/api/v1/audit-events?entity_type=token&entity_id={id}"))
            .await;
        assert_eq!(events.status, StatusCode::OK);
        let items = events.body["items"].as_array().unwrap();
        let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["create", "revoke"]);
        assert!(items[1]["before"]["revoked_at"].is_null());
        assert!(items[1]["after"]["revoked_at"].is_string());
        let text = events.body.to_string();
        assert!(!text.contains(&secret));
        assert!(!text.contains(&climate_tracker::app::tokens::hash_secret(&secret)));
        assert!(!text.contains("\"secret\""));
    })
    .await;
}

#[tokio::test]
async fn an_idempotent_replay_does_not_repeat_or_store_the_secret() {
    each_backend(|app| async move {
        let body = json!({"name": "retry", "role": "viewer"});
        let headers = [("idempotency-key", "token-1")];
        let admin = app.admin.clone();
        let first = app
            .request(
                Method::POST,
                "/api/v1/tokens",
                Some(&admin),
                Some(body.clone()),
                &headers,
            )
            .await;
        let again = app
            .request(Method::POST, "/api/v1/tokens", Some(&admin), Some(body), &headers)
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.id(), first.id());
        let secret = first.body["secret"].as_str().unwrap();
        assert_eq!(again.body["secret"], Value::Null);
        assert_eq!(all_tokens(&app).await.len(), 2, "the test admin and one new token");

        let stored = idempotency_key::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(stored.len(), 1);
        let stored_body = stored[0].body.as_deref().unwrap_or_default();
        assert!(stored_body.contains(&first.id()));
        assert!(!stored_body.contains(secret));
    })
    .await;
}

#[tokio::test]
async fn the_token_list_is_paginated() {
    each_backend(|app| async move {
        for i in 0..5 {
            create_token(&app, json!({"name": format!("t{i}"), "role": "viewer"})).await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/tokens?limit=2&cursor={c}"),
                None => "/api/v1/tokens?limit=2".to_owned(),
            };
            let r = app.get(&path).await;
            assert_eq!(r.status, StatusCode::OK);
            seen.extend(
                r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned()),
            );
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6);
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique, seen, "ordered by id, no duplicates");
        assert_eq!(
            app.get("/api/v1/tokens?limit=0").await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    })
    .await;
}
