//! Calendar dates as clients send them: exactly `YYYY-MM-DD`.
//!
//! chrono's own parser is lenient (`2024-1-5`, ` 2024-01-05`, `+2024-01-05`
//! and `-9999-01-01` all pass), and PostgreSQL cannot store every year
//! chrono can, so a date from a client is read through this type: four-digit
//! years from 0001 to 9999, which both backends store and compare alike.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A date from a client, `YYYY-MM-DD`, years 0001 to 9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "NaiveDate")]
pub struct Date(NaiveDate);

impl Date {
    pub fn naive(self) -> NaiveDate {
        self.0
    }
}

impl std::str::FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shaped {
            return Err(format!("'{s}' is not a date written YYYY-MM-DD"));
        }
        match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if &s[..4] != "0000" => Ok(Date(d)),
            _ => Err(format!("'{s}' is not a date in the calendar (years 0001 to 9999)")),
        }
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Date> for NaiveDate {
    fn from(d: Date) -> NaiveDate {
        d.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl utoipa::__dev::ComposeSchema for Date {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .into()
    }
}

impl utoipa::ToSchema for Date {
    fn name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yyyy_mm_dd_in_years_0001_to_9999() {
        assert_eq!(
            "2024-10-28".parse::<Date>().map(Date::naive),
            NaiveDate::from_ymd_opt(2024, 10, 28).ok_or(String::new())
        );
        assert!("0001-01-01".parse::<Date>().is_ok());
        assert!("9999-12-31".parse::<Date>().is_ok());
        for bad in [
            "2024-1-5",
            " 2024-01-05",
            "2024-01-05 ",
            "+2024-01-05",
            "-0001-01-01",
            "0000-01-01",
            "2024-02-30",
            "12024-01-01",
            "2024/01/05",
            "2024-01-05T00:00",
            "２０２４-01-05",
            "",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad:?} accepted");
        }
    }
}
