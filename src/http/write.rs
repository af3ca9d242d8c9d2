//! One transaction per change: the change itself, its audit event and the
//! completion of its idempotency key commit together or not at all.
//!
//! Audit events form a hash chain (see `migration`'s `audit_chain`): each
//! append locks the one `audit_chain_head` row. Every audited write in the
//! database passes through that lock, so it is taken last, right before
//! the commit, and held only for the append and the commit itself.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::idempotency;
use super::reply::Reply;
use crate::entities::{audit_chain_head, audit_event, milestone};
use crate::store::tallies::{self, Pending};
use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

/// What a change did, for the audit trail.
pub struct Change {
    action: String,
    entity_type: &'static str,
    entity_id: Uuid,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

fn to_json<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

impl Change {
    pub fn created<T: Serialize>(entity_type: &'static str, id: Uuid, after: &T) -> Change {
        Change {
            action: "create".into(),
            entity_type,
            entity_id: id,
            before: None,
            after: to_json(after),
        }
    }

    pub fn updated<B: Serialize, A: Serialize>(entity_type: &'static str, id: Uuid, before: &B, after: &A) -> Change {
        Change::action("update", entity_type, id, before, after)
    }

    pub fn deleted<T: Serialize>(entity_type: &'static str, id: Uuid, before: &T) -> Change {
        Change {
            action: "delete".into(),
            entity_type,
            entity_id: id,
            before: to_json(before),
            after: None,
        }
    }

    /// A named action such as `transition:active` or `achieve`.
    pub fn action<B: Serialize, A: Serialize>(
        action: impl Into<String>,
        entity_type: &'static str,
        id: Uuid,
        before: &B,
        after: &A,
    ) -> Change {
        Change {
            action: action.into(),
            entity_type,
            entity_id: id,
            before: to_json(before),
            after: to_json(after),
        }
    }
}

/// An open write transaction on behalf of a caller.
pub struct Write<'a> {
    txn: DatabaseTransaction,
    caller: &'a Caller,
    tallies: Pending,
}

impl<'a> Write<'a> {
    /// Begins a transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing
    /// to upgrade a read lock; on PostgreSQL rows are locked where a rule
    /// reads before it writes.
    pub async fn begin(db: &DatabaseConnection, caller: &'a Caller) -> ApiResult<Write<'a>> {
        Ok(Write {
            txn: begin_immediate(db).await?,
            caller,
            tallies: Pending::default(),
        })
    }

    pub fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn caller(&self) -> &Caller {
        self.caller
    }

    /// Locks a project and takes its share of the dashboard tallies out;
    /// the commit puts it back as it then stands. Call it before changing
    /// the project, its participants or its grants, after any fund or grant
    /// lock (see `store::tallies`).
    pub async fn hold_project(&mut self, project_id: Uuid) -> ApiResult<()> {
        Ok(self.tallies.hold_project(&self.txn, project_id).await?)
    }

    /// Counts a created (`before` is `None`) or changed milestone in the tallies.
    pub fn count_milestone(&mut self, before: Option<&milestone::Model>, after: &milestone::Model) {
        self.tallies.milestone(before, after);
    }

    /// Settles the tallies, records the idempotent reply and the audit
    /// event, then commits. The event goes last: appending it takes the
    /// audit chain's lock.
    pub async fn commit(self, change: Change, reply: Reply) -> ApiResult<Reply> {
        self.tallies.settle(&self.txn).await.map_err(|e| {
            if tallies::is_out_of_range(&e) {
                ApiError::field("amount", tallies::OUT_OF_RANGE)
            } else {
                ApiError::from(e)
            }
        })?;
        if let Some(key) = &self.caller.idempotency_key {
            idempotency::complete(&self.txn, self.caller.token_id, key, &reply).await?;
        }
        record(&self.txn, Some(self.caller.token_id), &self.caller.name, change).await?;
        self.txn.commit().await?;
        Ok(reply)
    }
}

/// A write transaction. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing to
/// upgrade a read lock.
pub(crate) async fn begin_immediate(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await
}

/// Writes one audit event at the end of the chain; `token_id` is `None` for
/// the system (seeding). The only place events are written; call it inside
/// the change's transaction, as late as possible (it locks the chain).
pub async fn record(
    db: &impl ConnectionTrait,
    token_id: Option<Uuid>,
    actor: &str,
    change: Change,
) -> Result<(), DbErr> {
    let mut event = audit_event::Model {
        id: Uuid::now_v7(),
        // PostgreSQL keeps microseconds: store what the hash covers.
        occurred_at: Utc::now().trunc_subsecs(6),
        token_id,
        token_name: actor.to_owned(),
        action: change.action,
        entity_type: change.entity_type.to_owned(),
        entity_id: change.entity_id,
        before: change.before,
        after: change.after,
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
pub async fn seal_unchained(db: &DatabaseConnection) -> Result<u64, DbErr> {
    const BATCH: u64 = 500;
    let mut sealed = 0;
    loop {
        let txn = begin_immediate(db).await?;
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
