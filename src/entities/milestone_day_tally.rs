//! How many milestones have a status and a due date, every zone together (see `store::tallies`).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "milestone_day_tallies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub due_on: Date,
    pub milestones: i64,
}

impl ActiveModelBehavior for ActiveModel {}
