//! A webhook endpoint: where events are posted, and with which secret.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub url: String,
    /// Event types, or `["*"]`.
    pub event_types: Json,
    pub description: Option<String>,
    pub enabled: bool,
    /// `whsec_…`: kept as is, since signing needs it.
    pub secret: String,
    /// The secret before the last rotation, still signed with until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTimeUtc>,
    /// The last event `seq` fanned out to this endpoint.
    pub dispatched_seq: i64,
    /// When the current run of failures began; null while deliveries succeed.
    pub failing_since: Option<DateTimeUtc>,
}

versioned_row!();
