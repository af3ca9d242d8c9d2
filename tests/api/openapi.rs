//! The committed OpenAPI document is exactly what the code generates.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = climate_tracker::http::openapi().to_pretty_json().expect("serializable");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json exists (make openapi)");
    assert!(
        generated.trim() == committed.trim(),
        "openapi/openapi.json differs from the code: run `make openapi`"
    );
}

#[test]
fn every_api_operation_documents_auth_and_problems() {
    let doc = serde_json::to_value(climate_tracker::http::openapi()).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.keys().any(|p| p == "/api/v1/institutions"));
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/api/v1")) {
        for (method, op) in item.as_object().expect("operations") {
            let responses = op["responses"].as_object().expect("responses");
            for code in ["401", "403", "422", "503"] {
                assert!(responses.contains_key(code), "{method} {path} does not document {code}");
            }
        }
    }
}
