//! The use cases: every change the service can make is one function here,
//! run inside a [`UnitOfWork`] on behalf of an [`Actor`]. HTTP handlers,
//! seeding, the command line and background jobs all call these; none of
//! them writes rows itself.
//!
//! A use case takes typed input (parsed domain types), checks the rules
//! that need the database, writes, records what it did, and returns the
//! view the API shows. It never commits: its caller does.

pub mod access;
pub mod actor;
pub mod clock;
pub mod error;
pub mod uow;
pub mod versioned;

pub mod alliances;
pub mod funds;
pub mod grants;
pub mod institutions;
pub mod ledger;
pub mod milestones;
pub mod projects;
pub mod reminders;
pub mod results;
pub mod tokens;
pub mod webhooks;

pub use actor::Actor;
pub use error::{AppError, AppResult, FieldError};
pub use uow::{Change, UnitOfWork};
pub use versioned::{Expected, How};

use crate::domain::Money;

/// A value as a JSON column stores it. Our domain types and views are
/// plain structs and maps with string keys, so serializing cannot fail.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Money read back from its minor units and currency code.
pub(crate) fn stored_money(minor: i64, currency: &str) -> AppResult<Money> {
    Money::from_stored(minor, currency).map_err(AppError::corrupt)
}
