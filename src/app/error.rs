//! What a use case can answer besides its result. `http::error` maps each
//! to a problem response, once; other callers (seeding, jobs) read them as
//! they are.

use crate::domain::ledger::Refusal;
use crate::store::StoreError;
use crate::store::tallies::OUT_OF_RANGE;
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

/// One failing field of a request.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `amount.amount` or `countries[1]`.
    #[schema(example = "amount.amount")]
    pub field: String,
    #[schema(example = "CNY allows at most 2 decimal places, '1.234' has 3")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input breaks a rule of its fields (or names a record that does not exist).
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// No such record, or one the actor may not see.
    #[error("not found")]
    NotFound,
    /// The actor's role may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A rule of the domain refused the change, with its stable code.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The record changed since the caller read it.
    #[error("{0}")]
    VersionMismatch(String),
    #[error(transparent)]
    Store(StoreError),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A stored value that cannot be read back as its type: a bug or damaged data.
    pub fn corrupt(what: impl Into<String>) -> AppError {
        AppError::Store(StoreError::Db(DbErr::Custom(what.into())))
    }

    /// A unique constraint said no: `duplicate`, with what is duplicated.
    pub fn on_duplicate(self, detail: &str) -> AppError {
        match self {
            AppError::Store(StoreError::Duplicate(_)) => AppError::conflict("duplicate", detail),
            other => other,
        }
    }

    /// A foreign key refused a reference: the field names a record that does not exist.
    pub fn on_missing_reference(self, field: &str, message: &str) -> AppError {
        match self {
            AppError::Store(StoreError::ForeignKey(_)) => AppError::field(field, message),
            other => other,
        }
    }

    /// A foreign key refused a delete: other records still refer to this one.
    pub fn on_still_referenced(self, detail: &str) -> AppError {
        match self {
            AppError::Store(StoreError::ForeignKey(_)) => AppError::conflict("still_referenced", detail),
            other => other,
        }
    }
}

/// A view made with `From` cannot fail (for [`super::versioned::record!`]).
impl From<std::convert::Infallible> for AppError {
    fn from(never: std::convert::Infallible) -> AppError {
        match never {}
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Refused(r) => refusal(r),
            StoreError::OutOfRange => AppError::field("amount", OUT_OF_RANGE),
            other => AppError::Store(other),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> AppError {
        AppError::from(StoreError::from(e))
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> AppError {
        refusal(r)
    }
}

fn refusal(r: Refusal) -> AppError {
    match r {
        Refusal::InsufficientFunds { available, needed } => AppError::conflict(
            "insufficient_funds",
            format!("the fund has {available} minor units available; this needs {needed}"),
        ),
        Refusal::OverDisbursement {
            limit,
            already,
            requested,
        } => AppError::conflict(
            "over_disbursement",
            format!("{already} of {limit} minor units are already paid; {requested} more would pass the amount"),
        ),
        Refusal::OutOfRange => AppError::field(
            "amount",
            "the fund's totals would leave the range the ledger can record",
        ),
    }
}
