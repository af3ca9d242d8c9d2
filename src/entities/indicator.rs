//! How a result is measured. Values are decimal strings (see `domain::results::Value`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "indicators")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub result_id: Uuid,
    pub project_id: Uuid,
    pub title: Json,
    pub description: Option<Json>,
    pub measure: crate::domain::results::Measure,
    pub unit: Option<String>,
    pub ascending: bool,
    pub cumulative: bool,
    pub standard_indicator_id: Option<Uuid>,
    pub baseline_year: Option<i32>,
    pub baseline_value: Option<String>,
    pub baseline_comment: Option<String>,
    /// `[{name, values}]`.
    pub dimensions: Json,
}

versioned_row!();
