//! Open-data exports on a realistic dataset built through the API: two
//! funds of two sponsors in CNY and USD, names in English and Chinese with
//! commas, quotes and line breaks, a reversal, a completed grant with money
//! left and a cancelled grant that had been paid in part.
//!
//! The 360Giving package is validated with `jsonschema` against the
//! repository's copy of the official schemas, the IATI file with `xmllint`
//! against the repository's copy of the IATI 2.03 XSD.

use crate::common::{TestApp, each_backend};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use tower::ServiceExt;

const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
const PREFIX: &str = "360G-climatetracker-";

fn money(amount: &str, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency})
}

pub(crate) struct Download {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) bytes: Vec<u8>,
}

impl Download {
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).expect("exports are UTF-8")
    }
    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A GET whose body is kept as bytes, exactly as sent.
pub(crate) async fn download(app: &TestApp, token: &str, path: &str) -> Download {
    let req = Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let res = app.router.clone().oneshot(req).await.expect("router never fails");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes().to_vec();
    Download { status, headers, bytes }
}

async fn created(app: &TestApp, path: &str, body: Value) -> String {
    let r = app.post(path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {}", r.body);
    r.id()
}

async fn transition(app: &TestApp, grant: &str, to: &str) {
    let r = app
        .post(&format!("/api/v1/grants/{grant}/transitions"), json!({"to": to}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "grant → {to}: {}", r.body);
}

async fn approve(app: &TestApp, grant: &str) {
    transition(app, grant, "submitted").await;
    transition(app, grant, "approved").await;
}

async fn pay(app: &TestApp, grant: &str, amount: &str, currency: &str) -> String {
    created(
        app,
        &format!("/api/v1/grants/{grant}/disbursements"),
        json!({"amount": money(amount, currency), "paid_on": "2025-03-01"}),
    )
    .await
}

const TONGA_EN: &str = "University of Tonga, \"Nuku'alofa\"\nMain campus";
const TONGA_ZH: &str = "汤加大学，“努库阿洛法”";

struct Data {
    cny_fund: String,
    usd_fund: String,
    solar: String,
    seawall: String,
    tonga: String,
    betio: String,
    trust: String,
    /// active, CNY, paid 100000.01 net after a reversal
    g_solar_cny: String,
    /// completed, USD, 1250.50 paid of 5000.00
    g_solar_usd: String,
    /// cancelled, CNY, 1000.00 paid of 3000.00
    g_seawall_cancelled: String,
    /// draft, CNY
    g_seawall_draft: String,
    /// approved, USD, nothing paid
    g_seawall_usd: String,
}

async fn dataset(app: &TestApp) -> Data {
    let institution = |code: &str, name: Value, kind: &str, country: &str, extra: Value| {
        let mut body = json!({"code": code, "name": name, "kind": kind, "country": country});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        created(app, "/api/v1/institutions", body)
    };
    let xinfa = institution(
        "xinfa-foundation",
        json!({"en": "Xinfa Group Foundation", "zh": "信发集团基金会"}),
        "foundation",
        "CN",
        json!({"iati_org_id": "CN-USCC-XINFA0001", "city": "Liaocheng"}),
    )
    .await;
    let trust = institution(
        "pacific-trust",
        json!({"en": "Pacific Climate Trust"}),
        "ngo",
        "FJ",
        json!({"website": "https://pacific-trust.example.org/"}),
    )
    .await;
    let lcu = institution(
        "liaocheng-university",
        json!({"en": "Liaocheng University", "zh": "聊城大学"}),
        "university",
        "CN",
        json!({}),
    )
    .await;
    let tonga = institution(
        "tonga-university",
        json!({"en": TONGA_EN, "zh": TONGA_ZH}),
        "university",
        "TO",
        json!({"website": "not a web address"}),
    )
    .await;
    let betio = institution(
        "betio-council",
        json!({"en": "=Betio Town Council", "zh": "贝蒂奥镇议会"}),
        "local_government",
        "KI",
        json!({}),
    )
    .await;

    let fund = |code: &str, currency: &str, sponsor: &str| {
        created(
            app,
            "/api/v1/funds",
            json!({"code": code, "name": {"en": format!("Fund {code}"), "zh": "基金"}, "currency": currency,
                "sponsor_institution_id": sponsor, "established_on": "2024-10-19", "focus_areas": []}),
        )
    };
    let cny_fund = fund("liaocheng-fund", "CNY", &xinfa).await;
    let usd_fund = fund("pacific-fund", "USD", &trust).await;
    created(
        app,
        &format!("/api/v1/funds/{cny_fund}/contributions"),
        json!({"contributor_institution_id": xinfa, "amount": money("5000000.00", "CNY"), "received_on": "2024-11-01"}),
    )
    .await;
    created(
        app,
        &format!("/api/v1/funds/{usd_fund}/contributions"),
        json!({"contributor_institution_id": trust, "amount": money("100000.00", "USD"), "received_on": "2024-11-02"}),
    )
    .await;

    let solar = created(
        app,
        "/api/v1/projects",
        json!({"code": "tonga-solar", "title": {"en": "Solar power for Tonga", "zh": "汤加太阳能"},
            "sector": "clean_energy", "countries": ["TO"], "rio_markers": {"mitigation": 2, "adaptation": 0},
            "planned_start": "2025-01-01", "planned_end": "2026-06-30"}),
    )
    .await;
    let seawall = created(
        app,
        "/api/v1/projects",
        json!({"code": "pacific-seawalls", "title": {"en": "Seawalls <for> Kiribati & Tuvalu"},
            "summary": {"en": "Coastal protection, phase 1", "zh": "海岸防护，第一期"},
            "sector": "climate_adaptation", "countries": ["KI", "TV", "FJ"], "rio_markers": {"mitigation": 0, "adaptation": 2},
            "planned_start": "2025-02-01", "planned_end": "2027-01-31"}),
    )
    .await;
    for (project, institution, role) in [
        (&solar, &lcu, "lead"),
        (&solar, &tonga, "implementing"),
        (&seawall, &lcu, "lead"),
        (&seawall, &betio, "beneficiary"),
        (&seawall, &trust, "funding"),
    ] {
        app.participate(project, institution, role).await;
    }
    let r = app
        .post(
            &format!("/api/v1/projects/{solar}/transitions"),
            json!({"to": "active"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let grant = |code: Option<&str>, fund: &str, project: &str, recipient: &str, title: Value, amount: Value| {
        created(
            app,
            "/api/v1/grants",
            json!({"code": code, "fund_id": fund, "project_id": project, "recipient_institution_id": recipient,
                "title": title, "amount": amount}),
        )
    };
    let g_solar_cny = grant(
        Some("solar-panels-2025"),
        &cny_fund,
        &solar,
        &tonga,
        json!({"en": "Solar panels, \"phase 1\"", "zh": "太阳能板，第一期"}),
        money("1234567.89", "CNY"),
    )
    .await;
    approve(app, &g_solar_cny).await;
    pay(app, &g_solar_cny, "100000.01", "CNY").await;
    let wrong = pay(app, &g_solar_cny, "200.00", "CNY").await;
    created(
        app,
        &format!("/api/v1/disbursements/{wrong}/reversal"),
        json!({"reason": "paid twice"}),
    )
    .await;

    let g_solar_usd = grant(
        None,
        &usd_fund,
        &solar,
        &tonga,
        json!({"en": "Installer training"}),
        money("5000.00", "USD"),
    )
    .await;
    approve(app, &g_solar_usd).await;
    pay(app, &g_solar_usd, "1250.50", "USD").await;
    transition(app, &g_solar_usd, "completed").await;

    let g_seawall_cancelled = grant(
        Some("seawall-2025"),
        &cny_fund,
        &seawall,
        &betio,
        json!({"en": "Seawall design"}),
        money("3000.00", "CNY"),
    )
    .await;
    approve(app, &g_seawall_cancelled).await;
    pay(app, &g_seawall_cancelled, "1000.00", "CNY").await;
    transition(app, &g_seawall_cancelled, "cancelled").await;

    let g_seawall_draft = grant(
        None,
        &cny_fund,
        &seawall,
        &betio,
        json!({"en": "Draft idea"}),
        money("50.00", "CNY"),
    )
    .await;
    let g_seawall_usd = grant(
        None,
        &usd_fund,
        &seawall,
        &betio,
        json!({"zh": "海堤材料"}),
        money("700.05", "USD"),
    )
    .await;
    approve(app, &g_seawall_usd).await;

    Data {
        cny_fund,
        usd_fund,
        solar,
        seawall,
        tonga,
        betio,
        trust,
        g_solar_cny,
        g_solar_usd,
        g_seawall_cancelled,
        g_seawall_draft,
        g_seawall_usd,
    }
}

// ---------------------------------------------------------------- CSV

/// The CSV parsed by the `csv` crate: rows keyed by column name.
fn csv_rows(d: &Download) -> Vec<BTreeMap<String, String>> {
    let body = d
        .bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("the CSV starts with a UTF-8 BOM");
    let mut reader = csv::Reader::from_reader(body);
    let header: Vec<String> = reader.headers().expect("header").iter().map(String::from).collect();
    assert_eq!(header.first().map(String::as_str), Some("grant_id"));
    reader
        .records()
        .map(|r| {
            let r = r.expect("well-formed row");
            header.iter().cloned().zip(r.iter().map(String::from)).collect()
        })
        .collect()
}

fn by_grant(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, BTreeMap<String, String>> {
    rows.iter().map(|r| (r["grant_id"].clone(), r.clone())).collect()
}

#[tokio::test]
async fn csv_has_one_row_a_grant_with_exact_amounts_and_round_trips() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let out = download(&app, &app.admin, "/api/v1/exports/grants.csv").await;
        assert_eq!(out.status, StatusCode::OK, "{}", String::from_utf8_lossy(&out.bytes));
        assert!(out.content_type().starts_with("text/csv"), "{}", out.content_type());
        assert!(out.bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM first");
        assert!(
            out.headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains("grants.csv")
        );
        let rows = by_grant(&csv_rows(&out));
        assert_eq!(rows.len(), 5, "every grant, whatever its status");

        let solar = &rows[&d.g_solar_cny];
        assert_eq!(solar["grant_code"], "solar-panels-2025");
        assert_eq!(solar["grant_title"], "Solar panels, \"phase 1\"");
        assert_eq!(solar["status"], "active");
        assert_eq!(solar["currency"], "CNY");
        assert_eq!(solar["awarded"], "1234567.89");
        assert_eq!(solar["disbursed"], "100000.01", "net of the reversal");
        assert_eq!(solar["recipient_id"], d.tonga);
        assert_eq!(
            solar["recipient_name_en"], TONGA_EN,
            "commas, quotes and a newline survive"
        );
        assert_eq!(solar["recipient_name_zh"], TONGA_ZH);
        assert_eq!(solar["recipient_country"], "TO");
        assert_eq!(solar["fund_id"], d.cny_fund);
        assert_eq!(solar["fund_code"], "liaocheng-fund");
        assert_eq!(solar["project_id"], d.solar);
        assert_eq!(solar["project_code"], "tonga-solar");
        assert_eq!(solar["decided_on"].len(), 10);
        assert!(solar["created_at"].ends_with('Z'));

        let usd = &rows[&d.g_solar_usd];
        assert_eq!((usd["currency"].as_str(), usd["awarded"].as_str()), ("USD", "5000.00"));
        assert_eq!(
            (usd["status"].as_str(), usd["disbursed"].as_str()),
            ("completed", "1250.50")
        );
        assert_eq!(usd["grant_code"], "");

        let cancelled = &rows[&d.g_seawall_cancelled];
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["recipient_id"], d.betio);
        assert_eq!(cancelled["disbursed"], "1000.00");
        assert_eq!(
            cancelled["recipient_name_en"], "'=Betio Town Council",
            "a formula-like name is defused"
        );
        assert_eq!(cancelled["recipient_name_zh"], "贝蒂奥镇议会");
        assert_eq!(rows[&d.g_seawall_draft]["decided_on"], "", "a draft is not decided");
        assert_eq!(rows[&d.g_seawall_draft]["status"], "draft");
        assert_eq!(rows[&d.g_seawall_usd]["awarded"], "700.05");

        // Quoting as RFC 4180 has it: the field in quotes, inner quotes doubled, the newline kept.
        assert!(
            out.text()
                .contains("\"University of Tonga, \"\"Nuku'alofa\"\"\nMain campus\""),
            "{}",
            out.text()
        );
        assert!(out.text().contains("\r\n"), "CRLF line ends");
    })
    .await;
}

// ---------------------------------------------------------------- 360Giving

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validates against the package schema, whose `$ref` to the grant schema is
/// resolved from the repository's copy: nothing is fetched from the network.
fn assert_valid_360giving(package: &Value) {
    let errors = errors_360giving(package);
    assert!(errors.is_empty(), "not valid 360Giving:\n{}", errors.join("\n"));
}

fn errors_360giving(package: &Value) -> Vec<String> {
    let dir = Path::new(SCHEMAS).join("360giving");
    let package_schema = read_json(&dir.join("360-giving-package-schema.json"));
    let grant_schema = read_json(&dir.join("360-giving-schema.json"));
    let grant_ref = package_schema["properties"]["grants"]["items"]["$ref"]
        .as_str()
        .expect("the package schema refers to the grant schema")
        .to_owned();
    let registry = jsonschema::Registry::new()
        .draft(jsonschema::Draft::Draft202012)
        .add(&grant_ref, grant_schema)
        .and_then(|b| b.prepare())
        .expect("registry");
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_registry(&registry)
        // The schema's dates are `oneOf` a date-time format and a date pattern:
        // only with formats checked does a plain date match exactly one.
        .should_validate_formats(true)
        .build(&package_schema)
        .expect("the 360Giving schema compiles offline");
    validator
        .iter_errors(package)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn grants_by_id(package: &Value) -> BTreeMap<String, Value> {
    package["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .map(|g| (g["id"].as_str().expect("id").to_owned(), g.clone()))
        .collect()
}

#[tokio::test]
async fn giving_package_is_valid_360giving_with_awarded_grants_only() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let out = download(&app, &app.admin, "/api/v1/exports/360giving.json").await;
        assert_eq!(out.status, StatusCode::OK, "{}", out.text());
        assert!(out.content_type().starts_with("application/json"));
        let package: Value = serde_json::from_slice(&out.bytes).expect("JSON");
        assert_valid_360giving(&package);
        assert_eq!(package["version"], "1.4");

        let grants = grants_by_id(&package);
        let solar_id = format!("{PREFIX}solar-panels-2025");
        let usd_id = format!("{PREFIX}{}", d.g_solar_usd);
        let approved_id = format!("{PREFIX}{}", d.g_seawall_usd);
        assert_eq!(
            grants.keys().cloned().collect::<HashSet<_>>(),
            HashSet::from([solar_id.clone(), usd_id.clone(), approved_id.clone()]),
            "approved, active and completed grants; not the draft nor the cancelled one"
        );
        // Amounts are JSON numbers written from minor units, digit for digit.
        assert!(out.text().contains(r#""amountAwarded":1234567.89"#), "{}", out.text());
        assert!(out.text().contains(r#""amountDisbursed":100000.01"#));
        assert!(out.text().contains(r#""amountAwarded":700.05"#));

        let solar = &grants[&solar_id];
        assert_eq!(solar["currency"], "CNY");
        assert_eq!(solar["title"], "Solar panels, \"phase 1\"");
        assert_eq!(
            solar["recipientOrganization"][0]["id"],
            format!("{PREFIX}org-{}", d.tonga)
        );
        assert_eq!(solar["recipientOrganization"][0]["name"], TONGA_EN);
        assert_eq!(solar["recipientOrganization"][0]["alternateName"], TONGA_ZH);
        assert!(
            solar["recipientOrganization"][0].get("url").is_none(),
            "a website that is not a URI is left out"
        );
        assert_eq!(solar["fundingOrganization"][0]["id"], "CN-USCC-XINFA0001");
        assert_eq!(solar["fundingOrganization"][0]["name"], "Xinfa Group Foundation");
        assert_eq!(solar["grantProgramme"][0]["code"], "liaocheng-fund");
        assert_eq!(
            solar["plannedDates"][0],
            json!({"startDate": "2025-01-01", "endDate": "2026-06-30"})
        );
        assert_eq!(
            solar["beneficiaryLocation"],
            json!([{"countryCode": "TO", "name": "Tonga"}])
        );
        let rio: Vec<(&str, &str)> = solar["classifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["vocabulary"].as_str().unwrap(), c["code"].as_str().unwrap()))
            .collect();
        assert!(rio.contains(&("OECD-DAC-Rio-marker:climate-change-mitigation", "2")));
        assert!(rio.contains(&("OECD-DAC-Rio-marker:climate-change-adaptation", "0")));
        assert!(rio.contains(&("climate-tracker:sector", "clean_energy")));
        // The reversed payment and its reversal net to nothing: one payment stands.
        let paid = solar["disbursementTransaction"].as_array().expect("payments");
        assert_eq!(paid.len(), 1, "{paid:?}");
        assert!(out.text().contains(r#""value":100000.01"#));
        assert_eq!(paid[0]["currency"], "CNY");

        let usd = &grants[&usd_id];
        assert_eq!(usd["currency"], "USD");
        assert_eq!(usd["fundingOrganization"][0]["id"], format!("{PREFIX}org-{}", d.trust));
        assert_eq!(
            usd["fundingOrganization"][0]["url"],
            "https://pacific-trust.example.org/"
        );
        assert!(grants[&approved_id].get("disbursementTransaction").is_none());
        assert_eq!(
            grants[&approved_id]["title"], "海堤材料",
            "a title with no English keeps its language"
        );
        assert_eq!(grants[&approved_id]["beneficiaryLocation"].as_array().unwrap().len(), 3);
    })
    .await;
}

// ---------------------------------------------------------------- IATI

/// Validates with `xmllint --schema` against the repository's copy of the XSD.
pub(crate) fn assert_valid_iati(xml: &[u8]) {
    let (valid, report) = xmllint(xml);
    assert!(
        valid,
        "not valid IATI 2.03:\n{report}\n{}",
        String::from_utf8_lossy(xml)
    );
}

/// Whether the XSD accepts the document, and what xmllint said.
fn xmllint(xml: &[u8]) -> (bool, String) {
    let xsd = Path::new(SCHEMAS).join("iati-2.03/iati-activities-schema.xsd");
    let file = std::env::temp_dir().join(format!("iati-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&file, xml).expect("write the export");
    let run = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&xsd)
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    let out = run.unwrap_or_else(|e| {
        panic!("xmllint is needed to validate the IATI export (Debian: apt-get install -y libxml2-utils): {e}")
    });
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The checks would be worthless if they passed anything: break each
/// document in a way its standard forbids and see it refused.
#[tokio::test]
async fn the_validators_refuse_what_the_standards_forbid() {
    let app = TestApp::sqlite().await;
    dataset(&app).await;
    let out = download(&app, &app.admin, "/api/v1/exports/360giving.json").await;
    let package: Value = serde_json::from_slice(&out.bytes).expect("JSON");
    assert!(errors_360giving(&package).is_empty());
    for (field, broken) in [
        ("awardDate", json!("25/01/2025")),
        ("amountAwarded", json!("1234567.89")),
        ("recipientOrganization", json!([])),
        ("currency", json!("XXX1")),
    ] {
        let mut bad = package.clone();
        bad["grants"][0][field] = broken;
        assert!(!errors_360giving(&bad).is_empty(), "{field} broken yet valid");
    }
    assert!(
        !errors_360giving(&json!({"grants": []})).is_empty(),
        "a package needs a grant"
    );

    let out = download(&app, &app.admin, "/api/v1/exports/iati-activities.xml").await;
    assert!(xmllint(&out.bytes).0);
    let text = out.text();
    for (what, broken) in [
        (
            "no transaction type",
            text.replacen("<transaction-type code=\"2\"/>", "", 1),
        ),
        (
            "a value that is not a number",
            text.replacen("1234567.89", "1,234,567.89", 1),
        ),
        (
            "elements out of order",
            text.replacen("<default-finance-type code=\"110\"/>", "", 1).replacen(
                "<activity-status",
                "<default-finance-type code=\"110\"/><activity-status",
                1,
            ),
        ),
    ] {
        assert_ne!(broken, text, "{what}: nothing was broken");
        assert!(!xmllint(broken.as_bytes()).0, "{what}, yet valid");
    }
}

fn attr<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
    n.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no @{name}", n.tag_name().name()))
}

fn child<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> roxmltree::Node<'a, 'a> {
    n.children()
        .find(|c| c.has_tag_name(name))
        .unwrap_or_else(|| panic!("<{}> has no <{name}>", n.tag_name().name()))
}

fn children<'a>(n: roxmltree::Node<'a, 'a>, name: &'a str) -> impl Iterator<Item = roxmltree::Node<'a, 'a>> {
    n.children().filter(move |c| c.has_tag_name(name))
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// (transaction type, value, currency) of an activity's transactions.
fn transactions<'a>(activity: roxmltree::Node<'a, 'a>) -> Vec<(&'a str, &'a str, &'a str)> {
    children(activity, "transaction")
        .map(|t| {
            let value = child(t, "value");
            (
                attr(child(t, "transaction-type"), "code"),
                value.text().unwrap_or(""),
                attr(value, "currency"),
            )
        })
        .collect()
}

#[tokio::test]
async fn iati_file_is_valid_iati_2_03_with_one_activity_per_project_and_sponsor() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let out = download(&app, &app.admin, "/api/v1/exports/iati-activities.xml").await;
        assert_eq!(out.status, StatusCode::OK, "{}", out.text());
        assert!(out.content_type().starts_with("application/xml"));
        assert_valid_iati(&out.bytes);

        let doc = roxmltree::Document::parse(out.text()).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(
            (root.tag_name().name(), attr(root, "version")),
            ("iati-activities", "2.03")
        );
        let activities: Vec<_> = children(root, "iati-activity").collect();
        let ids: Vec<&str> = activities
            .iter()
            .map(|a| child(*a, "iati-identifier").text().unwrap_or(""))
            .collect();
        assert_eq!(ids.len(), 4, "two projects, each funded by both sponsors: {ids:?}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 4, "identifiers are unique");
        for (a, id) in activities.iter().zip(&ids) {
            let reporting = attr(child(*a, "reporting-org"), "ref");
            assert!(
                id.starts_with(&format!("{reporting}-")),
                "{id} starts with its reporting org"
            );
        }
        // Every narrative says its language.
        for n in doc.descendants().filter(|n| n.has_tag_name("narrative")) {
            assert!(n.attribute((XML_NS, "lang")).is_some(), "narrative without xml:lang");
        }

        let find = |project: &str, reporting: &str| {
            *activities
                .iter()
                .find(|a| child(**a, "iati-identifier").text() == Some(&format!("{reporting}-{project}")))
                .unwrap_or_else(|| panic!("no activity {reporting}-{project} in {ids:?}"))
        };
        let xinfa = "CN-USCC-XINFA0001";
        let solar = find(&d.solar, xinfa);
        assert_eq!(attr(child(solar, "reporting-org"), "type"), "60", "a foundation");
        assert_eq!(attr(child(solar, "activity-status"), "code"), "2", "active");
        assert_eq!(attr(child(solar, "other-identifier"), "ref"), "tonga-solar");
        let countries: Vec<_> = children(solar, "recipient-country")
            .map(|c| (attr(c, "code"), attr(c, "percentage")))
            .collect();
        assert_eq!(countries, [("TO", "100.00")]);
        let markers: Vec<_> = children(solar, "policy-marker")
            .map(|m| (attr(m, "vocabulary"), attr(m, "code"), attr(m, "significance")))
            .collect();
        assert_eq!(markers, [("1", "6", "2"), ("1", "7", "0")]);
        let roles: Vec<_> = children(solar, "participating-org")
            .map(|o| (attr(o, "role"), attr(o, "type")))
            .collect();
        assert_eq!(
            roles,
            [("1", "60"), ("2", "80"), ("4", "80")],
            "sponsor, lead, implementing"
        );
        // The recipient's name with quotes and a newline comes back as it was.
        let names: Vec<&str> = children(solar, "participating-org")
            .flat_map(|o| children(o, "narrative"))
            .filter_map(|n| n.text())
            .collect();
        assert!(names.contains(&TONGA_EN) && names.contains(&TONGA_ZH), "{names:?}");
        assert_eq!(
            transactions(solar),
            [
                ("2", "1234567.89", "CNY"),
                ("3", "100000.01", "CNY"),
                ("3", "200.00", "CNY"),
                ("3", "-200.00", "CNY"),
            ],
            "the commitment, the payments, and the reversal as a negative disbursement"
        );

        let seawall = find(&d.seawall, xinfa);
        let shares: Vec<_> = children(seawall, "recipient-country")
            .map(|c| (attr(c, "code"), attr(c, "percentage")))
            .collect();
        assert_eq!(
            shares,
            [("KI", "33.34"), ("TV", "33.33"), ("FJ", "33.33")],
            "shares sum to 100"
        );
        assert_eq!(
            transactions(seawall),
            [
                ("2", "3000.00", "CNY"),
                ("2", "-2000.00", "CNY"),
                ("3", "1000.00", "CNY")
            ],
            "the cancelled grant's commitment comes down to what it paid"
        );
        let description = child(seawall, "description");
        assert_eq!(
            children(description, "narrative").count(),
            2,
            "the summary in en and zh"
        );
        let title = child(child(seawall, "title"), "narrative").text();
        assert_eq!(title, Some("Seawalls <for> Kiribati & Tuvalu"), "escaped and read back");
        let roles: Vec<_> = children(seawall, "participating-org")
            .map(|o| (attr(o, "role"), attr(o, "type"), attr(o, "ref").to_owned()))
            .collect();
        assert_eq!(
            roles,
            [
                ("1", "60", xinfa.to_owned()),
                ("1", "22", format!("{PREFIX}org-{}", d.trust)),
                ("2", "80", roles[2].2.clone()),
                ("4", "11", format!("{PREFIX}org-{}", d.betio)),
            ],
            "sponsor, funding participant, lead; the beneficiary as implementing because it received the grant"
        );
    })
    .await;
}

// ---------------------------------------------------------------- filters and roles

async fn csv_grant_ids(app: &TestApp, query: &str) -> HashSet<String> {
    let out = download(app, &app.admin, &format!("/api/v1/exports/grants.csv{query}")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text());
    csv_rows(&out).into_iter().map(|r| r["grant_id"].clone()).collect()
}

async fn giving_grant_count(app: &TestApp, query: &str) -> usize {
    let out = download(app, &app.admin, &format!("/api/v1/exports/360giving.json{query}")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text());
    let package: Value = serde_json::from_slice(&out.bytes).expect("JSON");
    if package["grants"].as_array().is_some_and(|g| !g.is_empty()) {
        assert_valid_360giving(&package);
    }
    package["grants"].as_array().map(Vec::len).unwrap_or(0)
}

async fn iati_activity_count(app: &TestApp, query: &str) -> usize {
    let out = download(app, &app.admin, &format!("/api/v1/exports/iati-activities.xml{query}")).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text());
    let doc = roxmltree::Document::parse(out.text()).expect("well-formed XML");
    let n = children(doc.root_element(), "iati-activity").count();
    if n > 0 {
        assert_valid_iati(&out.bytes);
    }
    n
}

#[tokio::test]
async fn filters_narrow_every_export() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>();

        let usd = format!("?fund_id={}", d.usd_fund);
        assert_eq!(
            csv_grant_ids(&app, &usd).await,
            set(&[&d.g_solar_usd, &d.g_seawall_usd])
        );
        assert_eq!(giving_grant_count(&app, &usd).await, 2);
        assert_eq!(iati_activity_count(&app, &usd).await, 2, "one sponsor, two projects");

        let seawall = format!("?project_id={}", d.seawall);
        assert_eq!(
            csv_grant_ids(&app, &seawall).await,
            set(&[&d.g_seawall_cancelled, &d.g_seawall_draft, &d.g_seawall_usd])
        );
        assert_eq!(giving_grant_count(&app, &seawall).await, 1);
        assert_eq!(iati_activity_count(&app, &seawall).await, 2);

        let both = format!("?project_id={}&fund_id={}", d.seawall, d.cny_fund);
        assert_eq!(
            csv_grant_ids(&app, &both).await,
            set(&[&d.g_seawall_cancelled, &d.g_seawall_draft])
        );
        assert_eq!(giving_grant_count(&app, &both).await, 0);
        assert_eq!(
            iati_activity_count(&app, &both).await,
            1,
            "the cancelled grant's payments are reported"
        );

        // Dates bound the decision date: undecided grants drop out.
        let decided = "?from=2000-01-01&to=2999-12-31";
        assert_eq!(csv_grant_ids(&app, decided).await.len(), 4);
        assert_eq!(giving_grant_count(&app, decided).await, 3);
        let long_ago = "?to=2000-01-01";
        assert!(csv_grant_ids(&app, long_ago).await.is_empty());
        assert_eq!(giving_grant_count(&app, long_ago).await, 0);
        assert_eq!(iati_activity_count(&app, long_ago).await, 0);

        let backwards = app
            .get("/api/v1/exports/grants.csv?from=2025-02-01&to=2025-01-01")
            .await;
        assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(backwards.fields(), ["to"]);
        // Dates are written YYYY-MM-DD, as everywhere else in the API.
        let loose = app.get("/api/v1/exports/grants.csv?from=2025-2-1").await;
        assert_eq!(loose.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", loose.body);
        assert_eq!(loose.fields(), ["from"]);
        let bad = app.get("/api/v1/exports/360giving.json?fund_id=nope").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.fields(), ["fund_id"]);
    })
    .await;
}

#[tokio::test]
async fn exports_are_403_for_partners_and_open_to_viewers() {
    each_backend(|app| async move {
        let d = dataset(&app).await;
        let partner = app.token("partner", Some(&d.tonga)).await;
        let viewer = app.token("viewer", None).await;
        for path in [
            "/api/v1/exports/grants.csv",
            "/api/v1/exports/360giving.json",
            "/api/v1/exports/iati-activities.xml",
        ] {
            let r = app.get_as(&partner, path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(r.code(), "forbidden");
            assert_eq!(download(&app, &viewer, path).await.status, StatusCode::OK, "{path}");
            let anonymous = app.request(axum::http::Method::GET, path, None, None, &[]).await;
            assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{path}");
        }
    })
    .await;
}

/// More grants than one batch: the pages join into one valid document.
#[tokio::test]
async fn exports_larger_than_one_batch_stay_whole() {
    each_backend(|app| async move {
        let sponsor = app.institution("big-sponsor", "CN").await;
        let recipient = app.institution("big-recipient", "TO").await;
        let fund = created(
            &app,
            "/api/v1/funds",
            json!({"code": "big-fund", "name": {"en": "Big"}, "currency": "CNY", "sponsor_institution_id": sponsor,
                "established_on": "2024-10-19", "focus_areas": []}),
        )
        .await;
        created(
            &app,
            &format!("/api/v1/funds/{fund}/contributions"),
            json!({"contributor_institution_id": sponsor, "amount": money("1000000.00", "CNY"), "received_on": "2024-11-01"}),
        )
        .await;
        let project = app.project("big-project", &["TO"]).await;
        app.participate(&project, &recipient, "implementing").await;
        let n = climate_tracker::export::source::GRANT_BATCH as usize + 7;
        for i in 0..n {
            let g = created(
                &app,
                "/api/v1/grants",
                json!({"fund_id": fund, "project_id": project, "recipient_institution_id": recipient,
                    "title": {"en": format!("grant {i}")}, "amount": money("1.01", "CNY")}),
            )
            .await;
            approve(&app, &g).await;
        }
        let csv = download(&app, &app.admin, "/api/v1/exports/grants.csv").await;
        let rows = csv_rows(&csv);
        assert_eq!(rows.len(), n);
        assert_eq!(rows.iter().map(|r| &r["grant_id"]).collect::<HashSet<_>>().len(), n, "no row twice");
        assert_eq!(giving_grant_count(&app, "").await, n);
        let xml = download(&app, &app.admin, "/api/v1/exports/iati-activities.xml").await;
        assert_valid_iati(&xml.bytes);
        assert_eq!(xml.text().matches("<transaction-type code=\"2\"/>").count(), n);
    })
    .await;
}
