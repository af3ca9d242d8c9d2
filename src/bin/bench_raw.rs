//! Bench-only ceiling: the same primary-key `SELECT` of a project as
//! `GET /api/v1/projects/{id}`, through sqlx itself (no sea-orm, no auth,
//! no middleware), so `make bench` can give every figure as a ratio to what
//! a bare handler on the same database reaches. `bench_reference` does the
//! same through sea-orm.
//!
//! Usage: `bench_raw DATABASE_URL BIND`

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sea_orm::sqlx::{self, PgPool, Row, SqlitePool};
use serde::Serialize;
use serde_json::Value;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! select {
    ($param:literal) => {
        concat!(
            "SELECT id, code, title, status, sector, countries, planned_start, planned_end, version, ",
            "created_at, updated_at FROM projects WHERE id = ",
            $param
        )
    };
}

#[derive(Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

#[derive(Serialize)]
struct Project {
    id: Uuid,
    code: String,
    title: Value,
    status: String,
    sector: String,
    countries: Value,
    planned_start: NaiveDate,
    planned_end: NaiveDate,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The same columns from either backend's row type.
macro_rules! project {
    ($row:expr) => {
        Project {
            id: $row.try_get("id")?,
            code: $row.try_get("code")?,
            title: $row.try_get::<sqlx::types::Json<Value>, _>("title")?.0,
            status: $row.try_get("status")?,
            sector: $row.try_get("sector")?,
            countries: $row.try_get::<sqlx::types::Json<Value>, _>("countries")?.0,
            planned_start: $row.try_get("planned_start")?,
            planned_end: $row.try_get("planned_end")?,
            version: $row.try_get("version")?,
            created_at: $row.try_get("created_at")?,
            updated_at: $row.try_get("updated_at")?,
        }
    };
}

async fn find(pool: &Pool, id: Uuid) -> Result<Option<Project>, sqlx::Error> {
    Ok(match pool {
        Pool::Postgres(p) => match sqlx::query(select!("$1")).bind(id).fetch_optional(p).await? {
            Some(row) => Some(project!(row)),
            None => None,
        },
        Pool::Sqlite(p) => match sqlx::query(select!("?")).bind(id).fetch_optional(p).await? {
            Some(row) => Some(project!(row)),
            None => None,
        },
    })
}

async fn get(State(pool): State<Pool>, Path(id): Path<Uuid>) -> Result<Json<Project>, StatusCode> {
    match find(&pool, id).await {
        Ok(Some(p)) => Ok(Json(p)),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: bench_raw DATABASE_URL BIND")?;
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8092".into());
    // The service's pool sizes (`db::connect`), so only the code in between differs.
    let pool = if url.starts_with("sqlite") {
        let options = SqliteConnectOptions::from_str(&url)?.journal_mode(SqliteJournalMode::Wal);
        Pool::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?,
        )
    } else {
        Pool::Postgres(PgPoolOptions::new().max_connections(16).connect(&url).await?)
    };
    let app = axum::Router::new()
        .route("/projects/{id}", axum::routing::get(get))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
