//! A tally to count afresh from the data at start-up (see `store::tallies`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stale_tallies")]
pub struct Model {
    /// `dashboard`, `milestones` or `zones`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
}

impl ActiveModelBehavior for ActiveModel {}
