//! One transaction per change: the change itself, its audit event and the
//! completion of its idempotency key commit together or not at all.

use super::auth::Caller;
use super::error::ApiResult;
use super::idempotency;
use super::reply::Reply;
use crate::entities::audit_event;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, Set, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
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
}

impl<'a> Write<'a> {
    /// Begins a transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so concurrent writers queue instead of failing
    /// to upgrade a read lock; on PostgreSQL rows are locked where a rule
    /// reads before it writes.
    pub async fn begin(db: &DatabaseConnection, caller: &'a Caller) -> ApiResult<Write<'a>> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(Write {
            txn: db.begin_with_options(options).await?,
            caller,
        })
    }

    pub fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn caller(&self) -> &Caller {
        self.caller
    }

    /// Records the audit event and the idempotent reply, then commits.
    pub async fn commit(self, change: Change, reply: Reply) -> ApiResult<Reply> {
        record(&self.txn, Some(self.caller.token_id), &self.caller.name, change).await?;
        if let Some(key) = &self.caller.idempotency_key {
            idempotency::complete(&self.txn, self.caller.token_id, key, &reply).await?;
        }
        self.txn.commit().await?;
        Ok(reply)
    }
}

/// Writes one audit event; `token_id` is `None` for the system (seeding).
pub async fn record(
    db: &impl ConnectionTrait,
    token_id: Option<Uuid>,
    actor: &str,
    change: Change,
) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurred_at: Set(Utc::now()),
        token_id: Set(token_id),
        token_name: Set(actor.to_owned()),
        action: Set(change.action),
        entity_type: Set(change.entity_type.to_owned()),
        entity_id: Set(change.entity_id),
        before: Set(change.before),
        after: Set(change.after),
    }
    .insert(db)
    .await?;
    Ok(())
}
