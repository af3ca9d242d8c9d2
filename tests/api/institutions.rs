use crate::common::each_backend;
use axum::http::StatusCode;

#[tokio::test]
async fn an_institution_is_created_read_and_listed() {
    each_backend(|app| async move {
        let id = app.institution("university-of-tonga", "TO").await;
        let r = app.get(&format!("/api/v1/institutions/{id}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["country"], "TO");
        assert_eq!(r.header("etag"), Some("\"1\""));
        let list = app.get("/api/v1/institutions?country=TO").await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    })
    .await;
}
