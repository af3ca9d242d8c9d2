//! How a project stands: its milestones judged on one day, and the one rule
//! that turns them into a health. The status page and the project list
//! (`include=health`) both judge through [`MilestoneCounts::add`] and
//! [`MilestoneCounts::health`], so the two can never disagree.

use super::status::{MilestoneStatus, ProjectStatus};
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use utoipa::ToSchema;

/// A milestone overdue by more than this makes a project `delayed`, not just `at_risk`.
pub const DELAYED_AFTER_DAYS: i64 = 30;

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

/// A project's milestones by status, judged on `as_of`.
#[derive(Serialize, ToSchema)]
pub struct MilestoneCounts {
    pub total: u64,
    pub planned: u64,
    pub in_progress: u64,
    pub achieved: u64,
    pub missed: u64,
    pub cancelled: u64,
    /// Open and due before `as_of`.
    pub overdue: u64,
    #[serde(skip)]
    as_of: NaiveDate,
    #[serde(skip)]
    oldest_overdue: Option<NaiveDate>,
}

impl MilestoneCounts {
    pub fn new(as_of: NaiveDate) -> Self {
        MilestoneCounts {
            total: 0,
            planned: 0,
            in_progress: 0,
            achieved: 0,
            missed: 0,
            cancelled: 0,
            overdue: 0,
            as_of,
            oldest_overdue: None,
        }
    }

    pub fn add(&mut self, status: MilestoneStatus, due_on: NaiveDate) {
        self.total += 1;
        *match status {
            MilestoneStatus::Planned => &mut self.planned,
            MilestoneStatus::InProgress => &mut self.in_progress,
            MilestoneStatus::Achieved => &mut self.achieved,
            MilestoneStatus::Missed => &mut self.missed,
            MilestoneStatus::Cancelled => &mut self.cancelled,
        } += 1;
        if status.is_overdue(due_on, self.as_of) {
            self.overdue += 1;
            self.oldest_overdue = Some(self.oldest_overdue.map_or(due_on, |d| d.min(due_on)));
        }
    }

    /// The one rule for a project's health. Only missed and overdue
    /// milestones can make it worse than `on_track`, so counts of just
    /// those give the same answer as counts of all.
    pub fn health(&self, project: ProjectStatus) -> Health {
        let oldest_days = self.oldest_overdue.map(|d| (self.as_of - d).num_days());
        match project {
            ProjectStatus::Completed => Health::Completed,
            ProjectStatus::Cancelled => Health::Cancelled,
            _ if self.missed > 0 || oldest_days.is_some_and(|d| d > DELAYED_AFTER_DAYS) => Health::Delayed,
            _ if self.overdue > 0 => Health::AtRisk,
            _ => Health::OnTrack,
        }
    }

    /// `achieved ÷ non-cancelled` with two places, half up; `"0.00"` with none.
    pub fn progress(&self) -> String {
        let counted = self.total.saturating_sub(self.cancelled);
        if counted == 0 {
            return "0.00".into();
        }
        let ratio = Decimal::from(self.achieved) / Decimal::from(counted);
        format!(
            "{:.2}",
            ratio.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MilestoneStatus::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn counts(milestones: &[(MilestoneStatus, NaiveDate)]) -> MilestoneCounts {
        let mut c = MilestoneCounts::new(day(31));
        for (status, due) in milestones {
            c.add(*status, *due);
        }
        c
    }

    #[test]
    fn progress_rounds_half_up_to_two_places() {
        assert_eq!(counts(&[]).progress(), "0.00");
        assert_eq!(counts(&[(Achieved, day(1)), (Planned, day(31))]).progress(), "0.50");
        assert_eq!(
            counts(&[(Achieved, day(1)), (Achieved, day(1)), (Planned, day(31))]).progress(),
            "0.67"
        );
        assert_eq!(
            counts(&[(Achieved, day(1)), (Planned, day(31)), (Planned, day(31))]).progress(),
            "0.33"
        );
        assert_eq!(
            counts(&[
                (Achieved, day(1)),
                (Planned, day(31)),
                (Cancelled, day(1)),
                (Cancelled, day(1))
            ])
            .progress(),
            "0.50"
        );
        assert_eq!(counts(&[(Cancelled, day(1)), (Cancelled, day(1))]).progress(), "0.00");
    }

    #[test]
    fn health_follows_the_worst_milestone() {
        use ProjectStatus::{Active, Cancelled, Completed};
        let overdue_31_days = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        let late = counts(&[(Missed, day(1)), (Planned, overdue_31_days)]);
        assert_eq!(late.overdue, 1);
        assert_eq!(late.health(Completed), Health::Completed);
        assert_eq!(counts(&[]).health(Cancelled), Health::Cancelled);
        assert_eq!(counts(&[(Missed, day(30))]).health(Active), Health::Delayed);
        assert_eq!(counts(&[(InProgress, overdue_31_days)]).health(Active), Health::Delayed);
        assert_eq!(
            counts(&[(InProgress, day(1))]).health(Active),
            Health::AtRisk,
            "30 days late"
        );
        assert_eq!(
            counts(&[(Planned, day(31)), (Achieved, day(1))]).health(ProjectStatus::Planned),
            Health::OnTrack
        );
    }
}
