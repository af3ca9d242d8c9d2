use crate::common::{Resp, TestApp, each_backend};
use axum::http::{Method, StatusCode};
use climate_tracker::domain::kinds::Role;
use climate_tracker::entities::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

/// A token made directly, so these tests do not depend on the tokens API; returns (id, secret).
async fn token(app: &TestApp, role: Role, institution: Option<&str>) -> (String, String) {
    let institution = institution.map(|i| i.parse().expect("uuid"));
    let created = crate::common::make_token(&app.db, "milestone tester", role, institution).await;
    (created.token.id.to_string(), created.secret)
}

fn milestone_body(title: &str, due_on: &str) -> Value {
    json!({"title": {"en": title, "zh": "里程碑"}, "due_on": due_on})
}

/// Creates a milestone through the API; returns its id.
async fn milestone(app: &TestApp, project: &str, title: &str, due_on: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/milestones"),
            milestone_body(title, due_on),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "milestone create: {}", r.body);
    r.id()
}

async fn move_to(app: &TestApp, id: &str, to: &str) -> Resp {
    app.post(
        &format!("/api/v1/milestones/{id}/transitions"),
        json!({"to": to, "note": "board decision"}),
    )
    .await
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.body))
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_new_milestone_is_planned_and_listed_under_its_project() {
    each_backend(|app| async move {
        let project = app.project("solar-tonga", &["TO"]).await;
        let r = app
            .post(
                &format!("/api/v1/projects/{project}/milestones"),
                json!({"title": {"en": "Array commissioned"}, "description": {"en": "50 kW"}, "due_on": "2025-09-30"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.id();
        assert_eq!(r.body["status"], "planned");
        assert_eq!(r.body["project_id"], project.as_str());
        assert_eq!(r.body["description"], json!({"en": "50 kW"}));
        assert_eq!(r.body["achieved_on"], Value::Null);
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.header("location"), Some(format!("/api/v1/milestones/{id}").as_str()));
        assert_eq!(r.header("etag"), Some("\"1\""));

        let got = app.get(&format!("/api/v1/milestones/{id}")).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body["title"], json!({"en": "Array commissioned"}));
        assert_eq!(got.body["due_on"], "2025-09-30");
        assert_eq!(got.header("etag"), Some("\"1\""));

        let list = app.get(&format!("/api/v1/projects/{project}/milestones")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(ids(&list), vec![id]);
        assert_eq!(list.body["next_cursor"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn milestone_lists_are_paginated_by_cursor() {
    each_backend(|app| async move {
        let project = app.project("paged", &["TO"]).await;
        let mut made = Vec::new();
        for n in 0..3 {
            made.push(milestone(&app, &project, &format!("step {n}"), "2025-06-01").await);
        }
        let first = app.get(&format!("/api/v1/projects/{project}/milestones?limit=2")).await;
        assert_eq!(ids(&first), made[..2]);
        let cursor = first.body["next_cursor"].as_str().expect("a next page");
        let second = app
            .get(&format!(
                "/api/v1/projects/{project}/milestones?limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(ids(&second), made[2..]);
        assert_eq!(second.body["next_cursor"], Value::Null);
        let across = app.get("/api/v1/milestones?limit=1").await;
        assert_eq!(ids(&across), made[..1]);
        assert_eq!(
            app.get("/api/v1/milestones?limit=0").await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            app.get("/api/v1/milestones?cursor=junk!").await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    })
    .await;
}

#[tokio::test]
async fn a_milestone_of_an_unknown_project_or_id_is_404() {
    each_backend(|app| async move {
        let nobody = uuid::Uuid::now_v7();
        let r = app
            .post(
                &format!("/api/v1/projects/{nobody}/milestones"),
                milestone_body("x", "2025-01-01"),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.get(&format!("/api/v1/milestones/{nobody}")).await.code(),
            "not_found"
        );
        assert_eq!(
            app.get("/api/v1/milestones/not-a-uuid").await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn status_cannot_be_sent_and_bad_fields_are_listed_together() {
    each_backend(|app| async move {
        let project = app.project("strict", &["TO"]).await;
        let path = format!("/api/v1/projects/{project}/milestones");
        let r = app
            .post(
                &path,
                json!({"title": {}, "due_on": "30/09/2025", "status": "achieved"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.code(), "validation_failed");
        let fields = r.fields();
        for f in ["title", "due_on", "status"] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        let empty = app.post(&path, json!({})).await;
        assert_eq!(empty.fields(), vec!["title", "due_on"]);
    })
    .await;
}

#[tokio::test]
async fn milestone_moves_follow_the_life_cycle() {
    each_backend(|app| async move {
        let project = app.project("life-cycle", &["TO"]).await;
        let allowed = [
            (vec![], "in_progress"),
            (vec![], "missed"),
            (vec![], "cancelled"),
            (vec!["in_progress"], "missed"),
            (vec!["in_progress"], "cancelled"),
        ];
        for (n, (path, to)) in allowed.iter().enumerate() {
            let id = milestone(&app, &project, &format!("allowed {n}"), "2025-06-01").await;
            for step in path {
                assert_eq!(move_to(&app, &id, step).await.status, StatusCode::OK);
            }
            let r = move_to(&app, &id, to).await;
            assert_eq!(r.status, StatusCode::OK, "{path:?} then {to}: {}", r.body);
            assert_eq!(r.body["status"], *to);
            assert_eq!(r.body["version"], path.len() + 2);
        }
        let refused = [
            (vec![], "planned"),
            (vec!["in_progress"], "in_progress"),
            (vec!["in_progress"], "planned"),
            (vec!["missed"], "in_progress"),
            (vec!["missed"], "cancelled"),
            (vec!["cancelled"], "in_progress"),
            (vec!["cancelled"], "missed"),
        ];
        for (n, (path, to)) in refused.iter().enumerate() {
            let id = milestone(&app, &project, &format!("refused {n}"), "2025-06-01").await;
            for step in path {
                assert_eq!(move_to(&app, &id, step).await.status, StatusCode::OK);
            }
            let r = move_to(&app, &id, to).await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{path:?} then {to}: {}", r.body);
            assert_eq!(r.code(), "invalid_transition");
        }
        let id = milestone(&app, &project, "bad word", "2025-06-01").await;
        assert_eq!(move_to(&app, &id, "finished").await.fields(), vec!["to"]);
        let no_to = app
            .post(&format!("/api/v1/milestones/{id}/transitions"), json!({"note": "x"}))
            .await;
        assert_eq!(no_to.fields(), vec!["to"]);
    })
    .await;
}

#[tokio::test]
async fn achieved_is_reached_only_through_achieve() {
    each_backend(|app| async move {
        let project = app.project("achieve-only", &["TO"]).await;
        let id = milestone(&app, &project, "report filed", "2025-06-01").await;
        let r = move_to(&app, &id, "achieved").await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.code(), "invalid_transition");
        assert!(
            r.body["detail"].as_str().unwrap_or_default().contains("/achieve"),
            "{}",
            r.body
        );
        assert_eq!(
            app.get(&format!("/api/v1/milestones/{id}")).await.body["status"],
            "planned"
        );
    })
    .await;
}

#[tokio::test]
async fn achieving_records_the_date_and_evidence_once() {
    each_backend(|app| async move {
        let project = app.project("achieved", &["TO"]).await;
        let id = milestone(&app, &project, "array commissioned", "2025-06-01").await;
        assert_eq!(move_to(&app, &id, "in_progress").await.status, StatusCode::OK);
        let path = format!("/api/v1/milestones/{id}/achieve");
        let body = json!({"achieved_on": "2025-05-20", "evidence": "Commissioning certificate 2025-114"});
        let r = app.post(&path, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["status"], "achieved");
        assert_eq!(r.body["achieved_on"], "2025-05-20");
        assert_eq!(r.body["evidence"], "Commissioning certificate 2025-114");
        assert_eq!(r.body["overdue"], false);
        assert_eq!(r.header("etag"), Some("\"3\""));

        let again = app.post(&path, body).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.code(), "invalid_transition");
        assert_eq!(move_to(&app, &id, "cancelled").await.code(), "invalid_transition");
    })
    .await;
}

#[tokio::test]
async fn only_an_open_milestone_can_be_achieved() {
    each_backend(|app| async move {
        let project = app.project("closed", &["TO"]).await;
        for to in ["missed", "cancelled"] {
            let id = milestone(&app, &project, to, "2025-06-01").await;
            assert_eq!(move_to(&app, &id, to).await.status, StatusCode::OK);
            let r = app
                .post(
                    &format!("/api/v1/milestones/{id}/achieve"),
                    json!({"achieved_on": "2025-05-20", "evidence": "late"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CONFLICT, "from {to}");
            assert_eq!(r.code(), "invalid_transition");
        }
        let planned = milestone(&app, &project, "straight from planned", "2025-06-01").await;
        let r = app
            .post(
                &format!("/api/v1/milestones/{planned}/achieve"),
                json!({"achieved_on": "2025-05-20", "evidence": "done"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn an_achievement_needs_evidence_and_a_date_not_in_the_future() {
    each_backend(|app| async move {
        let project = app.project("evidence", &["TO"]).await;
        let id = milestone(&app, &project, "workshop held", "2025-06-01").await;
        let path = format!("/api/v1/milestones/{id}/achieve");
        let r = app
            .post(&path, json!({"achieved_on": "2100-01-01", "evidence": " "}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), vec!["achieved_on", "evidence"]);
        let missing = app.post(&path, json!({})).await;
        assert_eq!(missing.fields(), vec!["achieved_on", "evidence"]);
        let plain = app
            .post(
                &path,
                json!({"achieved_on": "2025-05-20", "evidence": {"en": "localized"}}),
            )
            .await;
        assert_eq!(plain.fields(), vec!["evidence"]);
        assert_eq!(
            app.get(&format!("/api/v1/milestones/{id}")).await.body["status"],
            "planned"
        );
    })
    .await;
}

#[tokio::test]
async fn overdue_means_due_before_as_of_and_still_open() {
    each_backend(|app| async move {
        let project = app.project("overdue", &["TO"]).await;
        let planned = milestone(&app, &project, "planned", "2025-01-10").await;
        let started = milestone(&app, &project, "started", "2025-03-01").await;
        move_to(&app, &started, "in_progress").await;
        let missed = milestone(&app, &project, "missed", "2025-01-05").await;
        move_to(&app, &missed, "missed").await;
        let done = milestone(&app, &project, "done", "2025-01-06").await;
        app.post(
            &format!("/api/v1/milestones/{done}/achieve"),
            json!({"achieved_on": "2025-01-06", "evidence": "ok"}),
        )
        .await;

        let feb = app.get("/api/v1/milestones?overdue=true&as_of=2025-02-01").await;
        assert_eq!(ids(&feb), vec![planned.clone()]);
        assert_eq!(feb.body["items"][0]["overdue"], true);
        let june = app.get("/api/v1/milestones?overdue=true&as_of=2025-06-01").await;
        assert_eq!(ids(&june), vec![planned.clone(), started.clone()]);
        // Due on as_of itself is not yet overdue.
        let due_day = app.get("/api/v1/milestones?overdue=true&as_of=2025-01-10").await;
        assert!(ids(&due_day).is_empty());
        let not_overdue = app.get("/api/v1/milestones?overdue=false&as_of=2025-02-01").await;
        assert_eq!(ids(&not_overdue), vec![started.clone(), missed, done]);
        assert_eq!(not_overdue.body["items"][0]["overdue"], false);
        // Without as_of, today (UTC) is the reference: these dates are all past.
        assert_eq!(
            ids(&app.get("/api/v1/milestones?overdue=true").await),
            vec![planned.clone(), started]
        );
        assert_eq!(
            app.get(&format!("/api/v1/milestones/{planned}")).await.body["overdue"],
            true
        );
        assert_eq!(
            app.get("/api/v1/milestones?as_of=2025-13-01").await.fields(),
            vec!["as_of"]
        );
        assert_eq!(
            app.get("/api/v1/milestones?overdue=maybe").await.fields(),
            vec!["overdue"]
        );
    })
    .await;
}

#[tokio::test]
async fn due_before_means_strictly_before() {
    each_backend(|app| async move {
        let project = app.project("due-before", &["TO"]).await;
        let early = milestone(&app, &project, "early", "2025-03-31").await;
        let on_day = milestone(&app, &project, "on the day", "2025-04-01").await;
        let r = app.get("/api/v1/milestones?due_before=2025-04-01").await;
        assert_eq!(ids(&r), vec![early.clone()]);
        let later = app.get("/api/v1/milestones?due_before=2025-04-02").await;
        assert_eq!(ids(&later), vec![early, on_day]);
    })
    .await;
}

#[tokio::test]
async fn milestones_filter_by_status_and_project() {
    each_backend(|app| async move {
        let a = app.project("project-a", &["TO"]).await;
        let b = app.project("project-b", &["KI"]).await;
        let a1 = milestone(&app, &a, "a1", "2025-06-01").await;
        let a2 = milestone(&app, &a, "a2", "2025-06-01").await;
        let b1 = milestone(&app, &b, "b1", "2025-06-01").await;
        move_to(&app, &a2, "in_progress").await;
        move_to(&app, &b1, "in_progress").await;
        assert_eq!(
            ids(&app.get("/api/v1/milestones?status=in_progress").await),
            vec![a2.clone(), b1.clone()]
        );
        assert_eq!(
            ids(&app.get(&format!("/api/v1/milestones?project_id={a}")).await),
            vec![a1.clone(), a2.clone()]
        );
        let both = app
            .get(&format!("/api/v1/milestones?project_id={a}&status=planned"))
            .await;
        assert_eq!(ids(&both), vec![a1]);
        assert_eq!(app.get("/api/v1/milestones?status=done").await.fields(), vec!["status"]);
    })
    .await;
}

#[tokio::test]
async fn patching_a_milestone_checks_its_version_and_never_its_status() {
    each_backend(|app| async move {
        let project = app.project("patched", &["TO"]).await;
        let id = milestone(&app, &project, "survey", "2025-06-01").await;
        let path = format!("/api/v1/milestones/{id}");
        let r = app
            .request(
                Method::PATCH,
                &path,
                Some(&app.admin),
                Some(json!({"due_on": "2025-07-15"})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["due_on"], "2025-07-15");
        assert_eq!(r.body["title"], json!({"en": "survey", "zh": "里程碑"}));
        assert_eq!(r.header("etag"), Some("\"2\""));

        let stale = app
            .request(
                Method::PATCH,
                &path,
                Some(&app.admin),
                Some(json!({"due_on": "2025-08-01"})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(stale.code(), "version_mismatch");

        let status = app.patch(&path, json!({"status": "achieved"})).await;
        assert_eq!(status.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status.fields(), vec!["status"]);

        let described = app.patch(&path, json!({"description": {"en": "Coastal survey"}})).await;
        assert_eq!(described.body["description"], json!({"en": "Coastal survey"}));
        let cleared = app
            .patch(&path, json!({"description": null, "title": {"en": "Survey"}}))
            .await;
        assert_eq!(cleared.body["description"], Value::Null);
        assert_eq!(cleared.body["title"], json!({"en": "Survey"}));
        assert_eq!(cleared.body["version"], 4);
        assert_eq!(app.patch(&path, json!({"title": null})).await.fields(), vec!["title"]);
        assert_eq!(app.get(&path).await.body["status"], "planned");
    })
    .await;
}

#[tokio::test]
async fn a_partner_sees_its_projects_milestones_and_nothing_else() {
    each_backend(|app| async move {
        let tonga = app.institution("tonga-uni", "TO").await;
        let own = app.project("own", &["TO"]).await;
        let other = app.project("other", &["KI"]).await;
        app.participate(&own, &tonga, "lead").await;
        let mine = milestone(&app, &own, "mine", "2025-06-01").await;
        let theirs = milestone(&app, &other, "theirs", "2025-06-01").await;
        let (_, partner) = token(&app, Role::Partner, Some(&tonga)).await;

        let r = app.get_as(&partner, &format!("/api/v1/milestones/{mine}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            ids(&app.get_as(&partner, "/api/v1/milestones").await),
            vec![mine.clone()]
        );
        let by_project = app
            .get_as(&partner, &format!("/api/v1/projects/{own}/milestones"))
            .await;
        assert_eq!(ids(&by_project), vec![mine]);
        assert!(
            ids(&app
                .get_as(&partner, &format!("/api/v1/milestones?project_id={other}"))
                .await)
            .is_empty()
        );

        for path in [
            format!("/api/v1/milestones/{theirs}"),
            format!("/api/v1/milestones/{theirs}/reports"),
            format!("/api/v1/projects/{other}/milestones"),
        ] {
            let r = app.get_as(&partner, &path).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(r.code(), "not_found");
        }
        // Writes to what it cannot see are 404 as well, not 403: existence does not leak.
        let report = app
            .post_as(
                &partner,
                &format!("/api/v1/milestones/{theirs}/reports"),
                json!({"note": "x"}),
            )
            .await;
        assert_eq!(report.status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.patch_as(
                &partner,
                &format!("/api/v1/milestones/{theirs}"),
                json!({"due_on": "2025-01-01"})
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
        let created = app
            .post_as(
                &partner,
                &format!("/api/v1/projects/{other}/milestones"),
                milestone_body("x", "2025-01-01"),
            )
            .await;
        assert_eq!(created.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_partner_reports_progress_on_its_projects_but_cannot_change_milestones() {
    each_backend(|app| async move {
        let tonga = app.institution("tonga-uni", "TO").await;
        let own = app.project("own", &["TO"]).await;
        app.participate(&own, &tonga, "implementing").await;
        let id = milestone(&app, &own, "panels delivered", "2025-06-01").await;
        let (partner_id, partner) = token(&app, Role::Partner, Some(&tonga)).await;

        let reports = format!("/api/v1/milestones/{id}/reports");
        let r = app
            .post_as(
                &partner,
                &reports,
                json!({"note": "Panels arrived in Nuku'alofa", "progress_percent": 40, "reported_on": "2025-05-02"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["reported_by"], partner_id.as_str());
        assert_eq!(r.body["progress_percent"], 40);
        assert_eq!(r.body["reported_on"], "2025-05-02");
        assert_eq!(r.body["milestone_id"], id.as_str());
        let location = r.header("location").expect("location").to_owned();
        assert_eq!(location, format!("{reports}/{}", r.id()));
        assert_eq!(
            app.get_as(&partner, &location).await.body["note"],
            "Panels arrived in Nuku'alofa"
        );

        let listed = app.get_as(&partner, &reports).await;
        assert_eq!(ids(&listed), vec![r.id()]);

        let forbidden = [
            app.patch_as(
                &partner,
                &format!("/api/v1/milestones/{id}"),
                json!({"due_on": "2025-07-01"}),
            )
            .await,
            app.post_as(
                &partner,
                &format!("/api/v1/milestones/{id}/transitions"),
                json!({"to": "in_progress"}),
            )
            .await,
            app.post_as(
                &partner,
                &format!("/api/v1/milestones/{id}/achieve"),
                json!({"achieved_on": "2025-05-01", "evidence": "x"}),
            )
            .await,
            app.post_as(
                &partner,
                &format!("/api/v1/projects/{own}/milestones"),
                milestone_body("x", "2025-01-01"),
            )
            .await,
        ];
        for r in forbidden {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
            assert_eq!(r.code(), "forbidden");
        }
        let after = app.get(&format!("/api/v1/milestones/{id}")).await;
        assert_eq!(
            (after.body["status"].clone(), after.body["version"].clone()),
            (json!("planned"), json!(1))
        );
    })
    .await;
}

#[tokio::test]
async fn a_report_defaults_to_today_and_an_admin_may_post_one() {
    each_backend(|app| async move {
        let project = app.project("admin-report", &["TO"]).await;
        let id = milestone(&app, &project, "training", "2025-06-01").await;
        let before = chrono::Utc::now().date_naive().to_string();
        let r = app
            .post(
                &format!("/api/v1/milestones/{id}/reports"),
                json!({"note": "Half the trainees certified"}),
            )
            .await;
        let after = chrono::Utc::now().date_naive().to_string();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // Either side of a UTC midnight the request may have straddled.
        let reported_on = r.body["reported_on"].as_str().unwrap_or_default();
        assert!(reported_on == before || reported_on == after, "{reported_on}");
        assert_eq!(r.body["progress_percent"], Value::Null);
        assert!(r.body["reported_by"].is_string());
    })
    .await;
}

#[tokio::test]
async fn a_viewer_reads_milestones_but_cannot_post_reports() {
    each_backend(|app| async move {
        let project = app.project("viewed", &["TO"]).await;
        let id = milestone(&app, &project, "seen", "2025-06-01").await;
        let (_, viewer) = token(&app, Role::Viewer, None).await;
        assert_eq!(
            app.get_as(&viewer, &format!("/api/v1/milestones/{id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(ids(&app.get_as(&viewer, "/api/v1/milestones").await), vec![id.clone()]);
        assert_eq!(
            app.get_as(&viewer, &format!("/api/v1/milestones/{id}/reports"))
                .await
                .status,
            StatusCode::OK
        );
        let r = app
            .post_as(
                &viewer,
                &format!("/api/v1/milestones/{id}/reports"),
                json!({"note": "looks fine"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "forbidden");
        let m = app
            .post_as(
                &viewer,
                &format!("/api/v1/projects/{project}/milestones"),
                milestone_body("x", "2025-01-01"),
            )
            .await;
        assert_eq!(m.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn a_report_needs_a_note_and_a_percent_from_0_to_100() {
    each_backend(|app| async move {
        let project = app.project("percent", &["TO"]).await;
        let id = milestone(&app, &project, "measured", "2025-06-01").await;
        let path = format!("/api/v1/milestones/{id}/reports");
        let r = app.post(&path, json!({"progress_percent": 101})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.fields(), vec!["note", "progress_percent"]);
        for bad in [json!(-1), json!(12.5), json!("50")] {
            let r = app.post(&path, json!({"note": "x", "progress_percent": bad})).await;
            assert_eq!(r.fields(), vec!["progress_percent"], "{bad}");
        }
        let future = app.post(&path, json!({"note": "x", "reported_on": "2100-01-01"})).await;
        assert_eq!(future.fields(), vec!["reported_on"]);
        for edge in [0, 100] {
            let r = app.post(&path, json!({"note": "edge", "progress_percent": edge})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{edge}: {}", r.body);
        }
    })
    .await;
}

#[tokio::test]
async fn every_milestone_change_writes_one_audit_event() {
    each_backend(|app| async move {
        let project = app.project("audited", &["TO"]).await;
        let id = milestone(&app, &project, "audited", "2025-06-01").await;
        app.patch(&format!("/api/v1/milestones/{id}"), json!({"due_on": "2025-06-30"}))
            .await;
        move_to(&app, &id, "in_progress").await;
        app.post(
            &format!("/api/v1/milestones/{id}/achieve"),
            json!({"achieved_on": "2025-06-20", "evidence": "signed off"}),
        )
        .await;
        // A refused change leaves no trace.
        move_to(&app, &id, "missed").await;
        let report = app
            .post(
                &format!("/api/v1/milestones/{id}/reports"),
                json!({"note": "closing note"}),
            )
            .await;

        let milestone_id: uuid::Uuid = id.parse().expect("uuid");
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::EntityId.eq(milestone_id))
            .order_by_asc(audit_event::Column::Id)
            .all(&app.db)
            .await
            .expect("audit events");
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "update", "transition:in_progress", "achieve"]);
        assert!(
            events
                .iter()
                .all(|e| e.entity_type == "milestone" && e.token_name == "test admin")
        );
        let transition = &events[2];
        assert_eq!(
            transition.before.as_ref().map(|b| b["status"].clone()),
            Some(json!("planned"))
        );
        assert_eq!(
            transition.after.as_ref().map(|a| a["note"].clone()),
            Some(json!("board decision"))
        );
        assert_eq!(
            events[3].after.as_ref().map(|a| a["evidence"].clone()),
            Some(json!("signed off"))
        );

        let report_id: uuid::Uuid = report.id().parse().expect("uuid");
        let report_events = audit_event::Entity::find()
            .filter(audit_event::Column::EntityId.eq(report_id))
            .all(&app.db)
            .await
            .expect("audit events");
        assert_eq!(report_events.len(), 1);
        assert_eq!(
            (report_events[0].action.as_str(), report_events[0].entity_type.as_str()),
            ("create", "progress_report")
        );
    })
    .await;
}
