//! `/projects/{id}/status`: how a project stands, in one answer a partner
//! on a slow link can read at a glance. A fixed handful of queries, whatever
//! the number of milestones or grants.

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{Path, Query};
use super::ledger::stored;
use super::reply::{Reply, Versioned};
use crate::app::access::{self, Lock};
use crate::domain::Date;
use crate::domain::money::Money;
use crate::domain::status::{GrantStatus, MilestoneStatus, ProjectStatus};
use crate::domain::{Code, ShortText};
use crate::entities::{grant, milestone};
use crate::store::sum_minor;
use axum::extract::State;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

/// A milestone overdue by more than this makes a project `delayed`, not just `at_risk`.
pub const DELAYED_AFTER_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(project_status))
}

/// `completed` and `cancelled` follow the project; otherwise `delayed` (a
/// milestone missed, or overdue by more than 30 days), `at_risk` (a
/// milestone overdue) or `on_track`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Completed,
    Cancelled,
    Delayed,
    AtRisk,
    OnTrack,
}

/// The one rule for a project's health.
pub fn health(status: ProjectStatus, missed: u64, overdue: u64, oldest_overdue_days: Option<i64>) -> Health {
    match status {
        ProjectStatus::Completed => Health::Completed,
        ProjectStatus::Cancelled => Health::Cancelled,
        _ if missed > 0 || oldest_overdue_days.is_some_and(|d| d > DELAYED_AFTER_DAYS) => Health::Delayed,
        _ if overdue > 0 => Health::AtRisk,
        _ => Health::OnTrack,
    }
}

/// `achieved ÷ non-cancelled` with two places, half up; `"0.00"` with none.
pub fn progress(achieved: u64, total: u64, cancelled: u64) -> String {
    let counted = total.saturating_sub(cancelled);
    if counted == 0 {
        return "0.00".into();
    }
    let ratio = Decimal::from(achieved) / Decimal::from(counted);
    format!(
        "{:.2}",
        ratio.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    )
}

#[derive(Serialize, ToSchema, Default)]
pub struct MilestoneCounts {
    pub total: u64,
    pub planned: u64,
    pub in_progress: u64,
    pub achieved: u64,
    pub missed: u64,
    pub cancelled: u64,
    /// Open and due before `as_of`.
    pub overdue: u64,
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

#[utoipa::path(get, path = "/projects/{id}/status", tag = "projects", params(("id" = Uuid, Path), AsOf),
    responses((status = 200, description = "Health, milestones, progress and funding of the project", body = ProjectStatusView)))]
async fn project_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<AsOf>,
) -> ApiResult<Reply> {
    let project = access::project(&state.db, &caller, id, Lock::No).await?;
    // Without `as_of`, today in the project's own zone.
    let as_of = state.clock.today(q.as_of.map(Date::naive)).in_zone(&project.time_zone);
    let status = project.status;

    // A project has a handful of milestones: one query loads them and the
    // counts, overdue and next milestone follow in one pass.
    let milestones = milestone::Entity::find()
        .filter(milestone::Column::ProjectId.eq(id))
        .all(&state.db)
        .await?;
    let funding: Vec<(String, i64, i64)> = grant::Entity::find()
        .select_only()
        .column(grant::Column::Currency)
        .column_as(sum_minor(grant::Column::AmountMinor), "awarded")
        .column_as(sum_minor(grant::Column::DisbursedMinor), "disbursed")
        .filter(grant::Column::ProjectId.eq(id))
        .filter(grant::Column::Status.is_in(awarded_statuses()))
        .group_by(grant::Column::Currency)
        .order_by_asc(grant::Column::Currency)
        .into_tuple()
        .all(&state.db)
        .await?;

    let mut counts = MilestoneCounts::default();
    let mut oldest_due: Option<NaiveDate> = None;
    let mut next: Option<&milestone::Model> = None;
    for m in &milestones {
        let state = m.status;
        counts.total += 1;
        *match state {
            MilestoneStatus::Planned => &mut counts.planned,
            MilestoneStatus::InProgress => &mut counts.in_progress,
            MilestoneStatus::Achieved => &mut counts.achieved,
            MilestoneStatus::Missed => &mut counts.missed,
            MilestoneStatus::Cancelled => &mut counts.cancelled,
        } += 1;
        if state.is_overdue(m.due_on, as_of) {
            counts.overdue += 1;
            oldest_due = Some(oldest_due.map_or(m.due_on, |d| Ord::min(d, m.due_on)));
        }
        if state.is_open() && next.is_none_or(|n| (m.due_on, m.id) < (n.due_on, n.id)) {
            next = Some(m);
        }
    }
    let oldest_days = oldest_due.map(|d| (as_of - d).num_days());
    let view = ProjectStatusView {
        project_id: project.id,
        code: project.code,
        title: project.title,
        status: project.status,
        health: health(status, counts.missed, counts.overdue, oldest_days),
        progress: progress(counts.achieved, counts.total, counts.cancelled),
        milestones: counts,
        next_milestone: next.map(|m| NextMilestone {
            overdue: m.due_on < as_of,
            id: m.id,
            title: m.title.clone(),
            due_on: m.due_on,
            status: m.status,
        }),
        funding: funding
            .into_iter()
            .map(|(currency, awarded, disbursed)| {
                Ok(Funding {
                    awarded: stored(awarded, &currency)?,
                    disbursed: stored(disbursed, &currency)?,
                    remaining: stored(awarded - disbursed, &currency)?,
                })
            })
            .collect::<ApiResult<_>>()?,
        as_of,
        time_zone: project.time_zone.clone(),
    };
    Ok(Reply::ok(&view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rounds_half_up_to_two_places() {
        assert_eq!(progress(0, 0, 0), "0.00");
        assert_eq!(progress(1, 2, 0), "0.50");
        assert_eq!(progress(2, 3, 0), "0.67");
        assert_eq!(progress(1, 3, 0), "0.33");
        assert_eq!(progress(1, 4, 2), "0.50");
        assert_eq!(progress(0, 2, 2), "0.00");
    }

    #[test]
    fn health_follows_the_worst_milestone() {
        use ProjectStatus::*;
        assert_eq!(health(Completed, 3, 3, Some(90)), Health::Completed);
        assert_eq!(health(Cancelled, 0, 0, None), Health::Cancelled);
        assert_eq!(health(Active, 1, 0, None), Health::Delayed);
        assert_eq!(health(Active, 0, 1, Some(31)), Health::Delayed);
        assert_eq!(health(Active, 0, 1, Some(30)), Health::AtRisk);
        assert_eq!(health(Planned, 0, 0, None), Health::OnTrack);
    }
}
