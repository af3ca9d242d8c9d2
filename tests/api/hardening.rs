//! Issue #18, holding under attack: what a black-box probe of the release
//! build found, one test (or a few) per hole, each failing on the code
//! before its fix. Hole 4 (audit events for tokens made outside the API)
//! lives with the application layer.

use crate::common::{Resp, TestApp, each_backend};
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use climate_tracker::config;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

const INSTITUTIONS: &str = "/api/v1/institutions";

fn assert_problem(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{}", r.body);
    assert_eq!(r.code(), code, "{}", r.body);
}

fn request(method: Method, path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.body(Body::empty()).expect("request")
}

// ---- 1. Metrics grow without bound ---------------------------------------

/// The distinct values of the `method` label in the Prometheus text.
fn method_labels(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split("method=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn metrics_label_methods_from_a_closed_set_so_odd_methods_add_no_series() {
    each_backend(|app| async move {
        // hyper accepts any token as a method; each used to add its own series.
        for i in 0..200 {
            let method = Method::from_bytes(format!("X{i:04}{}", app.backend.len()).as_bytes()).expect("a token");
            let path = if i % 2 == 0 { "/healthz" } else { INSTITUTIONS };
            let r = app.send(request(method, path, None)).await;
            assert!(r.status.is_client_error(), "{}", r.status);
        }
        let metrics = app.send(request(Method::GET, "/metrics", None)).await;
        assert_eq!(metrics.status, StatusCode::OK);
        let text = metrics.body.as_str().expect("text");
        let labels = method_labels(text);
        let series = text.lines().filter(|l| l.starts_with("http_requests_total{")).count();
        eprintln!(
            "{}: /metrics {} bytes, {} request-count series, {} method labels",
            app.backend,
            text.len(),
            series,
            labels.len()
        );
        let allowed = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"];
        let odd: Vec<&String> = labels.iter().filter(|l| !allowed.contains(&l.as_str())).collect();
        assert!(
            odd.is_empty(),
            "{} odd method labels, e.g. {:?}",
            odd.len(),
            &odd[..odd.len().min(5)]
        );
        assert!(labels.contains("other"), "{labels:?}");
    })
    .await;
}

// ---- 5. The bearer scheme is case-insensitive ------------------------------

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    each_backend(|app| async move {
        for scheme in ["Bearer", "bearer", "BEARER", "BeArEr"] {
            let value = format!("{scheme} {}", app.admin);
            let r = app.send(request(Method::GET, INSTITUTIONS, Some(&value))).await;
            assert_eq!(r.status, StatusCode::OK, "{scheme}: {}", r.body);
        }
        for value in [format!("Basic {}", app.admin), app.admin.clone()] {
            let r = app.send(request(Method::GET, INSTITUTIONS, Some(&value))).await;
            assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    })
    .await;
}

// ---- 7. Responses carrying secrets may be cached ----------------------------

#[tokio::test]
async fn api_responses_are_never_stored_except_successful_reads_which_are_revalidated() {
    each_backend(|app| async move {
        let created = app
            .post("/api/v1/tokens", json!({"name": "dashboard", "role": "viewer"}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert!(created.body["secret"].is_string());
        assert_eq!(
            created.header("cache-control"),
            Some("no-store"),
            "the 201 carrying a secret"
        );
        let viewer = created.body["secret"].as_str().expect("secret").to_owned();
        let institution = app.institution("cached", "TO").await;
        let one = format!("{INSTITUTIONS}/{institution}");

        let bearer = format!("Bearer {}", app.admin);
        let reads = [
            app.get(INSTITUTIONS).await,
            app.get(&one).await,
            app.send(request(Method::HEAD, &one, Some(&bearer))).await,
            app.get("/api/v1/exports/grants.csv").await,
        ];
        for r in &reads {
            assert!(r.status.is_success(), "{}", r.status);
            assert_eq!(r.header("cache-control"), Some("private, no-cache"), "{}", r.body);
        }
        let others = [
            app.patch(&one, json!({"city": "Nuku'alofa"})).await,
            app.get_as(&viewer, "/api/v1/tokens").await,
            app.send(request(Method::GET, INSTITUTIONS, None)).await,
            app.get("/api/v1/institutions/00000000-0000-0000-0000-000000000000")
                .await,
            app.get("/api/v1/no-such-thing").await,
            app.get("/api/v1/institutions?limit=0").await,
            app.delete(&one).await,
        ];
        for r in &others {
            assert_eq!(r.header("cache-control"), Some("no-store"), "{}: {}", r.status, r.body);
        }
        // Outside the API nothing changes.
        let page = app.send(request(Method::GET, "/healthz", None)).await;
        assert_eq!(page.header("cache-control"), None);
    })
    .await;
}

// ---- 6. Invisible and bidi-spoofing text ----------------------------------

/// The message of the one failing field, which must be `field`.
fn field_message(r: &Resp, field: &str) -> String {
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.fields(), vec![field.to_owned()], "{}", r.body);
    r.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned()
}

fn institution_named(name: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "kind": "university", "country": "TO"})
}

#[tokio::test]
async fn text_that_shows_nothing_is_refused_naming_the_field() {
    each_backend(|app| async move {
        for invisible in ["\u{200B}", "\u{FEFF}", "\u{2060}\u{200B} "] {
            let r = app
                .post(INSTITUTIONS, institution_named(json!({"en": invisible})))
                .await;
            let message = field_message(&r, "name");
            assert!(message.contains("shows nothing"), "{message}");
            let token = app
                .post("/api/v1/tokens", json!({"name": invisible, "role": "viewer"}))
                .await;
            field_message(&token, "name");
        }
    })
    .await;
}

#[tokio::test]
async fn bidirectional_controls_are_refused_in_names_token_names_and_partner_notes() {
    each_backend(|app| async move {
        let spoof = "Tonga\u{202E}gnp.exe";
        let r = app.post(INSTITUTIONS, institution_named(json!({"en": spoof}))).await;
        let message = field_message(&r, "name");
        assert!(
            message.contains("U+202E") && message.contains("RIGHT-TO-LEFT OVERRIDE"),
            "{message}"
        );
        let token = app
            .post("/api/v1/tokens", json!({"name": spoof, "role": "viewer"}))
            .await;
        assert!(field_message(&token, "name").contains("U+202E"));

        // A note a partner writes reaches the dashboard and the exports.
        let uni = app.institution("tonga-uni", "TO").await;
        let project = app.project("bidi", &["TO"]).await;
        app.participate(&project, &uni, "lead").await;
        let milestone = app
            .post(
                &format!("/api/v1/projects/{project}/milestones"),
                json!({"title": {"en": "Survey"}, "due_on": "2026-06-01"}),
            )
            .await;
        assert_eq!(milestone.status, StatusCode::CREATED, "{}", milestone.body);
        let partner = app.token("partner", Some(&uni)).await;
        let reports = format!("/api/v1/milestones/{}/reports", milestone.id());
        for c in ['\u{202E}', '\u{2066}', '\u{200F}'] {
            let note = app
                .post_as(&partner, &reports, json!({"note": format!("done{c}fdp.")}))
                .await;
            assert!(field_message(&note, "note").contains(&format!("U+{:04X}", u32::from(c))));
        }
        let fine = app.post_as(&partner, &reports, json!({"note": "done"})).await;
        assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
    })
    .await;
}

#[tokio::test]
async fn text_is_stored_nfc_so_a_search_in_either_form_finds_it() {
    each_backend(|app| async move {
        let decomposed = "Universite\u{301} de Nuku\u{2BB}alofa";
        let composed = "Universit\u{E9} de Nuku\u{2BB}alofa";
        let r = app
            .post(
                INSTITUTIONS,
                institution_named(json!({"en": decomposed, "fr": decomposed})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["name"]["en"], composed);
        let read = app.get(&format!("{INSTITUTIONS}/{}", r.id())).await;
        assert_eq!(read.body["name"]["fr"], composed);
        for q in ["universit%C3%A9", "UNIVERSIT%C3%89", "universite%CC%81"] {
            let found = app.get(&format!("{INSTITUTIONS}?q={q}")).await;
            assert_eq!(found.status, StatusCode::OK, "{}", found.body);
            let ids: Vec<&str> = found.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|i| i["id"].as_str())
                .collect();
            assert_eq!(ids, vec![r.id()], "q={q}");
        }
    })
    .await;
}

// ---- a real socket: the service's own serving loop on 127.0.0.1:0 ----------

/// `app`'s router served by `climate_tracker::server::listen`, as `serve`
/// serves it; stopped when dropped.
struct Served {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn served(app: &TestApp, limits: config::Connections) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let router = app.router.clone();
    let task = tokio::spawn(async move {
        climate_tracker::server::listen(listener, router, &limits, std::future::pending()).await;
    });
    Served { addr, task }
}

fn short_timeouts(seconds: u64) -> config::Connections {
    config::Connections {
        header_read_timeout_secs: seconds,
        ..config::Connections::default()
    }
}

/// Reads until the server closes the connection (EOF or reset) and returns
/// how long that took, or `None` if it was still open after `bound`.
async fn closed_by_server(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(bound, read_to_end)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// The status line of the first response on `stream`, if one comes within `bound`.
async fn status_line(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !seen.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(bound, read).await.ok()?;
    let text = String::from_utf8_lossy(&seen);
    text.split("\r\n").next().filter(|l| !l.is_empty()).map(str::to_owned)
}

// ---- 2. Connections never time out ----------------------------------------

#[tokio::test]
async fn a_slowloris_connection_is_closed_by_the_header_read_timeout() {
    each_backend(|app| async move {
        let served = served(&app, short_timeouts(1)).await;
        let mut stream = TcpStream::connect(served.addr).await.expect("connect");
        let started = Instant::now();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: ")
            .await
            .expect("start the headers");
        // One header byte every 200 ms, never the end of the headers, for at most 10 s.
        let mut closed = false;
        while started.elapsed() < Duration::from_secs(10) {
            if stream.write_all(b"a").await.is_err() {
                closed = true;
                break;
            }
            if closed_by_server(&mut stream, Duration::from_millis(200))
                .await
                .is_some()
            {
                closed = true;
                break;
            }
        }
        let elapsed = started.elapsed();
        eprintln!("{}: slowloris connection closed after {elapsed:?}", app.backend);
        assert!(
            closed,
            "a connection sending a header byte every 200 ms was still open after {elapsed:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    each_backend(|app| async move {
        let served = served(&app, short_timeouts(1)).await;
        let mut stream = TcpStream::connect(served.addr).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
            .await
            .expect("request");
        let status = status_line(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
        // Kept alive, then nothing more from the client.
        let closed = closed_by_server(&mut stream, Duration::from_secs(10)).await;
        eprintln!("{}: idle keep-alive connection closed after {closed:?}", app.backend);
        assert!(
            closed.is_some(),
            "an idle keep-alive connection was still open after 10 s"
        );
    })
    .await;
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_until_one_closes() {
    each_backend(|app| async move {
        let limits = config::Connections {
            header_read_timeout_secs: 30,
            max_connections: 2,
        };
        let served = served(&app, limits).await;
        let mut idle = Vec::new();
        for _ in 0..2 {
            idle.push(TcpStream::connect(served.addr).await.expect("connect"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The kernel completes the handshake; the service does not take the connection yet.
        let mut third = TcpStream::connect(served.addr).await.expect("connect");
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
            .await
            .expect("request");
        assert_eq!(
            status_line(&mut third, Duration::from_millis(500)).await,
            None,
            "served past the cap"
        );
        drop(idle);
        let status = status_line(&mut third, Duration::from_secs(10)).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    })
    .await;
}

// ---- 2. The binary: flags, their environment twins, the open-file limit ----

#[test]
fn the_connection_settings_have_defaults_and_refuse_nonsense() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        connections: config::Connections,
    }
    let defaults = Cli::try_parse_from(["ct"]).expect("defaults").connections;
    assert_eq!(defaults.header_read_timeout_secs, 10);
    assert_eq!(defaults.max_connections, 4096);
    for bad in [
        ["ct", "--header-read-timeout-secs", "0"],
        ["ct", "--header-read-timeout-secs", "301"],
        ["ct", "--max-connections", "0"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
    }
}

/// `Max open files` of a process: (soft, hard).
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc/PID/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line")
        .to_owned();
    let mut words = line.split_whitespace().skip(3);
    let soft = words.next().expect("soft").to_owned();
    let hard = words.next().expect("hard").to_owned();
    (soft, hard)
}

#[tokio::test]
async fn serve_raises_the_open_file_limit_and_takes_the_timeout_from_its_environment_twin() {
    if !std::path::Path::new("/proc/self/limits").exists() {
        eprintln!("no /proc here: skipped");
        return;
    }
    let mut databases = vec![crate::common::TestDb::sqlite()];
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        databases.push(crate::common::TestDb::postgres(&url).await);
    }
    for db in databases {
        // A low soft limit, as many systems start services with (1,024), here 256.
        let mut child = Killed(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ulimit -Sn 256 && exec {} serve --bind 127.0.0.1:0",
                    env!("CARGO_BIN_EXE_climate-tracker")
                ))
                .env("CLIMATE_TRACKER_DATABASE_URL", db.url())
                .env("CLIMATE_TRACKER_ADMIN_TOKEN", "ctk_hardening-admin")
                .env("CLIMATE_TRACKER_HEADER_READ_TIMEOUT_SECS", "1")
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start climate-tracker"),
        );
        let addr = listening_address(&mut child.0);
        let (soft, hard) = open_file_limits(child.0.id());
        eprintln!(
            "{}: open files soft {soft}, hard {hard} (started at soft 256)",
            db.backend()
        );
        assert_eq!(soft, hard, "the soft limit is raised to the hard one");

        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let closed = closed_by_server(&mut stream, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "a silent connection was still open after 10 s");
    }
}

/// A child process, killed when dropped (a failing assertion included).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `listening on http://ADDR` on the child's stderr, draining it afterwards.
fn listening_address(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let pipe = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    return rest.split_whitespace().next().expect("address").to_owned();
                }
                log.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    panic!("the server never said it was listening:\n{}", log.join("\n"));
}

// ---- 3. A read-only token can take the instance down -----------------------

/// A POST that declares `length` bytes of body and sends none of them.
fn declared_post(path: &str, token: &str, length: u64) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    .into_bytes()
}

/// A POST whose body never arrives, in process: it stays in flight until dropped.
fn stalled_post(path: &str, token: &str) -> Request<Body> {
    let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(Body::from_stream(never))
        .expect("request")
}

const TEN_GIB: u64 = 10 * 1024 * 1024 * 1024;

#[tokio::test]
async fn a_write_the_role_may_not_send_is_refused_before_its_body_is_read() {
    each_backend(|app| async move {
        let viewer = app.token("viewer", None).await;
        let uni = app.institution("tonga-uni", "TO").await;
        let mine = app.project("mine", &["TO"]).await;
        let theirs = app.project("theirs", &["KI"]).await;
        app.participate(&mine, &uni, "lead").await;
        let partner = app.token("partner", Some(&uni)).await;
        let served = served(&app, config::Connections::default()).await;
        let cases = [
            (INSTITUTIONS.to_owned(), viewer.as_str(), "HTTP/1.1 403 Forbidden"),
            ("/api/v1/tokens".to_owned(), viewer.as_str(), "HTTP/1.1 403 Forbidden"),
            (
                format!("/api/v1/projects/{mine}/transitions"),
                partner.as_str(),
                "HTTP/1.1 403 Forbidden",
            ),
            // What a partner cannot see stays a 404, as a read of it answers.
            (
                format!("/api/v1/projects/{theirs}/transitions"),
                partner.as_str(),
                "HTTP/1.1 404 Not Found",
            ),
        ];
        for (path, token, expected) in cases {
            let mut stream = TcpStream::connect(served.addr).await.expect("connect");
            stream
                .write_all(&declared_post(&path, token, TEN_GIB))
                .await
                .expect("headers");
            // The body never comes: the answer must not wait for it.
            let status = status_line(&mut stream, Duration::from_secs(5)).await;
            assert_eq!(status.as_deref(), Some(expected), "POST {path}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_413_at_once() {
    each_backend(|app| async move {
        let served = served(&app, config::Connections::default()).await;
        for length in [TEN_GIB, 1024 * 1024 + 1] {
            let mut stream = TcpStream::connect(served.addr).await.expect("connect");
            stream
                .write_all(&declared_post(INSTITUTIONS, &app.admin, length))
                .await
                .expect("headers");
            let status = status_line(&mut stream, Duration::from_secs(5)).await;
            assert_eq!(
                status.as_deref(),
                Some("HTTP/1.1 413 Payload Too Large"),
                "{length} bytes"
            );
        }
        // In process too, with the problem document.
        let mut req = stalled_post(INSTITUTIONS, &app.admin);
        req.headers_mut().insert("content-length", TEN_GIB.into());
        let r = tokio::time::timeout(Duration::from_secs(5), app.send(req))
            .await
            .expect("at once");
        assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    })
    .await;
}

#[tokio::test]
async fn viewer_tokens_with_slow_bodies_cannot_fill_the_slots_and_healthz_answers_when_they_are_full() {
    each_backend(|app| async move {
        let viewer = app.token("viewer", None).await;
        let app = app.with_security(config::Security {
            max_concurrent_requests: 2,
            ..config::Security::default()
        });
        // Viewers' writes are refused at once, so they hold no slot.
        for _ in 0..8 {
            let r = tokio::time::timeout(Duration::from_secs(5), app.send(stalled_post(INSTITUTIONS, &viewer)))
                .await
                .expect("refused at once");
            assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
        }
        assert_eq!(app.get(INSTITUTIONS).await.status, StatusCode::OK);

        // Admins' slow bodies do hold slots; the ops endpoints answer all the same.
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(app.router.clone().oneshot(stalled_post(INSTITUTIONS, &app.admin))))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_problem(
            &app.get(INSTITUTIONS).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        );
        for path in ["/healthz", "/readyz", "/metrics"] {
            let r = app.send(request(Method::GET, path, None)).await;
            assert_eq!(r.status, StatusCode::OK, "{path} while every slot is taken: {}", r.body);
        }
        for task in held {
            task.abort();
        }
    })
    .await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408_long_before_the_request_timeout() {
    each_backend(|app| async move {
        let app = app.with_security(config::Security {
            body_read_timeout_secs: 1,
            request_timeout_secs: 30,
            ..config::Security::default()
        });
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            app.send(stalled_post(INSTITUTIONS, &app.admin)),
        )
        .await
        .expect("an answer within 10 s");
        eprintln!("{}: stalled body answered after {:?}", app.backend, started.elapsed());
        assert_problem(&r, StatusCode::REQUEST_TIMEOUT, "request_timeout");
        // A body that arrives in time is unaffected.
        let ok = app
            .post(INSTITUTIONS, institution_named(json!({"en": "On time"})))
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    })
    .await;
}

#[tokio::test]
async fn one_token_may_hold_only_its_share_of_the_slots() {
    each_backend(|app| async move {
        let viewer = app.token("viewer", None).await;
        let app = app.with_security(config::Security {
            max_concurrent_requests_per_token: 2,
            ..config::Security::default()
        });
        let held: Vec<_> = (0..2)
            .map(|_| tokio::spawn(app.router.clone().oneshot(stalled_post(INSTITUTIONS, &app.admin))))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let third = app.get(INSTITUTIONS).await;
        assert_problem(&third, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert_eq!(third.header("retry-after"), Some("1"));
        assert_eq!(
            app.get_as(&viewer, INSTITUTIONS).await.status,
            StatusCode::OK,
            "another token"
        );
        for task in held {
            task.abort();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            app.get(INSTITUTIONS).await.status,
            StatusCode::OK,
            "its places given back"
        );
    })
    .await;
}

#[test]
fn the_request_settings_have_defaults_and_refuse_nonsense() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        security: config::Security,
    }
    let defaults = Cli::try_parse_from(["ct"]).expect("defaults").security;
    assert_eq!(defaults.body_read_timeout_secs, 10);
    assert_eq!(defaults.max_concurrent_requests_per_token, 128);
    for bad in [
        ["ct", "--body-read-timeout-secs", "0"],
        ["ct", "--body-read-timeout-secs", "60"],
        ["ct", "--max-concurrent-requests-per-token", "0"],
    ] {
        assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
    }
}
