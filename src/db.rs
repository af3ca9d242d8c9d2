//! Connecting to SQLite or PostgreSQL with the settings each needs.

use crate::store::tallies;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    Statement, TransactionTrait,
};
use std::time::Duration;

/// How long a request may wait for a database connection before it answers
/// 503. When the database is down, the pool keeps retrying the refused
/// connection until this passes, so it is also how long a request takes to
/// say "unavailable": kept under the 3 s a client is promised.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a pool. SQLite gets WAL (readers never wait for the writer),
/// foreign keys on, a busy timeout, and full sync so a 2xx is durable.
/// A request that cannot get a connection within [`ACQUIRE_TIMEOUT`] answers
/// 503; every PostgreSQL connection is pinged before it is handed out, so
/// one the server dropped is replaced instead of failing a request.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if url.starts_with("sqlite") { 8 } else { 16 })
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A server may drop a connection (restart, failover); an SQLite
        // connection is an open file in this process and cannot be, so only
        // server connections pay a ping per checkout.
        .test_before_acquire(!url.starts_with("sqlite"))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(crate::store::BUSY_TIMEOUT)
        });
    Database::connect(options).await
}

/// Applies the pending migrations, then counts afresh any tally they (or
/// an operator) marked stale.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    let rebuilt = tallies::rebuild_stale(db).await?;
    if !rebuilt.is_empty() {
        tracing::info!(tallies = ?rebuilt, "counted the tallies afresh");
    }
    Ok(())
}

/// An instance's turn to prepare the database at start-up (migrations,
/// reference data, the first admin token), held until the returned
/// transaction ends. Instances starting together on one PostgreSQL database
/// take turns on a transaction-scoped advisory lock: the first does the
/// work, the next finds it done. SQLite is served by one process, and a
/// write transaction held here would block the pool's other connections,
/// so it takes none.
pub async fn start_up_turn(db: &DatabaseConnection) -> Result<Option<DatabaseTransaction>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    /// Any fixed number; only climate-tracker's start-up takes this lock.
    const START_UP_LOCK: i64 = 0x00c1_1a7e_7a11;
    let turn = db.begin().await?;
    turn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [START_UP_LOCK.into()],
    ))
    .await?;
    Ok(Some(turn))
}
