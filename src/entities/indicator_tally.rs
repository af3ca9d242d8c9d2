//! A project's share of a standard indicator's progress in a year (0: every year); see `store::indicator_tallies`.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "indicator_tallies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub standard_indicator_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub year: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    pub indicators: i64,
    pub baseline: Option<String>,
    pub target: Option<String>,
    pub actual: Option<String>,
    pub numerator: Option<String>,
    pub denominator: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
