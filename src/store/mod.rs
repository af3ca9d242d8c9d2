//! Persistence that is more than one row: the fund's books.

pub mod books;
