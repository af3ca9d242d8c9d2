use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "funds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub code: String,
    pub name: Json,
    pub search: String,
    pub currency: String,
    pub sponsor_institution_id: Uuid,
    pub established_on: Date,
    pub focus_areas: Json,
}

versioned_row!();
