//! Reads what the exports need, one keyset batch at a time, with the rows
//! each batch refers to (funds, projects, institutions, payments) loaded by
//! id in a few `IN` queries. Nothing is held beyond the current batch.

use crate::domain::status::GrantStatus;
use crate::entities::{disbursement, fund, grant, institution, participant, project};
use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// Grants per batch (CSV and 360Giving).
pub const GRANT_BATCH: u64 = 500;
/// Projects per batch (IATI): each brings its grants and their payments.
pub const PROJECT_BATCH: u64 = 100;

/// Grants that count as awarded: the 360Giving export.
pub const AWARDED: [GrantStatus; 3] = [GrantStatus::Approved, GrantStatus::Active, GrantStatus::Completed];
/// Grants whose money was ever committed: the IATI transactions. A
/// cancelled grant may have been paid in part before it was cancelled.
pub const COMMITTED: [GrantStatus; 4] = [
    GrantStatus::Approved,
    GrantStatus::Active,
    GrantStatus::Completed,
    GrantStatus::Cancelled,
];

/// What every export can be narrowed to. `from`/`to` bound the grant's
/// decision date (`decided_on`), both inclusive; a grant without one is
/// left out when either is given.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    pub fund_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Filter {
    /// The grants selected, among `statuses` (all statuses when empty).
    fn grants(&self, statuses: &[GrantStatus]) -> Condition {
        let mut c = Condition::all();
        if let Some(id) = self.fund_id {
            c = c.add(grant::Column::FundId.eq(id));
        }
        if let Some(id) = self.project_id {
            c = c.add(grant::Column::ProjectId.eq(id));
        }
        if let Some(from) = self.from {
            c = c.add(grant::Column::DecidedOn.gte(from));
        }
        if let Some(to) = self.to {
            c = c.add(grant::Column::DecidedOn.lte(to));
        }
        if !statuses.is_empty() {
            c = c.add(grant::Column::Status.is_in(statuses.iter().copied()));
        }
        c
    }

    /// The same selection as [`Filter::grants`], on a loaded row. Used where
    /// the rows are fetched by another, more selective key (a batch's
    /// projects): with the status or fund in SQL too, SQLite's planner may
    /// pick the status or fund index and scan most grants for every batch.
    fn selects(&self, g: &grant::Model, statuses: &[GrantStatus]) -> bool {
        self.fund_id.is_none_or(|id| g.fund_id == id)
            && self.project_id.is_none_or(|id| g.project_id == id)
            && self.from.is_none_or(|from| g.decided_on.is_some_and(|d| d >= from))
            && self.to.is_none_or(|to| g.decided_on.is_some_and(|d| d <= to))
            && (statuses.is_empty() || statuses.contains(&g.status))
    }
}

/// A batch of grants, oldest first, and what they refer to.
pub struct GrantBatch {
    pub grants: Vec<grant::Model>,
    pub funds: HashMap<Uuid, fund::Model>,
    pub projects: HashMap<Uuid, project::Model>,
    /// Recipients and fund sponsors.
    pub institutions: HashMap<Uuid, institution::Model>,
    /// By grant id, oldest first; loaded only when asked for.
    pub disbursements: HashMap<Uuid, Vec<disbursement::Model>>,
    pub next: Option<Uuid>,
}

/// The next batch of grants after `after`.
pub async fn grants(
    db: &DatabaseConnection,
    filter: &Filter,
    statuses: &[GrantStatus],
    after: Option<Uuid>,
    with_payments: bool,
) -> Result<GrantBatch, DbErr> {
    let mut select = grant::Entity::find().filter(filter.grants(statuses));
    if let Some(after) = after {
        select = select.filter(grant::Column::Id.gt(after));
    }
    let grants = select
        .order_by_asc(grant::Column::Id)
        .limit(GRANT_BATCH)
        .all(db)
        .await?;
    let next = next_cursor(&grants, GRANT_BATCH, |g| g.id);
    let funds = by_id(
        rows::<fund::Entity>(db, fund::Column::Id, grants.iter().map(|g| g.fund_id)).await?,
        |f| f.id,
    );
    let projects = by_id(
        rows::<project::Entity>(db, project::Column::Id, grants.iter().map(|g| g.project_id)).await?,
        |p| p.id,
    );
    let people = grants
        .iter()
        .map(|g| g.recipient_institution_id)
        .chain(funds.values().map(|f| f.sponsor_institution_id));
    let institutions = by_id(
        rows::<institution::Entity>(db, institution::Column::Id, people).await?,
        |i| i.id,
    );
    let disbursements = if with_payments {
        payments(db, grants.iter().map(|g| g.id)).await?
    } else {
        HashMap::new()
    };
    Ok(GrantBatch {
        grants,
        funds,
        projects,
        institutions,
        disbursements,
        next,
    })
}

/// A batch of projects with grants in the selection, and what they refer to.
pub struct ProjectBatch {
    pub projects: Vec<project::Model>,
    /// By project id, oldest first.
    pub grants: HashMap<Uuid, Vec<grant::Model>>,
    /// By grant id, oldest first.
    pub disbursements: HashMap<Uuid, Vec<disbursement::Model>>,
    /// By project id.
    pub participants: HashMap<Uuid, Vec<participant::Model>>,
    pub funds: HashMap<Uuid, fund::Model>,
    /// Participants, recipients and fund sponsors.
    pub institutions: HashMap<Uuid, institution::Model>,
    pub next: Option<Uuid>,
}

/// The next batch of projects after `after` that have a grant among `statuses`.
pub async fn projects(
    db: &DatabaseConnection,
    filter: &Filter,
    statuses: &[GrantStatus],
    after: Option<Uuid>,
) -> Result<ProjectBatch, DbErr> {
    // EXISTS, not IN: one index probe per project on grants(project_id).
    let funded = Query::select()
        .expr(Expr::val(1))
        .from(grant::Entity)
        .and_where(Expr::col((grant::Entity, grant::Column::ProjectId)).equals((project::Entity, project::Column::Id)))
        .cond_where(filter.grants(statuses))
        .to_owned();
    let mut select = project::Entity::find().filter(Expr::exists(funded));
    if let Some(id) = filter.project_id {
        select = select.filter(project::Column::Id.eq(id));
    }
    if let Some(after) = after {
        select = select.filter(project::Column::Id.gt(after));
    }
    let projects = select
        .order_by_asc(project::Column::Id)
        .limit(PROJECT_BATCH)
        .all(db)
        .await?;
    let next = next_cursor(&projects, PROJECT_BATCH, |p| p.id);
    let project_ids: BTreeSet<Uuid> = projects.iter().map(|p| p.id).collect();

    let grant_rows: Vec<grant::Model> = if project_ids.is_empty() {
        Vec::new()
    } else {
        grant::Entity::find()
            .filter(grant::Column::ProjectId.is_in(project_ids.iter().copied()))
            .order_by_asc(grant::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .filter(|g| filter.selects(g, statuses))
            .collect()
    };
    let disbursements = payments(db, grant_rows.iter().map(|g| g.id)).await?;
    let funds = by_id(
        rows::<fund::Entity>(db, fund::Column::Id, grant_rows.iter().map(|g| g.fund_id)).await?,
        |f| f.id,
    );
    let participant_rows = if project_ids.is_empty() {
        Vec::new()
    } else {
        participant::Entity::find()
            .filter(participant::Column::ProjectId.is_in(project_ids.iter().copied()))
            .order_by_asc(participant::Column::ProjectId)
            .order_by_asc(participant::Column::InstitutionId)
            .all(db)
            .await?
    };
    let people = participant_rows
        .iter()
        .map(|p| p.institution_id)
        .chain(grant_rows.iter().map(|g| g.recipient_institution_id))
        .chain(funds.values().map(|f| f.sponsor_institution_id));
    let institutions = by_id(
        rows::<institution::Entity>(db, institution::Column::Id, people).await?,
        |i| i.id,
    );
    Ok(ProjectBatch {
        projects,
        grants: group(grant_rows, |g| g.project_id),
        disbursements,
        participants: group(participant_rows, |p| p.project_id),
        funds,
        institutions,
        next,
    })
}

/// Payments and reversals of these grants, by grant, oldest first.
async fn payments(
    db: &DatabaseConnection,
    grant_ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Vec<disbursement::Model>>, DbErr> {
    let ids: BTreeSet<Uuid> = grant_ids.collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = disbursement::Entity::find()
        .filter(disbursement::Column::GrantId.is_in(ids))
        .order_by_asc(disbursement::Column::Id)
        .all(db)
        .await?;
    Ok(group(rows, |d| d.grant_id))
}

/// Rows of `E` whose `column` is one of `ids` (none asked, no query).
async fn rows<E: EntityTrait>(
    db: &DatabaseConnection,
    column: E::Column,
    ids: impl Iterator<Item = Uuid>,
) -> Result<Vec<E::Model>, DbErr> {
    let ids: BTreeSet<Uuid> = ids.collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    E::find().filter(column.is_in(ids)).all(db).await
}

fn by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> HashMap<Uuid, T> {
    rows.into_iter().map(|r| (id(&r), r)).collect()
}

/// Groups rows by a key, keeping their order within each group.
fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut groups: HashMap<Uuid, Vec<T>> = HashMap::new();
    for r in rows {
        groups.entry(key(&r)).or_default().push(r);
    }
    groups
}

/// A full batch may have a successor; a short one is the last.
pub(super) fn next_cursor<T>(rows: &[T], batch: u64, id: impl Fn(&T) -> Uuid) -> Option<Uuid> {
    if rows.len() as u64 == batch {
        rows.last().map(id)
    } else {
        None
    }
}
