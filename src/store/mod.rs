//! Persistence that is more than one row: the fund's books and the
//! dashboards' tallies.

pub mod books;
pub mod tallies;
