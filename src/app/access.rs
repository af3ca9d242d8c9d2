//! What an actor may see. Partners see the projects their institution takes
//! part in and everything hanging off them, and grants to their
//! institution; anything else is `NotFound`, so existence does not leak.
//!
//! The order of checks is the rule: first find the record as the actor may
//! see it (404), then check what the actor may do with it (403). Every use
//! case that touches a scoped record goes through [`seen_then`].

use super::actor::Actor;
use super::error::{AppError, AppResult};
use crate::entities::{
    disbursement, grant, indicator, indicator_period, indicator_update, milestone, participant, project, result,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

/// Restricts a query on any entity with a project id column to the projects
/// the actor may see (no restriction for admins, viewers and the system).
pub fn visible_projects<E: EntityTrait>(select: Select<E>, actor: &Actor, project_id: E::Column) -> Select<E> {
    match actor.partner_scope() {
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

/// Restricts a query on grants to those the actor may see (partners: grants to their institution).
pub fn visible_grants(select: Select<grant::Entity>, actor: &Actor) -> Select<grant::Entity> {
    match actor.partner_scope() {
        None => select,
        Some(institution) => select.filter(grant::Column::RecipientInstitutionId.eq(institution)),
    }
}

/// How a scoped record is loaded inside a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    No,
    /// A row lock (PostgreSQL) for a read-modify-write; SQLite write
    /// transactions are serial already.
    Exclusive,
}

fn locked<E: EntityTrait>(select: Select<E>, lock: Lock) -> Select<E> {
    match lock {
        Lock::No => select,
        Lock::Exclusive => select.lock_exclusive(),
    }
}

pub async fn project(db: &impl ConnectionTrait, actor: &Actor, id: Uuid, lock: Lock) -> AppResult<project::Model> {
    let select = visible_projects(project::Entity::find_by_id(id), actor, project::Column::Id);
    locked(select, lock).one(db).await?.ok_or(AppError::NotFound)
}

pub async fn milestone(db: &impl ConnectionTrait, actor: &Actor, id: Uuid, lock: Lock) -> AppResult<milestone::Model> {
    let select = visible_projects(milestone::Entity::find_by_id(id), actor, milestone::Column::ProjectId);
    locked(select, lock).one(db).await?.ok_or(AppError::NotFound)
}

pub async fn grant(db: &impl ConnectionTrait, actor: &Actor, id: Uuid, lock: Lock) -> AppResult<grant::Model> {
    locked(visible_grants(grant::Entity::find_by_id(id), actor), lock)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// A row of any table with a project id column, as the actor may see it, or `NotFound`.
pub async fn in_visible_project<E: EntityTrait>(
    db: &impl ConnectionTrait,
    actor: &Actor,
    select: Select<E>,
    project_id: E::Column,
) -> AppResult<E::Model> {
    visible_projects(select, actor, project_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// A lookup as a count: 1 when found, 0 when not.
fn seen<T>(found: AppResult<T>) -> AppResult<u64> {
    match found {
        Ok(_) => Ok(1),
        Err(AppError::NotFound) => Ok(0),
        Err(e) => Err(e),
    }
}

/// The 404-before-403 order: the record as the actor may see it, then the
/// role check. `found` is the lookup's result.
pub fn seen_then<T>(found: AppResult<T>, may: impl FnOnce() -> AppResult<()>) -> AppResult<T> {
    let record = found?;
    may()?;
    Ok(record)
}

/// Whether the actor can see the resource of kind `kind` (a route's first
/// segment, e.g. `projects`) with this id, as a read of it would tell: a
/// partner sees projects it takes part in and their milestones, and grants
/// to its institution and their disbursements. Other kinds (the registry,
/// funds, tokens) look the same to every actor. For refusing a write with
/// the 404 a read would give, before its body is read, so that a refusal
/// does not reveal existence.
pub async fn can_see(db: &impl ConnectionTrait, actor: &Actor, kind: &str, id: Uuid) -> AppResult<bool> {
    if actor.partner_scope().is_none() {
        return Ok(true);
    }
    let found = match kind {
        "projects" => seen(in_visible_project(db, actor, project::Entity::find_by_id(id), project::Column::Id).await)?,
        "milestones" => seen(
            in_visible_project(
                db,
                actor,
                milestone::Entity::find_by_id(id),
                milestone::Column::ProjectId,
            )
            .await,
        )?,
        "results" => {
            seen(in_visible_project(db, actor, result::Entity::find_by_id(id), result::Column::ProjectId).await)?
        }
        "indicators" => seen(
            in_visible_project(
                db,
                actor,
                indicator::Entity::find_by_id(id),
                indicator::Column::ProjectId,
            )
            .await,
        )?,
        "periods" => seen(
            in_visible_project(
                db,
                actor,
                indicator_period::Entity::find_by_id(id),
                indicator_period::Column::ProjectId,
            )
            .await,
        )?,
        "updates" => seen(
            in_visible_project(
                db,
                actor,
                indicator_update::Entity::find_by_id(id),
                indicator_update::Column::ProjectId,
            )
            .await,
        )?,
        "grants" => visible_grants(grant::Entity::find_by_id(id), actor).count(db).await?,
        "disbursements" => {
            let grants = visible_grants(grant::Entity::find(), actor)
                .select_only()
                .column(grant::Column::Id)
                .as_query()
                .to_owned();
            disbursement::Entity::find_by_id(id)
                .filter(disbursement::Column::GrantId.in_subquery(grants))
                .count(db)
                .await?
        }
        _ => 1,
    };
    Ok(found > 0)
}
