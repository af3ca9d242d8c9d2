//! `/dashboard/summary` and `/dashboard/breakdown`: the whole cooperation at
//! a glance. Each answer is a fixed number of grouped queries (no query per
//! row), so its cost does not grow with the number of funds or keys.

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Query;
use super::ledger::{FundSummary, fund_summary, stored};
use super::milestones::{open_statuses, overdue_condition};
use super::reply::{Reply, Versioned};
use super::status::{awarded_statuses, sum_minor};
use crate::domain::Date;
use crate::domain::ledger::Balances;
use crate::domain::money::Money;
use crate::domain::status::{GrantStatus, MilestoneStatus, ProjectStatus};
use crate::entities::{
    alliance, fund, fund_balance, grant, institution, milestone, participant, project, project_country,
};
use crate::store::books::balances_of;
use axum::extract::State;
use chrono::{Days, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, IntoColumnRef, Query as SqlQuery, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryResult, QuerySelect, Select,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary)).routes(routes!(breakdown))
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
    /// The day figures are judged on; default today (UTC).
    as_of: Option<Date>,
}

/// Every status of a vocabulary with its count (0 when absent).
fn counts_by<S: Copy + 'static>(
    variants: &'static [S],
    name: fn(S) -> &'static str,
    rows: &[(String, i64)],
) -> BTreeMap<&'static str, u64> {
    variants
        .iter()
        .map(|s| {
            let key = name(*s);
            let n = rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n as u64);
            (key, n)
        })
        .collect()
}

async fn count(db: &impl ConnectionTrait, select: Select<milestone::Entity>) -> ApiResult<u64> {
    Ok(select.count(db).await?)
}

#[utoipa::path(get, path = "/dashboard/summary", tag = "dashboard", params(AsOf),
    responses((status = 200, description = "Counts, funds and milestones across the cooperation", body = DashboardSummary)))]
async fn summary(State(state): State<AppState>, caller: Caller, Query(q): Query<AsOf>) -> ApiResult<Reply> {
    caller.require_staff()?;
    let as_of = q.as_of.map(Date::naive).unwrap_or_else(|| Utc::now().date_naive());
    let db = &state.db;
    let projects: Vec<(String, i64)> = project::Entity::find()
        .select_only()
        .column(project::Column::Status)
        .column_as(project::Column::Id.count(), "n")
        .group_by(project::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let grants: Vec<(Uuid, String, i64)> = grant::Entity::find()
        .select_only()
        .column(grant::Column::FundId)
        .column(grant::Column::Status)
        .column_as(grant::Column::Id.count(), "n")
        .group_by(grant::Column::FundId)
        .group_by(grant::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let funds = fund::Entity::find().all(db).await?;
    let balances: HashMap<Uuid, Balances> = fund_balance::Entity::find()
        .all(db)
        .await?
        .iter()
        .map(|b| (b.fund_id, balances_of(b)))
        .collect();

    let mut all_grants: BTreeMap<String, i64> = BTreeMap::new();
    for (_, status, n) in &grants {
        *all_grants.entry(status.clone()).or_default() += n;
    }
    let fund_views = funds
        .iter()
        .map(|f| {
            let counts: Vec<(String, i64)> = grants
                .iter()
                .filter(|(id, _, _)| *id == f.id)
                .map(|(_, s, n)| (s.clone(), *n))
                .collect();
            fund_summary(
                f.id,
                &f.currency,
                balances.get(&f.id).copied().unwrap_or_default(),
                &counts,
            )
        })
        .collect::<ApiResult<Vec<_>>>()?;

    let soon = as_of.checked_add_days(Days::new(30)).unwrap_or(as_of);
    let milestones = MilestoneFigures {
        overdue: count(db, milestone::Entity::find().filter(overdue_condition(as_of))).await?,
        due_next_30_days: count(
            db,
            milestone::Entity::find()
                .filter(milestone::Column::Status.is_in(open_statuses()))
                .filter(milestone::Column::DueOn.gte(as_of))
                .filter(milestone::Column::DueOn.lt(soon)),
        )
        .await?,
        achieved: count(
            db,
            milestone::Entity::find().filter(milestone::Column::Status.eq(MilestoneStatus::Achieved.as_str())),
        )
        .await?,
    };
    let countries: Option<i64> = project_country::Entity::find()
        .select_only()
        .column_as(Expr::col(project_country::Column::Country).count_distinct(), "n")
        .into_tuple()
        .one(db)
        .await?;
    let view = DashboardSummary {
        as_of,
        projects_by_status: counts_by(ProjectStatus::VARIANTS, ProjectStatus::as_str, &projects),
        grants_by_status: counts_by(
            GrantStatus::VARIANTS,
            GrantStatus::as_str,
            &all_grants.into_iter().collect::<Vec<_>>(),
        ),
        funds: fund_views,
        milestones,
        institutions: institution::Entity::find().count(db).await?,
        countries: countries.unwrap_or(0) as u64,
    };
    Ok(Reply::ok(&view))
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

/// A key as the breakdown shows it: ids are decoded as UUIDs, the rest as text.
enum KeyKind {
    Text,
    Id,
}

fn key_kind(by: By) -> KeyKind {
    match by {
        By::Alliance | By::Institution => KeyKind::Id,
        _ => KeyKind::Text,
    }
}

fn read_key(row: &QueryResult, kind: &KeyKind) -> ApiResult<Option<String>> {
    Ok(match kind {
        KeyKind::Id => row.try_get_by_index::<Option<Uuid>>(0)?.map(|u| u.to_string()),
        KeyKind::Text => row.try_get_by_index::<Option<String>>(0)?,
    })
}

/// The year of a date column, as text, on either backend (both render a
/// date as `YYYY-MM-DD` when cast to text).
fn year_of(col: impl IntoColumnRef) -> Expr {
    Func::cust("substr")
        .arg(Expr::col(col).cast_as("TEXT"))
        .arg(1)
        .arg(4)
        .into()
}

/// `GROUP BY 1, 2…`: by position, so the key expression (which may carry
/// bound parameters) is written once.
fn group_by_position(q: &mut SelectStatement, columns: usize) {
    q.add_group_by((1..=columns).map(|i| Expr::cust(i.to_string())));
}

/// Projects per key.
fn projects_query(by: By, fund: Option<Uuid>) -> SelectStatement {
    let mut q = SqlQuery::select();
    q.from(project::Entity);
    let key = match by {
        By::Country => {
            q.inner_join(
                project_country::Entity,
                Expr::col((project_country::Entity, project_country::Column::ProjectId))
                    .equals((project::Entity, project::Column::Id)),
            );
            Expr::col((project_country::Entity, project_country::Column::Country))
        }
        By::Institution => {
            q.inner_join(
                participant::Entity,
                Expr::col((participant::Entity, participant::Column::ProjectId))
                    .equals((project::Entity, project::Column::Id)),
            );
            Expr::col((participant::Entity, participant::Column::InstitutionId))
        }
        By::Alliance => Expr::col((project::Entity, project::Column::AllianceId)),
        By::Sector => Expr::col((project::Entity, project::Column::Sector)),
        By::Year => year_of((project::Entity, project::Column::PlannedStart)),
    };
    q.expr_as(key, "k")
        .expr_as(Expr::col((project::Entity, project::Column::Id)).count(), "n");
    if let Some(f) = fund {
        q.and_where(
            Expr::col((project::Entity, project::Column::Id)).in_subquery(
                SqlQuery::select()
                    .column(grant::Column::ProjectId)
                    .from(grant::Entity)
                    .and_where(Expr::col(grant::Column::FundId).eq(f))
                    .to_owned(),
            ),
        );
    }
    group_by_position(&mut q, 1);
    q
}

/// Grants per key and currency: count, awarded and net disbursed.
fn grants_query(by: By, fund: Option<Uuid>) -> SelectStatement {
    let mut q = SqlQuery::select();
    q.from(grant::Entity).inner_join(
        project::Entity,
        Expr::col((project::Entity, project::Column::Id)).equals((grant::Entity, grant::Column::ProjectId)),
    );
    let key = match by {
        By::Country => {
            q.inner_join(
                project_country::Entity,
                Expr::col((project_country::Entity, project_country::Column::ProjectId))
                    .equals((grant::Entity, grant::Column::ProjectId)),
            );
            Expr::col((project_country::Entity, project_country::Column::Country))
        }
        By::Institution => Expr::col((grant::Entity, grant::Column::RecipientInstitutionId)),
        By::Alliance => Expr::col((project::Entity, project::Column::AllianceId)),
        By::Sector => Expr::col((project::Entity, project::Column::Sector)),
        By::Year => {
            q.and_where(Expr::col((grant::Entity, grant::Column::DecidedOn)).is_not_null());
            year_of((grant::Entity, grant::Column::DecidedOn))
        }
    };
    let awarded = Expr::case(
        Expr::col((grant::Entity, grant::Column::Status)).is_in(awarded_statuses()),
        Expr::col((grant::Entity, grant::Column::AmountMinor)),
    )
    .finally(0i64);
    q.expr_as(key, "k")
        .expr_as(Expr::col((grant::Entity, grant::Column::Currency)), "currency")
        .expr_as(Expr::col((grant::Entity, grant::Column::Id)).count(), "n")
        .expr_as(
            Expr::expr(Func::sum(Expr::Case(Box::new(awarded)))).cast_as("BIGINT"),
            "awarded",
        )
        .expr_as(sum_minor((grant::Entity, grant::Column::DisbursedMinor)), "disbursed");
    if let Some(f) = fund {
        q.and_where(Expr::col((grant::Entity, grant::Column::FundId)).eq(f));
    }
    group_by_position(&mut q, 2);
    q
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
    let db = &state.db;
    let kind = key_kind(q.by);
    let mut rows: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for r in db.query_all(&projects_query(q.by, q.fund_id)).await? {
        let key = read_key(&r, &kind)?;
        rows.entry(key).or_default().projects = r.try_get_by_index::<i64>(1)? as u64;
    }
    for r in db.query_all(&grants_query(q.by, q.fund_id)).await? {
        let key = read_key(&r, &kind)?;
        let currency: String = r.try_get_by_index(1)?;
        let tally = rows.entry(key).or_default();
        tally.grants += r.try_get_by_index::<i64>(2)? as u64;
        tally.awarded.push(stored(r.try_get_by_index(3)?, &currency)?);
        tally.disbursed.push(stored(r.try_get_by_index(4)?, &currency)?);
    }
    let labels = labels(db, q.by, rows.keys().flatten()).await?;
    let rows = rows
        .into_iter()
        .map(|(key, t)| BreakdownRow {
            label: key
                .as_ref()
                .and_then(|k| labels.get(k).cloned())
                .unwrap_or_else(|| match &key {
                    Some(k) => k.clone(),
                    None => "none".into(),
                }),
            key,
            projects: t.projects,
            grants: t.grants,
            awarded: t.awarded,
            disbursed: t.disbursed,
        })
        .collect();
    let by = match q.by {
        By::Country => "country",
        By::Alliance => "alliance",
        By::Sector => "sector",
        By::Year => "year",
        By::Institution => "institution",
    };
    Ok(Reply::ok(&Breakdown { by, rows }))
}

/// Human labels: English (or first) names of alliances and institutions,
/// English names of countries; sectors and years label themselves.
async fn labels<'a>(
    db: &impl ConnectionTrait,
    by: By,
    keys: impl Iterator<Item = &'a String>,
) -> ApiResult<HashMap<String, String>> {
    let name = |v: &serde_json::Value| -> String {
        v.get("en")
            .or_else(|| v.as_object().and_then(|o| o.values().next()))
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let ids: Vec<Uuid> = keys.filter_map(|k| k.parse().ok()).collect();
    Ok(match by {
        By::Alliance => alliance::Entity::find()
            .filter(alliance::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.id.to_string(), name(&a.name)))
            .collect(),
        By::Institution => institution::Entity::find()
            .filter(institution::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|i| (i.id.to_string(), name(&i.name)))
            .collect(),
        By::Country => isocountry::CountryCode::as_array()
            .iter()
            .map(|c| (c.alpha2().to_owned(), c.name().to_owned()))
            .collect(),
        By::Sector | By::Year => HashMap::new(),
    })
}
