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
}
