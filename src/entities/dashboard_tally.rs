//! One key of the dashboard's aggregates (see `store::tallies`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dashboard_tallies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dimension: String,
    /// The fund whose grants are counted; the nil UUID for all funds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub fund_id: Uuid,
    /// ISO code, id, sector, year or status; `''` for projects with no alliance.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The grants' currency; `''` on rows that count projects.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub projects: i64,
    pub grants: i64,
    pub awarded_minor: i64,
    pub disbursed_minor: i64,
}

impl ActiveModelBehavior for ActiveModel {}
