//! Persistence beyond one row: transactions, the audit chain, the outbox,
//! idempotency records, the fund's books and the dashboards' tallies. It
//! speaks in its own error type and never imports the layers above it.

pub mod audit;
pub mod books;
pub mod error;
pub mod idempotency;
pub mod indicator_tallies;
pub mod outbox;
pub mod tallies;
pub mod zones;

pub use error::{StoreError, StoreResult};

use sea_orm::{
    ConnAcquireErr, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// A write transaction. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing to
/// upgrade a read lock; on PostgreSQL rows are locked where a rule reads
/// before it writes.
pub async fn begin_immediate(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await
}

/// How long a writer waits for SQLite's write lock before the request is
/// answered as unavailable (the connection's busy timeout, and [`write_turn`]).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A writer's turn at SQLite's one write lock, taken in this process before
/// `BEGIN IMMEDIATE` and held until the transaction has ended. Writers that
/// find the lock taken otherwise wait in SQLite's busy handler, which sleeps
/// in growing steps of up to 100 ms: under load the lock stood idle half the
/// time while they slept. Here they queue in order, and the next begins as
/// soon as the last commits. `None` on PostgreSQL, whose writers lock rows.
pub async fn write_turn(db: &DatabaseConnection) -> Result<Option<OwnedMutexGuard<()>>, DbErr> {
    type Turns = Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>;
    static TURNS: LazyLock<Turns> = LazyLock::new(Turns::default);
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(None);
    }
    // One queue per database file: tests open many databases in one process.
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let turn = TURNS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(file)
        .or_default()
        .clone();
    match tokio::time::timeout(BUSY_TIMEOUT, turn.lock_owned()).await {
        Ok(guard) => Ok(Some(guard)),
        Err(_) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
    }
}

/// `CAST(SUM(col) AS BIGINT)`: PostgreSQL widens a BIGINT sum to NUMERIC,
/// which the driver would not read as an integer; the cast keeps it exact.
pub fn sum_minor(col: impl sea_orm::sea_query::IntoColumnRef) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    Expr::expr(Func::sum(Expr::col(col))).cast_as("BIGINT")
}
