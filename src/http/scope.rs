//! What a partner may see: projects its institution participates in, and
//! everything hanging off them. Everything else answers 404, so existence
//! does not leak.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use crate::entities::{participant, project};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select};
use uuid::Uuid;

/// Restricts a query on any entity with a project id column to the
/// projects the caller may see (no restriction for admins and viewers).
pub fn visible_projects<E: EntityTrait>(select: Select<E>, caller: &Caller, project_id: E::Column) -> Select<E> {
    match caller.partner_scope() {
        None => select,
        Some(institution) => select.filter(
            project_id.in_subquery(
                Query::select()
                    .column(participant::Column::ProjectId)
                    .from(participant::Entity)
                    .and_where(Expr::col(participant::Column::InstitutionId).eq(institution))
                    .to_owned(),
            ),
        ),
    }
}

/// Loads a project the caller may see, or 404. `lock` takes a row lock
/// (PostgreSQL) for a read-modify-write inside a transaction.
pub async fn project(db: &impl ConnectionTrait, caller: &Caller, id: Uuid, lock: bool) -> ApiResult<project::Model> {
    let mut select = visible_projects(project::Entity::find_by_id(id), caller, project::Column::Id);
    if lock {
        select = select.lock_exclusive();
    }
    select.one(db).await?.ok_or(ApiError::NotFound)
}
