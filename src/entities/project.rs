use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub code: String,
    pub title: Json,
    pub summary: Option<Json>,
    pub search: String,
    pub alliance_id: Option<Uuid>,
    pub sector: String,
    pub countries: Json,
    pub rio_mitigation: i16,
    pub rio_adaptation: i16,
    pub status: crate::domain::status::ProjectStatus,
    pub planned_start: Date,
    pub planned_end: Date,
    pub actual_start: Option<Date>,
    pub actual_end: Option<Date>,
    /// The zone its deadlines live in: the lead participant's (kept by `app::zones`).
    pub time_zone: String,
}

versioned_row!();
