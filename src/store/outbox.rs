//! The outbox: events appended by each unit of work in its own transaction,
//! numbered in commit order (see migration 005), read by the feed and by
//! the delivery workers.

use super::StoreResult;
use crate::entities::event;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QuerySelect, Set, Statement};
use std::sync::OnceLock;
use tokio::sync::Notify;
use uuid::Uuid;

/// Who may read an event besides staff: the partners of its project, and
/// for a grant and its money only the recipient among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    pub project_id: Option<Uuid>,
    pub recipient_id: Option<Uuid>,
}

/// An event before it has its place in the outbox.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Given when the event is made, so a use case can name it before commit.
    pub id: Uuid,
    /// `<entity>.<action>`, e.g. `grant.transitioned`.
    pub kind: String,
    pub entity_type: &'static str,
    pub entity_id: Uuid,
    pub audience: Audience,
    /// The entity as the API shows it after the change.
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(
        kind: String,
        entity_type: &'static str,
        entity_id: Uuid,
        audience: Audience,
        data: serde_json::Value,
    ) -> NewEvent {
        NewEvent {
            id: Uuid::now_v7(),
            kind,
            entity_type,
            entity_id,
            audience,
            data,
        }
    }
}

/// The seq of the newest event committed so far (0 with none).
pub async fn newest_seq(db: &impl ConnectionTrait) -> StoreResult<i64> {
    let newest: Option<i64> = event::Entity::find()
        .select_only()
        .column_as(Expr::col(event::Column::Seq).max(), "seq")
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(newest.unwrap_or(0))
}

/// Appends `events` in order. Takes the `event_head` row lock, held until
/// the transaction ends, so call it late in the transaction.
pub async fn append(db: &impl ConnectionTrait, events: Vec<NewEvent>, at: DateTime<Utc>) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len() as i64;
    let head = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => "UPDATE event_head SET seq = seq + $1 WHERE id = 1 RETURNING seq",
                _ => "UPDATE event_head SET seq = seq + ? WHERE id = 1 RETURNING seq",
            },
            [n.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("event_head has no row; run the migrations".into()))?;
    let last: i64 = head.try_get("", "seq")?;
    let at = at.trunc_subsecs(6);
    let rows = events.into_iter().enumerate().map(|(i, e)| event::ActiveModel {
        seq: Set(last - n + 1 + i as i64),
        id: Set(e.id),
        kind: Set(e.kind),
        occurred_at: Set(at),
        entity_type: Set(e.entity_type.to_owned()),
        entity_id: Set(e.entity_id),
        project_id: Set(e.audience.project_id),
        recipient_id: Set(e.audience.recipient_id),
        data: Set(e.data),
    });
    event::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

/// Woken after this instance commits events, so a long-polling reader here
/// answers at once; readers also look again now and then for the events of
/// other instances.
pub fn appended() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}
