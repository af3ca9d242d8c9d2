//! Typed settings: flags, or `CLIMATE_TRACKER_*` environment variables.

use clap::Args;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://climate-tracker.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Args, Clone, Debug)]
pub struct Database {
    /// `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(long, env = "CLIMATE_TRACKER_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
}

#[derive(Args, Clone, Debug)]
pub struct Serve {
    /// Address to listen on.
    #[arg(long, env = "CLIMATE_TRACKER_BIND", default_value = DEFAULT_BIND)]
    pub bind: String,
    /// When set, a token with this secret and role admin is ensured at start-up.
    #[arg(long, env = "CLIMATE_TRACKER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub security: Security,
    #[command(flatten)]
    pub connections: Connections,
    #[command(flatten)]
    pub jobs: Jobs,
}

/// The background work every instance does: webhook delivery, reminders,
/// e-mail. Instances coordinate through the database, so each event reaches
/// each endpoint once and each reminder is sent once, however many run.
#[derive(Args, Clone, Debug)]
pub struct Jobs {
    /// Allow `http://` webhook URLs (default: only `https://`).
    #[arg(long, env = "CLIMATE_TRACKER_WEBHOOK_ALLOW_HTTP")]
    pub webhook_allow_http: bool,
    /// Hosts a webhook may reach although they resolve to a loopback,
    /// private, link-local or metadata address, comma-separated (e.g. `127.0.0.1`).
    #[arg(long, env = "CLIMATE_TRACKER_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',')]
    pub webhook_allow_hosts: Vec<String>,
    /// Seconds a webhook endpoint has to answer; later counts as a failure.
    #[arg(long, env = "CLIMATE_TRACKER_WEBHOOK_TIMEOUT_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=30))]
    pub webhook_timeout_secs: u64,
    /// Webhook deliveries (and e-mails) one instance attempts at once.
    #[arg(long, env = "CLIMATE_TRACKER_DELIVERY_CONCURRENCY", default_value_t = 8,
        value_parser = clap::value_parser!(u64).range(1..=256))]
    pub delivery_concurrency: u64,
    /// How often the scheduler looks for milestones to remind of.
    #[arg(long, env = "CLIMATE_TRACKER_SCHEDULER_INTERVAL_SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub scheduler_interval_secs: u64,
    /// Days before a milestone's due date (in its project's zone) that `milestone.due_soon` is sent.
    #[arg(long, env = "CLIMATE_TRACKER_REMINDER_DAYS", default_value_t = 7,
        value_parser = clap::value_parser!(u32).range(0..=365))]
    pub reminder_days: u32,
    /// Send reminders by e-mail through this server, e.g. `smtp://mail.example.org:587`
    /// or `smtps://user:password@mail.example.org` (unset: no e-mail).
    #[arg(long, env = "CLIMATE_TRACKER_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of reminder e-mail.
    #[arg(
        long,
        env = "CLIMATE_TRACKER_SMTP_FROM",
        default_value = "climate-tracker <noreply@localhost>"
    )]
    pub smtp_from: String,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            webhook_allow_http: false,
            webhook_allow_hosts: Vec::new(),
            webhook_timeout_secs: 10,
            delivery_concurrency: 8,
            scheduler_interval_secs: 60,
            reminder_days: 7,
            smtp_url: None,
            smtp_from: "climate-tracker <noreply@localhost>".into(),
        }
    }
}

impl Jobs {
    /// What a webhook URL may be.
    pub fn url_policy(&self) -> UrlPolicy {
        UrlPolicy {
            allow_http: self.webhook_allow_http,
            allow_hosts: self
                .webhook_allow_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        }
    }
}

/// What a webhook URL may point at (see `app::webhooks::check_url`).
#[derive(Clone, Debug, Default)]
pub struct UrlPolicy {
    pub allow_http: bool,
    /// Lower-case host names or IP literals allowed although they are internal.
    pub allow_hosts: Vec<String>,
}

/// Limits on the connections themselves, below HTTP requests: a client
/// that sends nothing, or a byte at a time, must not hold a socket (and a
/// file descriptor) for ever.
#[derive(Args, Clone, Debug)]
pub struct Connections {
    /// Seconds a client has to send a request's headers, on a new connection and
    /// again on a kept-alive one once a response is sent (so it is also the idle
    /// keep-alive timeout); then the connection is closed.
    #[arg(long, env = "CLIMATE_TRACKER_HEADER_READ_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout_secs: u64,
    /// Connections open at once; past it new ones wait in the listen backlog. Lowered at
    /// start-up to fit below the open-file limit (raised to its hard limit first).
    #[arg(long, env = "CLIMATE_TRACKER_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;

impl Default for Connections {
    fn default() -> Self {
        Connections {
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Protections around every request: limits, timeouts, CORS, rate limiting.
/// The defaults change nothing a well-behaved client notices.
#[derive(Args, Clone, Debug)]
pub struct Security {
    /// API requests served at once by this instance; more are refused at once with 503
    /// (`/healthz`, `/readyz` and `/metrics` are not counted).
    #[arg(long, env = "CLIMATE_TRACKER_MAX_CONCURRENT_REQUESTS", default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,
    /// A request that takes longer is cut off with 503 (its transaction rolls back). At most
    /// 50 s: an idempotency claim with no reply after 60 s is taken for a dead request.
    #[arg(long, env = "CLIMATE_TRACKER_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=50))]
    pub request_timeout_secs: u64,
    /// Requests one token may have in flight at once on this instance; past it 429 with
    /// Retry-After, so one token cannot take every slot.
    #[arg(long, env = "CLIMATE_TRACKER_MAX_CONCURRENT_REQUESTS_PER_TOKEN",
        default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS_PER_TOKEN, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests_per_token: u32,
    /// Seconds a client has to send a request's whole body (at most 1 MiB) once its headers
    /// are in; then 408. It runs inside the request timeout.
    #[arg(long, env = "CLIMATE_TRACKER_BODY_READ_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_READ_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=50))]
    pub body_read_timeout_secs: u64,
    /// Requests per minute per token, per instance (0: no limit); past it 429 with Retry-After.
    #[arg(long, env = "CLIMATE_TRACKER_RATE_LIMIT_PER_MINUTE", default_value_t = 0)]
    pub rate_limit_per_minute: u32,
    /// Origins allowed to call the API from a browser, comma-separated
    /// (`https://dash.example.org`), or `*`; unset: no cross-origin access.
    #[arg(long, env = "CLIMATE_TRACKER_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<Origin>,
    /// Send `Strict-Transport-Security` (only when clients reach the service over HTTPS).
    #[arg(long, env = "CLIMATE_TRACKER_HSTS")]
    pub hsts: bool,
}

pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 512;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_MAX_CONCURRENT_REQUESTS_PER_TOKEN: u32 = 128;
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 10;

impl Default for Security {
    fn default() -> Self {
        Security {
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            max_concurrent_requests_per_token: DEFAULT_MAX_CONCURRENT_REQUESTS_PER_TOKEN,
            body_read_timeout_secs: DEFAULT_BODY_READ_TIMEOUT_SECS,
            rate_limit_per_minute: 0,
            cors_origins: Vec::new(),
            hsts: false,
        }
    }
}

/// A browser origin as CORS compares it: `scheme://host[:port]`, or `*` for any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Any,
    Exact(axum::http::HeaderValue),
}

fn parse_origin(s: &str) -> Result<Origin, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(Origin::Any);
    }
    let host = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("'{s}' is not an origin such as https://dash.example.org"))?;
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid_host {
        return Err(format!(
            "'{s}' is not an origin such as https://dash.example.org (no path, no trailing slash)"
        ));
    }
    axum::http::HeaderValue::from_str(s)
        .map(Origin::Exact)
        .map_err(|e| e.to_string())
}

impl Serve {
    /// The `serve` settings from the environment and defaults alone, for
    /// when `serve` is implied rather than typed.
    pub fn from_env() -> Result<Serve, clap::Error> {
        #[derive(clap::Parser)]
        struct Implied {
            #[command(flatten)]
            serve: Serve,
        }
        <Implied as clap::Parser>::try_parse_from(["climate-tracker"]).map(|i| i.serve)
    }
}
