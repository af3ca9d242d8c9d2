//! The shares of every project in a standard indicator's progress, summed per year (0: every year); see `store::indicator_tallies`.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "indicator_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub standard_indicator_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub year: i32,
    pub projects: i64,
    pub indicators: i64,
    /// Each figure: the sum over the shares that carry it, and how many do.
    pub baseline: String,
    pub baseline_count: i64,
    pub target: String,
    pub target_count: i64,
    pub actual: String,
    pub actual_count: i64,
    pub numerator: String,
    pub numerator_count: i64,
    pub denominator: String,
    pub denominator_count: i64,
}

impl ActiveModelBehavior for ActiveModel {}
