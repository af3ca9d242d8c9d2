//! A reporting period of an indicator, with its target.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "indicator_periods")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub indicator_id: Uuid,
    pub project_id: Uuid,
    pub period_start: Date,
    pub period_end: Date,
    pub target_value: Option<String>,
    pub target_comment: Option<String>,
    pub locked: bool,
}

versioned_row!();
