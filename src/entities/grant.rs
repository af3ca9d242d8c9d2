use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub code: Option<String>,
    pub fund_id: Uuid,
    pub project_id: Uuid,
    pub recipient_institution_id: Uuid,
    pub title: Json,
    pub purpose: Option<Json>,
    pub amount_minor: i64,
    pub currency: String,
    pub status: crate::domain::status::GrantStatus,
    pub decided_on: Option<Date>,
    /// Net of reversals; maintained with every disbursement.
    pub disbursed_minor: i64,
}

versioned_row!();
