//! Issue #7, fuzzing the parsers: whatever a client sends, parsing never
//! panics, and what it accepts is exactly what the rules allow (and what
//! both databases can store).

use crate::common::each_backend;
use axum::http::StatusCode;
use climate_tracker::domain::{Code, CountryCode, Currency, Date, Line, LongText, Money, Note, ShortText};
use climate_tracker::http::pagination::{Page, PageRequest};
use proptest::prelude::*;
use regex::Regex;
use serde_json::{Value, json};
use uuid::Uuid;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        // Failures found are kept below as named examples instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Currencies with 0, 2 and 3 decimal places.
fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec![
        "CNY", "VUV", "XPF", "JPY", "KWD", "BHD", "USD", "TOP", "FJD", "WST",
    ])
    .prop_map(|c| c.parse::<Currency>().expect("a real currency"))
}

/// What the rules allow: an optional minus, digits, and no more decimals
/// than the currency has, at most 10^15 in absolute value.
fn amount_is_valid(s: &str, places: u32) -> bool {
    let pattern = if places == 0 {
        "^-?[0-9]+$".to_owned()
    } else {
        format!("^-?[0-9]+(\\.[0-9]{{1,{places}}})?$")
    };
    if !Regex::new(&pattern).unwrap().is_match(s) {
        return false;
    }
    let digits = s.trim_start_matches('-');
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole.trim_start_matches('0');
    let limit = "1000000000000000";
    let frac_nonzero = frac.bytes().any(|b| b != b'0');
    !(whole.len() > limit.len() || (whole.len() == limit.len() && (whole > limit || frac_nonzero)))
}

/// The exact minor units a valid amount means, computed from its digits.
fn minor_units(s: &str, places: u32) -> i128 {
    let negative = s.starts_with('-');
    let digits = s.trim_start_matches('-');
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let padded = format!("{frac:0<width$}", width = places as usize);
    let whole: i128 = whole.trim_start_matches('0').parse().unwrap_or(0);
    let frac: i128 = padded.parse().unwrap_or(0);
    let value = whole * 10i128.pow(places) + frac;
    if negative { -value } else { value }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn money_parsing_never_panics(amount in any::<String>(), currency in currency()) {
        let _ = Money::parse(&amount, currency);
    }

    #[test]
    fn money_accepts_exactly_the_valid_amounts_and_round_trips(
        amount in "-?0{0,30}[0-9]{0,18}(\\.[0-9]{0,5})?|[-+ .,_eE0-9]{0,12}",
        currency in currency(),
    ) {
        let places = currency.minor_digits();
        let parsed = Money::parse(&amount, currency);
        prop_assert_eq!(parsed.is_ok(), amount_is_valid(&amount, places), "{:?} in {}: {:?}", amount, currency, parsed);
        if let Ok(money) = parsed {
            prop_assert_eq!(i128::from(money.minor()), minor_units(&amount, places));
            // Written back with exactly the currency's decimals, it reads back the same.
            let text = money.amount().to_string();
            let decimals = text.split_once('.').map_or(0, |(_, f)| f.len() as u32);
            prop_assert_eq!(decimals, places, "{}", text);
            prop_assert_eq!(Money::parse(&text, currency), Ok(money));
            let json = serde_json::to_value(money).unwrap();
            prop_assert_eq!(serde_json::from_value::<Money>(json).unwrap(), money);
        }
    }

    #[test]
    fn money_from_any_json_is_a_value_or_an_error(
        amount in prop_oneof![any::<String>().prop_map(Value::from), any::<f64>().prop_map(|f| json!(f)), Just(Value::Null)],
        currency in prop_oneof![any::<String>(), "[A-Z]{3}"],
    ) {
        let _ = serde_json::from_value::<Money>(json!({"amount": amount, "currency": currency}));
    }

    #[test]
    fn a_currency_is_three_capital_letters_with_a_minor_unit(s in "[A-Z]{3}|[A-Za-z]{3}|\\PC{0,5}") {
        if let Ok(c) = s.parse::<Currency>() {
            let upper3 = Regex::new("^[A-Z]{3}$").unwrap();
            prop_assert!(upper3.is_match(&s), "{:?}", s);
            prop_assert_eq!(c.code(), s.as_str());
            prop_assert!(c.minor_digits() <= 3, "10^15 of it must fit in i64 minor units");
        }
    }

    #[test]
    fn a_code_is_accepted_exactly_when_it_matches_the_pattern(s in "[a-z0-9-]{0,70}|[a-zA-Z0-9_ -]{1,10}|\\PC{0,10}") {
        let pattern = Regex::new("^[a-z0-9][a-z0-9-]{1,62}$").unwrap();
        let parsed = Code::try_from(s.clone());
        prop_assert_eq!(parsed.is_ok(), pattern.is_match(&s), "{:?}", s);
    }

    #[test]
    fn a_country_is_a_real_upper_case_alpha2_code(s in "[A-Za-z]{2}|\\PC{0,4}") {
        if let Ok(c) = s.parse::<CountryCode>() {
            let upper2 = Regex::new("^[A-Z]{2}$").unwrap();
            prop_assert!(upper2.is_match(&s), "{:?}", s);
            prop_assert_eq!(c.as_str(), s.as_str());
            prop_assert_eq!(serde_json::to_value(c).unwrap(), json!(s));
        }
    }

    #[test]
    fn a_cursor_is_only_one_this_service_issued(s in "[A-Za-z0-9_-]{20,24}|\\PC{0,30}", limit in any::<u64>()) {
        match PageRequest::parse(Some(limit), Some(&s)) {
            Ok(page) if s.is_empty() => prop_assert!(page.after.is_none()),
            Ok(page) => {
                prop_assert!((1..=200).contains(&limit));
                let id = page.after.expect("a cursor means a position");
                // Only the cursor the service would write for that position.
                prop_assert_eq!(cursor_for(id), s.clone());
                prop_assert_eq!(id.get_version_num(), 7, "{:?} is not an id of ours", s);
            }
            Err(_) => {}
        }
    }

    #[test]
    fn sixteen_random_bytes_are_not_a_cursor(bytes in any::<[u8; 16]>()) {
        use base64::Engine;
        let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if let Ok(page) = PageRequest::parse(None, Some(&s)) {
            prop_assert_eq!(page.after.map(|id| id.get_version_num()), Some(7), "{:?} accepted", s);
        }
    }

    #[test]
    fn cursors_the_service_writes_read_back(millis in 0u64..=(1u64 << 47), random in any::<[u8; 10]>()) {
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        let page = PageRequest::parse(Some(10), Some(&cursor_for(id))).unwrap();
        prop_assert_eq!(page.after, Some(id));
    }

    #[test]
    fn localized_text_accepts_only_tagged_non_blank_storable_text(
        entries in prop::collection::btree_map(
            prop_oneof!["[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}", "\\PC{0,12}"],
            prop_oneof!["\\PC{0,40}", "[ \t\n\r\u{0}\u{7}\u{1b}\u{7f}\u{85}a-z]{0,10}", "x{499,502}"],
            0..4,
        ),
    ) {
        let tag = Regex::new("^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$").unwrap();
        let short = serde_json::from_value::<ShortText>(json!(entries));
        let long = serde_json::from_value::<LongText>(json!(entries));
        if let Ok(text) = &short {
            prop_assert!(!entries.is_empty());
            for (k, v) in text.entries() {
                prop_assert!(tag.is_match(k), "{:?}", k);
                prop_assert!(!v.trim().is_empty());
                prop_assert!(v.chars().count() <= 500);
                prop_assert!(storable(v), "{:?}", v);
            }
            prop_assert!(long.is_ok(), "what a name may hold, a description may too");
        }
        if let Ok(text) = &long {
            for v in text.entries().values() {
                prop_assert!(storable(v), "{:?}", v);
            }
        }
    }

    #[test]
    fn plain_text_is_non_blank_bounded_and_storable(s in prop_oneof!["\\PC{0,40}", "[ \t\n\r\u{0}\u{7}\u{1b}a]{0,8}"]) {
        if let Ok(line) = serde_json::from_value::<Line>(json!(s)) {
            prop_assert!(!line.as_str().trim().is_empty());
            prop_assert!(storable(line.as_str()), "{:?}", s);
        }
        if let Ok(note) = serde_json::from_value::<Note>(json!(s)) {
            prop_assert!(storable(note.as_str()), "{:?}", s);
        }
    }
}

/// Text PostgreSQL can keep in `text` and `jsonb` (no NUL), without
/// invisible control characters; tabs and line breaks are fine.
fn storable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// The cursor the service writes after the row `id`.
fn cursor_for(id: Uuid) -> String {
    let request = PageRequest::parse(Some(1), None).unwrap();
    let page = Page::from_rows(vec![id, id], request, |r| *r, |r| r);
    page.next_cursor.expect("a second row means a next page")
}

#[test]
fn money_edge_cases() {
    let cny: Currency = "CNY".parse().unwrap();
    for (input, ok) in [
        ("-0", true),
        ("-0.00", true),
        ("0000000000000000000000000000000000000000001.00", true),
        ("1000000000000000.00", true),
        ("1000000000000000.01", false),
        ("99999999999999999999999999999", false),
        ("1.", false),
        (".1", false),
        ("", false),
        ("-", false),
        ("١٢٣", false),
    ] {
        assert_eq!(Money::parse(input, cny).is_ok(), ok, "{input:?}");
    }
}

// ---- Dates, and what reaches the database --------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_date_is_exactly_yyyy_mm_dd_in_years_0001_to_9999(
        s in "[-+ ]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}[ T]?|[0-9]{4}-[0-9]{2}-[0-9]{2}|\\PC{0,12}",
    ) {
        let shape = Regex::new("^[0-9]{4}-[0-9]{2}-[0-9]{2}$").unwrap();
        let real = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok();
        let parsed = serde_json::from_value::<Date>(json!(s));
        let valid = shape.is_match(&s) && real.is_some() && !s.starts_with("0000");
        prop_assert_eq!(parsed.is_ok(), valid, "{:?}: {:?}", s, parsed);
        if let Ok(date) = parsed {
            prop_assert_eq!(date.to_string(), s.clone());
            prop_assert_eq!(Some(date.naive()), real);
        }
    }
}

#[tokio::test]
async fn what_the_parsers_refuse_never_reaches_the_database() {
    each_backend(|app| async move {
        let nul = app
            .post(
                "/api/v1/institutions",
                json!({"code": "nul", "name": {"en": "a\u{0}b"}, "kind": "ngo", "country": "TO", "city": "x\u{0}"}),
            )
            .await;
        assert_eq!(nul.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nul.body);
        let fields = nul.fields();
        assert!(
            fields.iter().any(|f| f.starts_with("name")) && fields.contains(&"city".to_owned()),
            "{fields:?}"
        );

        for (date, field) in [
            ("-9999-01-01", "founded_on"),
            ("2024-1-5", "founded_on"),
            ("+2024-01-05", "founded_on"),
        ] {
            let r = app
                .post(
                    "/api/v1/alliances",
                    json!({"code": "dated", "name": {"en": "A"}, "founded_on": date, "focus_areas": []}),
                )
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{date}: {}", r.body);
            assert_eq!(r.fields(), vec![field.to_owned()]);
        }
        let r = app.get("/api/v1/milestones?as_of=-9999-01-01").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

        // Free-text filters are not parsed, but a NUL in one is never a 500.
        for path in ["/api/v1/institutions?q=a%00b", "/api/v1/audit-events?entity_type=a%00b"] {
            let r = app.get(path).await;
            assert!(
                r.status == StatusCode::OK || r.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path}: {} {}",
                r.status,
                r.body
            );
        }
    })
    .await;
}

#[test]
fn in_every_accepted_currency_the_largest_amount_fits() {
    let letters = b'A'..=b'Z';
    for a in letters.clone() {
        for b in letters.clone() {
            for c in letters.clone() {
                let code = String::from_utf8(vec![a, b, c]).unwrap();
                let Ok(currency) = code.parse::<Currency>() else {
                    continue;
                };
                let places = currency.minor_digits() as usize;
                let largest = if places == 0 {
                    "1000000000000000".to_owned()
                } else {
                    format!("999999999999999.{}", "9".repeat(places))
                };
                for amount in ["1000000000000000".to_owned(), largest] {
                    let parsed = Money::parse(&amount, currency);
                    assert!(parsed.is_ok(), "{amount} {code}: {parsed:?}");
                }
            }
        }
    }
}
