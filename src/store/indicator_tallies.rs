//! Each project's share of every standard indicator's progress
//! (`indicator_tallies`), and those shares summed per standard indicator
//! and year (`indicator_totals`): `/standard-indicators/{id}/progress` over
//! every project reads one total row, and filtered by fund, country or
//! alliance sums the shares of the projects in scope, never periods or
//! updates.
//!
//! A share is one row per standard indicator, project and year (a period
//! counts in the year it ends; year 0 counts every period), holding the
//! number of linked indicators and the sums of their baselines, targets
//! and actuals, and for percentages the sums of the parts. [`count_project`]
//! is the one definition of a share; a write of a project's results holds
//! the project and, when it commits, replaces its rows and moves the
//! totals by the difference ([`refresh`]).
//!
//! What one indicator contributes to a year: its baseline; its targets
//! and actuals of the periods in the year, summed, or for a cumulative
//! indicator the latest period's (the total so far already includes the
//! earlier ones). Figures of a percentage are not summed: its actual is
//! Σ numerators × 100 ÷ Σ denominators over the counted updates, and it has
//! no summed baseline or target (there is no denominator to weigh them by).
//!
//! Values are decimal strings; nothing passes through a float.

use crate::domain::results::{self, Counted, Measure, Rule, UpdateStatus, Value};
use crate::domain::status::GrantStatus;
use crate::entities::{
    grant, indicator, indicator_period, indicator_tally, indicator_total, indicator_update, project, project_country,
};
use chrono::Datelike;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The year of shares that count every period.
pub const ALL_YEARS: i32 = 0;

/// The figures of a share and of a total, as indexes into [`Total::figures`].
const BASELINE: usize = 0;
const TARGET: usize = 1;
const ACTUAL: usize = 2;
const NUMERATOR: usize = 3;
const DENOMINATOR: usize = 4;

fn decimal(v: &Option<String>) -> Result<Option<Decimal>, DbErr> {
    v.as_deref()
        .map(|s| {
            s.parse::<Decimal>()
                .map_err(|e| DbErr::Custom(format!("stored indicator value {s:?}: {e}")))
        })
        .transpose()
}

/// One period of an indicator, with its actual.
struct Counting {
    end: chrono::NaiveDate,
    target: Option<Decimal>,
    actual: results::Actual,
}

/// A project's share, counted afresh from its indicators, periods and
/// approved updates, as the rows to store.
pub async fn count_project(db: &impl ConnectionTrait, project_id: Uuid) -> Result<Vec<indicator_tally::Model>, DbErr> {
    count_projects(db, &[project_id]).await
}

/// The shares of these projects, read in three queries.
async fn count_projects(db: &impl ConnectionTrait, projects: &[Uuid]) -> Result<Vec<indicator_tally::Model>, DbErr> {
    let indicators = indicator::Entity::find()
        .filter(indicator::Column::ProjectId.is_in(projects.iter().copied()))
        .filter(indicator::Column::StandardIndicatorId.is_not_null())
        .all(db)
        .await?;
    if indicators.is_empty() {
        return Ok(Vec::new());
    }
    let periods = indicator_period::Entity::find()
        .filter(indicator_period::Column::ProjectId.is_in(projects.iter().copied()))
        .order_by_asc(indicator_period::Column::PeriodEnd)
        .all(db)
        .await?;
    let mut approved: HashMap<Uuid, Vec<Counted>> = HashMap::new();
    for u in indicator_update::Entity::find()
        .filter(indicator_update::Column::ProjectId.is_in(projects.iter().copied()))
        .filter(indicator_update::Column::Status.eq(UpdateStatus::Approved))
        .all(db)
        .await?
    {
        approved
            .entry(u.period_id)
            .or_default()
            .push(u.counted().map_err(DbErr::Custom)?);
    }
    let by_id: HashMap<Uuid, &indicator::Model> = indicators.iter().map(|i| (i.id, i)).collect();
    let mut by_indicator: HashMap<Uuid, Vec<Counting>> = HashMap::new();
    for p in periods {
        let Some(i) = by_id.get(&p.indicator_id) else {
            continue;
        };
        let rule = Rule {
            measure: i.measure,
            cumulative: i.cumulative,
        };
        by_indicator.entry(i.id).or_default().push(Counting {
            end: p.period_end,
            target: decimal(&p.target_value)?,
            actual: rule.actual(approved.remove(&p.id).unwrap_or_default()),
        });
    }
    let mut shares: BTreeMap<(Uuid, i32, Uuid), Total> = BTreeMap::new();
    for i in &indicators {
        let Some(standard) = i.standard_indicator_id else {
            continue;
        };
        let periods = by_indicator.remove(&i.id).unwrap_or_default();
        let mut years: Vec<i32> = periods.iter().map(|p| p.end.year()).collect();
        years.dedup();
        years.push(ALL_YEARS);
        for year in years {
            let counted: Vec<&Counting> = periods
                .iter()
                .filter(|p| year == ALL_YEARS || p.end.year() == year)
                .collect();
            let f = shares.entry((standard, year, i.project_id)).or_default();
            contribute(i, &counted, f)?;
        }
    }
    Ok(shares
        .into_iter()
        .map(|((standard_indicator_id, year, project_id), f)| {
            let text = |i: usize| f.figure(i).map(|d| d.normalize().to_string());
            indicator_tally::Model {
                standard_indicator_id,
                year,
                project_id,
                indicators: f.indicators,
                baseline: text(BASELINE),
                target: text(TARGET),
                actual: text(ACTUAL),
                numerator: text(NUMERATOR),
                denominator: text(DENOMINATOR),
            }
        })
        .collect())
}

/// What one indicator adds to a share, from its periods in the year (in order of their end).
fn contribute(i: &indicator::Model, periods: &[&Counting], f: &mut Total) -> Result<(), DbErr> {
    f.indicators += 1;
    if i.measure == Measure::Percentage {
        let counted: Vec<&&Counting> = if i.cumulative {
            periods
                .iter()
                .rev()
                .find(|p| p.actual.parts.is_some())
                .into_iter()
                .collect()
        } else {
            periods.iter().collect()
        };
        for p in counted {
            if let Some((n, d)) = p.actual.parts {
                f.put(NUMERATOR, Some(n.decimal()))?;
                f.put(DENOMINATOR, Some(d.decimal()))?;
            }
        }
        return Ok(());
    }
    f.put(BASELINE, decimal(&i.baseline_value)?)?;
    let actual = |p: &&&Counting| p.actual.value.map(Value::decimal);
    if i.cumulative {
        f.put(TARGET, periods.iter().rev().find_map(|p| p.target))?;
        f.put(ACTUAL, periods.iter().rev().find_map(|p| actual(&p)))?;
    } else {
        for p in periods {
            f.put(TARGET, p.target)?;
            f.put(ACTUAL, actual(&p))?;
        }
    }
    Ok(())
}

/// Replaces a project's share with a fresh count and moves the totals by
/// the difference (the project's row is locked by the unit of work that
/// changed its results). Total rows are locked in key order, so writers of
/// different projects never deadlock on them.
pub async fn refresh(db: &impl ConnectionTrait, project_id: Uuid) -> Result<(), DbErr> {
    let key = |r: &indicator_tally::Model| (r.standard_indicator_id, r.year);
    let mut old = indicator_tally::Entity::find()
        .filter(indicator_tally::Column::ProjectId.eq(project_id))
        .all(db)
        .await?;
    old.sort_by_key(key);
    let new = count_project(db, project_id).await?;
    if old == new {
        return Ok(());
    }
    indicator_tally::Entity::delete_many()
        .filter(indicator_tally::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    let mut moves: BTreeMap<(Uuid, i32), Total> = BTreeMap::new();
    for r in &old {
        moves.entry(key(r)).or_default().add_share(r, -1)?;
    }
    for r in &new {
        moves.entry(key(r)).or_default().add_share(r, 1)?;
    }
    insert(db, new).await?;
    for (key, by) in moves {
        if by != Total::default() {
            move_total(db, key, &by).await?;
        }
    }
    Ok(())
}

/// Adds `by` to a total row, which it creates if missing and deletes once no project counts in it.
async fn move_total(db: &impl ConnectionTrait, (id, year): (Uuid, i32), by: &Total) -> Result<(), DbErr> {
    let zero: indicator_total::ActiveModel = Total::default().row(id, year).into();
    indicator_total::Entity::insert(zero)
        .on_conflict(
            OnConflict::columns([
                indicator_total::Column::StandardIndicatorId,
                indicator_total::Column::Year,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let row = indicator_total::Entity::find_by_id((id, year))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| DbErr::Custom("a standard indicator's total went missing".into()))?;
    let mut total = Total::read(&row)?;
    total.add(by)?;
    if total.projects == 0 {
        indicator_total::Entity::delete_by_id((id, year)).exec(db).await?;
    } else {
        let mut active: indicator_total::ActiveModel = total.row(id, year).into();
        active = active.reset_all();
        active.update(db).await?;
    }
    Ok(())
}

/// Figures summed: how many projects and indicators, and each figure's sum
/// over what carries it (with how many do, so that a figure nothing carries
/// stays null rather than becoming 0). One project's share is counted in it,
/// and the shares of many are summed in it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Total {
    projects: i64,
    indicators: i64,
    /// baseline, target, actual, numerator, denominator.
    figures: [(i64, Decimal); 5],
}

impl Total {
    /// Adds a figure, if there is one.
    fn put(&mut self, i: usize, v: Option<Decimal>) -> Result<(), DbErr> {
        if let Some(v) = v {
            let (n, sum) = &mut self.figures[i];
            *n += 1;
            *sum = checked(sum.checked_add(v))?;
        }
        Ok(())
    }

    /// A figure's sum, or `None` when nothing carried it.
    fn figure(&self, i: usize) -> Option<Decimal> {
        let (n, sum) = self.figures[i];
        (n > 0).then_some(sum)
    }

    fn add_share(&mut self, r: &indicator_tally::Model, sign: i64) -> Result<(), DbErr> {
        self.projects += sign;
        self.indicators += sign * r.indicators;
        let values = [&r.baseline, &r.target, &r.actual, &r.numerator, &r.denominator];
        for ((n, sum), v) in self.figures.iter_mut().zip(values) {
            if let Some(d) = decimal(v)? {
                *n += sign;
                *sum = checked(sum.checked_add(d * Decimal::from(sign)))?;
            }
        }
        Ok(())
    }

    fn add(&mut self, other: &Total) -> Result<(), DbErr> {
        self.projects += other.projects;
        self.indicators += other.indicators;
        for ((n, sum), (m, more)) in self.figures.iter_mut().zip(other.figures) {
            *n += m;
            *sum = checked(sum.checked_add(more))?;
        }
        Ok(())
    }

    fn read(r: &indicator_total::Model) -> Result<Total, DbErr> {
        let figure = |sum: &String, n: i64| -> Result<(i64, Decimal), DbErr> {
            Ok((n, decimal(&Some(sum.clone()))?.unwrap_or_default()))
        };
        Ok(Total {
            projects: r.projects,
            indicators: r.indicators,
            figures: [
                figure(&r.baseline, r.baseline_count)?,
                figure(&r.target, r.target_count)?,
                figure(&r.actual, r.actual_count)?,
                figure(&r.numerator, r.numerator_count)?,
                figure(&r.denominator, r.denominator_count)?,
            ],
        })
    }

    fn row(&self, standard_indicator_id: Uuid, year: i32) -> indicator_total::Model {
        let [b, t, a, n, d] = self.figures.map(|(count, sum)| (sum.normalize().to_string(), count));
        indicator_total::Model {
            standard_indicator_id,
            year,
            projects: self.projects,
            indicators: self.indicators,
            baseline: b.0,
            baseline_count: b.1,
            target: t.0,
            target_count: t.1,
            actual: a.0,
            actual_count: a.1,
            numerator: n.0,
            numerator_count: n.1,
            denominator: d.0,
            denominator_count: d.1,
        }
    }

    /// The figures as progress shows them: a percentage's actual from its summed parts.
    fn progress(&self, measure: Measure) -> Progress {
        Progress {
            baseline: self.figure(BASELINE),
            target: self.figure(TARGET),
            actual: match measure {
                Measure::Percentage => match (self.figure(NUMERATOR), self.figure(DENOMINATOR)) {
                    (Some(n), Some(d)) => results::percent_of(n, d),
                    _ => None,
                },
                _ => self.figure(ACTUAL),
            },
            projects: u64::try_from(self.projects).unwrap_or_default(),
            indicators: u64::try_from(self.indicators).unwrap_or_default(),
        }
    }
}

fn checked(sum: Option<Decimal>) -> Result<Decimal, DbErr> {
    sum.ok_or_else(|| DbErr::Custom("a standard indicator's total is out of range".into()))
}

/// The totals of these shares, by standard indicator and year.
fn totals_of(shares: &[indicator_tally::Model]) -> Result<BTreeMap<(Uuid, i32), Total>, DbErr> {
    let mut totals: BTreeMap<(Uuid, i32), Total> = BTreeMap::new();
    for r in shares {
        totals
            .entry((r.standard_indicator_id, r.year))
            .or_default()
            .add_share(r, 1)?;
    }
    Ok(totals)
}

async fn insert(db: &impl ConnectionTrait, rows: Vec<indicator_tally::Model>) -> Result<(), DbErr> {
    for chunk in rows.chunks(500) {
        let models: Vec<indicator_tally::ActiveModel> = chunk.iter().cloned().map(Into::into).collect();
        indicator_tally::Entity::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The projects with an indicator linked to a standard one.
async fn linked_projects(db: &impl ConnectionTrait) -> Result<Vec<Uuid>, DbErr> {
    let mut ids: Vec<Uuid> = indicator::Entity::find()
        .select_only()
        .column(indicator::Column::ProjectId)
        .filter(indicator::Column::StandardIndicatorId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Every share counted afresh, in key order, a few hundred projects at a time.
async fn count_all(db: &impl ConnectionTrait) -> Result<Vec<indicator_tally::Model>, DbErr> {
    let mut all = Vec::new();
    for chunk in linked_projects(db).await?.chunks(500) {
        all.extend(count_projects(db, chunk).await?);
    }
    all.sort_by_key(|r| (r.standard_indicator_id, r.year, r.project_id));
    Ok(all)
}

/// Replaces every share and total with a fresh count (`tallies rebuild`, and after a bulk seed).
pub async fn rebuild(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    indicator_tally::Entity::delete_many().exec(db).await?;
    indicator_total::Entity::delete_many().exec(db).await?;
    let shares = count_all(db).await?;
    let totals: Vec<indicator_total::ActiveModel> = totals_of(&shares)?
        .into_iter()
        .map(|((id, year), t)| t.row(id, year).into())
        .collect();
    insert(db, shares).await?;
    for chunk in totals.chunks(500) {
        indicator_total::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Every share or total whose stored row differs from a fresh count, for a person.
pub async fn differences(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let counted = count_all(db).await?;
    let mut out = Vec::new();
    let mut stored_totals = BTreeMap::new();
    for r in indicator_total::Entity::find().all(db).await? {
        stored_totals.insert((r.standard_indicator_id, r.year), Total::read(&r)?);
    }
    let counted_totals = totals_of(&counted)?;
    if stored_totals != counted_totals {
        out.push(format!(
            "standard indicator totals: stored {stored_totals:?}, counted {counted_totals:?}"
        ));
    }
    let mut stored = indicator_tally::Entity::find().all(db).await?;
    stored.sort_by_key(|r| (r.standard_indicator_id, r.year, r.project_id));
    if counted == stored {
        return Ok(out);
    }
    let key = |r: &indicator_tally::Model| (r.standard_indicator_id, r.year, r.project_id);
    for c in &counted {
        match stored.iter().find(|s| key(s) == key(c)) {
            Some(s) if s == c => {}
            s => out.push(format!("indicator share {:?}: stored {s:?}, counted {c:?}", key(c))),
        }
    }
    for s in stored.iter().filter(|s| !counted.iter().any(|c| key(c) == key(s))) {
        out.push(format!("indicator share {:?}: stored {s:?}, counted nothing", key(s)));
    }
    Ok(out)
}

/// Which projects count towards a standard indicator's progress.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Periods ending in this year (else every period).
    pub year: Option<i32>,
    /// Projects with a grant of this fund that is approved, active or completed.
    pub fund_id: Option<Uuid>,
    pub country: Option<String>,
    pub alliance_id: Option<Uuid>,
}

/// A standard indicator's progress over the projects in scope: exact sums.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub baseline: Option<Decimal>,
    pub target: Option<Decimal>,
    pub actual: Option<Decimal>,
    pub projects: u64,
    pub indicators: u64,
}

/// Sums the shares of the projects in scope.
pub async fn progress(
    db: &impl ConnectionTrait,
    standard_indicator_id: Uuid,
    measure: Measure,
    scope: &Scope,
) -> Result<Progress, DbErr> {
    let year = scope.year.unwrap_or(ALL_YEARS);
    if scope.fund_id.is_none() && scope.country.is_none() && scope.alliance_id.is_none() {
        // Every project: one row.
        let total = indicator_total::Entity::find_by_id((standard_indicator_id, year))
            .one(db)
            .await?
            .map(|r| Total::read(&r))
            .transpose()?
            .unwrap_or_default();
        return Ok(total.progress(measure));
    }
    let mut select = indicator_tally::Entity::find()
        .filter(indicator_tally::Column::StandardIndicatorId.eq(standard_indicator_id))
        .filter(indicator_tally::Column::Year.eq(year));
    // EXISTS, not IN: the shares of one indicator and year are few next to a
    // country's or a fund's projects, so each share probes an index once.
    let share_project = || Expr::col((indicator_tally::Entity, indicator_tally::Column::ProjectId));
    if let Some(fund) = scope.fund_id {
        let funded = [GrantStatus::Approved, GrantStatus::Active, GrantStatus::Completed];
        select = select.filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(grant::Entity)
                .and_where(Expr::col((grant::Entity, grant::Column::ProjectId)).eq(share_project()))
                .and_where(Expr::col(grant::Column::FundId).eq(fund))
                .and_where(Expr::col(grant::Column::Status).is_in(funded.map(|s| s.as_str())))
                .to_owned(),
        ));
    }
    if let Some(country) = &scope.country {
        select = select.filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(project_country::Entity)
                .and_where(Expr::col((project_country::Entity, project_country::Column::ProjectId)).eq(share_project()))
                .and_where(Expr::col(project_country::Column::Country).eq(country.as_str()))
                .to_owned(),
        ));
    }
    if let Some(alliance) = scope.alliance_id {
        select = select.filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(project::Entity)
                .and_where(Expr::col((project::Entity, project::Column::Id)).eq(share_project()))
                .and_where(Expr::col(project::Column::AllianceId).eq(alliance))
                .to_owned(),
        ));
    }
    let total = totals_of(&select.all(db).await?)?.remove(&(standard_indicator_id, year));
    Ok(total.unwrap_or_default().progress(measure))
}

/// Every standard indicator's progress over every project and period, by id.
pub async fn progress_of_all(
    db: &impl ConnectionTrait,
    measures: &HashMap<Uuid, Measure>,
) -> Result<HashMap<Uuid, Progress>, DbErr> {
    let mut totals: HashMap<Uuid, Total> = HashMap::new();
    for r in indicator_total::Entity::find()
        .filter(indicator_total::Column::Year.eq(ALL_YEARS))
        .all(db)
        .await?
    {
        totals.insert(r.standard_indicator_id, Total::read(&r)?);
    }
    Ok(measures
        .iter()
        .map(|(id, measure)| (*id, totals.remove(id).unwrap_or_default().progress(*measure)))
        .collect())
}
