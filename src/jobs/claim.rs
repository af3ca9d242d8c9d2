//! Claiming due rows of a delivery table (`webhook_deliveries`,
//! `mail_deliveries`): pending, due, and not leased to another worker.
//! The claim sets a lease and counts the attempt in one statement; on
//! PostgreSQL `FOR UPDATE SKIP LOCKED` lets instances claim side by side
//! without waiting on each other, and SQLite's writers are serial anyway.
//! A plain read comes first: the workers look after every commit, and
//! most looks find nothing, so they must not take SQLite's write lock (or
//! a PostgreSQL row-lock scan) to learn that.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};
use uuid::Uuid;

#[derive(Clone, Copy)]
pub enum Table {
    WebhookDeliveries,
    MailDeliveries,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::WebhookDeliveries => "webhook_deliveries",
            Table::MailDeliveries => "mail_deliveries",
        }
    }
}

/// Claims up to `limit` due rows until `lease_until`; returns their ids.
pub async fn due(
    db: &impl ConnectionTrait,
    table: Table,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    let backend = db.get_database_backend();
    let t = table.name();
    if !any_due(db, table, now).await? {
        return Ok(Vec::new());
    }
    let sql = match backend {
        DatabaseBackend::Postgres => format!(
            "UPDATE {t} SET lease_until = $1, attempts = attempts + 1 WHERE id IN ({} \
               ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id",
            select_due(table, "$2")
        ),
        _ => format!(
            "UPDATE {t} SET lease_until = ?, attempts = attempts + 1 WHERE id IN ({} \
               ORDER BY next_attempt_at LIMIT ?) RETURNING id",
            select_due(table, "?")
        ),
    };
    let values: Vec<sea_orm::Value> = match backend {
        DatabaseBackend::Postgres => vec![lease_until.into(), now.into(), (limit as i64).into()],
        _ => vec![lease_until.into(), now.into(), now.into(), (limit as i64).into()],
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter().map(|r| r.try_get::<Uuid>("", "id")).collect()
}

/// Whether a row is pending, due and not leased, by a read alone.
async fn any_due(db: &impl ConnectionTrait, table: Table, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let now_param = if backend == DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!("{} LIMIT 1", select_due(table, now_param));
    let values: Vec<sea_orm::Value> = match backend {
        DatabaseBackend::Postgres => vec![now.into()],
        _ => vec![now.into(), now.into()],
    };
    let found = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(found.is_some())
}

/// The ids of due rows; `now` is the placeholder of the current time.
pub fn select_due(table: Table, now: &str) -> String {
    let t = table.name();
    format!(
        "SELECT id FROM {t} WHERE status = 'pending' AND next_attempt_at <= {now} \
           AND (lease_until IS NULL OR lease_until < {now})"
    )
}
