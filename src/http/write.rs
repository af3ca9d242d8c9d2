//! The HTTP side of a unit of work: begun as the caller, committed with the
//! reply that an idempotent retry of the request will replay (stored in the
//! change's own transaction, so it exists if and only if the change does).

use super::auth::Caller;
use super::error::ApiResult;
use super::reply::Reply;
use crate::app::UnitOfWork;
use crate::store::idempotency::Completion;
use sea_orm::DatabaseConnection;

impl Caller {
    /// Begins a unit of work on behalf of the caller.
    pub async fn begin(&self, db: &DatabaseConnection) -> ApiResult<UnitOfWork> {
        Ok(UnitOfWork::begin(db, self.actor.clone()).await?)
    }

    /// Commits the unit of work with `reply` as the request's idempotent
    /// reply, and returns it.
    pub async fn commit(&self, uow: UnitOfWork, reply: Reply) -> ApiResult<Reply> {
        self.commit_replaying(uow, &reply).await?;
        Ok(reply)
    }

    /// Commits, storing `replayed` as what a retry gets (which may differ
    /// from the first answer: a new token's secret is never stored).
    pub async fn commit_replaying(&self, mut uow: UnitOfWork, replayed: &Reply) -> ApiResult<()> {
        if let Some(key) = &self.idempotency_key {
            uow.complete_idempotency(Completion {
                token_id: self.token_id,
                key: key.clone(),
                status: replayed.status.as_u16(),
                location: replayed.location.clone(),
                body: replayed.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
            });
        }
        uow.commit().await?;
        Ok(())
    }
}
