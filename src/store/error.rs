//! The store's one error type: what the database said, sorted into what a
//! caller can act on. `http::error` maps it to problem details, once.

use crate::domain::ledger::Refusal;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the row (a code already taken, a second
    /// active membership…). Holds the database's message, which names the constraint.
    #[error("duplicate: {0}")]
    Duplicate(String),
    /// A foreign key refused the change: a delete of a row others refer to,
    /// or a reference to a row that does not exist.
    #[error("foreign key: {0}")]
    ForeignKey(String),
    /// The database could not store a value from the request (PostgreSQL
    /// class 22: a NUL character, a date or number out of range).
    #[error("the database refused a value: {0}")]
    BadValue(String),
    /// The fund's books refused a movement (a rule of `domain::ledger`).
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// A dashboard total would pass the range its BIGINT column can hold.
    #[error("a dashboard total would pass the range it can record")]
    OutOfRange,
    /// A row the store was asked to open does not exist.
    #[error("not found")]
    NotFound,
    /// Connection trouble or lock contention: the caller may retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or damaged data; logged, never shown.
    #[error("database error: {0}")]
    Db(DbErr),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<Refusal> for StoreError {
    fn from(r: Refusal) -> StoreError {
        StoreError::Refused(r)
    }
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> StoreError {
        if is_restricted_delete(&e) {
            return StoreError::ForeignKey(e.to_string());
        }
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(m)) => return StoreError::Duplicate(m),
            Some(SqlErr::ForeignKeyConstraintViolation(m)) => return StoreError::ForeignKey(m),
            _ => {}
        }
        if is_data_exception(&e) {
            return StoreError::BadValue(e.to_string());
        }
        if is_unavailable(&e) {
            return StoreError::Unavailable(e.to_string());
        }
        StoreError::Db(e)
    }
}

fn database_code(e: &DbErr) -> Option<(String, bool)> {
    match e {
        DbErr::Query(RuntimeErr::SqlxError(x)) | DbErr::Exec(RuntimeErr::SqlxError(x)) => match &**x {
            sea_orm::sqlx::Error::Database(d) => {
                let postgres = d
                    .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                    .is_some();
                d.code().map(|c| (c.into_owned(), postgres))
            }
            _ => None,
        },
        _ => None,
    }
}

/// SQLite reports `ON DELETE RESTRICT` as code 1811 (SQLITE_CONSTRAINT_TRIGGER),
/// which sea-orm does not classify as a foreign-key violation.
fn is_restricted_delete(e: &DbErr) -> bool {
    database_code(e).is_some_and(|(code, _)| code == "1811") && e.to_string().contains("FOREIGN KEY")
}

/// PostgreSQL's class 22, "data exception": a value in the statement could
/// not be stored or compared. Only a request can bring such a value.
fn is_data_exception(e: &DbErr) -> bool {
    database_code(e).is_some_and(|(code, postgres)| postgres && code.starts_with("22"))
}

/// Connection trouble (the database is down, the pool is exhausted, a lock
/// wait timed out): the client may retry, so it is a 503, not a 500.
fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as X;
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(x)) | DbErr::Exec(RuntimeErr::SqlxError(x)) => match &**x {
            X::Io(_) | X::PoolTimedOut | X::PoolClosed | X::WorkerCrashed | X::Tls(_) => true,
            // SQLite busy/locked; PostgreSQL serialization, deadlock, lock timeout, shutdown.
            X::Database(_) => database_code(e).is_some_and(|(code, _)| {
                matches!(
                    &*code,
                    "5" | "6" | "517" | "40001" | "40P01" | "55P03" | "57P01" | "57P03"
                )
            }),
            _ => false,
        },
        _ => false,
    }
}
