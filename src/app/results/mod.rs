//! Results and indicators (SPEC §6): what a project aims at, how it is
//! measured, the periods it is reported in, and the updates partners
//! report and staff review. Standard indicators, which many projects'
//! indicators link to, are in [`standard`].
//!
//! Every write of a project's results framework holds the project
//! ([`UnitOfWork::hold_results`]): its row is locked, so writes of one
//! project's results are serial on every backend (the overlap check of
//! periods and the review of updates rely on it), and its share of the
//! standard indicators' progress is counted afresh when the write commits.

pub mod standard;

use super::access::in_visible_project;
use super::versioned::{self, Expected, How, record};
use super::{Actor, AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::kinds::Role;
use crate::domain::results::{
    self, Actual, Counted, Dimension, Disaggregation, Measure, ResultType, Rule, UpdateStatus, Value,
};
use crate::domain::{Line, LongText, Note, ShortText};
use crate::entities::{indicator, indicator_period, indicator_update, result, standard_indicator};
use crate::store::outbox::Audience;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

// ----- views -----

/// A result a project aims at.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectResult {
    pub id: Uuid,
    pub project_id: Uuid,
    #[serde(rename = "type")]
    pub result_type: ResultType,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub description: Option<serde_json::Value>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<result::Model> for ProjectResult {
    fn from(m: result::Model) -> Self {
        ProjectResult {
            id: m.id,
            project_id: m.project_id,
            result_type: m.result_type,
            title: m.title,
            description: m.description,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Where an indicator started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Baseline {
    pub year: i32,
    /// Required unless the indicator is qualitative; refused when it is.
    pub value: Option<Value>,
    pub comment: Option<Note>,
}

/// What a period aims at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    /// Refused for a qualitative indicator.
    pub value: Option<Value>,
    pub comment: Option<Note>,
}

/// How a result is measured.
#[derive(Debug, Serialize, ToSchema)]
pub struct Indicator {
    pub id: Uuid,
    pub result_id: Uuid,
    pub project_id: Uuid,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub description: Option<serde_json::Value>,
    pub measure: Measure,
    /// What a value counts, e.g. `tCO2e`, `people`, `kW`.
    pub unit: Option<String>,
    /// Whether a higher value is better.
    pub ascending: bool,
    /// Whether each value reports the total so far (the latest counts) rather than what was added (values add up).
    pub cumulative: bool,
    pub standard_indicator_id: Option<Uuid>,
    pub baseline: Option<Baseline>,
    pub dimensions: Vec<Dimension>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A value column read back; a stored value that does not parse is damaged data.
fn stored(v: Option<String>) -> AppResult<Option<Value>> {
    v.map(|s| Value::from_stored(&s).map_err(AppError::corrupt)).transpose()
}

fn note(v: Option<String>) -> AppResult<Option<Note>> {
    v.map(|s| Note::try_from(s).map_err(AppError::corrupt)).transpose()
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value, what: &str) -> AppResult<T> {
    serde_json::from_value(v).map_err(|e| AppError::corrupt(format!("stored {what}: {e}")))
}

impl TryFrom<indicator::Model> for Indicator {
    type Error = AppError;
    fn try_from(m: indicator::Model) -> AppResult<Self> {
        let baseline = match m.baseline_year {
            Some(year) => Some(Baseline {
                year,
                value: stored(m.baseline_value)?,
                comment: note(m.baseline_comment)?,
            }),
            None => None,
        };
        Ok(Indicator {
            id: m.id,
            result_id: m.result_id,
            project_id: m.project_id,
            title: m.title,
            description: m.description,
            measure: m.measure,
            unit: m.unit,
            ascending: m.ascending,
            cumulative: m.cumulative,
            standard_indicator_id: m.standard_indicator_id,
            baseline,
            dimensions: from_json(m.dimensions, "dimensions")?,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// A reporting period of an indicator.
#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    pub id: Uuid,
    pub indicator_id: Uuid,
    pub project_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub target: Option<Target>,
    /// A locked period takes no new or changed updates.
    pub locked: bool,
    /// What its approved updates add up to (in every answer of the API;
    /// absent from the audit trail and events, which record what a change wrote).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Actual>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<indicator_period::Model> for Period {
    type Error = AppError;
    fn try_from(m: indicator_period::Model) -> AppResult<Self> {
        let value = stored(m.target_value)?;
        let comment = note(m.target_comment)?;
        let target = (value.is_some() || comment.is_some()).then_some(Target { value, comment });
        Ok(Period {
            id: m.id,
            indicator_id: m.indicator_id,
            project_id: m.project_id,
            period_start: m.period_start,
            period_end: m.period_end,
            target,
            locked: m.locked,
            actual: None,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// Who reported an update.
#[derive(Debug, Serialize, ToSchema)]
pub struct Author {
    pub token_id: Option<Uuid>,
    pub institution_id: Option<Uuid>,
    pub name: String,
}

/// What a partner reports for an indicator in a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Update {
    pub id: Uuid,
    pub period_id: Uuid,
    pub indicator_id: Uuid,
    pub project_id: Uuid,
    /// For a percentage: numerator × 100 ÷ denominator, half-up to 2 places.
    pub value: Option<Value>,
    pub numerator: Option<Value>,
    pub denominator: Option<Value>,
    pub narrative: Option<String>,
    pub reported_on: NaiveDate,
    pub disaggregations: Vec<Disaggregation>,
    pub status: UpdateStatus,
    /// The note of the last review or submission.
    pub review_note: Option<String>,
    pub author: Author,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<indicator_update::Model> for Update {
    type Error = AppError;
    fn try_from(m: indicator_update::Model) -> AppResult<Self> {
        Ok(Update {
            id: m.id,
            period_id: m.period_id,
            indicator_id: m.indicator_id,
            project_id: m.project_id,
            value: stored(m.value)?,
            numerator: stored(m.numerator)?,
            denominator: stored(m.denominator)?,
            narrative: m.narrative,
            reported_on: m.reported_on,
            disaggregations: from_json(m.disaggregations, "disaggregations")?,
            status: m.status,
            review_note: m.review_note,
            author: Author {
                token_id: m.author_token_id,
                institution_id: m.author_institution_id,
                name: m.author_name,
            },
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

fn in_project(project_id: Uuid) -> Audience {
    Audience {
        project_id: Some(project_id),
        recipient_id: None,
    }
}

record!(result => ProjectResult, "result", audience = |m: &result::Model| in_project(m.project_id));
record!(indicator => Indicator, "indicator", audience = |m: &indicator::Model| in_project(m.project_id));
record!(indicator_period => Period, "indicator_period", audience = |m: &indicator_period::Model| in_project(
    m.project_id
));
record!(indicator_update => Update, "indicator_update", audience = |m: &indicator_update::Model| in_project(
    m.project_id
));

// ----- reading -----

pub async fn seen_result(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> AppResult<result::Model> {
    in_visible_project(db, actor, result::Entity::find_by_id(id), result::Column::ProjectId).await
}

pub async fn seen_indicator(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> AppResult<indicator::Model> {
    in_visible_project(
        db,
        actor,
        indicator::Entity::find_by_id(id),
        indicator::Column::ProjectId,
    )
    .await
}

pub async fn seen_period(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> AppResult<indicator_period::Model> {
    in_visible_project(
        db,
        actor,
        indicator_period::Entity::find_by_id(id),
        indicator_period::Column::ProjectId,
    )
    .await
}

pub async fn seen_update(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> AppResult<indicator_update::Model> {
    in_visible_project(
        db,
        actor,
        indicator_update::Entity::find_by_id(id),
        indicator_update::Column::ProjectId,
    )
    .await
}

fn rule(i: &indicator::Model) -> Rule {
    Rule {
        measure: i.measure,
        cumulative: i.cumulative,
    }
}

/// The approved updates of these periods, as their actuals count them, by period.
async fn approved_of(
    db: &impl ConnectionTrait,
    periods: impl IntoIterator<Item = Uuid>,
) -> AppResult<std::collections::HashMap<Uuid, Vec<Counted>>> {
    let mut approved: std::collections::HashMap<Uuid, Vec<Counted>> = std::collections::HashMap::new();
    for u in indicator_update::Entity::find()
        .filter(indicator_update::Column::PeriodId.is_in(periods))
        .filter(indicator_update::Column::Status.eq(UpdateStatus::Approved))
        .all(db)
        .await?
    {
        let counted = u.counted().map_err(AppError::corrupt)?;
        approved.entry(u.period_id).or_default().push(counted);
    }
    Ok(approved)
}

/// Periods of one indicator with their actuals, from the approved updates read.
fn with_actuals(
    indicator: &indicator::Model,
    rows: Vec<indicator_period::Model>,
    approved: &mut std::collections::HashMap<Uuid, Vec<Counted>>,
) -> AppResult<Vec<Period>> {
    let rule = rule(indicator);
    rows.into_iter()
        .map(|row| {
            let mut p = Period::try_from(row)?;
            p.actual = Some(rule.actual(approved.remove(&p.id).unwrap_or_default()));
            Ok(p)
        })
        .collect()
}

/// The periods with their actuals: one query for the approved updates of them all.
pub async fn periods_with_actuals(
    db: &impl ConnectionTrait,
    indicator: &indicator::Model,
    rows: Vec<indicator_period::Model>,
) -> AppResult<Vec<Period>> {
    let mut approved = approved_of(db, rows.iter().map(|p| p.id)).await?;
    with_actuals(indicator, rows, &mut approved)
}

/// An indicator with its periods and their actuals: how far it has come.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorProgress {
    pub indicator: Indicator,
    /// Oldest first.
    pub periods: Vec<Period>,
}

/// The indicators with their periods' actuals: two queries for them all.
pub async fn progress_of(
    db: &impl ConnectionTrait,
    indicators: Vec<indicator::Model>,
) -> AppResult<Vec<IndicatorProgress>> {
    let mut periods: std::collections::HashMap<Uuid, Vec<indicator_period::Model>> = std::collections::HashMap::new();
    for p in indicator_period::Entity::find()
        .filter(indicator_period::Column::IndicatorId.is_in(indicators.iter().map(|i| i.id)))
        .order_by_asc(indicator_period::Column::PeriodStart)
        .all(db)
        .await?
    {
        periods.entry(p.indicator_id).or_default().push(p);
    }
    let mut approved = approved_of(db, periods.values().flatten().map(|p| p.id)).await?;
    indicators
        .into_iter()
        .map(|i| {
            let rows = periods.remove(&i.id).unwrap_or_default();
            Ok(IndicatorProgress {
                periods: with_actuals(&i, rows, &mut approved)?,
                indicator: Indicator::try_from(i)?,
            })
        })
        .collect()
}

/// One period with its actual.
pub async fn period_view(db: &impl ConnectionTrait, row: indicator_period::Model) -> AppResult<Period> {
    let indicator = indicator::Entity::find_by_id(row.indicator_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::corrupt("a period without its indicator"))?;
    let mut all = periods_with_actuals(db, &indicator, vec![row]).await?;
    all.pop().ok_or_else(|| AppError::corrupt("a period went missing"))
}

// ----- results -----

pub struct NewResult {
    pub result_type: ResultType,
    pub title: ShortText,
    pub description: Option<LongText>,
}

#[derive(Default)]
pub struct ResultChanges {
    pub result_type: Option<ResultType>,
    pub title: Option<ShortText>,
    pub description: Option<Option<LongText>>,
}

/// Holds the project for a change of its results framework; only admins
/// change it (404 for what a partner cannot see, before 403).
async fn admin_holds(uow: &mut UnitOfWork, project_id: Uuid) -> AppResult<()> {
    uow.actor().require_admin()?;
    uow.hold_results(project_id).await
}

pub async fn create_result(uow: &mut UnitOfWork, project_id: Uuid, new: NewResult) -> AppResult<ProjectResult> {
    let actor = uow.actor();
    super::access::seen_then(
        super::access::project(uow.db(), actor, project_id, super::access::Lock::No).await,
        || actor.require_admin(),
    )?;
    admin_holds(uow, project_id).await?;
    let id = Uuid::now_v7();
    let row = result::ActiveModel {
        id: Set(id),
        project_id: Set(project_id),
        result_type: Set(new.result_type),
        title: Set(to_json(&new.title)),
        description: Set(new.description.as_ref().map(to_json)),
        ..Default::default()
    }
    .insert(uow.db())
    .await?;
    let view = ProjectResult::from(row);
    uow.record(Change::created("result", id, &view).in_project(project_id));
    Ok(view)
}

pub async fn update_result(
    uow: &mut UnitOfWork,
    id: Uuid,
    expected: Expected,
    c: ResultChanges,
) -> AppResult<ProjectResult> {
    let found = seen_result(uow.db(), uow.actor(), id).await?;
    admin_holds(uow, found.project_id).await?;
    let current: result::Model = versioned::locked(uow.db(), id).await?;
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(t) = c.result_type {
            row.result_type = Set(t);
        }
        if let Some(title) = c.title {
            row.title = Set(to_json(&title));
        }
        if let Some(d) = c.description {
            row.description = Set(d.as_ref().map(to_json));
        }
    })
    .await?;
    Ok(view)
}

/// Deletes a result with its indicators, periods and their updates; a
/// result with an approved update is part of the record (409 `still_referenced`).
pub async fn delete_result(uow: &mut UnitOfWork, id: Uuid) -> AppResult<()> {
    let found = seen_result(uow.db(), uow.actor(), id).await?;
    admin_holds(uow, found.project_id).await?;
    let current: result::Model = versioned::locked(uow.db(), id).await?;
    let indicators: Vec<Uuid> = indicator::Entity::find()
        .filter(indicator::Column::ResultId.eq(id))
        .all(uow.db())
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let approved = indicator_update::Entity::find()
        .filter(indicator_update::Column::IndicatorId.is_in(indicators.clone()))
        .filter(indicator_update::Column::Status.eq(UpdateStatus::Approved))
        .count(uow.db())
        .await?;
    if approved > 0 {
        return Err(AppError::conflict(
            "still_referenced",
            format!("{approved} approved indicator update(s) report on this result; they are part of the record"),
        ));
    }
    indicator_update::Entity::delete_many()
        .filter(indicator_update::Column::IndicatorId.is_in(indicators.clone()))
        .exec(uow.db())
        .await?;
    indicator_period::Entity::delete_many()
        .filter(indicator_period::Column::IndicatorId.is_in(indicators.clone()))
        .exec(uow.db())
        .await?;
    indicator::Entity::delete_many()
        .filter(indicator::Column::Id.is_in(indicators))
        .exec(uow.db())
        .await?;
    result::Entity::delete_by_id(id).exec(uow.db()).await?;
    let project_id = current.project_id;
    let view = ProjectResult::from(current);
    uow.record(Change::deleted("result", id, &view).in_project(project_id));
    Ok(())
}

// ----- indicators -----

pub struct NewIndicator {
    pub title: ShortText,
    pub description: Option<LongText>,
    pub measure: Measure,
    pub unit: Option<Line>,
    pub ascending: bool,
    pub cumulative: bool,
    pub standard_indicator_id: Option<Uuid>,
    pub baseline: Option<Baseline>,
    pub dimensions: Vec<Dimension>,
}

#[derive(Default)]
pub struct IndicatorChanges {
    pub title: Option<ShortText>,
    pub description: Option<Option<LongText>>,
    pub measure: Option<Measure>,
    pub unit: Option<Option<Line>>,
    pub ascending: Option<bool>,
    pub cumulative: Option<bool>,
    pub standard_indicator_id: Option<Option<Uuid>>,
    pub baseline: Option<Option<Baseline>>,
    pub dimensions: Option<Vec<Dimension>>,
}

/// The rules an indicator's settings keep together, checked on create and
/// on every change: a unit for unit measures, a baseline value exactly when
/// the measure has values, dimensions only where amounts add up, and a
/// standard indicator of the same measure and unit.
async fn check_indicator(
    db: &impl ConnectionTrait,
    measure: Measure,
    unit: Option<&str>,
    standard: Option<Uuid>,
    baseline: Option<&Baseline>,
    dimensions: &[Dimension],
) -> AppResult<()> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: String| errors.push(super::FieldError::new(field, message));
    if measure == Measure::Unit && unit.is_none() {
        fail("unit", "is required for a unit measure".into());
    }
    if let Some(b) = baseline {
        if !(1900..=2200).contains(&b.year) {
            fail("baseline.year", "must be a year between 1900 and 2200".into());
        }
        match (measure.has_values(), b.value.is_some()) {
            (true, false) => fail(
                "baseline.value",
                "is required unless the indicator is qualitative".into(),
            ),
            (false, true) => fail("baseline.value", "a qualitative indicator has no values".into()),
            _ => {}
        }
    }
    if let Err(e) = results::check_dimensions(dimensions) {
        fail("dimensions", e);
    } else if !dimensions.is_empty() && measure != Measure::Unit {
        fail(
            "dimensions",
            "only a unit measure is disaggregated: percentages and narratives do not add up".into(),
        );
    }
    if let Some(id) = standard {
        // Shared lock: a concurrent change of its measure waits, or is seen (see `standard::update`).
        match standard_indicator::Entity::find_by_id(id).lock_shared().one(db).await? {
            None => fail("standard_indicator_id", "no such standard indicator".into()),
            Some(s) if s.measure != measure || s.unit.as_deref() != unit => fail(
                "standard_indicator_id",
                format!(
                    "the standard indicator is measured as {} in {}; this indicator must be too",
                    s.measure.as_str(),
                    s.unit.as_deref().unwrap_or("no unit")
                ),
            ),
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

fn set_baseline(row: &mut indicator::ActiveModel, b: Option<&Baseline>) {
    row.baseline_year = Set(b.map(|b| b.year));
    row.baseline_value = Set(b.and_then(|b| b.value).map(Value::to_stored));
    row.baseline_comment = Set(b.and_then(|b| b.comment.as_ref()).map(|c| c.as_str().to_owned()));
}

pub async fn create_indicator(uow: &mut UnitOfWork, result_id: Uuid, new: NewIndicator) -> AppResult<Indicator> {
    let found = seen_result(uow.db(), uow.actor(), result_id).await?;
    admin_holds(uow, found.project_id).await?;
    // Read again under the project's lock: it may have been deleted meanwhile.
    let result: result::Model = versioned::locked(uow.db(), result_id).await?;
    let unit = new.unit.map(Line::into_string);
    check_indicator(
        uow.db(),
        new.measure,
        unit.as_deref(),
        new.standard_indicator_id,
        new.baseline.as_ref(),
        &new.dimensions,
    )
    .await?;
    let id = Uuid::now_v7();
    let mut row = indicator::ActiveModel {
        id: Set(id),
        result_id: Set(result_id),
        project_id: Set(result.project_id),
        title: Set(to_json(&new.title)),
        description: Set(new.description.as_ref().map(to_json)),
        measure: Set(new.measure),
        unit: Set(unit),
        ascending: Set(new.ascending),
        cumulative: Set(new.cumulative),
        standard_indicator_id: Set(new.standard_indicator_id),
        dimensions: Set(to_json(&new.dimensions)),
        ..Default::default()
    };
    set_baseline(&mut row, new.baseline.as_ref());
    let view = Indicator::try_from(row.insert(uow.db()).await?)?;
    uow.record(Change::created("indicator", id, &view).in_project(result.project_id));
    Ok(view)
}

pub async fn update_indicator(
    uow: &mut UnitOfWork,
    id: Uuid,
    expected: Expected,
    c: IndicatorChanges,
) -> AppResult<Indicator> {
    let found = seen_indicator(uow.db(), uow.actor(), id).await?;
    admin_holds(uow, found.project_id).await?;
    let current: indicator::Model = versioned::locked(uow.db(), id).await?;
    let now = Indicator::try_from(current.clone())?;
    let measure = c.measure.unwrap_or(now.measure);
    if measure != now.measure && has_periods(uow.db(), id).await? {
        return Err(AppError::conflict(
            "invalid_state",
            "the measure cannot change once the indicator has a period",
        ));
    }
    let unit = match &c.unit {
        Some(u) => u.as_ref().map(|u| u.as_str().to_owned()),
        None => now.unit.clone(),
    };
    let standard = c.standard_indicator_id.unwrap_or(now.standard_indicator_id);
    let baseline = c.baseline.clone().unwrap_or(now.baseline.clone());
    let dimensions = c.dimensions.clone().unwrap_or(now.dimensions.clone());
    if dimensions != now.dimensions
        && indicator_update::Entity::find()
            .filter(indicator_update::Column::IndicatorId.eq(id))
            .count(uow.db())
            .await?
            > 0
    {
        return Err(AppError::conflict(
            "invalid_state",
            "the dimensions cannot change once the indicator has updates",
        ));
    }
    check_indicator(
        uow.db(),
        measure,
        unit.as_deref(),
        standard,
        baseline.as_ref(),
        &dimensions,
    )
    .await?;
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(title) = c.title {
            row.title = Set(to_json(&title));
        }
        if let Some(d) = c.description {
            row.description = Set(d.as_ref().map(to_json));
        }
        row.measure = Set(measure);
        row.unit = Set(unit);
        if let Some(a) = c.ascending {
            row.ascending = Set(a);
        }
        if let Some(cu) = c.cumulative {
            row.cumulative = Set(cu);
        }
        row.standard_indicator_id = Set(standard);
        set_baseline(row, baseline.as_ref());
        row.dimensions = Set(to_json(&dimensions));
    })
    .await?;
    Ok(view)
}

async fn has_periods(db: &impl ConnectionTrait, indicator_id: Uuid) -> AppResult<bool> {
    Ok(indicator_period::Entity::find()
        .filter(indicator_period::Column::IndicatorId.eq(indicator_id))
        .count(db)
        .await?
        > 0)
}

// ----- periods -----

pub struct NewPeriod {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub target: Option<Target>,
}

#[derive(Default)]
pub struct PeriodChanges {
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    pub target: Option<Option<Target>>,
    pub locked: Option<bool>,
}

fn period_locked() -> AppError {
    AppError::conflict(
        "period_locked",
        "the period is locked: its figures are final (an admin may unlock it)",
    )
}

/// The rules of a period: it starts before it ends, overlaps no other
/// period of its indicator, and its target fits the measure.
async fn check_period(
    db: &impl ConnectionTrait,
    indicator: &indicator::Model,
    own_id: Option<Uuid>,
    start: NaiveDate,
    end: NaiveDate,
    target: Option<&Target>,
) -> AppResult<()> {
    if start >= end {
        return Err(AppError::field("period_end", "must be after period_start"));
    }
    if target.is_some_and(|t| t.value.is_some()) && !indicator.measure.has_values() {
        return Err(AppError::field("target.value", "a qualitative indicator has no values"));
    }
    let mut overlapping = indicator_period::Entity::find()
        .filter(indicator_period::Column::IndicatorId.eq(indicator.id))
        // Both days count: a period is its first day to its last, inclusive.
        .filter(indicator_period::Column::PeriodStart.lte(end))
        .filter(indicator_period::Column::PeriodEnd.gte(start));
    if let Some(id) = own_id {
        overlapping = overlapping.filter(indicator_period::Column::Id.ne(id));
    }
    if let Some(other) = overlapping
        .order_by_asc(indicator_period::Column::PeriodStart)
        .one(db)
        .await?
    {
        return Err(AppError::conflict(
            "conflict",
            format!(
                "the period overlaps {} to {} of the same indicator",
                other.period_start, other.period_end
            ),
        ));
    }
    Ok(())
}

fn set_target(row: &mut indicator_period::ActiveModel, t: Option<&Target>) {
    row.target_value = Set(t.and_then(|t| t.value).map(Value::to_stored));
    row.target_comment = Set(t.and_then(|t| t.comment.as_ref()).map(|c| c.as_str().to_owned()));
}

pub async fn create_period(uow: &mut UnitOfWork, indicator_id: Uuid, new: NewPeriod) -> AppResult<Period> {
    let seen = seen_indicator(uow.db(), uow.actor(), indicator_id).await?;
    admin_holds(uow, seen.project_id).await?;
    // Read again under the project's lock: its measure may have changed meanwhile.
    let found: indicator::Model = versioned::locked(uow.db(), indicator_id).await?;
    check_period(
        uow.db(),
        &found,
        None,
        new.period_start,
        new.period_end,
        new.target.as_ref(),
    )
    .await?;
    let id = Uuid::now_v7();
    let mut row = indicator_period::ActiveModel {
        id: Set(id),
        indicator_id: Set(indicator_id),
        project_id: Set(found.project_id),
        period_start: Set(new.period_start),
        period_end: Set(new.period_end),
        locked: Set(false),
        ..Default::default()
    };
    set_target(&mut row, new.target.as_ref());
    let view = Period::try_from(row.insert(uow.db()).await?)?;
    uow.record(Change::created("indicator_period", id, &view).in_project(found.project_id));
    Ok(Period {
        actual: Some(Actual::default()),
        ..view
    })
}

pub async fn update_period(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: PeriodChanges) -> AppResult<Period> {
    let found = seen_period(uow.db(), uow.actor(), id).await?;
    admin_holds(uow, found.project_id).await?;
    let current: indicator_period::Model = versioned::locked(uow.db(), id).await?;
    let only_unlocks = c.period_start.is_none() && c.period_end.is_none() && c.target.is_none();
    if current.locked && !only_unlocks {
        return Err(period_locked());
    }
    let indicator = indicator::Entity::find_by_id(current.indicator_id)
        .one(uow.db())
        .await?
        .ok_or_else(|| AppError::corrupt("a period without its indicator"))?;
    let now = Period::try_from(current.clone())?;
    let start = c.period_start.unwrap_or(now.period_start);
    let end = c.period_end.unwrap_or(now.period_end);
    let target = c.target.clone().unwrap_or(now.target);
    check_period(uow.db(), &indicator, Some(id), start, end, target.as_ref()).await?;
    let (saved, _) = versioned::update(uow, current, expected, How::Update, |row| {
        row.period_start = Set(start);
        row.period_end = Set(end);
        set_target(row, target.as_ref());
        if let Some(l) = c.locked {
            row.locked = Set(l);
        }
    })
    .await?;
    period_view(uow.db(), saved).await
}

// ----- updates -----

pub struct NewUpdate {
    pub value: Option<Value>,
    pub numerator: Option<Value>,
    pub denominator: Option<Value>,
    pub narrative: Option<Note>,
    pub reported_on: NaiveDate,
    pub disaggregations: Vec<Disaggregation>,
}

#[derive(Default)]
pub struct UpdateChanges {
    pub value: Option<Option<Value>>,
    pub numerator: Option<Option<Value>>,
    pub denominator: Option<Option<Value>>,
    pub narrative: Option<Option<Note>>,
    pub reported_on: Option<NaiveDate>,
    pub disaggregations: Option<Vec<Disaggregation>>,
}

/// An update's figures as they will be stored: the value it holds by its
/// indicator's measure (a percentage's computed from its parts), checked.
struct Figures {
    value: Option<Value>,
    numerator: Option<Value>,
    denominator: Option<Value>,
}

fn figures(
    indicator: &indicator::Model,
    value: Option<Value>,
    numerator: Option<Value>,
    denominator: Option<Value>,
    narrative: Option<&str>,
    disaggregations: &[Disaggregation],
) -> AppResult<Figures> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: &str| errors.push(super::FieldError::new(field, message));
    let mut out = Figures {
        value,
        numerator: None,
        denominator: None,
    };
    match indicator.measure {
        Measure::Unit => {
            if value.is_none() {
                fail("value", "is required for a unit measure");
            }
            for (field, given) in [("numerator", numerator), ("denominator", denominator)] {
                if given.is_some() {
                    fail(field, "is only for a percentage");
                }
            }
        }
        Measure::Percentage => {
            if value.is_some() {
                fail(
                    "value",
                    "a percentage is computed from numerator and denominator; send those",
                );
            }
            if numerator.is_some_and(|n| n.decimal().is_sign_negative()) {
                fail(
                    "numerator",
                    "may not be negative: a percentage is a share of the denominator",
                );
            }
            match (numerator, denominator) {
                (Some(n), Some(d)) if d.is_positive() => {
                    out.value = results::percentage(n, d);
                    if out.value.is_none() {
                        fail("numerator", "the percentage is out of range");
                    }
                    out.numerator = Some(n);
                    out.denominator = Some(d);
                }
                (n, d) => {
                    if n.is_none() {
                        fail("numerator", "is required for a percentage");
                    }
                    match d {
                        None => fail("denominator", "is required for a percentage"),
                        Some(d) if !d.is_positive() => fail("denominator", "must be greater than 0"),
                        Some(_) => {}
                    }
                }
            }
        }
        Measure::Qualitative => {
            for (field, given) in [("value", value), ("numerator", numerator), ("denominator", denominator)] {
                if given.is_some() {
                    fail(field, "a qualitative indicator has no values");
                }
            }
            if narrative.is_none() {
                fail("narrative", "is required for a qualitative indicator");
            }
        }
    }
    let dimensions: Vec<Dimension> = from_json(indicator.dimensions.clone(), "dimensions")?;
    if let Err(e) = results::check_disaggregations(&dimensions, out.value, disaggregations) {
        fail("disaggregations", &e);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Partners report on their own projects (found through [`seen`]); viewers only read.
fn may_report(actor: &Actor) -> AppResult<()> {
    match actor.role {
        Role::Admin | Role::Partner => Ok(()),
        Role::Viewer => Err(AppError::Forbidden("viewer tokens cannot report indicator updates")),
    }
}

/// The author, a partner of the author's institution, or an admin may edit and submit an update.
fn may_edit(actor: &Actor, u: &indicator_update::Model) -> AppResult<()> {
    let own = actor.token_id().is_some() && actor.token_id() == u.author_token_id;
    let same_institution = actor.partner_scope().is_some() && actor.partner_scope() == u.author_institution_id;
    match actor.role {
        Role::Admin => Ok(()),
        _ if own || same_institution => Ok(()),
        _ => Err(AppError::Forbidden(
            "only its author, the author's institution or an admin may change this update",
        )),
    }
}

pub async fn create_update(uow: &mut UnitOfWork, period_id: Uuid, new: NewUpdate) -> AppResult<Update> {
    let found = seen_period(uow.db(), uow.actor(), period_id).await?;
    may_report(uow.actor())?;
    uow.hold_results(found.project_id).await?;
    let period: indicator_period::Model = versioned::locked(uow.db(), period_id).await?;
    if period.locked {
        return Err(period_locked());
    }
    let indicator = indicator::Entity::find_by_id(period.indicator_id)
        .one(uow.db())
        .await?
        .ok_or_else(|| AppError::corrupt("a period without its indicator"))?;
    let f = figures(
        &indicator,
        new.value,
        new.numerator,
        new.denominator,
        new.narrative.as_ref().map(Note::as_str),
        &new.disaggregations,
    )?;
    let actor = uow.actor();
    let id = Uuid::now_v7();
    let row = indicator_update::ActiveModel {
        id: Set(id),
        period_id: Set(period_id),
        indicator_id: Set(indicator.id),
        project_id: Set(indicator.project_id),
        value: Set(f.value.map(Value::to_stored)),
        numerator: Set(f.numerator.map(Value::to_stored)),
        denominator: Set(f.denominator.map(Value::to_stored)),
        narrative: Set(new.narrative.map(Note::into_string)),
        reported_on: Set(new.reported_on),
        disaggregations: Set(to_json(&new.disaggregations)),
        status: Set(UpdateStatus::Draft),
        review_note: Set(None),
        author_token_id: Set(actor.token_id()),
        author_institution_id: Set(actor.partner_scope()),
        author_name: Set(actor.name.clone()),
        ..Default::default()
    }
    .insert(uow.db())
    .await?;
    let view = Update::try_from(row)?;
    uow.record(Change::created("indicator_update", id, &view).in_project(indicator.project_id));
    Ok(view)
}

/// The update, locked, with its period and indicator, for a change by this
/// actor: 404 for what a partner cannot see, 403 for what it may not touch,
/// 409 when the period is locked.
async fn for_change(
    uow: &mut UnitOfWork,
    id: Uuid,
) -> AppResult<(indicator_update::Model, indicator_period::Model, indicator::Model)> {
    let found = seen_update(uow.db(), uow.actor(), id).await?;
    may_report(uow.actor())?;
    uow.hold_results(found.project_id).await?;
    let current: indicator_update::Model = versioned::locked(uow.db(), id).await?;
    let period = indicator_period::Entity::find_by_id(current.period_id)
        .one(uow.db())
        .await?
        .ok_or_else(|| AppError::corrupt("an update without its period"))?;
    let indicator = indicator::Entity::find_by_id(current.indicator_id)
        .one(uow.db())
        .await?
        .ok_or_else(|| AppError::corrupt("an update without its indicator"))?;
    Ok((current, period, indicator))
}

pub async fn update_update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: UpdateChanges) -> AppResult<Update> {
    let (current, period, indicator) = for_change(uow, id).await?;
    may_edit(uow.actor(), &current)?;
    if period.locked {
        return Err(period_locked());
    }
    if !current.status.is_editable() {
        return Err(AppError::conflict(
            "invalid_state",
            format!(
                "an update is changed only in draft or returned, and this one is {}",
                current.status.as_str()
            ),
        ));
    }
    let now = Update::try_from(current.clone())?;
    // A percentage's value is computed: the stored one is not a given value.
    let value = match indicator.measure {
        Measure::Percentage => c.value.unwrap_or(None),
        _ => c.value.unwrap_or(now.value),
    };
    let numerator = c.numerator.unwrap_or(now.numerator);
    let denominator = c.denominator.unwrap_or(now.denominator);
    let narrative = match c.narrative {
        Some(n) => n.map(Note::into_string),
        None => now.narrative,
    };
    let disaggregations = c.disaggregations.unwrap_or(now.disaggregations);
    let f = figures(
        &indicator,
        value,
        numerator,
        denominator,
        narrative.as_deref(),
        &disaggregations,
    )?;
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        row.value = Set(f.value.map(Value::to_stored));
        row.numerator = Set(f.numerator.map(Value::to_stored));
        row.denominator = Set(f.denominator.map(Value::to_stored));
        row.narrative = Set(narrative);
        if let Some(d) = c.reported_on {
            row.reported_on = Set(d);
        }
        row.disaggregations = Set(to_json(&disaggregations));
    })
    .await?;
    Ok(view)
}

/// Refuses an approval that would take its period's actual past the range
/// a value may hold (10^15): the figure would no longer be exact or valid.
async fn fits_the_actual(
    db: &impl ConnectionTrait,
    indicator: &indicator::Model,
    update: &indicator_update::Model,
) -> AppResult<()> {
    let mut counted = approved_of(db, [update.period_id])
        .await?
        .remove(&update.period_id)
        .unwrap_or_default();
    counted.push(update.counted().map_err(AppError::corrupt)?);
    if indicator.measure.has_values() && rule(indicator).actual(counted).value.is_none() {
        return Err(AppError::conflict(
            "out_of_range",
            "approving this update would take the period's actual past 10^15",
        ));
    }
    Ok(())
}

/// A move of the review: submit (the author's side), approve or return (admins).
/// Announced as `indicator_update.submitted|approved|returned`.
pub async fn transition_update(
    uow: &mut UnitOfWork,
    id: Uuid,
    to: UpdateStatus,
    note: Option<Note>,
) -> AppResult<Update> {
    let (current, period, indicator) = for_change(uow, id).await?;
    if to.is_review() {
        uow.actor().require_admin()?;
    } else {
        may_edit(uow.actor(), &current)?;
    }
    if period.locked {
        return Err(period_locked());
    }
    current
        .status
        .check_move(to)
        .map_err(|m| AppError::conflict("invalid_transition", m.0))?;
    if to == UpdateStatus::Approved {
        fits_the_actual(uow.db(), &indicator, &current).await?;
    }
    let (action, event) = match to {
        UpdateStatus::Submitted => ("transition:submitted", "submitted"),
        UpdateStatus::Approved => ("transition:approved", "approved"),
        UpdateStatus::Returned => ("transition:returned", "returned"),
        UpdateStatus::Draft => ("transition:draft", "drafted"),
    };
    let (_, view) = versioned::update(uow, current, Expected::Any, How::Named { action, event }, |row| {
        row.status = Set(to);
        if let Some(n) = note {
            row.review_note = Set(Some(n.into_string()));
        }
    })
    .await?;
    Ok(view)
}
