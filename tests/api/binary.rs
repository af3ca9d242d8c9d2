//! The built binary, started as an operator would start it, spoken to over
//! real HTTP.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_climate-tracker");

/// A SQLite file in the temp directory, removed on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> TempDb {
        TempDb(std::env::temp_dir().join(format!("climate-tracker-bin-{}.db", uuid::Uuid::new_v4())))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A running `climate-tracker serve`; killed on drop.
struct Server {
    child: Child,
    base: String,
    /// Lines the server wrote to stderr, as they arrive.
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(db: &TempDb, admin_token: Option<&str>) -> Server {
        // Ask the OS for a free port, then hand it to the server.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let db = &db.0;
        let mut command = Command::new(BINARY);
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env(
                "CLIMATE_TRACKER_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", db.display()),
            )
            .env("RUST_LOG", "warn")
            .env_remove("CLIMATE_TRACKER_BIND")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match admin_token {
            Some(t) => command.env("CLIMATE_TRACKER_ADMIN_TOKEN", t),
            None => command.env_remove("CLIMATE_TRACKER_ADMIN_TOKEN"),
        };
        let mut child = command.spawn().expect("start the binary");
        // Drain stderr on a thread so the server never blocks on a full pipe.
        let pipe = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr: rx,
        }
    }

    async fn wait_until_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let log: Vec<String> = self.stderr.try_iter().collect();
                panic!("the server exited with {status}:\n{}", log.join("\n"));
            }
            assert!(Instant::now() < deadline, "the server did not become healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The token secret the server printed before it started listening, if any.
    fn printed_secret(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut secret = None;
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains("listening on") => return secret,
                Ok(line) => {
                    if let Some(word) = line.split_whitespace().find(|w| w.starts_with("ctk_")) {
                        secret = Some(word.to_owned());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("the server never said it was listening");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_the_reference_data_and_accepts_a_new_institution() {
    let secret = "ctk_binary-test-admin-secret";
    let db = TempDb::new();
    let mut server = Server::start(&db, Some(secret));
    let client = reqwest::Client::new();
    server.wait_until_healthy(&client).await;

    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let unauthorized = client.get(server.url("/api/v1/institutions")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer");

    let list = client
        .get(server.url("/api/v1/institutions?limit=200"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    let codes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"liaocheng-university"),
        "reference data loaded: {codes:?}"
    );

    let created = client
        .post(server.url("/api/v1/institutions"))
        .bearer_auth(secret)
        .json(
            &json!({"code": "tonga-institute-of-education", "name": {"en": "Tonga Institute of Education"},
            "kind": "vocational_college", "country": "TO", "city": "Nuku'alofa"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let read = client
        .get(server.url(&location))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["code"], "tonga-institute-of-education");

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"));
}

#[tokio::test]
async fn without_a_configured_token_an_empty_database_gets_one_printed_once() {
    let db = TempDb::new();
    let mut server = Server::start(&db, None);
    let client = reqwest::Client::new();
    server.wait_until_healthy(&client).await;
    let secret = server.printed_secret().expect("a token on stderr");

    let tokens = client
        .get(server.url("/api/v1/tokens"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    let items = tokens["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["role"], "admin");
    assert!(!tokens.to_string().contains(&secret), "the list never shows the secret");

    // Restarted on the same database, it prints nothing: a token exists.
    drop(server);
    let mut again = Server::start(&db, None);
    again.wait_until_healthy(&client).await;
    assert_eq!(again.printed_secret(), None);
    let still = client
        .get(again.url("/api/v1/tokens"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
}

/// Issue #18, hole 4: tokens made outside the API (the configured admin token
/// at start-up, `climate-tracker token create`) leave chained audit events
/// naming the system as their actor.
#[tokio::test]
async fn tokens_made_outside_the_api_are_audited_as_the_system() {
    let secret = "ctk_binary-test-audited-admin";
    let db = TempDb::new();
    let mut server = Server::start(&db, Some(secret));
    let client = reqwest::Client::new();
    server.wait_until_healthy(&client).await;

    let made = Command::new(BINARY)
        .args(["token", "create", "--name", "operator viewer", "--role", "viewer"])
        .env(
            "CLIMATE_TRACKER_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.0.display()),
        )
        .env("RUST_LOG", "warn")
        .output()
        .expect("run token create");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let viewer_secret = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(viewer_secret.starts_with("ctk_"), "{viewer_secret}");

    let events: Value = client
        .get(server.url("/api/v1/audit-events?entity_type=token"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seen: Vec<(String, String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (
                s("action"),
                s("token_name"),
                e["after"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("create".into(), "system:start-up".into(), "configured admin".into()),
            ("create".into(), "system:cli".into(), "operator viewer".into()),
        ]
    );
    assert!(
        !events.to_string().contains(&viewer_secret),
        "no secret in the audit trail"
    );

    let verified = client
        .get(server.url("/api/v1/audit-events/verify"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(verified["ok"], true, "the chain holds: {verified}");
}
