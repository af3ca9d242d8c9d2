//! Bench-only reference: the same primary-key `SELECT` of a project as
//! `GET /api/v1/projects/{id}`, with no auth, no middleware and none of our
//! framework, so `make bench` can report every figure as a ratio to it.
//!
//! Usage: `bench_reference DATABASE_URL BIND`

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use climate_tracker::entities::project;
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

async fn get(
    State(db): State<DatabaseConnection>,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, StatusCode> {
    match project::Entity::find_by_id(id).one(&db).await {
        Ok(Some(p)) => Ok(Json(serde_json::json!({
            "id": p.id, "code": p.code, "title": p.title, "status": p.status, "sector": p.sector,
            "countries": p.countries, "planned_start": p.planned_start, "planned_end": p.planned_end,
            "version": p.version, "created_at": p.created_at, "updated_at": p.updated_at,
        }))),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: bench_reference DATABASE_URL BIND")?;
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8091".into());
    let db = climate_tracker::db::connect(&url).await?;
    let app = axum::Router::new()
        .route("/projects/{id}", axum::routing::get(get))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
