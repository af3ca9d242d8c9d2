//! What a partner may see: projects its institution participates in, and
//! everything hanging off them. Everything else answers 404, so existence
//! does not leak.

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use crate::entities::{disbursement, grant, milestone, participant, project};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Select};
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

/// Whether the caller can see the resource of kind `kind` (a route's first
/// segment, e.g. `projects`) with this id, as a read of it would tell: a
/// partner sees projects it takes part in and their milestones, and grants
/// to its institution and their disbursements. Other kinds (the registry,
/// funds, tokens) look the same to every caller. For refusing a write with
/// the 404 a read would give, so that a refusal does not reveal existence.
pub async fn can_see(db: &impl ConnectionTrait, caller: &Caller, kind: &str, id: Uuid) -> ApiResult<bool> {
    let Some(institution) = caller.partner_scope() else {
        return Ok(true);
    };
    let grants_to_it = || {
        Query::select()
            .column(grant::Column::Id)
            .from(grant::Entity)
            .and_where(Expr::col(grant::Column::RecipientInstitutionId).eq(institution))
            .to_owned()
    };
    let found = match kind {
        "projects" => {
            visible_projects(project::Entity::find_by_id(id), caller, project::Column::Id)
                .count(db)
                .await?
        }
        "milestones" => {
            visible_projects(milestone::Entity::find_by_id(id), caller, milestone::Column::ProjectId)
                .count(db)
                .await?
        }
        "grants" => {
            grant::Entity::find_by_id(id)
                .filter(grant::Column::Id.in_subquery(grants_to_it()))
                .count(db)
                .await?
        }
        "disbursements" => {
            disbursement::Entity::find_by_id(id)
                .filter(disbursement::Column::GrantId.in_subquery(grants_to_it()))
                .count(db)
                .await?
        }
        _ => 1,
    };
    Ok(found > 0)
}
