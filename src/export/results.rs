//! Projects' results frameworks for the exports: the tree of results,
//! indicators and periods with each period's actual (by the one rule,
//! `domain::results::Rule::actual`), read for a batch of projects at once;
//! and `results.csv`, one row per indicator period and per dimension value.

use super::source::{self, Filter};
use super::spreadsheet::{self, text};
use super::vocab::best;
use super::{Chunk, Export, ExportError};
use crate::domain::results::{Actual, Dimension, Rule, UpdateStatus};
use crate::domain::status::GrantStatus;
use crate::entities::{grant, indicator, indicator_period, indicator_update, project, result, standard_indicator};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

pub struct ResultNode {
    pub result: result::Model,
    pub indicators: Vec<IndicatorNode>,
}

pub struct IndicatorNode {
    pub indicator: indicator::Model,
    pub dimensions: Vec<Dimension>,
    /// The code of the standard indicator it is linked to.
    pub standard_code: Option<String>,
    /// Oldest first.
    pub periods: Vec<PeriodNode>,
}

pub struct PeriodNode {
    pub period: indicator_period::Model,
    pub actual: Actual,
    /// How many of its updates are in each status.
    pub counts: HashMap<UpdateStatus, u32>,
}

/// The results frameworks of these projects, by project id (results oldest first).
pub async fn framework(
    db: &impl ConnectionTrait,
    projects: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ResultNode>>, ExportError> {
    if projects.is_empty() {
        return Ok(HashMap::new());
    }
    let results = result::Entity::find()
        .filter(result::Column::ProjectId.is_in(projects.iter().copied()))
        .order_by_asc(result::Column::Id)
        .all(db)
        .await?;
    let indicators = indicator::Entity::find()
        .filter(indicator::Column::ProjectId.is_in(projects.iter().copied()))
        .order_by_asc(indicator::Column::Id)
        .all(db)
        .await?;
    let periods = indicator_period::Entity::find()
        .filter(indicator_period::Column::ProjectId.is_in(projects.iter().copied()))
        .order_by_asc(indicator_period::Column::PeriodStart)
        .all(db)
        .await?;
    let updates = indicator_update::Entity::find()
        .filter(indicator_update::Column::ProjectId.is_in(projects.iter().copied()))
        .all(db)
        .await?;
    let standards: HashMap<Uuid, String> = standard_indicator::Entity::find()
        .filter(standard_indicator::Column::Id.is_in(indicators.iter().filter_map(|i| i.standard_indicator_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.code))
        .collect();

    let mut approved: HashMap<Uuid, Vec<_>> = HashMap::new();
    let mut counts: HashMap<Uuid, HashMap<UpdateStatus, u32>> = HashMap::new();
    for u in &updates {
        *counts.entry(u.period_id).or_default().entry(u.status).or_default() += 1;
        if u.status == UpdateStatus::Approved {
            approved
                .entry(u.period_id)
                .or_default()
                .push(u.counted().map_err(ExportError::Data)?);
        }
    }
    let mut periods_of: HashMap<Uuid, Vec<indicator_period::Model>> = HashMap::new();
    for p in periods {
        periods_of.entry(p.indicator_id).or_default().push(p);
    }
    let mut indicators_of: HashMap<Uuid, Vec<IndicatorNode>> = HashMap::new();
    for i in indicators {
        let rule = Rule {
            measure: i.measure,
            cumulative: i.cumulative,
        };
        let periods = periods_of
            .remove(&i.id)
            .unwrap_or_default()
            .into_iter()
            .map(|period| PeriodNode {
                actual: rule.actual(approved.remove(&period.id).unwrap_or_default()),
                counts: counts.remove(&period.id).unwrap_or_default(),
                period,
            })
            .collect();
        let dimensions = serde_json::from_value(i.dimensions.clone())
            .map_err(|e| ExportError::Data(format!("indicator {}: stored dimensions: {e}", i.id)))?;
        indicators_of.entry(i.result_id).or_default().push(IndicatorNode {
            standard_code: i.standard_indicator_id.and_then(|s| standards.get(&s).cloned()),
            dimensions,
            periods,
            indicator: i,
        });
    }
    let mut out: HashMap<Uuid, Vec<ResultNode>> = HashMap::new();
    for r in results {
        out.entry(r.project_id).or_default().push(ResultNode {
            indicators: indicators_of.remove(&r.id).unwrap_or_default(),
            result: r,
        });
    }
    Ok(out)
}

/// Projects per batch of `results.csv`.
const BATCH: u64 = 100;

/// The columns of `results.csv`, in order.
pub const HEADER: [&str; 27] = [
    "project_id",
    "project_code",
    "project_title",
    "result_id",
    "result_type",
    "result_title",
    "indicator_id",
    "indicator_title",
    "measure",
    "unit",
    "cumulative",
    "standard_indicator",
    "baseline_year",
    "baseline_value",
    "period_id",
    "period_start",
    "period_end",
    "locked",
    "target_value",
    "dimension",
    "dimension_value",
    "actual_value",
    "actual_narrative",
    "approved_updates",
    "submitted_updates",
    "returned_updates",
    "draft_updates",
];

/// `results.csv`: every indicator period of the projects selected (by
/// `project_id`, or by `fund_id`: projects with a grant of that fund in any
/// status), with one more row per dimension value of its actual.
pub struct ResultsCsv {
    filter: Filter,
}

impl ResultsCsv {
    pub fn new(filter: Filter) -> Self {
        ResultsCsv { filter }
    }
}

impl Export for ResultsCsv {
    fn head(&mut self) -> Result<Vec<u8>, ExportError> {
        spreadsheet::head(&HEADER)
    }

    async fn page(&mut self, db: &DatabaseConnection, after: Option<Uuid>) -> Result<Chunk, ExportError> {
        let with_results = Query::select()
            .column(result::Column::ProjectId)
            .from(result::Entity)
            .to_owned();
        let mut select = project::Entity::find().filter(project::Column::Id.in_subquery(with_results));
        if let Some(id) = self.filter.project_id {
            select = select.filter(project::Column::Id.eq(id));
        }
        if let Some(fund) = self.filter.fund_id {
            let funded = Query::select()
                .column(grant::Column::ProjectId)
                .from(grant::Entity)
                .and_where(Expr::col(grant::Column::FundId).eq(fund))
                .and_where(Expr::col(grant::Column::Status).is_not_in([GrantStatus::Withdrawn.as_str()]))
                .to_owned();
            select = select.filter(project::Column::Id.in_subquery(funded));
        }
        if let Some(after) = after {
            select = select.filter(project::Column::Id.gt(after));
        }
        let projects = select.order_by_asc(project::Column::Id).limit(BATCH).all(db).await?;
        let next = source::next_cursor(&projects, BATCH, |p| p.id);
        let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
        let mut tree = framework(db, &ids).await?;
        let mut rows = Vec::new();
        for p in &projects {
            for r in tree.remove(&p.id).unwrap_or_default() {
                for i in &r.indicators {
                    for period in &i.periods {
                        rows.extend(period_rows(p, &r.result, i, period));
                    }
                }
            }
        }
        Ok(Chunk {
            bytes: spreadsheet::records(rows)?,
            next,
        })
    }

    fn tail(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// The row of a period, then one per dimension value of its actual.
fn period_rows(p: &project::Model, r: &result::Model, i: &IndicatorNode, n: &PeriodNode) -> Vec<Vec<String>> {
    let ind = &i.indicator;
    let count = |s: UpdateStatus| n.counts.get(&s).copied().unwrap_or(0).to_string();
    let row = |target: String, dimension: &str, value: &str, actual: String, narrative: &str| {
        vec![
            p.id.to_string(),
            p.code.clone(),
            text(best(&p.title)),
            r.id.to_string(),
            r.result_type.as_str().to_owned(),
            text(best(&r.title)),
            ind.id.to_string(),
            text(best(&ind.title)),
            ind.measure.as_str().to_owned(),
            ind.unit.as_deref().map(text).unwrap_or_default(),
            ind.cumulative.to_string(),
            i.standard_code.clone().unwrap_or_default(),
            ind.baseline_year.map(|y| y.to_string()).unwrap_or_default(),
            ind.baseline_value.clone().unwrap_or_default(),
            n.period.id.to_string(),
            n.period.period_start.to_string(),
            n.period.period_end.to_string(),
            n.period.locked.to_string(),
            target,
            text(dimension),
            text(value),
            actual,
            text(narrative),
            count(UpdateStatus::Approved),
            count(UpdateStatus::Submitted),
            count(UpdateStatus::Returned),
            count(UpdateStatus::Draft),
        ]
    };
    let a = &n.actual;
    let mut rows = vec![row(
        n.period.target_value.clone().unwrap_or_default(),
        "",
        "",
        a.value.map(|v| v.to_stored()).unwrap_or_default(),
        a.narrative.as_deref().unwrap_or_default(),
    )];
    for d in &a.disaggregations {
        rows.push(row(String::new(), &d.dimension, &d.value, d.amount.to_stored(), ""));
    }
    rows
}
