//! A standard indicator the fund reports across projects (e.g. `ghg-emissions-reduced`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "standard_indicators")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub code: String,
    pub title: Json,
    pub measure: crate::domain::results::Measure,
    pub unit: Option<String>,
    pub ascending: bool,
}

versioned_row!();
