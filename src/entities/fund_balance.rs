use sea_orm::entity::prelude::*;

/// Running totals of one fund, in minor units; locked by every money movement.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "fund_balances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub fund_id: Uuid,
    pub contributed_minor: i64,
    pub disbursed_minor: i64,
    pub committed_minor: i64,
    pub ledger_seq: i64,
}

impl ActiveModelBehavior for ActiveModel {}
