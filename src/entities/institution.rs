use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "institutions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub code: Option<String>,
    pub name: Json,
    pub search: String,
    pub kind: String,
    pub country: String,
    pub city: Option<String>,
    pub website: Option<String>,
    pub iati_org_id: Option<String>,
    /// An explicit IANA zone; null: the country's default.
    pub time_zone: Option<String>,
    pub contact_email: Option<String>,
}

versioned_row!();
