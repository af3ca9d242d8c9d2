use crate::common::{each_backend, project_body};
use axum::http::StatusCode;
use climate_tracker::domain::kinds::Role;
use serde_json::json;

async fn partner_token(app: &crate::common::TestApp, institution: &str) -> String {
    let id = institution.parse().expect("uuid");
    crate::common::make_token(&app.db, "partner", Role::Partner, Some(id))
        .await
        .secret
}

#[tokio::test]
async fn a_new_project_is_planned_with_its_countries_and_markers() {
    each_backend(|app| async move {
        let r = app
            .post("/api/v1/projects", project_body("vavau-supplies", &["TO", "KI", "TO"]))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["status"], "planned");
        assert_eq!(r.body["countries"], json!(["TO", "KI"]));
        assert_eq!(r.body["rio_markers"], json!({"mitigation": 1, "adaptation": 2}));
        assert_eq!(
            r.header("location"),
            Some(format!("/api/v1/projects/{}", r.id()).as_str())
        );
    })
    .await;
}

#[tokio::test]
async fn status_cannot_be_sent_and_bad_fields_are_listed_together() {
    each_backend(|app| async move {
        let mut body = project_body("p-one", &[]);
        body["status"] = json!("active");
        body["planned_end"] = json!("2024-01-01");
        body["rio_markers"] = json!({"mitigation": 3, "adaptation": 0});
        body["sector"] = json!("mining");
        let r = app.post("/api/v1/projects", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields = r.fields();
        for f in ["status", "countries", "planned_end", "sector"] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        assert!(fields.iter().any(|x| x.starts_with("rio_markers")), "{fields:?}");
    })
    .await;
}

#[tokio::test]
async fn project_moves_follow_the_life_cycle() {
    each_backend(|app| async move {
        let id = app.project("life-cycle", &["TO"]).await;
        let path = format!("/api/v1/projects/{id}/transitions");
        let refused = app.post(&path, json!({"to": "completed"})).await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert_eq!(refused.code(), "invalid_transition");
        for to in ["active", "on_hold", "active", "completed"] {
            let r = app.post(&path, json!({"to": to, "note": "board decision"})).await;
            assert_eq!(r.status, StatusCode::OK, "to {to}: {}", r.body);
            assert_eq!(r.body["status"], to);
        }
        let r = app.get(&format!("/api/v1/projects/{id}")).await;
        assert!(r.body["actual_start"].is_string() && r.body["actual_end"].is_string());
        let final_state = app.post(&path, json!({"to": "active"})).await;
        assert_eq!(final_state.code(), "invalid_transition");
        let bad = app.post(&path, json!({"to": "finished"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn projects_filter_by_country_status_sector_institution_and_text() {
    each_backend(|app| async move {
        let uni = app.institution("tonga-uni", "TO").await;
        let a = app.project("solar-tonga", &["TO"]).await;
        let b = app.project("seawall-kiribati", &["KI", "TV"]).await;
        app.participate(&a, &uni, "lead").await;
        app.post(&format!("/api/v1/projects/{b}/transitions"), json!({"to": "active"}))
            .await;
        let ids = |r: &crate::common::Resp| -> Vec<String> {
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&app.get("/api/v1/projects?country=TV").await), vec![b.clone()]);
        assert_eq!(ids(&app.get("/api/v1/projects?status=active").await), vec![b.clone()]);
        assert_eq!(
            ids(&app.get(&format!("/api/v1/projects?institution_id={uni}")).await),
            vec![a.clone()]
        );
        assert_eq!(ids(&app.get("/api/v1/projects?q=SEAWALL").await), vec![b.clone()]);
        assert_eq!(ids(&app.get("/api/v1/projects?q=项目").await).len(), 2);
        assert_eq!(ids(&app.get("/api/v1/projects?sector=clean_energy").await).len(), 0);
        assert_eq!(
            app.get("/api/v1/projects?country=tonga").await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    })
    .await;
}

#[tokio::test]
async fn a_partner_sees_only_its_projects_and_cannot_write() {
    each_backend(|app| async move {
        let uni = app.institution("tonga-uni", "TO").await;
        let mine = app.project("mine", &["TO"]).await;
        let other = app.project("other", &["KI"]).await;
        app.participate(&mine, &uni, "beneficiary").await;
        let partner = partner_token(&app, &uni).await;

        let list = app.get_as(&partner, "/api/v1/projects").await;
        let items = list.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], mine.as_str());
        assert_eq!(
            app.get_as(&partner, &format!("/api/v1/projects/{mine}")).await.status,
            StatusCode::OK
        );
        let hidden = app.get_as(&partner, &format!("/api/v1/projects/{other}")).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        assert_eq!(hidden.code(), "not_found");
        let write = app
            .post_as(
                &partner,
                &format!("/api/v1/projects/{mine}/transitions"),
                json!({"to": "active"}),
            )
            .await;
        assert_eq!(write.status, StatusCode::FORBIDDEN);
        let hidden_write = app
            .post_as(
                &partner,
                &format!("/api/v1/projects/{other}/transitions"),
                json!({"to": "active"}),
            )
            .await;
        assert_eq!(hidden_write.status, StatusCode::NOT_FOUND);
        let create = app
            .post_as(&partner, "/api/v1/projects", project_body("p2", &["TO"]))
            .await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn participants_are_added_listed_and_removed() {
    each_backend(|app| async move {
        let uni = app.institution("tonga-uni", "TO").await;
        let id = app.project("p-part", &["TO"]).await;
        app.participate(&id, &uni, "lead").await;
        let dup = app
            .post(
                &format!("/api/v1/projects/{id}/participants"),
                json!({"institution_id": uni, "role": "funding"}),
            )
            .await;
        assert_eq!(dup.status, StatusCode::CONFLICT);
        assert_eq!(dup.code(), "duplicate");
        let unknown = app
            .post(
                &format!("/api/v1/projects/{id}/participants"),
                json!({"institution_id": uuid::Uuid::now_v7(), "role": "lead"}),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown.fields(), vec!["institution_id"]);
        let list = app.get(&format!("/api/v1/projects/{id}/participants")).await;
        assert_eq!(list.body["items"][0]["role"], "lead");
        let del = app.delete(&format!("/api/v1/projects/{id}/participants/{uni}")).await;
        assert_eq!(del.status, StatusCode::NO_CONTENT);
        let list = app.get(&format!("/api/v1/projects/{id}/participants")).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
        // An institution that no longer takes part can be deleted.
        assert_eq!(
            app.delete(&format!("/api/v1/institutions/{uni}")).await.status,
            StatusCode::NO_CONTENT
        );
    })
    .await;
}

#[tokio::test]
async fn a_participating_institution_cannot_be_deleted() {
    each_backend(|app| async move {
        let uni = app.institution("tonga-uni", "TO").await;
        let id = app.project("p-ref", &["TO"]).await;
        app.participate(&id, &uni, "lead").await;
        let r = app.delete(&format!("/api/v1/institutions/{uni}")).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.code(), "still_referenced");
        assert_eq!(
            app.get(&format!("/api/v1/institutions/{uni}")).await.status,
            StatusCode::OK
        );
    })
    .await;
}

#[tokio::test]
async fn patching_a_project_checks_dates_and_versions() {
    each_backend(|app| async move {
        let id = app.project("p-patch", &["TO"]).await;
        let path = format!("/api/v1/projects/{id}");
        let bad = app.patch(&path, json!({"planned_end": "2020-01-01"})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.fields(), vec!["planned_end"]);
        let ok = app
            .request(
                axum::http::Method::PATCH,
                &path,
                Some(&app.admin),
                Some(json!({"countries": ["FJ"], "summary": null})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(ok.body["version"], 2);
        assert_eq!(ok.header("etag"), Some("\"2\""));
        let stale = app
            .request(
                axum::http::Method::PATCH,
                &path,
                Some(&app.admin),
                Some(json!({"countries": ["WS"]})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(stale.code(), "version_mismatch");
        let fiji = app.get("/api/v1/projects?country=FJ").await;
        assert_eq!(fiji.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(
            app.get("/api/v1/projects?country=TO").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let status = app.patch(&path, json!({"status": "active"})).await;
        assert_eq!(status.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}
