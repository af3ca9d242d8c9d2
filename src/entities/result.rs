//! A result a project aims at: an output, outcome or impact.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub project_id: Uuid,
    #[sea_orm(column_name = "type")]
    pub result_type: crate::domain::results::ResultType,
    pub title: Json,
    pub description: Option<Json>,
}

versioned_row!();
