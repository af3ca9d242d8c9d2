//! The outbox: events appended by every audited change, in commit order.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// Handed out in commit order from `event_head` (see the migration).
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    #[sea_orm(column_name = "type")]
    pub kind: String,
    pub occurred_at: DateTimeUtc,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub project_id: Option<Uuid>,
    /// For a grant and its money, the recipient: partners see the event only when it is theirs.
    pub recipient_id: Option<Uuid>,
    pub data: Json,
}

impl ActiveModelBehavior for ActiveModel {}
