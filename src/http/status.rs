//! `/projects/{id}/status`: how a project stands, in one answer a partner
//! on a slow link can read at a glance. After authentication, one
//! statement, whatever the number of milestones or grants: the project, its
//! milestones and its funding per currency come back as the rows of one
//! `UNION ALL`, so the answer costs two database round trips in all.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query};
use super::ledger::stored;
use super::milestones::open_statuses;
use super::reply::{Reply, Versioned};
use crate::app::access;
use crate::app::clock::Today;
use crate::domain::Date;
use crate::domain::health::{Health, MilestoneCounts};
use crate::domain::money::Money;
use crate::domain::results::UpdateStatus;
use crate::domain::status::{GrantStatus, MilestoneStatus, ProjectStatus};
use crate::domain::{Code, ShortText};
use crate::entities::{grant, indicator, indicator_update, milestone, project};
use crate::store::sum_minor;
use axum::extract::State;
use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait, Query as Sql, SelectStatement, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, QueryTrait,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(project_status))
}

#[derive(Serialize, ToSchema)]
pub struct NextMilestone {
    pub id: Uuid,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    pub due_on: NaiveDate,
    pub status: MilestoneStatus,
    pub overdue: bool,
}

/// Money of awarded grants (approved, active, completed) in one currency.
#[derive(Serialize, ToSchema)]
pub struct Funding {
    pub awarded: Money,
    pub disbursed: Money,
    /// awarded − disbursed
    pub remaining: Money,
}

/// How far the project's results are reported.
#[derive(Default, Serialize, ToSchema)]
pub struct IndicatorCounts {
    /// The project's indicators.
    pub total: u64,
    /// Indicators with at least one approved update.
    pub with_actual: u64,
    /// Updates waiting for review.
    pub submitted_updates: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectStatusView {
    pub project_id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub title: serde_json::Value,
    pub status: ProjectStatus,
    pub health: Health,
    pub milestones: MilestoneCounts,
    /// achieved ÷ non-cancelled milestones, two decimal places.
    #[schema(example = "0.50")]
    pub progress: String,
    pub next_milestone: Option<NextMilestone>,
    /// One item per currency.
    pub funding: Vec<Funding>,
    pub indicators: IndicatorCounts,
    pub as_of: NaiveDate,
    /// The IANA zone the project's deadlines live in: its lead participant's, else UTC.
    #[schema(value_type = String, example = "Pacific/Tongatapu")]
    pub time_zone: String,
}

impl Versioned for ProjectStatusView {
    fn version(&self) -> Option<i32> {
        None
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The day the status is judged on; default today in the project's zone.
    as_of: Option<Date>,
}

pub(crate) fn awarded_statuses() -> Vec<GrantStatus> {
    GrantStatus::VARIANTS
        .iter()
        .filter(|s| s.is_awarded())
        .copied()
        .collect()
}

/// One row of the status statement: a project (`p`), a milestone (`m`),
/// the funding in one currency (`f`), the number of indicators (`i`, in
/// `awarded`) or of one indicator's updates in one status (`u`, in
/// `awarded`); the columns a kind has no use for are null.
#[derive(FromQueryResult)]
struct Row {
    kind: String,
    id: Option<Uuid>,
    /// The project's code, or the funding's currency.
    name: Option<String>,
    title: Option<serde_json::Value>,
    status: Option<String>,
    time_zone: Option<String>,
    due_on: Option<NaiveDate>,
    awarded: Option<i64>,
    disbursed: Option<i64>,
}

/// A typed null, so that PostgreSQL can match the columns of the union's parts.
fn null(sql_type: &'static str) -> Expr {
    Expr::cust("NULL").cast_as(sql_type)
}

/// The project as the caller may see it, its milestones, its awarded
/// funding per currency and its indicators' counts, as one statement.
fn statement(caller: &Caller, id: Uuid) -> SelectStatement {
    let as_columns = [
        "kind",
        "id",
        "name",
        "title",
        "status",
        "time_zone",
        "due_on",
        "awarded",
        "disbursed",
    ];
    let columns = |mut s: SelectStatement, exprs: [Expr; 9]| {
        for (e, alias) in exprs.into_iter().zip(as_columns) {
            s.expr_as(e, alias);
        }
        s
    };
    let select = |exprs| columns(Sql::select(), exprs);
    let visible = access::visible_projects(project::Entity::find_by_id(id), caller, project::Column::Id);
    let mut project = columns(
        visible.select_only().into_query(),
        [
            Expr::cust("'p'"),
            Expr::col(project::Column::Id),
            Expr::col(project::Column::Code),
            Expr::col(project::Column::Title),
            Expr::col(project::Column::Status),
            Expr::col(project::Column::TimeZone),
            null("DATE"),
            null("BIGINT"),
            null("BIGINT"),
        ],
    );
    let milestones = select([
        Expr::cust("'m'"),
        Expr::col(milestone::Column::Id),
        null("TEXT"),
        Expr::col(milestone::Column::Title),
        Expr::col(milestone::Column::Status),
        null("TEXT"),
        Expr::col(milestone::Column::DueOn),
        null("BIGINT"),
        null("BIGINT"),
    ])
    .from(milestone::Entity)
    .and_where(milestone::Column::ProjectId.eq(id))
    .to_owned();
    let funding = select([
        Expr::cust("'f'"),
        null("UUID"),
        Expr::col(grant::Column::Currency),
        null("JSON"),
        null("TEXT"),
        null("TEXT"),
        null("DATE"),
        sum_minor(grant::Column::AmountMinor),
        sum_minor(grant::Column::DisbursedMinor),
    ])
    .from(grant::Entity)
    .and_where(grant::Column::ProjectId.eq(id))
    .and_where(grant::Column::Status.is_in(awarded_statuses()))
    .group_by_col(grant::Column::Currency)
    .to_owned();
    let indicators = select([
        Expr::cust("'i'"),
        null("UUID"),
        null("TEXT"),
        null("JSON"),
        null("TEXT"),
        null("TEXT"),
        null("DATE"),
        Expr::cust("COUNT(*)").cast_as("BIGINT"),
        null("BIGINT"),
    ])
    .from(indicator::Entity)
    .and_where(indicator::Column::ProjectId.eq(id))
    .to_owned();
    let updates = select([
        Expr::cust("'u'"),
        Expr::col(indicator_update::Column::IndicatorId),
        null("TEXT"),
        null("JSON"),
        Expr::col(indicator_update::Column::Status),
        null("TEXT"),
        null("DATE"),
        Expr::cust("COUNT(*)").cast_as("BIGINT"),
        null("BIGINT"),
    ])
    .from(indicator_update::Entity)
    .and_where(indicator_update::Column::ProjectId.eq(id))
    .and_where(indicator_update::Column::Status.is_in([UpdateStatus::Approved, UpdateStatus::Submitted]))
    .group_by_col(indicator_update::Column::IndicatorId)
    .group_by_col(indicator_update::Column::Status)
    .to_owned();
    project
        .union(UnionType::All, milestones)
        .union(UnionType::All, funding)
        .union(UnionType::All, indicators)
        .union(UnionType::All, updates)
        .to_owned()
}

#[utoipa::path(get, path = "/projects/{id}/status", tag = "projects", params(("id" = Uuid, Path), AsOf),
    responses((status = 200, description = "Health, milestones, progress and funding of the project", body = ProjectStatusView)))]
async fn project_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<AsOf>,
) -> ApiResult<Reply> {
    let db = &state.db;
    let rows = Row::find_by_statement(db.get_database_backend().build(&statement(&caller, id)))
        .all(db)
        .await?;
    // Milestones and funding come back whether or not the caller may see
    // the project; without its row, they are dropped unread.
    let Some(project) = rows.iter().find(|r| r.kind == "p") else {
        return Err(ApiError::NotFound);
    };
    let zone = project.time_zone.clone().unwrap_or_default();
    // Without `as_of`, today in the project's own zone.
    let as_of = state.clock.today(q.as_of.map(Date::naive)).in_zone(&zone);
    let status: ProjectStatus = parsed(project.status.as_deref())?;

    let mut counts = MilestoneCounts::new(as_of);
    let mut next: Option<NextMilestone> = None;
    let mut funding = Vec::new();
    let mut indicators = IndicatorCounts::default();
    for r in &rows {
        match r.kind.as_str() {
            "m" => {
                let (Some(id), Some(due_on)) = (r.id, r.due_on) else {
                    continue;
                };
                let ms: MilestoneStatus = parsed(r.status.as_deref())?;
                counts.add(ms, due_on);
                if ms.is_open() && next.as_ref().is_none_or(|n| (due_on, id) < (n.due_on, n.id)) {
                    next = Some(NextMilestone {
                        id,
                        title: r.title.clone().unwrap_or_default(),
                        due_on,
                        status: ms,
                        overdue: due_on < as_of,
                    });
                }
            }
            "f" => {
                let currency = r.name.as_deref().unwrap_or_default();
                funding.push((currency, r.awarded.unwrap_or(0), r.disbursed.unwrap_or(0)));
            }
            "i" => indicators.total = count(r.awarded),
            "u" => match parsed(r.status.as_deref())? {
                UpdateStatus::Approved => indicators.with_actual += 1,
                _ => indicators.submitted_updates += count(r.awarded),
            },
            _ => {}
        }
    }
    funding.sort_unstable();
    let view = ProjectStatusView {
        project_id: id,
        code: project.name.clone().unwrap_or_default(),
        title: project.title.clone().unwrap_or_default(),
        status,
        health: counts.health(status),
        progress: counts.progress(),
        milestones: counts,
        next_milestone: next,
        funding: funding
            .into_iter()
            .map(|(currency, awarded, disbursed)| {
                Ok(Funding {
                    awarded: stored(awarded, currency)?,
                    disbursed: stored(disbursed, currency)?,
                    remaining: stored(awarded - disbursed, currency)?,
                })
            })
            .collect::<ApiResult<_>>()?,
        indicators,
        as_of,
        time_zone: zone,
    };
    Ok(Reply::ok(&view))
}

/// Each project's health today in its own zone, as its status page judges
/// it, in one query for a page of projects: it reads only the milestones
/// that can make a project unhealthy (missed, or open and due before the
/// latest date any zone is at), which the health rule says is enough.
pub(crate) async fn health_of(
    db: &impl ConnectionTrait,
    today: Today,
    projects: &[project::Model],
) -> ApiResult<HashMap<Uuid, Health>> {
    use milestone::Column as C;
    let (_, last) = today.span();
    let rows: Vec<(Uuid, MilestoneStatus, NaiveDate)> = milestone::Entity::find()
        .select_only()
        .columns([C::ProjectId, C::Status, C::DueOn])
        .filter(C::ProjectId.is_in(projects.iter().map(|p| p.id)))
        .filter(
            Condition::any().add(C::Status.eq(MilestoneStatus::Missed)).add(
                Condition::all()
                    .add(C::Status.is_in(open_statuses()))
                    .add(C::DueOn.lt(last)),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    let mut counts: HashMap<Uuid, MilestoneCounts> = projects
        .iter()
        .map(|p| (p.id, MilestoneCounts::new(today.in_zone(&p.time_zone))))
        .collect();
    for (project_id, status, due_on) in rows {
        if let Some(c) = counts.get_mut(&project_id) {
            c.add(status, due_on);
        }
    }
    Ok(projects
        .iter()
        .filter_map(|p| Some((p.id, counts.get(&p.id)?.health(p.status))))
        .collect())
}

fn count(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or_default()
}

/// A stored status, which the database only ever holds valid.
fn parsed<T: std::str::FromStr>(stored: Option<&str>) -> ApiResult<T> {
    stored
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::Internal(format!("a stored status that is not one: {stored:?}")))
}
