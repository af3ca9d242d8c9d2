//! The faces of the service as a person sees them: the dashboard page at `/`
//! and the interactive docs at `/docs`, in a real headless Chromium driven
//! over WebDriver (chromedriver), against the built binary seeded with the
//! demo data. The page's JavaScript really runs; the test types a viewer
//! token as a user would and compares what the page shows with what the API
//! answers.
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them). When
//! they are missing the test fails, unless `CLIMATE_TRACKER_SKIP_BROWSER=1`.
//! Screenshots land in `target/screenshots/`.

use crate::common::{TestApp, TestDb};
use axum::http::{Method, StatusCode};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_climate-tracker");
const ADMIN: &str = "ctk_browser-test-admin-secret";
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- the page's routes (no browser needed)

#[tokio::test]
async fn the_dashboard_page_is_served_without_auth_with_its_assets_in_separate_files() {
    let app = TestApp::sqlite().await;
    let page = app.request(Method::GET, "/", None, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let html = page.body.as_str().unwrap_or_default();
    // Named by content (tests/api/transfer.rs checks the names and their caching).
    let hashed = |stem: &str, ext: &str| regex::Regex::new(&format!(r"/assets/{stem}\.[0-9a-f]{{16}}\.{ext}")).unwrap();
    assert!(hashed("dashboard", "js").is_match(html), "the script: {html}");
    assert!(hashed("dashboard", "css").is_match(html), "the styles: {html}");
    assert!(html.contains(r#"<script src="/assets/dashboard."#) && html.contains(r#".js" defer></script>"#));

    for (path, kind) in [
        ("/assets/dashboard.js", "text/javascript; charset=utf-8"),
        ("/assets/dashboard.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let r = app.request(Method::GET, path, None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), Some(kind), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
    }
    let missing = app.request(Method::GET, "/assets/nope.js", None, None, &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
}

#[tokio::test]
async fn an_unchanged_asset_is_revalidated_with_a_body_less_304() {
    let app = TestApp::sqlite().await;
    let first = app.request(Method::GET, "/assets/dashboard.js", None, None, &[]).await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = app
        .request(
            Method::GET,
            "/assets/dashboard.js",
            None,
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, Value::Null);
    let other = app
        .request(Method::GET, "/", None, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(other.status, StatusCode::OK, "another file has another ETag");
}

#[tokio::test]
async fn the_page_routes_are_not_part_of_the_api_document() {
    let doc = serde_json::to_value(climate_tracker::http::openapi()).expect("document");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.keys().all(|p| p != "/" && !p.starts_with("/assets")),
        "{:?}",
        paths.keys()
    );
}

// ---------------------------------------------------------------- processes

/// A child process, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    candidates.iter().find_map(|name| {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.is_file().then(|| p.to_path_buf());
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|c| c.is_file())
    })
}

/// Chromium and chromedriver, or `None` when the test is allowed to skip.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    // Debian's /usr/bin/chromium is a shell wrapper; the browser itself is beside its libraries.
    let chromium = find_program(&[
        "/usr/lib/chromium/chromium",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]);
    let driver = find_program(&["chromedriver", "/usr/lib/chromium/chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            if std::env::var("CLIMATE_TRACKER_SKIP_BROWSER").as_deref() == Ok("1") {
                eprintln!("browser test skipped: {missing} not installed (CLIMATE_TRACKER_SKIP_BROWSER=1)");
                return None;
            }
            panic!(
                "the browser test needs {missing}: `apt-get install -y chromium chromium-driver` \
                 (or set CLIMATE_TRACKER_SKIP_BROWSER=1 to skip it)"
            );
        }
    }
}

/// `climate-tracker seed demo`, then `serve` with a known admin secret.
async fn demo_server(db: &TestDb) -> (Running, String) {
    let seeded = Command::new(BINARY)
        .args(["seed", "demo"])
        .env("CLIMATE_TRACKER_DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run seed demo");
    assert!(
        seeded.status.success(),
        "seed demo failed: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let port = free_port();
    let mut child = Command::new(BINARY)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("CLIMATE_TRACKER_DATABASE_URL", db.url())
        .env("CLIMATE_TRACKER_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .env_remove("CLIMATE_TRACKER_BIND")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let base = format!("http://127.0.0.1:{port}");
    answers(&format!("{base}/healthz"), &mut child, "the server", String::new).await;
    (Running(child), base)
}

/// Polls `url` until it answers 200; panics, with `log()`, if `child`
/// exits first or `WAIT` passes.
async fn answers(url: &str, child: &mut Child, what: &str, log: impl Fn() -> String) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}:\n{}", log());
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// chromedriver on a free port, ready for sessions.
async fn chromedriver(driver: &Path) -> (Running, String) {
    let port = free_port();
    let mut child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromedriver");
    let pipe = child.stderr.take().expect("stderr");
    let (tx, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    answers(&format!("{url}/status"), &mut child, "chromedriver", || {
        log.try_iter().collect::<Vec<_>>().join("\n")
    })
    .await;
    (Running(child), url)
}

async fn browser(driver_url: &str, chromium: &Path, profile: &Path) -> Client {
    // No internet here: without these flags Chromium waits on the network.
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--lang=en-US",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium.display().to_string(), "args": args}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a Chromium session")
}

// ---------------------------------------------------------------- helpers

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("target/screenshots");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(name), png).expect("write screenshot");
}

async fn api(base: &str, token: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("API request");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("JSON")
}

/// "4600000.00" → "4,600,000.00": how the page groups an amount, on the string.
fn grouped(amount: &str) -> String {
    let (sign, digits) = amount.strip_prefix('-').map_or(("", amount), |d| ("-", d));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{sign}{out}{}", fraction.map(|f| format!(".{f}")).unwrap_or_default())
}

async fn css(c: &Client, selector: &str) -> Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no `{selector}` on the page: {e}"))
}

async fn all(c: &Client, selector: &str) -> Vec<Element> {
    c.find_all(Locator::Css(selector)).await.expect("find_all")
}

async fn attr(e: &Element, name: &str) -> String {
    e.attr(name).await.expect("attribute").unwrap_or_default()
}

/// Waits until a script returns true.
async fn until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if c.execute(script, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ready(c: &Client, view: &str) {
    until(
        c,
        &format!("the {view} view"),
        &format!("return document.body.dataset.ready === '{view}'"),
    )
    .await;
}

// ---------------------------------------------------------------- the browser test

#[tokio::test]
async fn in_a_real_browser_the_dashboard_shows_what_the_api_answers_and_the_docs_try_requests() {
    let Some((chromium, driver)) = browser_programs() else {
        return;
    };
    let db = TestDb::sqlite();
    let (_server, base) = demo_server(&db).await;
    let created = reqwest::Client::new()
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "browser test viewer", "role": "viewer"}))
        .send()
        .await
        .expect("create a viewer token");
    assert_eq!(created.status(), 201);
    let viewer = created.json::<Value>().await.expect("token")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    let betio = api(&base, ADMIN, "/institutions?q=Betio").await["items"][0]["id"]
        .as_str()
        .expect("Betio")
        .to_owned();
    let created = reqwest::Client::new()
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "browser test partner", "role": "partner", "institution_id": betio}))
        .send()
        .await
        .expect("create a partner token");
    assert_eq!(created.status(), 201);
    let partner = created.json::<Value>().await.expect("token")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    let (_driver, driver_url) = chromedriver(&driver).await;
    let profile = std::env::temp_dir().join(format!("climate-tracker-chromium-{}", uuid::Uuid::new_v4()));
    let client = browser(&driver_url, &chromium, &profile).await;
    // The session is closed (and Chromium with it) whatever the checks do.
    let outcome = std::panic::AssertUnwindSafe(checks(&client, &base, &viewer, &partner))
        .catch_unwind()
        .await;
    let _ = client.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn checks(c: &Client, base: &str, viewer: &str, partner: &str) {
    c.set_window_size(1100, 1600).await.expect("window size");
    dashboard(c, base, viewer).await;
    project_status(c, base, viewer).await;
    chinese(c).await;
    phone(c).await;
    as_partner(c, base, partner).await;
    docs(c, base, viewer).await;
}

/// A partner sees its own projects; the panels it may not read say so.
async fn as_partner(c: &Client, base: &str, partner: &str) {
    css(c, "#forget").await.click().await.expect("forget the token");
    css(c, "#token").await.send_keys(partner).await.expect("type the token");
    css(c, "#login button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    ready(c, "dashboard").await;
    let own = api(base, partner, "/projects?limit=20").await;
    let own = own["items"].as_array().expect("projects");
    assert!(
        !own.is_empty() && own.len() < 5,
        "Betio takes part in some projects: {}",
        own.len()
    );
    assert_eq!(all(c, "#projects li[data-project-id]").await.len(), own.len());
    let funds = css(c, "#funds .body").await.text().await.expect("text");
    assert_eq!(funds, "This token may not see this panel.");
    css(c, "#forget").await.click().await.expect("forget the token");
}

/// Signs in with the viewer token and compares every panel with the API.
async fn dashboard(c: &Client, base: &str, viewer: &str) {
    c.goto(&format!("{base}/")).await.expect("open /");
    // A wrong token is refused and asked for again.
    css(c, "#token").await.send_keys("ctk_not-a-token").await.expect("type");
    css(c, "#login button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    until(
        c,
        "the refusal",
        "return !document.querySelector('#login').hidden && !document.querySelector('#message').hidden",
    )
    .await;
    assert!(
        css(c, "#message")
            .await
            .text()
            .await
            .expect("text")
            .contains("did not accept")
    );
    css(c, "#token").await.send_keys(viewer).await.expect("type the token");
    // Count what the first view asks of the API from here (the refused token asked too).
    c.execute("performance.clearResourceTimings()", vec![])
        .await
        .expect("script");
    css(c, "#login button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
    ready(c, "dashboard").await;
    let asked = c
        .execute(
            "return performance.getEntriesByType('resource')\
               .map((e) => new URL(e.name)).filter((u) => u.pathname.startsWith('/api/'))\
               .map((u) => u.pathname + u.search).sort()",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        asked,
        json!([
            "/api/v1/dashboard",
            "/api/v1/milestones?overdue=true&limit=20",
            "/api/v1/projects?include=health&limit=20",
        ]),
        "the dashboard's first view in at most 3 API requests (SPEC §12)"
    );
    let stored = c
        .execute("return sessionStorage.getItem('climate-tracker.token')", vec![])
        .await
        .expect("script");
    assert_eq!(stored, json!(viewer), "the token is kept in sessionStorage");

    // Funds: the exact decimal strings of the API, grouped for reading.
    let summary = api(base, viewer, "/dashboard/summary").await;
    let fund = &summary["funds"][0];
    let fund_id = fund["fund_id"].as_str().expect("fund id");
    for field in ["contributed", "committed", "disbursed", "available"] {
        let expected = fund[field]["amount"].as_str().expect("amount");
        let el = css(c, &format!("[data-fund-id='{fund_id}'] [data-field='{field}']")).await;
        assert_eq!(attr(&el, "data-amount").await, expected, "{field}");
        assert_eq!(
            el.text().await.expect("text"),
            format!(
                "{} {}",
                grouped(expected),
                fund[field]["currency"].as_str().unwrap_or("")
            ),
            "{field} as shown"
        );
    }
    assert_eq!(fund["available"]["amount"], "4600000.00", "the demo's books");
    let heading = css(c, &format!("[data-fund-id='{fund_id}'] h3")).await;
    assert_eq!(
        heading.text().await.expect("text"),
        format!(
            "{} {}",
            fund["name"]["en"].as_str().unwrap_or(""),
            fund["code"].as_str().unwrap_or("")
        ),
        "the fund by its name and code"
    );

    // Charts were drawn: bars with a width, from the breakdowns.
    for panel in ["#pipeline", "#by-country", "#by-alliance"] {
        let bars = all(c, &format!("{panel} svg.chart rect.bar")).await;
        assert!(!bars.is_empty(), "{panel} has bars");
        let mut widths = Vec::new();
        for b in &bars {
            widths.push(attr(b, "width").await);
        }
        assert!(
            widths.iter().any(|w| w == "100.00%"),
            "{panel}: the longest bar is full: {widths:?}"
        );
    }
    let by_country = api(base, viewer, "/dashboard/breakdown?by=country").await;
    let rows = by_country["rows"].as_array().expect("rows");
    assert_eq!(all(c, "#by-country svg.chart rect.bar").await.len(), rows.len());
    let chart = css(c, "#by-country svg.chart").await.text().await.expect("chart text");
    for r in rows {
        let shown = format!("{} CNY", grouped(r["disbursed"][0]["amount"].as_str().unwrap_or("0")));
        assert!(chart.contains(&shown), "{shown} in {chart}");
    }

    // The standard indicators the demo's projects report on, as /dashboard sums them, exactly.
    let view = api(base, viewer, "/dashboard").await;
    let reported: Vec<&Value> = view["indicators"]
        .as_array()
        .expect("indicators")
        .iter()
        .filter(|i| i["indicators"].as_u64() > Some(0))
        .collect();
    assert!(
        reported.len() >= 2,
        "the demo reports on two standard indicators: {reported:?}"
    );
    assert_eq!(all(c, "#indicators tr[data-indicator]").await.len(), reported.len());
    for i in reported {
        let code = i["code"].as_str().unwrap_or("");
        let cell = css(
            c,
            &format!("#indicators tr[data-indicator='{code}'] [data-field='actual']"),
        )
        .await;
        assert_eq!(
            attr(&cell, "data-value").await,
            i["actual"].as_str().unwrap_or(""),
            "{code}"
        );
        let shown = cell.text().await.expect("text");
        let expected = format!(
            "{} {}",
            grouped(i["actual"].as_str().unwrap_or("")),
            i["unit"].as_str().unwrap_or("")
        );
        assert_eq!(shown, expected, "{code}");
    }

    // Projects, each with its health as /projects/{id}/status judges it.
    let projects = api(base, viewer, "/projects?limit=20").await;
    let items = projects["items"].as_array().expect("projects");
    assert_eq!(all(c, "#projects li[data-project-id]").await.len(), items.len());
    assert_eq!(all(c, "#projects [data-health]").await.len(), items.len());
    for p in items {
        let id = p["id"].as_str().expect("id");
        let status = api(base, viewer, &format!("/projects/{id}/status")).await;
        let badge = css(c, &format!("#projects li[data-project-id='{id}'] [data-health]")).await;
        assert_eq!(
            attr(&badge, "data-health").await,
            status["health"].as_str().unwrap_or("")
        );
    }

    // Overdue milestones, each linking to its project's status.
    let overdue = api(base, viewer, "/milestones?overdue=true&limit=20").await;
    let overdue = overdue["items"].as_array().expect("milestones");
    assert!(!overdue.is_empty(), "the demo has overdue milestones");
    assert_eq!(all(c, "#overdue li[data-milestone-id]").await.len(), overdue.len());
    for m in overdue {
        let link = css(
            c,
            &format!("#overdue li[data-milestone-id='{}'] a", m["id"].as_str().unwrap_or("")),
        )
        .await;
        let href = attr(&link, "href").await;
        let target = format!("#/projects/{}", m["project_id"].as_str().unwrap_or(""));
        assert!(href.ends_with(&target), "{href} links to {target}");
    }
    assert!(css(c, "#sample-note").await.is_displayed().await.expect("visible"));
    screenshot(c, "dashboard.png").await;
}

/// A project's link opens its status, as the API tells it.
async fn project_status(c: &Client, base: &str, viewer: &str) {
    let link = css(c, "#projects li[data-project-id] a[data-project-link]").await;
    let id = attr(&link, "data-project-link").await;
    link.click().await.expect("open the project");
    ready(c, "status").await;
    let status = api(base, viewer, &format!("/projects/{id}/status")).await;
    let figures = css(c, &format!("[data-status-of='{id}']")).await;
    let health = figures.find(Locator::Css("[data-health]")).await.expect("health badge");
    assert_eq!(
        attr(&health, "data-health").await,
        status["health"].as_str().unwrap_or("")
    );
    assert_eq!(
        css(c, "#status-title").await.text().await.expect("title"),
        status["title"]["en"].as_str().unwrap_or("")
    );
    let indicators = api(base, viewer, &format!("/projects/{id}/indicators?limit=50")).await;
    let items = indicators["items"].as_array().expect("indicators");
    assert!(!items.is_empty(), "the first demo project reports on a result");
    assert_eq!(
        all(c, "#status-indicators tr[data-indicator-id]").await.len(),
        items.len()
    );
    for i in items {
        let latest = i["periods"].as_array().and_then(|p| p.last()).expect("a period");
        let cell = css(
            c,
            &format!(
                "#status-indicators tr[data-indicator-id='{}'] [data-field='actual']",
                i["indicator"]["id"].as_str().unwrap_or("")
            ),
        )
        .await;
        assert_eq!(
            attr(&cell, "data-value").await,
            latest["actual"]["value"].as_str().unwrap_or("")
        );
    }
    let counts = &status["indicators"];
    let reported = css(c, "#status-panel [data-field='indicators']")
        .await
        .text()
        .await
        .expect("text");
    let expected = format!("{} / {}", counts["with_actual"], counts["total"]);
    assert!(reported.starts_with(&expected), "{reported} starts with {expected}");
    for f in status["funding"].as_array().into_iter().flatten() {
        let remaining = css(c, "#status-panel [data-field='remaining']").await;
        assert_eq!(
            attr(&remaining, "data-amount").await,
            f["remaining"]["amount"].as_str().unwrap_or("")
        );
    }
    screenshot(c, "project-status.png").await;
    c.back().await.expect("back");
    ready(c, "dashboard").await;
}

/// 中文: the names come from the localized fields.
async fn chinese(c: &Client) {
    css(c, "button[data-lang='zh']")
        .await
        .click()
        .await
        .expect("switch to Chinese");
    until(
        c,
        "the Chinese fund name",
        "return document.querySelector('#funds h3') !== null && \
         document.querySelector('#funds h3').textContent.includes('聊城应对气候变化合作基金')",
    )
    .await;
    ready(c, "dashboard").await;
    let heading = css(c, "#funds h2").await.text().await.expect("heading");
    assert_eq!(heading, "基金");
    screenshot(c, "dashboard-zh.png").await;
    css(c, "button[data-lang='en']")
        .await
        .click()
        .await
        .expect("back to English");
    until(
        c,
        "the English fund name",
        "return document.querySelector('#funds h3') !== null && \
         document.querySelector('#funds h3').textContent.includes('Liaocheng Climate Change Cooperation Fund')",
    )
    .await;
}

/// A phone-sized screen: nothing wider than the screen.
async fn phone(c: &Client) {
    c.set_window_size(390, 844).await.expect("phone size");
    ready(c, "dashboard").await;
    until(
        c,
        "a layout that fits a phone",
        "return document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await;
    screenshot(c, "dashboard-phone.png").await;
    c.set_window_size(1100, 1600).await.expect("window size");
}

/// /docs lists the operations; "Authorize" with the token, then "Try it out" on GET /funds.
async fn docs(c: &Client, base: &str, viewer: &str) {
    c.goto(&format!("{base}/docs/")).await.expect("open /docs");
    css(c, ".opblock").await;
    let operations = all(c, ".opblock").await.len();
    assert!(operations > 40, "Swagger UI lists the operations ({operations})");

    css(c, "button.authorize").await.click().await.expect("Authorize");
    css(c, ".modal-ux input")
        .await
        .send_keys(viewer)
        .await
        .expect("paste the token");
    css(c, ".modal-ux .auth-btn-wrapper button.authorize")
        .await
        .click()
        .await
        .expect("authorize");
    css(c, ".modal-ux button.btn-done").await.click().await.expect("close");

    let funds = css(c, ".opblock-get:has(.opblock-summary-path[data-path='/api/v1/funds'])").await;
    funds
        .find(Locator::Css(".opblock-summary-control"))
        .await
        .expect("summary")
        .click()
        .await
        .expect("expand GET /api/v1/funds");
    css(c, ".opblock.is-open .try-out__btn")
        .await
        .click()
        .await
        .expect("Try it out");
    css(c, ".opblock.is-open button.execute")
        .await
        .click()
        .await
        .expect("Execute");
    let status = css(
        c,
        ".opblock.is-open .live-responses-table .response .response-col_status",
    )
    .await;
    assert_eq!(status.text().await.expect("status").trim(), "200");
    let body = css(
        c,
        ".opblock.is-open .live-responses-table .response-col_description pre",
    )
    .await
    .text()
    .await
    .expect("body");
    assert!(body.contains("liaocheng-climate-fund"), "the live response: {body}");
    c.execute(
        "document.querySelector('.opblock.is-open .responses-wrapper').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(c, "docs.png").await;
}
