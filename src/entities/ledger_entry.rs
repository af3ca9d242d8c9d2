use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub fund_id: Uuid,
    /// Position in the fund's ledger, 1, 2, 3… (unique per fund).
    pub seq: i64,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub occurred_on: Date,
    pub recorded_at: DateTimeUtc,
    pub grant_id: Option<Uuid>,
    pub contribution_id: Option<Uuid>,
    pub disbursement_id: Option<Uuid>,
    pub cash_minor: i64,
    pub available_minor: i64,
}

impl ActiveModelBehavior for ActiveModel {}
