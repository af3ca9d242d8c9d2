//! What crosses a slow link (SPEC §12): compressed answers by
//! `Accept-Encoding`, 304 for what the client already holds, and the
//! page's assets under content-hashed names kept for a year.

use crate::common::{TestApp, each_backend};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::io::Read;
use tower::ServiceExt;

/// An answer as bytes on the wire, with its headers.
async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("authorization", format!("Bearer {}", app.admin));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("router never fails");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn decode(encoding: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Some("br") => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .expect("valid brotli");
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        None => out = bytes.to_vec(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Enough projects, each with a grant, that the list and every export are
/// well over 1 KiB.
async fn some_projects(app: &TestApp) {
    let sponsor = app.institution("xinfa", "CN").await;
    let college = app.institution("kiribati-college", "KI").await;
    let fund = app.fund("slow-fund", "CNY", &sponsor, "1000.00").await;
    for i in 0..8 {
        let p = app.project(&format!("slow-link-{i}"), &["KI", "TO"]).await;
        app.participate(&p, &college, "lead").await;
        let r = app
            .post(
                "/api/v1/grants",
                json!({"fund_id": fund, "project_id": p, "recipient_institution_id": college,
                    "title": {"en": format!("Grant {i}")}, "amount": {"amount": "100.00", "currency": "CNY"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // Awarded, so the 360Giving package lists it.
        for to in ["submitted", "approved"] {
            let t = app
                .post(&format!("/api/v1/grants/{}/transitions", r.id()), json!({"to": to}))
                .await;
            assert_eq!(t.status, StatusCode::OK, "{}", t.body);
        }
    }
}

#[tokio::test]
async fn every_kind_of_text_is_compressed_br_first_then_gzip_and_decodes_to_the_same_bytes() {
    each_backend(|app| async move {
        some_projects(&app).await;
        for (path, kind) in [
            ("/api/v1/projects?limit=50", "application/json"),
            ("/api/v1/exports/grants.csv", "text/csv"),
            ("/api/v1/exports/360giving.json", "application/json"),
            ("/api/v1/exports/iati-activities.xml", "application/xml"),
            ("/", "text/html"),
            ("/assets/dashboard.js", "text/javascript"),
            ("/assets/dashboard.css", "text/css"),
        ] {
            let (status, plain_headers, plain) = fetch(&app, path, &[]).await;
            if path.contains("360giving") || path.contains("iati") {
                assert_ne!(
                    undated(&plain),
                    plain,
                    "{path}: its timestamp is found (and set aside below)"
                );
            }
            assert!(
                header(&plain_headers, "content-type").is_some_and(|t| t.starts_with(kind)),
                "{path}: {:?}",
                plain_headers
            );
            assert_eq!(
                header(&plain_headers, "content-encoding"),
                None,
                "{path}: asked for none"
            );
            for (accept, expected) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
                let (again, headers, bytes) = fetch(&app, path, &[("accept-encoding", accept)]).await;
                assert_eq!(again, status, "{path}");
                if plain.len() < 1024 && header(&plain_headers, "content-length").is_some() {
                    assert_eq!(header(&headers, "content-encoding"), None, "{path}: under 1 KiB");
                    continue;
                }
                assert_eq!(
                    header(&headers, "content-encoding"),
                    Some(expected),
                    "{path} with {accept}"
                );
                assert!(bytes.len() < plain.len(), "{path}: {} !< {}", bytes.len(), plain.len());
                assert_eq!(
                    undated(&decode(Some(expected), &bytes)),
                    undated(&plain),
                    "{path} with {accept}"
                );
                assert!(
                    header(&headers, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
                    "{path}: Vary"
                );
            }
        }
        // Every one of them is over 1 KiB here, so the loop did compress each.
        for path in [
            "/api/v1/projects?limit=50",
            "/api/v1/exports/grants.csv",
            "/api/v1/exports/360giving.json",
        ] {
            let (_, _, plain) = fetch(&app, path, &[]).await;
            assert!(plain.len() >= 1024, "{path} is {} bytes", plain.len());
        }
    })
    .await;
}

#[tokio::test]
async fn a_small_answer_is_sent_as_it_is() {
    let app = TestApp::sqlite().await;
    let (status, headers, bytes) = fetch(&app, "/api/v1/alliances?limit=1", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.len() < 1024, "{} bytes", bytes.len());
    assert_eq!(header(&headers, "content-encoding"), None);
    serde_json::from_slice::<Value>(&bytes).expect("plain JSON");
}

#[tokio::test]
async fn a_resource_the_client_holds_is_answered_304_until_it_changes() {
    each_backend(|app| async move {
        let id = app.project("conditional", &["TO"]).await;
        let path = format!("/api/v1/projects/{id}");
        let (status, headers, _) = fetch(&app, &path, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let etag = header(&headers, "etag").expect("an ETag").to_owned();

        let (status, headers, body) = fetch(&app, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty(), "no body");
        assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
        assert_eq!(header(&headers, "cache-control"), Some("private, no-cache"));
        let weak = format!("W/{etag}");
        let (status, _, _) = fetch(&app, &path, &[("if-none-match", &format!("\"999\", {weak}"))]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "a list, and a weak tag");

        let r = app
            .request(
                Method::PATCH,
                &path,
                Some(&app.admin.clone()),
                Some(json!({"title": {"en": "Renamed"}})),
                &[("if-match", &etag)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let (status, headers, body) = fetch(&app, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::OK, "changed since");
        assert_ne!(header(&headers, "etag"), Some(etag.as_str()));
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["title"]["en"], "Renamed");

        // Another resource with the same version is not the one the client holds.
        let other = app.project("conditional-2", &["TO"]).await;
        let (status, _, _) = fetch(
            &app,
            &format!("/api/v1/projects/{other}"),
            &[("if-none-match", "\"1\"")],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::NOT_MODIFIED,
            "same version, same view: a 304 is right"
        );
        // A write is never answered 304.
        let r = app
            .request(
                Method::PATCH,
                &format!("/api/v1/projects/{other}"),
                Some(&app.admin.clone()),
                Some(json!({"title": {"en": "Again"}})),
                &[("if-none-match", "*")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn a_view_that_changes_without_a_new_version_is_always_sent() {
    each_backend(|app| async move {
        let project = app.project("overdue-view", &["TO"]).await;
        let r = app
            .post(
                &format!("/api/v1/projects/{project}/milestones"),
                json!({"title": {"en": "Panels"}, "due_on": "2020-01-01"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let path = format!("/api/v1/milestones/{}", r.id());
        let (_, headers, _) = fetch(&app, &path, &[]).await;
        let etag = header(&headers, "etag").expect("an ETag").to_owned();
        // `overdue` is judged on today: the same version may read differently tomorrow.
        let (status, _, body) = fetch(&app, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_page_names_its_assets_by_content_and_they_are_kept_for_a_year() {
    let app = TestApp::sqlite().await;
    let (status, headers, page) = fetch(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let etag = header(&headers, "etag").expect("an ETag").to_owned();
    let (status, _, body) = fetch(&app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));

    let html = String::from_utf8(page).expect("UTF-8");
    let named = regex::Regex::new(r#""/assets/([a-z]+)\.([0-9a-f]{16})\.(js|css|svg)""#).expect("regex");
    let found: Vec<(String, String, String)> = named
        .captures_iter(&html)
        .map(|c| (c[1].to_owned(), c[2].to_owned(), c[3].to_owned()))
        .collect();
    assert_eq!(found.len(), 3, "the script, the styles and the icon: {html}");
    for (stem, hash, ext) in found {
        let (status, headers, hashed) = fetch(&app, &format!("/assets/{stem}.{hash}.{ext}"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header(&headers, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        // The name is the content's: the plain name serves the same bytes, revalidated.
        let (_, plain_headers, plain) = fetch(&app, &format!("/assets/{stem}.{ext}"), &[]).await;
        assert_eq!(hashed, plain);
        assert_eq!(header(&plain_headers, "cache-control"), Some("no-cache"));
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(&plain)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, hash, "{stem}.{ext}");
    }
}

/// The bytes without the export's own timestamp (the IATI file's
/// `generated-datetime`, the 360Giving package's `issued`), which moves on
/// when two fetches straddle a second.
fn undated(bytes: &[u8]) -> Vec<u8> {
    let stamp = regex::bytes::Regex::new(r#"(generated-datetime="|"issued":")[^"]*""#).expect("pattern");
    stamp.replace_all(bytes, &b"${1}\""[..]).into_owned()
}
