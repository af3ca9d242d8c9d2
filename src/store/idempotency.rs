//! Idempotency keys in the database, so that every instance sees every key.
//! The HTTP middleware decides what a key means for a request; this module
//! only claims, completes, finds and releases the rows.

use super::StoreResult;
use crate::entities::idempotency_key as key_row;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// The reply a change stores for its key, written in the change's own
/// transaction: a stored reply exists if and only if the change committed.
#[derive(Clone, Debug)]
pub struct Completion {
    pub token_id: Uuid,
    pub key: String,
    pub status: u16,
    pub location: Option<String>,
    pub body: Option<String>,
}

/// Tries to claim the key; true when this request won it (the primary key
/// makes exactly one claim win, across instances).
pub async fn claim(db: &impl ConnectionTrait, token_id: Uuid, key: &str, request_hash: &str) -> StoreResult<bool> {
    let row = key_row::ActiveModel {
        token_id: Set(token_id),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        status_code: Set(None),
        body: Set(None),
        location: Set(None),
        created_at: Set(Utc::now()),
    };
    let inserted = key_row::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([key_row::Column::TokenId, key_row::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

pub async fn find(db: &impl ConnectionTrait, token_id: Uuid, key: &str) -> StoreResult<Option<key_row::Model>> {
    Ok(key_row::Entity::find_by_id((token_id, key.to_owned())).one(db).await?)
}

/// Deletes a claim: an unfinished one, or (`expired`) a finished one past its keep time.
pub async fn release(db: &impl ConnectionTrait, token_id: Uuid, key: &str, expired: bool) -> StoreResult<()> {
    let mut delete = key_row::Entity::delete_many()
        .filter(key_row::Column::TokenId.eq(token_id))
        .filter(key_row::Column::Key.eq(key));
    if !expired {
        delete = delete.filter(key_row::Column::StatusCode.is_null());
    }
    delete.exec(db).await?;
    Ok(())
}

/// Stores the reply of the change that claimed the key, in its transaction.
pub async fn complete(db: &impl ConnectionTrait, c: Completion) -> StoreResult<()> {
    key_row::Entity::update_many()
        .col_expr(key_row::Column::StatusCode, (c.status as i16).into())
        .col_expr(key_row::Column::Body, c.body.into())
        .col_expr(key_row::Column::Location, c.location.into())
        .filter(key_row::Column::TokenId.eq(c.token_id))
        .filter(key_row::Column::Key.eq(c.key))
        .exec(db)
        .await?;
    Ok(())
}
