//! Life cycles: each status enum knows the moves it allows, so the rule
//! "which transition is legal" lives here and nowhere else.

use super::kinds::vocabulary;
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

vocabulary!(
    /// `planned→active|cancelled`, `active→on_hold|completed|cancelled`, `on_hold→active|cancelled`.
    ProjectStatus { Planned, Active, OnHold, Completed, Cancelled }
);

vocabulary!(
    /// A milestone starts `planned`; `achieved`, `missed` and `cancelled` are final.
    MilestoneStatus { Planned, InProgress, Achieved, Missed, Cancelled }
);

vocabulary!(
    /// `draft→submitted|withdrawn`, `submitted→approved|rejected|withdrawn`,
    /// `approved→active|cancelled`, `active→completed|cancelled`.
    GrantStatus { Draft, Submitted, Approved, Active, Completed, Rejected, Withdrawn, Cancelled }
);

/// A status move the life cycle does not allow, and why (409 `invalid_transition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMove(pub String);

fn refuse<S: Copy + Into<&'static str>>(what: &str, from: S, to: S) -> InvalidMove {
    InvalidMove(format!("a {what} cannot move from {} to {}", from.into(), to.into()))
}

impl ProjectStatus {
    pub fn can_move_to(self, to: ProjectStatus) -> bool {
        use ProjectStatus::*;
        matches!(
            (self, to),
            (Planned, Active | Cancelled) | (Active, OnHold | Completed | Cancelled) | (OnHold, Active | Cancelled)
        )
    }

    pub fn check_move(self, to: ProjectStatus) -> Result<(), InvalidMove> {
        if self.can_move_to(to) {
            Ok(())
        } else {
            Err(refuse("project", self, to))
        }
    }

    /// Moving here starts the work: `actual_start` is today unless recorded already.
    pub fn starts_work(self) -> bool {
        self == ProjectStatus::Active
    }

    /// Moving here ends the work: `actual_end` is today unless recorded already.
    pub fn ends_work(self) -> bool {
        self == ProjectStatus::Completed
    }
}

impl MilestoneStatus {
    /// Moves made through `/transitions`; `achieved` is reached only through `/achieve`.
    pub fn can_move_to(self, to: MilestoneStatus) -> bool {
        use MilestoneStatus::*;
        matches!(
            (self, to),
            (Planned, InProgress | Missed | Cancelled) | (InProgress, Missed | Cancelled)
        )
    }

    /// A move through `/transitions`; `achieved` needs its evidence, so it has its own action.
    pub fn check_move(self, to: MilestoneStatus) -> Result<(), InvalidMove> {
        if to == MilestoneStatus::Achieved {
            return Err(InvalidMove(
                "a milestone is achieved through POST /milestones/{id}/achieve, with its evidence".into(),
            ));
        }
        if self.can_move_to(to) {
            Ok(())
        } else {
            Err(refuse("milestone", self, to))
        }
    }

    pub fn check_achievable(self) -> Result<(), InvalidMove> {
        if self.can_be_achieved() {
            Ok(())
        } else {
            Err(InvalidMove(format!(
                "a milestone that is {} cannot be achieved",
                self.as_str()
            )))
        }
    }

    pub fn can_be_achieved(self) -> bool {
        matches!(self, MilestoneStatus::Planned | MilestoneStatus::InProgress)
    }

    /// Still open: counts towards overdue and the next milestone.
    pub fn is_open(self) -> bool {
        self.can_be_achieved()
    }

    /// Still open on `as_of` though due before it.
    pub fn is_overdue(self, due_on: chrono::NaiveDate, as_of: chrono::NaiveDate) -> bool {
        self.is_open() && due_on < as_of
    }
}

impl GrantStatus {
    pub fn can_move_to(self, to: GrantStatus) -> bool {
        use GrantStatus::*;
        matches!(
            (self, to),
            (Draft, Submitted | Withdrawn)
                | (Submitted, Approved | Rejected | Withdrawn)
                | (Approved, Active | Cancelled)
                | (Active, Completed | Cancelled)
        )
    }

    pub fn check_move(self, to: GrantStatus) -> Result<(), InvalidMove> {
        if self.can_move_to(to) {
            Ok(())
        } else {
            Err(refuse("grant", self, to))
        }
    }

    /// Moving here is the fund's decision: `decided_on` is today.
    pub fn is_decision(self) -> bool {
        matches!(self, GrantStatus::Approved | GrantStatus::Rejected)
    }

    /// The status after a payment: the first payment makes an approved grant active.
    pub fn after_payment(self) -> GrantStatus {
        match self {
            GrantStatus::Approved => GrantStatus::Active,
            other => other,
        }
    }

    /// Only a grant still being prepared may be edited.
    pub fn is_editable(self) -> bool {
        matches!(self, GrantStatus::Draft | GrantStatus::Submitted)
    }

    /// Approved money is committed: it counts against the fund and may be paid.
    pub fn holds_commitment(self) -> bool {
        matches!(self, GrantStatus::Approved | GrantStatus::Active)
    }

    /// Counts as awarded in status summaries, breakdowns and exports.
    pub fn is_awarded(self) -> bool {
        matches!(
            self,
            GrantStatus::Approved | GrantStatus::Active | GrantStatus::Completed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn project_final_states_allow_no_move() {
        for to in ProjectStatus::VARIANTS {
            assert!(!ProjectStatus::Completed.can_move_to(*to));
            assert!(!ProjectStatus::Cancelled.can_move_to(*to));
        }
        assert!(ProjectStatus::Planned.can_move_to(ProjectStatus::Active));
        assert!(!ProjectStatus::Planned.can_move_to(ProjectStatus::Completed));
        assert!(ProjectStatus::OnHold.can_move_to(ProjectStatus::Active));
    }

    #[test]
    fn milestones_are_achieved_only_through_achieve() {
        for from in MilestoneStatus::VARIANTS {
            assert!(!from.can_move_to(MilestoneStatus::Achieved));
            assert!(!from.can_move_to(MilestoneStatus::Planned));
        }
    }

    #[test]
    fn grant_moves_follow_the_spec() {
        use GrantStatus::*;
        let allowed = [
            (Draft, Submitted),
            (Draft, Withdrawn),
            (Submitted, Approved),
            (Submitted, Rejected),
            (Submitted, Withdrawn),
            (Approved, Active),
            (Approved, Cancelled),
            (Active, Completed),
            (Active, Cancelled),
        ];
        for from in GrantStatus::VARIANTS {
            for to in GrantStatus::VARIANTS {
                assert_eq!(
                    from.can_move_to(*to),
                    allowed.contains(&(*from, *to)),
                    "{from:?}->{to:?}"
                );
            }
        }
    }
}
