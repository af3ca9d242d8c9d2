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

/// A generated client gets one type per resource: a list's items name the
/// resource's schema instead of repeating it inline.
#[test]
fn list_items_refer_to_the_resource_schema() {
    let doc = serde_json::to_value(climate_tracker::http::openapi()).expect("json");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let pages: Vec<_> = schemas.iter().filter(|(name, _)| name.starts_with("Page_")).collect();
    assert!(pages.len() >= 10);
    for (name, page) in pages {
        let item = name.trim_start_matches("Page_");
        assert_eq!(
            page["properties"]["items"]["items"]["$ref"],
            format!("#/components/schemas/{item}"),
            "{name}"
        );
        assert!(schemas.contains_key(item), "{item} is not a component");
    }
}

/// What the service refuses, the document says where a schema can: at
/// least one country, positive amounts where money is paid or awarded.
#[test]
fn the_document_states_the_rules_a_schema_can_state() {
    let doc = serde_json::to_value(climate_tracker::http::openapi()).expect("json");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["NewProject"]["properties"]["countries"]["minItems"], 1);
    assert_eq!(schemas["ProjectChanges"]["properties"]["countries"]["minItems"], 1);
    for (body, field) in [
        ("NewGrant", "amount"),
        ("NewDisbursement", "amount"),
        ("NewTranche", "amount"),
        ("NewContribution", "amount"),
    ] {
        assert_eq!(
            schemas[body]["properties"][field]["$ref"], "#/components/schemas/PositiveMoney",
            "{body}.{field}"
        );
    }
    let pattern = schemas["PositiveMoney"]["properties"]["amount"]["pattern"]
        .as_str()
        .unwrap();
    let positive = regex::Regex::new(pattern).unwrap();
    assert!(positive.is_match("0.01") && positive.is_match("25.00"));
    assert!(!positive.is_match("0.00") && !positive.is_match("-5.00"));

    // Text refuses control characters and bidi controls, in plain and localized text alike.
    for text in [
        &schemas["Line"],
        &schemas["Note"],
        &schemas["ShortText"]["additionalProperties"],
        &schemas["LongText"]["additionalProperties"],
    ] {
        let pattern = regex::Regex::new(text["pattern"].as_str().expect("a pattern")).unwrap();
        assert!(pattern.is_match("Tonga Institute of Education") && pattern.is_match("聊城大学\n第二行\tx"));
        assert!(!pattern.is_match("Tonga\u{202e}gnp.exe"), "a bidi override");
        assert!(
            !pattern.is_match("nul\u{0}byte") && !pattern.is_match("bell\u{7}"),
            "a control character"
        );
    }
}
