//! The audit trail: one event per change, in a hash chain.
//!
//! Each append locks the one `audit_chain_head` row (see `migration`'s
//! `audit_chain`). Every audited write in the database passes through that
//! lock, so the unit of work takes it last, right before the commit, and
//! holds it only for the append and the commit itself.

use super::StoreResult;
use crate::entities::{audit_chain_head, audit_event};
use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use uuid::Uuid;

/// Who made a change, as the audit trail names them.
#[derive(Clone, Copy, Debug)]
pub struct Author<'a> {
    /// The token (or a person's session token); `None` for the system.
    pub token_id: Option<Uuid>,
    pub name: &'a str,
}

/// What one change did.
#[derive(Clone, Debug)]
pub struct Entry {
    pub action: String,
    pub entity_type: &'static str,
    pub entity_id: Uuid,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Writes one audit event at the end of the chain. The only place events
/// are written; call it inside the change's transaction, as late as
/// possible (it locks the chain).
pub async fn record(db: &impl ConnectionTrait, author: Author<'_>, entry: Entry) -> StoreResult<()> {
    let mut event = audit_event::Model {
        id: Uuid::now_v7(),
        // PostgreSQL keeps microseconds: store what the hash covers.
        occurred_at: Utc::now().trunc_subsecs(6),
        token_id: author.token_id,
        token_name: author.name.to_owned(),
        action: entry.action,
        entity_type: entry.entity_type.to_owned(),
        entity_id: entry.entity_id,
        before: entry.before,
        after: entry.after,
        seq: None,
        prev_hash: None,
        hash: None,
    };
    link(db, &mut event).await?;
    audit_event::ActiveModel {
        id: Set(event.id),
        occurred_at: Set(event.occurred_at),
        token_id: Set(event.token_id),
        token_name: Set(event.token_name),
        action: Set(event.action),
        entity_type: Set(event.entity_type),
        entity_id: Set(event.entity_id),
        before: Set(event.before),
        after: Set(event.after),
        seq: Set(event.seq),
        prev_hash: Set(event.prev_hash),
        hash: Set(event.hash),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Gives `event` the next place in the chain and its hash, and moves the
/// head there. The head's row stays locked until the transaction ends (on
/// SQLite the write transaction already excludes every other writer).
async fn link(db: &impl ConnectionTrait, event: &mut audit_event::Model) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    // An UPDATE first, so the lock is taken by the statement that reads the head.
    let head = db
        .query_one_raw(Statement::from_string(
            backend,
            "UPDATE audit_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit_chain_head has no row; run the migrations".into()))?;
    let seq: i64 = head.try_get("", "seq")?;
    let prev_hash: String = head.try_get("", "hash")?;
    event.seq = Some(seq);
    event.prev_hash = Some(prev_hash);
    let hash = event.chain_hash();
    event.hash = Some(hash.clone());
    audit_chain_head::ActiveModel {
        id: Set(1),
        seq: Set(seq),
        hash: Set(hash),
    }
    .update(db)
    .await?;
    Ok(())
}

/// Chains the events written before the chain existed (their `seq` is
/// null), oldest first; returns how many. Safe to run from several
/// instances at once: each batch holds the head's lock while it chains.
pub async fn seal_unchained(db: &DatabaseConnection) -> StoreResult<u64> {
    const BATCH: u64 = 500;
    let mut sealed = 0;
    loop {
        let txn = super::begin_immediate(db).await?;
        // Lock the head before looking, so two instances never chain the same event.
        txn.execute_raw(Statement::from_string(
            txn.get_database_backend(),
            "UPDATE audit_chain_head SET seq = seq WHERE id = 1",
        ))
        .await?;
        let batch = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.is_null())
            .order_by_asc(audit_event::Column::Id)
            .limit(BATCH)
            .all(&txn)
            .await?;
        let done = (batch.len() as u64) < BATCH;
        for mut event in batch {
            link(&txn, &mut event).await?;
            audit_event::ActiveModel {
                id: Set(event.id),
                seq: Set(event.seq),
                prev_hash: Set(event.prev_hash),
                hash: Set(event.hash),
                ..Default::default()
            }
            .update(&txn)
            .await?;
            sealed += 1;
        }
        txn.commit().await?;
        if done {
            return Ok(sealed);
        }
    }
}
