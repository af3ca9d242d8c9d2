use sea_orm::entity::prelude::*;

/// Money out, or (negative, with `reversal_of`) money coming back.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "disbursements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub grant_id: Uuid,
    pub fund_id: Uuid,
    pub tranche_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: String,
    pub paid_on: Date,
    pub reference: Option<String>,
    pub local_amount_minor: Option<i64>,
    pub local_currency: Option<String>,
    pub exchange_rate: Option<String>,
    pub reversal_of: Option<Uuid>,
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
