//! How many milestones have a status and a due date in a time zone (see `store::tallies`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "milestone_tallies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub due_on: Date,
    /// The zone the milestones' project keeps its deadlines in.
    #[sea_orm(primary_key, auto_increment = false)]
    pub time_zone: String,
    pub milestones: i64,
}

impl ActiveModelBehavior for ActiveModel {}
