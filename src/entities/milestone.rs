use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "milestones")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub project_id: Uuid,
    pub title: Json,
    pub description: Option<Json>,
    pub due_on: Date,
    pub status: crate::domain::status::MilestoneStatus,
    pub achieved_on: Option<Date>,
    pub evidence: Option<String>,
    /// The zone its deadlines live in: the lead participant's (kept by `app::zones`).
    pub time_zone: String,
}

versioned_row!();
