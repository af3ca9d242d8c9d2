//! Persistence beyond one row: transactions, the audit chain, the outbox,
//! idempotency records, the fund's books and the dashboards' tallies. It
//! speaks in its own error type and never imports the layers above it.

pub mod audit;
pub mod books;
pub mod error;
pub mod idempotency;
pub mod outbox;
pub mod tallies;
pub mod zones;

pub use error::{StoreError, StoreResult};

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

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

/// `CAST(SUM(col) AS BIGINT)`: PostgreSQL widens a BIGINT sum to NUMERIC,
/// which the driver would not read as an integer; the cast keeps it exact.
pub fn sum_minor(col: impl sea_orm::sea_query::IntoColumnRef) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    Expr::expr(Func::sum(Expr::col(col))).cast_as("BIGINT")
}
