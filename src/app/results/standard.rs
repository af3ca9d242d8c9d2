//! Standard indicators: the figures the fund reports across projects
//! (`ghg-emissions-reduced`, `people-trained`, …), which project indicators
//! link to, and their progress summed from the maintained shares.

use super::super::versioned::{self, Expected, How, record};
use super::super::{AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::results::Measure;
use crate::domain::{Code, Line, ShortText};
use crate::entities::{indicator, standard_indicator};
use crate::store::indicator_tallies::{self, Scope};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "standard_indicator";

/// A standard indicator.
#[derive(Debug, Serialize, ToSchema)]
pub struct StandardIndicator {
    pub id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    /// `unit` or `percentage`.
    pub measure: Measure,
    pub unit: Option<String>,
    pub ascending: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<standard_indicator::Model> for StandardIndicator {
    fn from(m: standard_indicator::Model) -> Self {
        StandardIndicator {
            id: m.id,
            code: m.code,
            title: m.title,
            measure: m.measure,
            unit: m.unit,
            ascending: m.ascending,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

record!(standard_indicator => StandardIndicator, KIND);

pub struct New {
    pub code: Code,
    pub title: ShortText,
    pub measure: Measure,
    pub unit: Option<Line>,
    pub ascending: bool,
}

#[derive(Default)]
pub struct Changes {
    pub title: Option<ShortText>,
    pub measure: Option<Measure>,
    pub unit: Option<Option<Line>>,
    pub ascending: Option<bool>,
}

fn check(measure: Measure, unit: Option<&str>) -> AppResult<()> {
    match (measure, unit) {
        (Measure::Qualitative, _) => Err(AppError::field(
            "measure",
            "a standard indicator is summed across projects: unit or percentage",
        )),
        (Measure::Unit, None) => Err(AppError::field("unit", "is required for a unit measure")),
        _ => Ok(()),
    }
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<StandardIndicator> {
    uow.actor().require_admin()?;
    let unit = new.unit.map(Line::into_string);
    check(new.measure, unit.as_deref())?;
    let id = Uuid::now_v7();
    let row = standard_indicator::ActiveModel {
        id: Set(id),
        code: Set(new.code.into()),
        title: Set(to_json(&new.title)),
        measure: Set(new.measure),
        unit: Set(unit),
        ascending: Set(new.ascending),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| AppError::from(e).on_duplicate("a standard indicator with this code exists"))?;
    let view = StandardIndicator::from(row);
    uow.record(Change::created(KIND, id, &view));
    Ok(view)
}

/// Changes a standard indicator; its measure and unit are fixed once a
/// project indicator links to it (they must agree).
pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<StandardIndicator> {
    uow.actor().require_admin()?;
    let current: standard_indicator::Model = versioned::locked(uow.db(), id).await?;
    let measure = c.measure.unwrap_or(current.measure);
    let unit = match &c.unit {
        Some(u) => u.as_ref().map(|u| u.as_str().to_owned()),
        None => current.unit.clone(),
    };
    check(measure, unit.as_deref())?;
    if (measure != current.measure || unit != current.unit) && linked(uow.db(), id).await? > 0 {
        return Err(AppError::conflict(
            "still_referenced",
            "project indicators link to this standard indicator: its measure and unit cannot change",
        ));
    }
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(t) = c.title {
            row.title = Set(to_json(&t));
        }
        row.measure = Set(measure);
        row.unit = Set(unit);
        if let Some(a) = c.ascending {
            row.ascending = Set(a);
        }
    })
    .await?;
    Ok(view)
}

async fn linked(db: &impl ConnectionTrait, id: Uuid) -> AppResult<u64> {
    Ok(indicator::Entity::find()
        .filter(indicator::Column::StandardIndicatorId.eq(id))
        .count(db)
        .await?)
}

/// A standard indicator's progress: sums over the linked indicators of the
/// projects in scope, exact decimal strings (null when nothing counted).
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub standard_indicator_id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    pub measure: Measure,
    pub unit: Option<String>,
    /// The year whose periods count (a period counts in the year it ends); null: every period.
    pub year: Option<i32>,
    /// Σ baselines (null for a percentage, which has no denominator to weigh them by).
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$", example = "1250.5")]
    pub baseline: Option<String>,
    /// Σ targets of the periods in scope (a cumulative indicator: its latest).
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    pub target: Option<String>,
    /// Σ actuals (a cumulative indicator: its latest; a percentage: Σ numerators × 100 ÷ Σ denominators).
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    pub actual: Option<String>,
    /// Projects with a linked indicator in scope.
    pub projects: u64,
    /// Linked indicators in scope.
    pub indicators: u64,
}

pub async fn progress(db: &impl ConnectionTrait, id: Uuid, scope: &Scope) -> AppResult<Progress> {
    let s = standard_indicator::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let p = indicator_tallies::progress(db, id, s.measure, scope).await?;
    Ok(Progress::of(s, scope.year, p))
}

/// Every standard indicator's progress over every project and period, in code order.
pub async fn progress_of_all(db: &impl ConnectionTrait) -> AppResult<Vec<Progress>> {
    let all = standard_indicator::Entity::find()
        .order_by_asc(standard_indicator::Column::Code)
        .all(db)
        .await?;
    let measures = all.iter().map(|s| (s.id, s.measure)).collect();
    let mut sums = indicator_tallies::progress_of_all(db, &measures).await?;
    Ok(all
        .into_iter()
        .map(|s| {
            let p = sums.remove(&s.id).unwrap_or_default();
            Progress::of(s, None, p)
        })
        .collect())
}

impl Progress {
    fn of(s: standard_indicator::Model, year: Option<i32>, p: indicator_tallies::Progress) -> Progress {
        let text = |d: Option<rust_decimal::Decimal>| d.map(|d| d.normalize().to_string());
        Progress {
            standard_indicator_id: s.id,
            code: s.code,
            title: s.title,
            measure: s.measure,
            unit: s.unit,
            year,
            baseline: text(p.baseline),
            target: text(p.target),
            actual: text(p.actual),
            projects: p.projects,
            indicators: p.indicators,
        }
    }
}
