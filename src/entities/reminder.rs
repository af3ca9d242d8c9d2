//! A reminder sent: once per milestone, due date and kind, across instances.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub milestone_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub due_on: Date,
    /// `due_soon` or `overdue`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    pub sent_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
