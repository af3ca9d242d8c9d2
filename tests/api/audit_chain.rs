//! Issue #7, tamper-evident audit trail: every event is a link of one hash
//! chain, and `/audit-events/verify` names the first place it breaks.

use crate::common::{TestApp, each_backend};
use axum::http::StatusCode;
use chrono::Utc;
use climate_tracker::entities::audit_event;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

const VERIFY: &str = "/api/v1/audit-events/verify";

/// A few changes of different kinds; returns the institution ids.
async fn some_history(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for code in ["usp", "tonga-poly", "kiribati-ti"] {
        ids.push(app.institution(code, "TO").await);
    }
    let r = app
        .patch(
            &format!("/api/v1/institutions/{}", ids[0]),
            json!({"city": "Suva", "name": {"zh": "南太平洋大学", "en": "USP"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.delete(&format!("/api/v1/institutions/{}", ids[2])).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    ids
}

async fn chain(app: &TestApp) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Seq)
        .all(&app.db)
        .await
        .unwrap()
}

async fn verify(app: &TestApp) -> Value {
    let r = app.get(VERIFY).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn every_change_extends_one_unbroken_chain() {
    each_backend(|app| async move {
        some_history(&app).await;
        let events = chain(&app).await;
        assert!(events.len() >= 5);
        let mut prev = "0".repeat(64);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, Some(i as i64 + 1));
            assert_eq!(e.prev_hash.as_deref(), Some(prev.as_str()));
            assert_eq!(
                e.hash.as_deref(),
                Some(e.chain_hash().as_str()),
                "read back, the hash still matches"
            );
            prev = e.hash.clone().unwrap();
        }

        let report = verify(&app).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["events"], events.len());
        assert_eq!(report["first_broken"], Value::Null);
        assert_eq!(report["last_seq"], events.len());
        assert_eq!(report["last_hash"], prev);

        // The list shows each event's place in the chain.
        let list = app.get("/api/v1/audit-events?limit=200").await;
        let first = &list.body["items"][0];
        assert_eq!(first["seq"], 1);
        assert_eq!(first["prev_hash"], "0".repeat(64));
        assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    })
    .await;
}

#[tokio::test]
async fn verify_names_an_event_edited_in_the_database() {
    each_backend(|app| async move {
        some_history(&app).await;
        let events = chain(&app).await;
        let victim = &events[2];
        audit_event::Entity::update_many()
            .col_expr(audit_event::Column::Action, Expr::value("x"))
            .filter(audit_event::Column::Id.eq(victim.id))
            .exec(&app.db)
            .await
            .unwrap();

        let report = verify(&app).await;
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["events"], events.len());
        let broken = &report["first_broken"];
        assert_eq!(broken["id"], victim.id.to_string(), "{report}");
        assert_eq!(broken["seq"], 3);
        assert_eq!(broken["reason"], "altered");
    })
    .await;
}

#[tokio::test]
async fn verify_sees_an_edit_even_when_the_editor_rehashed_the_event() {
    each_backend(|app| async move {
        some_history(&app).await;
        let events = chain(&app).await;
        let mut forged = events[1].clone();
        forged.token_name = "someone else".into();
        let rehashed = forged.chain_hash();
        audit_event::ActiveModel {
            id: Set(forged.id),
            token_name: Set(forged.token_name.clone()),
            hash: Set(Some(rehashed)),
            ..Default::default()
        }
        .update(&app.db)
        .await
        .unwrap();

        let report = verify(&app).await;
        let broken = &report["first_broken"];
        assert_eq!(broken["id"], events[2].id.to_string(), "{report}");
        assert_eq!(broken["reason"], "relinked");
    })
    .await;
}

#[tokio::test]
async fn verify_sees_a_deleted_event() {
    each_backend(|app| async move {
        some_history(&app).await;
        let events = chain(&app).await;
        audit_event::Entity::delete_by_id(events[1].id)
            .exec(&app.db)
            .await
            .unwrap();

        let report = verify(&app).await;
        assert_eq!(report["ok"], false, "{report}");
        let broken = &report["first_broken"];
        assert_eq!(broken["id"], events[2].id.to_string(), "{report}");
        assert_eq!(broken["seq"], 3);
        assert_eq!(broken["reason"], "missing");
        assert!(broken["detail"].as_str().unwrap().contains("seq 2"), "{report}");
    })
    .await;
}

#[tokio::test]
async fn verify_sees_the_last_event_deleted() {
    each_backend(|app| async move {
        some_history(&app).await;
        let events = chain(&app).await;
        let last = events.last().unwrap();
        audit_event::Entity::delete_by_id(last.id).exec(&app.db).await.unwrap();

        let report = verify(&app).await;
        assert_eq!(report["ok"], false, "{report}");
        let broken = &report["first_broken"];
        assert_eq!(broken["id"], Value::Null, "{report}");
        assert_eq!(broken["seq"], last.seq.unwrap());
        assert_eq!(broken["reason"], "missing");
    })
    .await;
}

#[tokio::test]
async fn verify_sees_an_event_written_around_the_service() {
    each_backend(|app| async move {
        some_history(&app).await;
        let id = Uuid::now_v7();
        audit_event::ActiveModel {
            id: Set(id),
            occurred_at: Set(Utc::now()),
            token_id: Set(None),
            token_name: Set("intruder".into()),
            action: Set("create".into()),
            entity_type: Set("institution".into()),
            entity_id: Set(Uuid::now_v7()),
            before: Set(None),
            after: Set(None),
            seq: Set(None),
            prev_hash: Set(None),
            hash: Set(None),
        }
        .insert(&app.db)
        .await
        .unwrap();

        let report = verify(&app).await;
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["first_broken"]["id"], id.to_string());
        assert_eq!(report["first_broken"]["reason"], "unchained");
    })
    .await;
}

#[tokio::test]
async fn events_from_before_the_chain_are_chained_at_start_up() {
    each_backend(|app| async move {
        some_history(&app).await;
        // As a database migrated from before the chain: events without a place in it.
        audit_event::Entity::update_many()
            .col_expr(audit_event::Column::Seq, Expr::value(Option::<i64>::None))
            .col_expr(audit_event::Column::PrevHash, Expr::value(Option::<String>::None))
            .col_expr(audit_event::Column::Hash, Expr::value(Option::<String>::None))
            .exec(&app.db)
            .await
            .unwrap();
        app.db
            .execute_unprepared(&format!(
                "UPDATE audit_chain_head SET seq = 0, hash = '{}'",
                "0".repeat(64)
            ))
            .await
            .unwrap();

        let sealed = climate_tracker::store::audit::seal_unchained(&app.db).await.unwrap();
        assert!(sealed >= 5);
        assert_eq!(climate_tracker::store::audit::seal_unchained(&app.db).await.unwrap(), 0);
        let report = verify(&app).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["events"], sealed);
        // Chained in the order they happened.
        let events = chain(&app).await;
        assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    })
    .await;
}

#[tokio::test]
async fn simultaneous_writes_keep_one_unbroken_chain() {
    each_backend(|app| async move {
        let app = std::sync::Arc::new(app);
        let writes = (0..24).map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let r = app
                    .post(
                        "/api/v1/institutions",
                        json!({"code": format!("inst-{i}"), "name": {"en": format!("I {i}")}, "kind": "ngo", "country": "FJ"}),
                    )
                    .await;
                r.status
            })
        });
        for status in futures::future::join_all(writes).await {
            assert_eq!(status.unwrap(), StatusCode::CREATED);
        }
        let report = verify(&app).await;
        assert_eq!(report["ok"], true, "{report}");
        // The 24 creates, and the test admin token's own creation.
        assert_eq!(report["events"], 25);
    })
    .await;
}

#[tokio::test]
async fn only_admins_may_verify_the_chain() {
    each_backend(|app| async move {
        let inst = app.institution("usp", "FJ").await;
        let viewer = app.token("viewer", None).await;
        let partner = app.token("partner", Some(&inst)).await;
        for token in [viewer, partner] {
            let r = app.get_as(&token, VERIFY).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
            assert_eq!(r.code(), "forbidden");
        }
        assert_eq!(
            app.request(axum::http::Method::GET, VERIFY, None, None, &[])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    })
    .await;
}
