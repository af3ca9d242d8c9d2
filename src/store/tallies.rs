//! Exactly-maintained aggregates behind the dashboards and fund summaries.
//!
//! A project, with its countries, participants and grants, adds a *share*
//! to `dashboard_tallies`: one project under each of its keys (country,
//! participant, alliance, sector, year of planned start, status), and each
//! grant's count, awarded and net disbursed money under the grant's keys
//! (the project's countries, alliance and sector, the recipient, the year of
//! the decision, the grant's status). Shares are counted for all funds and
//! again for each fund that has a grant on the project.
//!
//! [`share`] is the one definition of that share. A write that may change
//! it holds the project ([`Pending::hold_project`]): the project's row is
//! locked and its share taken out; when the write commits the share as it
//! now stands is put back ([`Pending::settle`]). Only keys whose figures
//! moved are written, as increments (`ON CONFLICT … DO UPDATE SET n = n +
//! excluded.n`) in key order, so concurrent writers never deadlock on them.
//!
//! Milestones are counted per status, due date and zone
//! (`milestone_tallies`), and again per status and due date alone
//! (`milestone_day_tallies`, so sums over many days read a quarter of the
//! rows); a milestone write moves one count from its old key to its new one
//! in both.
//!
//! [`rebuild_stale`] counts a tally afresh from the data when it is marked
//! in `stale_tallies` (the migration that made them marks both), and
//! [`differences`] compares what is stored with a fresh count.

use super::{StoreError, StoreResult};
use crate::entities::{
    dashboard_tally, grant, milestone, milestone_day_tally, milestone_tally, participant, project, stale_tally,
};
use chrono::{Datelike, NaiveDate};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict};
use sea_orm::{
    AccessMode, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, RuntimeErr, Set, Statement, TransactionTrait,
};
use std::collections::{BTreeMap, HashMap};
use strum::VariantArray;
use uuid::Uuid;

/// The `fund_id` of figures that count every fund.
pub const ALL_FUNDS: Uuid = Uuid::nil();

/// What a dashboard figure is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, VariantArray)]
pub enum Dimension {
    Country,
    Alliance,
    Sector,
    Year,
    Institution,
    ProjectStatus,
    GrantStatus,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Country => "country",
            Dimension::Alliance => "alliance",
            Dimension::Sector => "sector",
            Dimension::Year => "year",
            Dimension::Institution => "institution",
            Dimension::ProjectStatus => "project_status",
            Dimension::GrantStatus => "grant_status",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    dimension: Dimension,
    fund_id: Uuid,
    key: String,
    currency: String,
}

/// Wide enough that no sum of stored minor units overflows in Rust; what
/// does not fit the BIGINT columns is refused when written (see [`OUT_OF_RANGE`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Figures {
    projects: i128,
    grants: i128,
    awarded: i128,
    disbursed: i128,
}

impl Figures {
    fn is_zero(&self) -> bool {
        *self == Figures::default()
    }
}

type Tally = BTreeMap<Key, Figures>;

/// A project and everything its share depends on.
struct Snapshot {
    project: project::Model,
    participants: Vec<Uuid>,
    grants: Vec<grant::Model>,
}

fn year(d: NaiveDate) -> String {
    format!("{:04}", d.year())
}

/// Adds `sign` times the project's share to `tally`.
fn share(s: &Snapshot, sign: i128, tally: &mut Tally) -> Result<(), DbErr> {
    let p = &s.project;
    let countries: Vec<String> = serde_json::from_value(p.countries.clone())
        .map_err(|e| DbErr::Custom(format!("countries of project {}: {e}", p.id)))?;
    // Where the project works: keys its grants share with it.
    let mut place: Vec<(Dimension, String)> = countries.into_iter().map(|c| (Dimension::Country, c)).collect();
    place.push((
        Dimension::Alliance,
        p.alliance_id.map(|a| a.to_string()).unwrap_or_default(),
    ));
    place.push((Dimension::Sector, p.sector.clone()));

    // A project counts under all funds and under each fund that has a grant on it.
    let mut scopes = vec![ALL_FUNDS];
    for g in &s.grants {
        if !scopes.contains(&g.fund_id) {
            scopes.push(g.fund_id);
        }
    }
    let mut project_keys = place.clone();
    project_keys.push((Dimension::ProjectStatus, p.status.as_str().to_owned()));
    project_keys.push((Dimension::Year, year(p.planned_start)));
    project_keys.extend(s.participants.iter().map(|i| (Dimension::Institution, i.to_string())));
    for fund_id in &scopes {
        for (dimension, key) in &project_keys {
            let k = Key {
                fund_id: *fund_id,
                dimension: *dimension,
                key: key.clone(),
                currency: String::new(),
            };
            tally.entry(k).or_default().projects += sign;
        }
    }
    for g in &s.grants {
        let awarded = g.status.is_awarded();
        let mut keys = place.clone();
        keys.push((Dimension::GrantStatus, g.status.as_str().to_owned()));
        keys.push((Dimension::Institution, g.recipient_institution_id.to_string()));
        if let Some(decided) = g.decided_on {
            keys.push((Dimension::Year, year(decided)));
        }
        for fund_id in [ALL_FUNDS, g.fund_id] {
            for (dimension, key) in &keys {
                let k = Key {
                    fund_id,
                    dimension: *dimension,
                    key: key.clone(),
                    currency: g.currency.clone(),
                };
                let f = tally.entry(k).or_default();
                f.grants += sign;
                f.awarded += if awarded { sign * i128::from(g.amount_minor) } else { 0 };
                f.disbursed += sign * i128::from(g.disbursed_minor);
            }
        }
    }
    Ok(())
}

/// Loads the snapshots of these projects with two more queries, whatever their number.
async fn snapshots(db: &impl ConnectionTrait, projects: Vec<project::Model>) -> Result<Vec<Snapshot>, DbErr> {
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    let mut participants: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in participant::Entity::find()
        .filter(participant::Column::ProjectId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        participants.entry(row.project_id).or_default().push(row.institution_id);
    }
    let mut grants: HashMap<Uuid, Vec<grant::Model>> = HashMap::new();
    for g in grant::Entity::find()
        .filter(grant::Column::ProjectId.is_in(ids))
        .all(db)
        .await?
    {
        grants.entry(g.project_id).or_default().push(g);
    }
    Ok(projects
        .into_iter()
        .map(|project| Snapshot {
            participants: participants.remove(&project.id).unwrap_or_default(),
            grants: grants.remove(&project.id).unwrap_or_default(),
            project,
        })
        .collect())
}

async fn project_share(
    db: &impl ConnectionTrait,
    id: Uuid,
    lock: bool,
    sign: i128,
    tally: &mut Tally,
) -> Result<(), DbErr> {
    let mut select = project::Entity::find_by_id(id);
    if lock {
        select = select.lock(LockType::Update);
    }
    let found: Vec<project::Model> = select.all(db).await?;
    for s in snapshots(db, found).await? {
        share(&s, sign, tally)?;
    }
    Ok(())
}

/// Milestones are counted per status, due date and the zone the due date
/// is judged in (`milestone_tallies`).
type MilestoneKey = (String, NaiveDate, String);

fn milestone_key(m: &milestone::Model) -> MilestoneKey {
    (m.status.as_str().to_owned(), m.due_on, m.time_zone.clone())
}

/// The tally changes of one write, applied when it commits.
#[derive(Default)]
pub struct Pending {
    held: Vec<Uuid>,
    dashboard: Tally,
    milestones: BTreeMap<MilestoneKey, i64>,
}

impl Pending {
    /// Locks the project's row (if it exists yet) and takes its share out,
    /// to be put back as it stands at [`Pending::settle`]. Call it before
    /// changing the project, its participants or its grants, after any
    /// fund or grant lock the write takes (the one lock order).
    pub async fn hold_project(&mut self, db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
        if !self.held.contains(&id) {
            project_share(db, id, true, -1, &mut self.dashboard).await?;
            self.held.push(id);
        }
        Ok(())
    }

    /// A milestone was created (`before` is `None`) or changed.
    pub fn milestone(&mut self, before: Option<&milestone::Model>, after: &milestone::Model) {
        if let Some(b) = before {
            *self.milestones.entry(milestone_key(b)).or_default() -= 1;
        }
        *self.milestones.entry(milestone_key(after)).or_default() += 1;
    }

    /// Puts the held projects' shares back as they now are and writes every
    /// figure that moved.
    pub async fn settle(self, db: &impl ConnectionTrait) -> StoreResult<()> {
        self.settle_figures(db).await.map_err(|e| {
            if is_out_of_range(&e) {
                StoreError::OutOfRange
            } else {
                StoreError::from(e)
            }
        })
    }

    async fn settle_figures(mut self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        for id in std::mem::take(&mut self.held) {
            project_share(db, id, false, 1, &mut self.dashboard).await?;
        }
        self.dashboard.retain(|_, f| !f.is_zero());
        self.milestones.retain(|_, n| *n != 0);
        add_dashboard(db, self.dashboard).await?;
        add_milestones(db, self.milestones).await
    }
}

/// What a tally says when a figure would pass the range of its BIGINT column.
pub const OUT_OF_RANGE: &str = "a dashboard total would pass the range it can record";

/// A figure leaving the BIGINT range: refused here in Rust, by PostgreSQL
/// (`22003 numeric_value_out_of_range`) or by the columns' CHECK on SQLite
/// (`275 SQLITE_CONSTRAINT_CHECK`; without it the sum would become a REAL).
fn is_out_of_range(e: &DbErr) -> bool {
    match e {
        DbErr::Custom(m) => m == OUT_OF_RANGE,
        DbErr::Query(RuntimeErr::SqlxError(x)) | DbErr::Exec(RuntimeErr::SqlxError(x)) => match &**x {
            sea_orm::sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("22003" | "275")),
            _ => false,
        },
        _ => false,
    }
}

fn column(n: i128) -> Result<i64, DbErr> {
    i64::try_from(n).map_err(|_| DbErr::Custom(OUT_OF_RANGE.into()))
}

/// Adds figures to the stored ones, creating rows as needed.
async fn add_dashboard(db: &impl ConnectionTrait, tally: Tally) -> Result<(), DbErr> {
    use dashboard_tally::Column as C;
    let rows = tally
        .into_iter()
        .map(|(k, f)| {
            Ok(dashboard_tally::ActiveModel {
                fund_id: Set(k.fund_id),
                dimension: Set(k.dimension.as_str().to_owned()),
                key: Set(k.key),
                currency: Set(k.currency),
                projects: Set(column(f.projects)?),
                grants: Set(column(f.grants)?),
                awarded_minor: Set(column(f.awarded)?),
                disbursed_minor: Set(column(f.disbursed)?),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let conflict = OnConflict::columns([C::Dimension, C::FundId, C::Key, C::Currency])
        .values([C::Projects, C::Grants, C::AwardedMinor, C::DisbursedMinor].map(|c| (c, increment(c))))
        .to_owned();
    add_rows(db, rows, conflict).await
}

async fn add_milestones(db: &impl ConnectionTrait, counts: BTreeMap<MilestoneKey, i64>) -> Result<(), DbErr> {
    let days = by_day(&counts);
    let rows = counts
        .into_iter()
        .map(|((status, due_on, time_zone), n)| milestone_tally::ActiveModel {
            status: Set(status),
            due_on: Set(due_on),
            time_zone: Set(time_zone),
            milestones: Set(n),
        })
        .collect();
    use milestone_tally::Column as Z;
    let conflict = OnConflict::columns([Z::Status, Z::DueOn, Z::TimeZone])
        .value(Z::Milestones, increment(Z::Milestones))
        .to_owned();
    add_rows(db, rows, conflict).await?;
    let rows = days
        .into_iter()
        .map(|((status, due_on), n)| milestone_day_tally::ActiveModel {
            status: Set(status),
            due_on: Set(due_on),
            milestones: Set(n),
        })
        .collect();
    use milestone_day_tally::Column as D;
    let conflict = OnConflict::columns([D::Status, D::DueOn])
        .value(D::Milestones, increment(D::Milestones))
        .to_owned();
    add_rows(db, rows, conflict).await
}

/// Inserts tally rows, adding to the figures of rows that exist (`conflict`).
async fn add_rows<A: ActiveModelTrait + Send>(
    db: &impl ConnectionTrait,
    rows: Vec<A>,
    conflict: OnConflict,
) -> Result<(), DbErr> {
    for chunk in chunks(rows) {
        A::Entity::insert_many(chunk)
            .on_conflict(conflict.clone())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The per-zone counts summed over zones, without the keys that sum to 0.
fn by_day(counts: &BTreeMap<MilestoneKey, i64>) -> BTreeMap<(String, NaiveDate), i64> {
    let mut days: BTreeMap<(String, NaiveDate), i64> = BTreeMap::new();
    for ((status, due_on, _), n) in counts {
        *days.entry((status.clone(), *due_on)).or_default() += n;
    }
    days.retain(|_, n| *n != 0);
    days
}

/// `column = <table>.column + excluded.column`, on both backends.
fn increment<C: sea_orm::ColumnTrait>(c: C) -> Expr {
    Expr::col((c.entity_name(), c)).add(Expr::col((Alias::new("excluded"), c)))
}

/// Rows per statement: well under SQLite's limit on bound parameters.
fn chunks<T>(rows: Vec<T>) -> Vec<Vec<T>> {
    const ROWS: usize = 1000;
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        out.push(rows.by_ref().take(ROWS).collect());
    }
    out
}

/// The dashboard tally counted from the data, a batch of projects at a time.
async fn count_dashboard(db: &impl ConnectionTrait) -> Result<Tally, DbErr> {
    const BATCH: u64 = 500;
    let mut tally = Tally::new();
    let mut after: Option<Uuid> = None;
    loop {
        let mut select = project::Entity::find().order_by_asc(project::Column::Id).limit(BATCH);
        if let Some(id) = after {
            select = select.filter(project::Column::Id.gt(id));
        }
        let batch = select.all(db).await?;
        let done = (batch.len() as u64) < BATCH;
        after = batch.last().map(|p| p.id);
        for s in snapshots(db, batch).await? {
            share(&s, 1, &mut tally)?;
        }
        if done {
            tally.retain(|_, f| !f.is_zero());
            return Ok(tally);
        }
    }
}

async fn count_milestones(db: &impl ConnectionTrait) -> Result<BTreeMap<MilestoneKey, i64>, DbErr> {
    let rows: Vec<(String, NaiveDate, String, i64)> = milestone::Entity::find()
        .select_only()
        .column(milestone::Column::Status)
        .column(milestone::Column::DueOn)
        .column(milestone::Column::TimeZone)
        .column_as(milestone::Column::Id.count(), "n")
        .group_by(milestone::Column::Status)
        .group_by(milestone::Column::DueOn)
        .group_by(milestone::Column::TimeZone)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(s, d, z, n)| ((s, d, z), n)).collect())
}

/// Counts afresh every tally marked stale, in one transaction; returns
/// their names. On PostgreSQL the tallies are locked against writers for
/// the count, so writes of a running instance are neither lost nor counted
/// twice; on SQLite the write transaction already excludes them.
pub async fn rebuild_stale(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    // Most start-ups find nothing to do: look before locking writers out.
    if stale_tally::Entity::find().one(db).await?.is_none() {
        return Ok(Vec::new());
    }
    let txn = super::begin_immediate(db).await?;
    let stale: Vec<String> = stale_tally::Entity::find()
        .lock(LockType::Update)
        .all(&txn)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    // Zones first (the milestone tallies count per zone), and before the
    // tables are locked: refreshing them locks project rows, which a writer
    // holding a project waits to add to the tallies with (one lock order).
    if stale.iter().any(|name| name == "zones") {
        super::zones::refresh_all(&txn)
            .await
            .map_err(|e| DbErr::Custom(format!("refreshing the projects' zones: {e}")))?;
    }
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "LOCK TABLE dashboard_tallies, milestone_tallies, milestone_day_tallies, indicator_tallies, indicator_totals IN EXCLUSIVE MODE",
        ))
        .await?;
    }
    for name in &stale {
        match name.as_str() {
            "zones" => {}
            "dashboard" => {
                let tally = count_dashboard(&txn).await?;
                dashboard_tally::Entity::delete_many().exec(&txn).await?;
                add_dashboard(&txn, tally).await?;
            }
            "milestones" => {
                let counts = count_milestones(&txn).await?;
                milestone_tally::Entity::delete_many().exec(&txn).await?;
                milestone_day_tally::Entity::delete_many().exec(&txn).await?;
                add_milestones(&txn, counts).await?;
            }
            "indicators" => super::indicator_tallies::rebuild(&txn).await?,
            other => return Err(DbErr::Custom(format!("unknown stale tally {other}"))),
        }
    }
    stale_tally::Entity::delete_many().exec(&txn).await?;
    txn.commit().await?;
    Ok(stale)
}

/// Marks every tally stale, for [`rebuild_stale`] to count afresh (after
/// rows were written around the service, as `seed synthetic` does).
pub async fn mark_stale(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let rows = ["dashboard", "milestones", "indicators"].map(|name| stale_tally::ActiveModel {
        name: Set(name.to_owned()),
    });
    stale_tally::Entity::insert_many(rows)
        .on_conflict(OnConflict::column(stale_tally::Column::Name).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Every figure whose stored value differs from a fresh count, described
/// for a person; empty when the tallies are exact.
pub async fn differences(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    // One snapshot for the count and the stored figures, so writes committed
    // meanwhile are not reported as differences (SQLite's read transaction
    // is one snapshot already).
    let txn = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
                .await?
        }
        _ => db.begin().await?,
    };
    let mut out = Vec::new();
    let counted = count_dashboard(&txn).await?;
    let mut stored = Tally::new();
    for r in dashboard_tally::Entity::find().all(&txn).await? {
        let Some(dimension) = Dimension::VARIANTS.iter().find(|d| d.as_str() == r.dimension) else {
            out.push(format!("unknown dimension {}", r.dimension));
            continue;
        };
        let f = Figures {
            projects: r.projects.into(),
            grants: r.grants.into(),
            awarded: r.awarded_minor.into(),
            disbursed: r.disbursed_minor.into(),
        };
        if !f.is_zero() {
            let key = Key {
                fund_id: r.fund_id,
                dimension: *dimension,
                key: r.key,
                currency: r.currency,
            };
            stored.insert(key, f);
        }
    }
    for (k, f) in &counted {
        if stored.get(k) != Some(f) {
            out.push(format!("{k:?}: stored {:?}, counted {f:?}", stored.get(k)));
        }
    }
    out.extend(
        stored
            .iter()
            .filter(|(k, _)| !counted.contains_key(*k))
            .map(|(k, f)| format!("{k:?}: stored {f:?}, counted nothing")),
    );
    let counted = count_milestones(&txn).await?;
    let stored: BTreeMap<MilestoneKey, i64> = milestone_tally::Entity::find()
        .filter(milestone_tally::Column::Milestones.ne(0))
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| ((r.status, r.due_on, r.time_zone), r.milestones))
        .collect();
    let stored_days: BTreeMap<(String, NaiveDate), i64> = milestone_day_tally::Entity::find()
        .filter(milestone_day_tally::Column::Milestones.ne(0))
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| ((r.status, r.due_on), r.milestones))
        .collect();
    let counted_days = by_day(&counted);
    if stored != counted {
        out.push(format!("milestones: stored {stored:?}, counted {counted:?}"));
    }
    if stored_days != counted_days {
        out.push(format!(
            "milestones by day: stored {stored_days:?}, counted {counted_days:?}"
        ));
    }
    out.extend(super::indicator_tallies::differences(&txn).await?);
    txn.commit().await?;
    Ok(out)
}
