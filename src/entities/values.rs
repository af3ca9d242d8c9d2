//! Domain vocabularies as column types: a status or role column reads as
//! its enum, so a stored value is parsed once, here, and never by hand.
//! (What sea-orm's `DeriveValueType` generates for string enums, written
//! here so that `domain` stays free of SQL.)

use crate::domain::delivery::DeliveryStatus;
use crate::domain::kinds::{ParticipantRole, Role};
use crate::domain::results::{Measure, ResultType, UpdateStatus};
use crate::domain::status::{GrantStatus, MilestoneStatus, ProjectStatus};

macro_rules! string_column {
    ($($t:ty),+ $(,)?) => {$(
        impl From<$t> for sea_orm::Value {
            fn from(v: $t) -> Self {
                v.as_str().into()
            }
        }

        impl sea_orm::TryGetable for $t {
            fn try_get_by<I: sea_orm::ColIdx>(res: &sea_orm::QueryResult, idx: I) -> Result<Self, sea_orm::TryGetError> {
                let s = String::try_get_by(res, idx)?;
                s.parse().map_err(|e: strum::ParseError| {
                    sea_orm::TryGetError::DbErr(sea_orm::DbErr::TryIntoErr {
                        from: "String",
                        into: stringify!($t),
                        source: std::sync::Arc::new(e),
                    })
                })
            }
        }

        impl sea_orm::sea_query::ValueType for $t {
            fn try_from(v: sea_orm::Value) -> Result<Self, sea_orm::sea_query::ValueTypeErr> {
                let s = <String as sea_orm::sea_query::ValueType>::try_from(v)?;
                s.parse().map_err(|_| sea_orm::sea_query::ValueTypeErr)
            }

            fn type_name() -> String {
                stringify!($t).to_owned()
            }

            fn array_type() -> sea_orm::sea_query::ArrayType {
                sea_orm::sea_query::ArrayType::String
            }

            fn column_type() -> sea_orm::sea_query::ColumnType {
                sea_orm::sea_query::ColumnType::String(sea_orm::sea_query::StringLen::None)
            }
        }

        impl sea_orm::sea_query::Nullable for $t {
            fn null() -> sea_orm::Value {
                sea_orm::Value::String(None)
            }
        }

        impl sea_orm::IntoActiveValue<$t> for $t {
            fn into_active_value(self) -> sea_orm::ActiveValue<$t> {
                sea_orm::ActiveValue::Set(self)
            }
        }
    )+};
}

string_column!(
    ProjectStatus,
    MilestoneStatus,
    GrantStatus,
    Role,
    ParticipantRole,
    DeliveryStatus,
    ResultType,
    Measure,
    UpdateStatus,
);
