//! What time it is, and what "today" means when a caller gives no `as_of`:
//! the date in each project's own zone, so that a partner in Tonga sees a
//! milestone due yesterday, Tonga time, as overdue while it is still that
//! day in UTC. Tests set the clock to a fixed instant.

use crate::domain::TimeZone;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// The service's clock: the system's, or a fixed instant (tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    fixed: Option<DateTime<Utc>>,
}

impl Clock {
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock { fixed: Some(at) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.fixed.unwrap_or_else(Utc::now)
    }

    /// "Today": the date asked for, else each zone's own date now.
    pub fn today(&self, as_of: Option<NaiveDate>) -> Today {
        match as_of {
            Some(d) => Today::On(d),
            None => Today::InEachZone(self.now()),
        }
    }
}

/// The day figures are judged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Today {
    /// One date for everything (`as_of`).
    On(NaiveDate),
    /// Each project's own date at this instant.
    InEachZone(DateTime<Utc>),
}

impl Today {
    /// The date in `zone` (a stored zone name; an unknown one counts as UTC).
    pub fn in_zone(&self, zone: &str) -> NaiveDate {
        match self {
            Today::On(d) => *d,
            Today::InEachZone(now) => TimeZone::try_from(zone.to_owned())
                .unwrap_or_else(|_| TimeZone::utc())
                .today(*now),
        }
    }

    /// The earliest and the latest date any zone is at (zones run from
    /// UTC−12 to UTC+14): dates before the first are past everywhere.
    pub fn span(&self) -> (NaiveDate, NaiveDate) {
        match self {
            Today::On(d) => (*d, *d),
            Today::InEachZone(now) => (
                (*now - chrono::Duration::hours(12)).date_naive(),
                (*now + chrono::Duration::hours(14)).date_naive(),
            ),
        }
    }

    /// The date a caller is told the figures are "as of": `as_of`, or the UTC date.
    pub fn shown(&self) -> NaiveDate {
        self.in_zone("UTC")
    }

    /// The zones grouped by their date today (at most three dates, since
    /// zones run from UTC−12 to UTC+14); one group with every zone (`None`)
    /// for a fixed date. A query then asks one question per date.
    pub fn groups(&self, zones: Vec<String>) -> Vec<(NaiveDate, Option<Vec<String>>)> {
        match self {
            Today::On(d) => vec![(*d, None)],
            Today::InEachZone(_) => {
                let mut by_date: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
                for z in zones {
                    by_date.entry(self.in_zone(&z)).or_default().push(z);
                }
                by_date.into_iter().map(|(d, zs)| (d, Some(zs))).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_nine_in_the_morning_in_tonga_it_is_still_yesterday_in_utc() {
        let clock = Clock::fixed("2025-03-14T20:00:00Z".parse().unwrap());
        let today = clock.today(None);
        assert_eq!(today.in_zone("Pacific/Tongatapu").to_string(), "2025-03-15");
        assert_eq!(today.in_zone("Asia/Shanghai").to_string(), "2025-03-15");
        assert_eq!(today.in_zone("UTC").to_string(), "2025-03-14");
        assert_eq!(today.in_zone("Pacific/Niue").to_string(), "2025-03-14");
        let groups = today.groups(vec!["Pacific/Tongatapu".into(), "UTC".into(), "Asia/Shanghai".into()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[1].1.as_deref(),
            Some(&["Pacific/Tongatapu".to_owned(), "Asia/Shanghai".to_owned()][..])
        );
        let fixed = clock.today(Some("2025-01-01".parse().unwrap()));
        assert_eq!(
            fixed.groups(vec!["UTC".into()]),
            vec![("2025-01-01".parse().unwrap(), None)]
        );
    }
}
