//! The fund's books: running balances and the movements that change them.
//!
//! All amounts are minor units (`i64`). `available = contributed − disbursed
//! − committed`, where `committed` is, over approved and active grants, the
//! award minus what was paid net. Each rule about a fund's money is one
//! function here; the store only locks, calls them and writes the result.

use super::kinds::vocabulary;
use super::status::GrantStatus;
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

vocabulary!(
    /// The kind of a ledger entry.
    EntryKind { Contribution, Commitment, CommitmentRelease, Disbursement, Reversal }
);

/// Why a movement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Approving needs `available ≥ amount`.
    InsufficientFunds { available: i64, needed: i64 },
    /// Paying would take a grant's (or tranche's) net disbursed past its amount.
    OverDisbursement { limit: i64, already: i64, requested: i64 },
    /// A total would leave the range the books can hold exactly.
    OutOfRange,
}

/// A movement of a fund's money, in minor units (always positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Money in.
    Contribution(i64),
    /// A grant approved: its amount is set aside.
    Commitment(i64),
    /// A grant cancelled or completed with money left: the rest is freed.
    CommitmentRelease(i64),
    /// Money out on a grant that holds a commitment: paid from it.
    Disbursement(i64),
    /// A disbursement undone. `recommit` when its grant still holds a
    /// commitment (approved/active): the money returns to the grant;
    /// otherwise it returns to `available`.
    Reversal { amount: i64, recommit: bool },
}

impl Movement {
    pub fn kind(self) -> EntryKind {
        match self {
            Movement::Contribution(_) => EntryKind::Contribution,
            Movement::Commitment(_) => EntryKind::Commitment,
            Movement::CommitmentRelease(_) => EntryKind::CommitmentRelease,
            Movement::Disbursement(_) => EntryKind::Disbursement,
            Movement::Reversal { .. } => EntryKind::Reversal,
        }
    }

    pub fn amount(self) -> i64 {
        match self {
            Movement::Contribution(a)
            | Movement::Commitment(a)
            | Movement::CommitmentRelease(a)
            | Movement::Disbursement(a)
            | Movement::Reversal { amount: a, .. } => a,
        }
    }
}

/// A fund's running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balances {
    pub contributed: i64,
    /// Net of reversals.
    pub disbursed: i64,
    pub committed: i64,
}

fn add(a: i64, b: i64) -> Result<i64, Refusal> {
    a.checked_add(b).ok_or(Refusal::OutOfRange)
}

fn sub(a: i64, b: i64) -> Result<i64, Refusal> {
    a.checked_sub(b).ok_or(Refusal::OutOfRange)
}

impl Balances {
    pub fn cash(&self) -> i64 {
        self.contributed - self.disbursed
    }

    pub fn available(&self) -> i64 {
        self.contributed - self.disbursed - self.committed
    }

    /// The balances after `m`, or why `m` is refused.
    pub fn apply(self, m: Movement) -> Result<Balances, Refusal> {
        let mut b = self;
        match m {
            Movement::Contribution(a) => b.contributed = add(b.contributed, a)?,
            Movement::Commitment(a) => {
                if self.available() < a {
                    return Err(Refusal::InsufficientFunds {
                        available: self.available(),
                        needed: a,
                    });
                }
                b.committed = add(b.committed, a)?;
            }
            Movement::CommitmentRelease(a) => b.committed = sub(b.committed, a)?,
            Movement::Disbursement(a) => {
                b.disbursed = add(b.disbursed, a)?;
                b.committed = sub(b.committed, a)?;
            }
            Movement::Reversal { amount, recommit } => {
                b.disbursed = sub(b.disbursed, amount)?;
                if recommit {
                    b.committed = add(b.committed, amount)?;
                }
            }
        }
        Ok(b)
    }
}

/// What moving a grant from `from` to `to` does to its fund's books, given
/// its amount and what was paid on it net: approving commits the amount;
/// cancelling or completing a grant that holds a commitment frees what
/// was not paid.
pub fn grant_movement(from: GrantStatus, to: GrantStatus, amount: i64, disbursed: i64) -> Option<Movement> {
    match to {
        GrantStatus::Approved => Some(Movement::Commitment(amount)),
        GrantStatus::Cancelled | GrantStatus::Completed if from.holds_commitment() && amount > disbursed => {
            Some(Movement::CommitmentRelease(amount - disbursed))
        }
        _ => None,
    }
}

/// Net disbursed may never pass the amount awarded (of a grant, or of a
/// tranche): the one check for "net disbursed ≤ award".
pub fn check_payable(limit: i64, already: i64, requested: i64) -> Result<(), Refusal> {
    match already.checked_add(requested) {
        Some(total) if total <= limit => Ok(()),
        _ => Err(Refusal::OverDisbursement {
            limit,
            already,
            requested,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_needs_available_money() {
        let b = Balances::default().apply(Movement::Contribution(100)).unwrap();
        assert_eq!(
            b.apply(Movement::Commitment(101)),
            Err(Refusal::InsufficientFunds {
                available: 100,
                needed: 101
            })
        );
        let b = b.apply(Movement::Commitment(100)).unwrap();
        assert_eq!(b.available(), 0);
    }

    #[test]
    fn paying_moves_commitment_to_disbursed_and_keeps_available() {
        let b = Balances::default()
            .apply(Movement::Contribution(100))
            .and_then(|b| b.apply(Movement::Commitment(60)))
            .and_then(|b| b.apply(Movement::Disbursement(25)))
            .unwrap();
        assert_eq!((b.cash(), b.committed, b.available()), (75, 35, 40));
        let back = b
            .apply(Movement::Reversal {
                amount: 25,
                recommit: true,
            })
            .unwrap();
        assert_eq!((back.cash(), back.committed, back.available()), (100, 60, 40));
        let freed = b.apply(Movement::CommitmentRelease(35)).unwrap();
        assert_eq!(freed.available(), 75);
        let late = freed
            .apply(Movement::Reversal {
                amount: 25,
                recommit: false,
            })
            .unwrap();
        assert_eq!(late.available(), 100);
    }

    #[test]
    fn approving_commits_and_closing_frees_what_was_not_paid() {
        use GrantStatus::*;
        assert_eq!(
            grant_movement(Submitted, Approved, 100, 0),
            Some(Movement::Commitment(100))
        );
        assert_eq!(
            grant_movement(Active, Completed, 100, 60),
            Some(Movement::CommitmentRelease(40))
        );
        assert_eq!(
            grant_movement(Approved, Cancelled, 100, 0),
            Some(Movement::CommitmentRelease(100))
        );
        assert_eq!(grant_movement(Active, Completed, 100, 100), None);
        assert_eq!(grant_movement(Draft, Withdrawn, 100, 0), None);
        assert_eq!(grant_movement(Submitted, Rejected, 100, 0), None);
    }

    #[test]
    fn net_disbursed_never_passes_the_award() {
        assert!(check_payable(100, 90, 10).is_ok());
        assert!(check_payable(100, 90, 11).is_err());
        assert!(check_payable(i64::MAX, i64::MAX, 1).is_err());
    }
}
