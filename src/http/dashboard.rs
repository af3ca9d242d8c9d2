//! `/dashboard/summary` and `/dashboard/breakdown`: the whole cooperation at
//! a glance. Both read the exactly-maintained tallies (`store::tallies`),
//! a few rows per key, so their cost does not grow with the number of
//! projects, grants or milestones. `/dashboard` answers the summary and the
//! two breakdowns the dashboard page shows in one request, for slow links.

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Query;
use super::ledger::{FundSummary, counts_by, fund_summary, grant_counts, stored};
use super::milestones::open_statuses;
use super::reply::{Reply, Versioned};
use crate::app::clock::Today;
use crate::domain::ledger::Balances;
use crate::domain::money::Money;
use crate::domain::status::{GrantStatus, MilestoneStatus, ProjectStatus};
use crate::domain::{Date, ShortText};
use crate::entities::{
    alliance, dashboard_tally, fund, fund_balance, institution, milestone_day_tally, milestone_tally,
};
use crate::store::books::balances_of;
use crate::store::sum_minor;
use crate::store::tallies::{ALL_FUNDS, Dimension};
use axum::extract::State;
use chrono::{Days, NaiveDate};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard))
        .routes(routes!(summary))
        .routes(routes!(breakdown))
}

#[derive(Serialize, ToSchema)]
pub struct MilestoneFigures {
    /// Open and due before `as_of`.
    pub overdue: u64,
    /// Open and due on or after `as_of` and before `as_of` + 30 days.
    pub due_next_30_days: u64,
    pub achieved: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DashboardSummary {
    pub as_of: NaiveDate,
    #[schema(value_type = BTreeMap<ProjectStatus, u64>)]
    pub projects_by_status: BTreeMap<&'static str, u64>,
    #[schema(value_type = BTreeMap<GrantStatus, u64>)]
    pub grants_by_status: BTreeMap<&'static str, u64>,
    pub funds: Vec<FundSummary>,
    pub milestones: MilestoneFigures,
    /// Number of institutions.
    pub institutions: u64,
    /// Number of distinct countries the projects work in.
    pub countries: u64,
}

impl Versioned for DashboardSummary {
    fn version(&self) -> Option<i32> {
        None
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The day figures are judged on; default: each project's today in its own zone (the answer's `as_of` is then the UTC date).
    as_of: Option<Date>,
}

/// Milestones with one of `statuses` due in `[from, before)`, from the
/// tally of every zone together (a quarter of the per-zone rows).
async fn milestones_due(
    db: &impl ConnectionTrait,
    statuses: Vec<MilestoneStatus>,
    from: Option<NaiveDate>,
    before: Option<NaiveDate>,
) -> ApiResult<u64> {
    use milestone_day_tally::Column as C;
    let mut select = milestone_day_tally::Entity::find()
        .select_only()
        .column_as(sum_minor(C::Milestones), "n")
        .filter(C::Status.is_in(statuses));
    if let Some(from) = from {
        select = select.filter(C::DueOn.gte(from));
    }
    if let Some(before) = before {
        select = select.filter(C::DueOn.lt(before));
    }
    let n: Option<Option<i64>> = select.into_tuple().one(db).await?;
    Ok(n.flatten().unwrap_or(0).max(0) as u64)
}

/// The summary's milestone figures, each milestone judged on its project's
/// own today. Zones are at most a day or two apart ([`Today::span`]):
/// a milestone due before the first date is overdue in every zone, and one
/// due from the last date to 30 days after the first is due within 30 days
/// in every zone, so those are sums over the zone-free tally. Only the
/// edge days, where zones disagree, are read per zone and judged here.
async fn milestone_figures(db: &impl ConnectionTrait, today: Today) -> ApiResult<MilestoneFigures> {
    use milestone_tally::Column as C;
    let soon = |d: NaiveDate| d.checked_add_days(Days::new(30)).unwrap_or(d);
    let (first, last) = today.span();
    let mut figures = MilestoneFigures {
        overdue: milestones_due(db, open_statuses(), None, Some(first)).await?,
        due_next_30_days: milestones_due(db, open_statuses(), Some(last), Some(soon(first))).await?,
        achieved: milestones_due(db, vec![MilestoneStatus::Achieved], None, None).await?,
    };
    if first == last {
        return Ok(figures);
    }
    let edges: Vec<(String, NaiveDate, i64)> = milestone_tally::Entity::find()
        .select_only()
        .column(C::TimeZone)
        .column(C::DueOn)
        .column_as(sum_minor(C::Milestones), "n")
        .filter(C::Status.is_in(open_statuses()))
        .filter(
            Condition::any()
                .add(Condition::all().add(C::DueOn.gte(first)).add(C::DueOn.lt(last)))
                .add(
                    Condition::all()
                        .add(C::DueOn.gte(soon(first)))
                        .add(C::DueOn.lt(soon(last))),
                ),
        )
        .group_by(C::TimeZone)
        .group_by(C::DueOn)
        .into_tuple()
        .all(db)
        .await?;
    let mut dates: HashMap<String, NaiveDate> = HashMap::new();
    for (zone, due_on, n) in edges {
        let n = n.max(0) as u64;
        let today = *dates.entry(zone).or_insert_with_key(|zone| today.in_zone(zone));
        if due_on < today {
            figures.overdue += n;
        } else if due_on < soon(today) {
            figures.due_next_30_days += n;
        }
    }
    Ok(figures)
}

/// The dashboard's first view in one answer: with `/projects?include=health`
/// and `/milestones?overdue=true`, the page needs three requests in all.
#[derive(Serialize, ToSchema)]
pub struct DashboardView {
    pub summary: DashboardSummary,
    /// As `/dashboard/breakdown?by=country`.
    pub by_country: Breakdown,
    /// As `/dashboard/breakdown?by=alliance`.
    pub by_alliance: Breakdown,
    /// Each standard indicator's progress over every project and period,
    /// as `/standard-indicators/{id}/progress` answers it, in code order.
    pub indicators: Vec<crate::app::results::standard::Progress>,
}

impl Versioned for DashboardView {
    fn version(&self) -> Option<i32> {
        None
    }
}

#[utoipa::path(get, path = "/dashboard", tag = "dashboard", params(AsOf),
    responses((status = 200, description = "The summary and the breakdowns by country and by alliance, as their own endpoints answer them", body = DashboardView)))]
async fn dashboard(State(state): State<AppState>, caller: Caller, Query(q): Query<AsOf>) -> ApiResult<Reply> {
    caller.require_staff()?;
    let today = state.clock.today(q.as_of.map(Date::naive));
    Ok(Reply::ok(&DashboardView {
        summary: summary_of(&state.db, today).await?,
        by_country: breakdown_of(&state.db, By::Country, None).await?,
        by_alliance: breakdown_of(&state.db, By::Alliance, None).await?,
        indicators: crate::app::results::standard::progress_of_all(&state.db).await?,
    }))
}

#[utoipa::path(get, path = "/dashboard/summary", tag = "dashboard", params(AsOf),
    responses((status = 200, description = "Counts, funds and milestones across the cooperation", body = DashboardSummary)))]
async fn summary(State(state): State<AppState>, caller: Caller, Query(q): Query<AsOf>) -> ApiResult<Reply> {
    caller.require_staff()?;
    let today = state.clock.today(q.as_of.map(Date::naive));
    Ok(Reply::ok(&summary_of(&state.db, today).await?))
}

async fn summary_of(db: &impl ConnectionTrait, today: Today) -> ApiResult<DashboardSummary> {
    let overall = dashboard_tally::Entity::find()
        .filter(dashboard_tally::Column::FundId.eq(ALL_FUNDS))
        .filter(
            dashboard_tally::Column::Dimension.is_in([Dimension::ProjectStatus.as_str(), Dimension::Country.as_str()]),
        )
        .filter(dashboard_tally::Column::Projects.ne(0))
        .all(db)
        .await?;
    let in_dimension = |d: Dimension| overall.iter().filter(move |r| r.dimension == d.as_str());
    let projects: Vec<(String, i64)> = in_dimension(Dimension::ProjectStatus)
        .map(|r| (r.key.clone(), r.projects))
        .collect();
    let countries = in_dimension(Dimension::Country).count() as u64;
    let grants = grant_counts(db, None).await?;
    let funds = fund::Entity::find().all(db).await?;
    let balances: HashMap<Uuid, Balances> = fund_balance::Entity::find()
        .all(db)
        .await?
        .iter()
        .map(|b| (b.fund_id, balances_of(b)))
        .collect();
    let fund_views = funds
        .iter()
        .map(|f| {
            let counts = grants.get(&f.id).map_or(&[][..], Vec::as_slice);
            fund_summary(f, balances.get(&f.id).copied().unwrap_or_default(), counts)
        })
        .collect::<ApiResult<Vec<_>>>()?;

    // Each project's milestones are judged on its own today, unless `as_of` is given.
    let milestones = milestone_figures(db, today).await?;
    Ok(DashboardSummary {
        as_of: today.shown(),
        projects_by_status: counts_by(ProjectStatus::VARIANTS, ProjectStatus::as_str, &projects),
        grants_by_status: counts_by(
            GrantStatus::VARIANTS,
            GrantStatus::as_str,
            grants.get(&ALL_FUNDS).map_or(&[][..], Vec::as_slice),
        ),
        funds: fund_views,
        milestones,
        institutions: institution::Entity::find().count(db).await?,
        countries,
    })
}

/// The dimension of a breakdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Country,
    Alliance,
    Sector,
    Year,
    Institution,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// country (ISO code), alliance (id), sector, year (projects by planned start, grants by decision),
    /// institution (projects by participant, grants by recipient).
    by: By,
    /// Only grants of this fund, and projects it funds.
    fund_id: Option<Uuid>,
}

/// One key of a breakdown. Rows may overlap: a project in two countries
/// counts in both countries' rows.
#[derive(Serialize, ToSchema)]
pub struct BreakdownRow {
    /// ISO country code, alliance id, sector, year or institution id; null for projects with no alliance.
    pub key: Option<String>,
    pub label: String,
    /// Alliances and institutions: the name in every language it has (`label` is its English form).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ShortText>)]
    pub name: Option<serde_json::Value>,
    pub projects: u64,
    /// All grants of the key, whatever their status.
    pub grants: u64,
    /// Sum of approved, active and completed grants, one item per currency.
    pub awarded: Vec<Money>,
    /// Net disbursed on the key's grants, one item per currency.
    pub disbursed: Vec<Money>,
}

#[derive(Serialize, ToSchema)]
pub struct Breakdown {
    #[schema(value_type = String, example = "country")]
    pub by: &'static str,
    pub rows: Vec<BreakdownRow>,
}

impl Versioned for Breakdown {
    fn version(&self) -> Option<i32> {
        None
    }
}

impl From<By> for Dimension {
    fn from(by: By) -> Dimension {
        match by {
            By::Country => Dimension::Country,
            By::Alliance => Dimension::Alliance,
            By::Sector => Dimension::Sector,
            By::Year => Dimension::Year,
            By::Institution => Dimension::Institution,
        }
    }
}

#[derive(Default)]
struct Tally {
    projects: u64,
    grants: u64,
    awarded: Vec<Money>,
    disbursed: Vec<Money>,
}

#[utoipa::path(get, path = "/dashboard/breakdown", tag = "dashboard", params(BreakdownQuery),
    responses((status = 200, description = "Projects, grants and money per key; rows may overlap (a project in two countries counts in both)", body = Breakdown)))]
async fn breakdown(State(state): State<AppState>, caller: Caller, Query(q): Query<BreakdownQuery>) -> ApiResult<Reply> {
    caller.require_staff()?;
    Ok(Reply::ok(&breakdown_of(&state.db, q.by, q.fund_id).await?))
}

async fn breakdown_of(db: &impl ConnectionTrait, by: By, fund_id: Option<Uuid>) -> ApiResult<Breakdown> {
    let dimension = Dimension::from(by);
    // The nil UUID names no fund (the tallies use it for "all funds").
    if fund_id == Some(ALL_FUNDS) {
        let by = dimension.as_str();
        return Ok(Breakdown { by, rows: Vec::new() });
    }
    let tallied = dashboard_tally::Entity::find()
        .filter(dashboard_tally::Column::FundId.eq(fund_id.unwrap_or(ALL_FUNDS)))
        .filter(dashboard_tally::Column::Dimension.eq(dimension.as_str()))
        .filter(
            Condition::any()
                .add(dashboard_tally::Column::Projects.ne(0))
                .add(dashboard_tally::Column::Grants.ne(0)),
        )
        .order_by_asc(dashboard_tally::Column::Key)
        .order_by_asc(dashboard_tally::Column::Currency)
        .all(db)
        .await?;
    let mut rows: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for r in tallied {
        // `''` is the key of projects with no alliance.
        let tally = rows.entry(Some(r.key).filter(|k| !k.is_empty())).or_default();
        if r.currency.is_empty() {
            tally.projects = r.projects.max(0) as u64;
        } else {
            tally.grants += r.grants.max(0) as u64;
            tally.awarded.push(stored(r.awarded_minor, &r.currency)?);
            tally.disbursed.push(stored(r.disbursed_minor, &r.currency)?);
        }
    }
    let labels = labels(db, by, rows.keys().flatten()).await?;
    let rows = rows
        .into_iter()
        .map(|(key, t)| {
            let found = key.as_ref().and_then(|k| labels.get(k));
            BreakdownRow {
                label: match (found, &key) {
                    (Some(l), _) => l.text.clone(),
                    (None, Some(k)) => k.clone(),
                    (None, None) => "none".into(),
                },
                name: found.and_then(|l| l.name.clone()),
                key,
                projects: t.projects,
                grants: t.grants,
                awarded: t.awarded,
                disbursed: t.disbursed,
            }
        })
        .collect();
    Ok(Breakdown {
        by: dimension.as_str(),
        rows,
    })
}

/// A key's label, and for alliances and institutions their name in every language.
struct Label {
    text: String,
    name: Option<serde_json::Value>,
}

/// Human labels: English (or first) names of alliances and institutions,
/// English names of countries; sectors and years label themselves.
async fn labels<'a>(
    db: &impl ConnectionTrait,
    by: By,
    keys: impl Iterator<Item = &'a String>,
) -> ApiResult<HashMap<String, Label>> {
    let name = |v: serde_json::Value| -> Label {
        let text = v
            .get("en")
            .or_else(|| v.as_object().and_then(|o| o.values().next()))
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_owned();
        Label { text, name: Some(v) }
    };
    let ids: Vec<Uuid> = keys.filter_map(|k| k.parse().ok()).collect();
    Ok(match by {
        By::Alliance => alliance::Entity::find()
            .filter(alliance::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.id.to_string(), name(a.name)))
            .collect(),
        By::Institution => institution::Entity::find()
            .filter(institution::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|i| (i.id.to_string(), name(i.name)))
            .collect(),
        By::Country => isocountry::CountryCode::as_array()
            .iter()
            .map(|c| {
                let text = c.name().to_owned();
                (c.alpha2().to_owned(), Label { text, name: None })
            })
            .collect(),
        By::Sector | By::Year => HashMap::new(),
    })
}
