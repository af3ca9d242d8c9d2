//! The one row that holds the end of the audit hash chain. Appending an
//! event updates it first, so its row lock serializes appends.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_chain_head")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// `seq` of the last event (0 before the first).
    pub seq: i64,
    /// `hash` of the last event (the genesis hash before the first).
    pub hash: String,
}

impl ActiveModelBehavior for ActiveModel {}
