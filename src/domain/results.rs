//! Results and indicators: what a project achieved, as exact numbers.
//!
//! The rules of an indicator's figures live here once: what a value may
//! be, how a percentage is made from its parts, which disaggregations add
//! up, and how a period's `actual` is computed from its approved updates
//! (SPEC §6). Nothing here passes through a float.

use super::kinds::vocabulary;
use super::status::InvalidMove;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strum::{EnumString, IntoStaticStr, VariantArray};

vocabulary!(
    /// What level of the results chain a result is (IATI ResultType 1, 2, 3, 9).
    ResultType { Output, Outcome, Impact, Other }
);

vocabulary!(
    /// How an indicator is measured (IATI IndicatorMeasure 1, 2, 5).
    Measure { Unit, Percentage, Qualitative }
);

vocabulary!(
    /// `draft→submitted`, `submitted→approved|returned`, `returned→submitted`; `approved` is final.
    UpdateStatus { Draft, Submitted, Approved, Returned }
);

impl ResultType {
    /// The IATI ResultType code.
    pub fn iati_code(self) -> &'static str {
        match self {
            ResultType::Output => "1",
            ResultType::Outcome => "2",
            ResultType::Impact => "3",
            ResultType::Other => "9",
        }
    }
}

impl Measure {
    /// The IATI IndicatorMeasure code.
    pub fn iati_code(self) -> &'static str {
        match self {
            Measure::Unit => "1",
            Measure::Percentage => "2",
            Measure::Qualitative => "5",
        }
    }

    /// Whether figures (baselines, targets, update values) carry a number.
    pub fn has_values(self) -> bool {
        self != Measure::Qualitative
    }
}

impl UpdateStatus {
    pub fn can_move_to(self, to: UpdateStatus) -> bool {
        use UpdateStatus::*;
        matches!(
            (self, to),
            (Draft, Submitted) | (Submitted, Approved | Returned) | (Returned, Submitted)
        )
    }

    pub fn check_move(self, to: UpdateStatus) -> Result<(), InvalidMove> {
        if self.can_move_to(to) {
            Ok(())
        } else {
            Err(InvalidMove(format!(
                "an indicator update cannot move from {} to {}",
                self.as_str(),
                to.as_str()
            )))
        }
    }

    /// Only a reviewer (an admin) decides on a submitted update.
    pub fn is_review(self) -> bool {
        matches!(self, UpdateStatus::Approved | UpdateStatus::Returned)
    }

    /// An update is edited only while its author holds it.
    pub fn is_editable(self) -> bool {
        matches!(self, UpdateStatus::Draft | UpdateStatus::Returned)
    }
}

/// The largest magnitude of an indicator value.
const MAX_VALUE: i64 = 1_000_000_000_000_000;
/// The most decimal places of an indicator value.
pub const VALUE_PLACES: u32 = 6;

/// An indicator's figure: a decimal string such as `"1250.5"`, at most 6
/// decimal places and |v| ≤ 10^15, kept exactly (stored as its string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Value(Decimal);

impl Value {
    pub const ZERO: Value = Value(Decimal::ZERO);

    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// Reads a value back from its stored string.
    pub fn from_stored(s: &str) -> Result<Value, String> {
        Value::try_from(s.to_owned())
    }

    /// The stored and shown form: no trailing zeros after the point.
    pub fn to_stored(self) -> String {
        self.0.normalize().to_string()
    }

    /// A sum of values; `None` past the range a value may hold (10^15).
    pub fn sum(values: impl IntoIterator<Item = Value>) -> Option<Value> {
        let mut total = Decimal::ZERO;
        for v in values {
            total = total.checked_add(v.0)?;
        }
        (total.abs() <= Decimal::from(MAX_VALUE)).then_some(Value(total))
    }

    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }
}

impl TryFrom<String> for Value {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let digits = s.strip_prefix('-').unwrap_or(&s);
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.len() <= 16
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && frac.is_empty());
        if !well_formed {
            return Err(format!("'{s}' is not a decimal string such as \"1250.5\""));
        }
        if frac.len() as u32 > VALUE_PLACES {
            return Err(format!(
                "at most {VALUE_PLACES} decimal places, '{s}' has {}",
                frac.len()
            ));
        }
        let d: Decimal = s.parse().map_err(|_| format!("'{s}' is out of range"))?;
        if d.abs() > Decimal::from(MAX_VALUE) {
            return Err("may not exceed 10^15 in magnitude".into());
        }
        Ok(Value(d))
    }
}

impl From<Value> for String {
    fn from(v: Value) -> String {
        v.to_stored()
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_stored())
    }
}

impl utoipa::__dev::ComposeSchema for Value {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^-?[0-9]{1,16}(\.[0-9]{1,6})?$"))
            .description(Some(
                "An exact decimal string: at most 6 decimal places, magnitude at most 10^15.",
            ))
            .examples(["1250.5"])
            .into()
    }
}

impl utoipa::ToSchema for Value {
    fn name() -> std::borrow::Cow<'static, str> {
        "IndicatorValue".into()
    }
}

/// numerator × 100 ÷ denominator, half-up to 2 places: a percentage from
/// its parts. `None` when the denominator is not positive or the result is
/// out of range.
pub fn percentage(numerator: Value, denominator: Value) -> Option<Value> {
    let p = percent_of(numerator.0, denominator.0)?;
    Value::try_from(p.to_string()).ok()
}

/// The rule of [`percentage`] on any decimals (sums of parts may pass a value's range).
pub fn percent_of(numerator: Decimal, denominator: Decimal) -> Option<Decimal> {
    if denominator <= Decimal::ZERO {
        return None;
    }
    Some(
        numerator
            .checked_mul(Decimal::ONE_HUNDRED)?
            .checked_div(denominator)?
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
            .normalize(),
    )
}

/// A dimension an indicator is split by, e.g. `sex` with `female`, `male`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dimension {
    pub name: String,
    pub values: Vec<String>,
}

/// One share of an update (or an actual) by one value of one dimension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disaggregation {
    pub dimension: String,
    pub value: String,
    pub amount: Value,
}

/// Checks a set of dimensions: names and values non-blank, short and unique.
pub fn check_dimensions(dimensions: &[Dimension]) -> Result<(), String> {
    let short = |s: &str| !s.trim().is_empty() && s.chars().count() <= 100 && !s.chars().any(char::is_control);
    let mut names = std::collections::BTreeSet::new();
    for d in dimensions {
        if !short(&d.name) {
            return Err(format!(
                "'{}' is not a dimension name (1 to 100 characters, no control characters)",
                d.name
            ));
        }
        if !names.insert(d.name.as_str()) {
            return Err(format!("dimension '{}' is named twice", d.name));
        }
        if d.values.is_empty() {
            return Err(format!("dimension '{}' has no values", d.name));
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &d.values {
            if !short(v) {
                return Err(format!("'{v}' is not a value of dimension '{}'", d.name));
            }
            if !seen.insert(v.as_str()) {
                return Err(format!("value '{v}' is listed twice in dimension '{}'", d.name));
            }
        }
    }
    if dimensions.len() > 10 {
        return Err("at most 10 dimensions".into());
    }
    Ok(())
}

/// Checks an update's disaggregations against its indicator's dimensions
/// and its value: each (dimension, value) once, known, and for each
/// dimension named the amounts add up exactly to the update's value.
pub fn check_disaggregations(
    dimensions: &[Dimension],
    value: Option<Value>,
    parts: &[Disaggregation],
) -> Result<(), String> {
    if parts.is_empty() {
        return Ok(());
    }
    let Some(value) = value else {
        return Err("only an update with a value can be disaggregated".into());
    };
    let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in parts {
        let Some(d) = dimensions.iter().find(|d| d.name == p.dimension) else {
            return Err(format!("'{}' is not a dimension of this indicator", p.dimension));
        };
        if !d.values.contains(&p.value) {
            return Err(format!("'{}' is not a value of dimension '{}'", p.value, p.dimension));
        }
        if !seen.insert((p.dimension.as_str(), p.value.as_str())) {
            return Err(format!("'{}' of '{}' is given twice", p.value, p.dimension));
        }
        *sums.entry(&p.dimension).or_default() += p.amount.0;
    }
    for (dimension, sum) in sums {
        if sum != value.0 {
            return Err(format!(
                "the amounts of '{dimension}' add up to {}, not to the value {value}",
                sum.normalize()
            ));
        }
    }
    Ok(())
}

/// How an indicator's actuals are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub measure: Measure,
    pub cumulative: bool,
}

/// An approved update, as the actual counts it.
#[derive(Clone, Debug)]
pub struct Counted {
    pub value: Option<Value>,
    pub numerator: Option<Value>,
    pub denominator: Option<Value>,
    pub narrative: Option<String>,
    pub reported_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub disaggregations: Vec<Disaggregation>,
}

/// A period's actual: what its approved updates add up to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Actual {
    /// The actual value, or null with no approved update (and always for qualitative indicators).
    pub value: Option<Value>,
    /// The latest approved update's narrative.
    pub narrative: Option<String>,
    /// How many approved updates count.
    pub updates: u32,
    /// The actual per dimension value, by the same rule as `value`.
    pub disaggregations: Vec<Disaggregation>,
    /// For percentages: the sums of the parts the value is made of.
    #[serde(skip)]
    pub parts: Option<(Value, Value)>,
}

impl Rule {
    /// The actual of a period from its approved updates (in any order):
    /// non-cumulative sums values; cumulative takes the latest (by
    /// `reported_on`, then creation); a percentage is Σ numerators × 100 ÷
    /// Σ denominators, never an average; qualitative has no value.
    pub fn actual(self, mut updates: Vec<Counted>) -> Actual {
        updates.sort_by_key(|u| (u.reported_on, u.created_at));
        let narrative = updates.iter().rev().find_map(|u| u.narrative.clone());
        let n = updates.len() as u32;
        // Each dimension value of a cumulative indicator: the latest update that reports it.
        let mut latest_parts: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        if self.cumulative {
            for d in updates.iter().flat_map(|u| &u.disaggregations) {
                latest_parts.insert((d.dimension.clone(), d.value.clone()), d.amount.0);
            }
        }
        let counted: Vec<Counted> = if self.cumulative {
            updates.pop().into_iter().collect()
        } else {
            updates
        };
        let mut actual = Actual {
            narrative,
            updates: n,
            ..Actual::default()
        };
        if counted.is_empty() {
            return actual;
        }
        match self.measure {
            Measure::Qualitative => {}
            Measure::Percentage => {
                let num = Value::sum(counted.iter().filter_map(|u| u.numerator));
                let den = Value::sum(counted.iter().filter_map(|u| u.denominator));
                if let (Some(num), Some(den)) = (num, den) {
                    actual.value = percentage(num, den);
                    actual.parts = Some((num, den));
                }
            }
            Measure::Unit => {
                actual.value = Value::sum(counted.iter().filter_map(|u| u.value));
                let mut by: BTreeMap<(String, String), Decimal> = latest_parts;
                if !self.cumulative {
                    for d in counted.iter().flat_map(|u| &u.disaggregations) {
                        *by.entry((d.dimension.clone(), d.value.clone())).or_default() += d.amount.0;
                    }
                }
                actual.disaggregations = by
                    .into_iter()
                    .map(|((dimension, value), amount)| Disaggregation {
                        dimension,
                        value,
                        amount: Value(amount),
                    })
                    .collect();
            }
        }
        actual
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Value::try_from(s.to_owned()).unwrap()
    }

    fn update(day: u32, value: Option<&str>, parts: Option<(&str, &str)>) -> Counted {
        Counted {
            value: value.map(v),
            numerator: parts.map(|p| v(p.0)),
            denominator: parts.map(|p| v(p.1)),
            narrative: Some(format!("day {day}")),
            reported_on: NaiveDate::from_ymd_opt(2025, 3, day).unwrap(),
            created_at: Utc::now(),
            disaggregations: Vec::new(),
        }
    }

    #[test]
    fn values_are_exact_decimal_strings_with_at_most_six_places() {
        assert_eq!(v("0.1").decimal() + v("0.2").decimal(), v("0.3").decimal());
        assert_eq!(v("12.500").to_stored(), "12.5");
        assert_eq!(v("-3").to_stored(), "-3");
        for bad in [
            "1.1234567",
            "1e3",
            "",
            ".5",
            "5.",
            "1000000000000000.1",
            "NaN",
            "10000000000000001",
        ] {
            assert!(Value::try_from(bad.to_owned()).is_err(), "{bad} was accepted");
        }
        assert!(Value::try_from("1000000000000000".to_owned()).is_ok());
    }

    #[test]
    fn a_percentage_is_made_from_its_parts_half_up_to_two_places() {
        assert_eq!(percentage(v("1"), v("3")), Some(v("33.33")));
        assert_eq!(percentage(v("2"), v("3")), Some(v("66.67")));
        assert_eq!(percentage(v("1"), v("8")), Some(v("12.5")));
        // 0.125 % → 0.13 (half-up, not to even).
        assert_eq!(percentage(v("1"), v("800")), Some(v("0.13")));
        assert_eq!(percentage(v("1"), v("0")), None);
    }

    #[test]
    fn actuals_sum_take_the_latest_or_divide_sums_never_average() {
        let sum = Rule {
            measure: Measure::Unit,
            cumulative: false,
        };
        let a = sum.actual(vec![update(2, Some("10.5"), None), update(1, Some("4"), None)]);
        assert_eq!(
            (a.value, a.updates, a.narrative.as_deref()),
            (Some(v("14.5")), 2, Some("day 2"))
        );

        let cumulative = Rule {
            measure: Measure::Unit,
            cumulative: true,
        };
        let a = cumulative.actual(vec![update(9, Some("30"), None), update(3, Some("50"), None)]);
        assert_eq!(a.value, Some(v("30")), "the latest by reported_on, not the largest");

        // 1 of 2 and 99 of 198: 50 % each, 50 % together; 9 of 10 and 1 of 90: 90 % and 1.11 %,
        // whose average (45.56) is wrong; Σ gives 10 of 100 = 10 %.
        let pct = Rule {
            measure: Measure::Percentage,
            cumulative: false,
        };
        let a = pct.actual(vec![
            update(1, None, Some(("9", "10"))),
            update(2, None, Some(("1", "90"))),
        ]);
        assert_eq!(a.value, Some(v("10")));

        let qual = Rule {
            measure: Measure::Qualitative,
            cumulative: false,
        };
        let a = qual.actual(vec![update(1, None, None), update(4, None, None)]);
        assert_eq!((a.value, a.narrative.as_deref()), (None, Some("day 4")));

        assert_eq!(sum.actual(Vec::new()), Actual::default());
    }

    #[test]
    fn a_cumulative_breakdown_takes_each_value_from_the_latest_update_reporting_it() {
        let part = |value: &str, amount: &str| Disaggregation {
            dimension: "sex".into(),
            value: value.into(),
            amount: v(amount),
        };
        let mut march = update(1, Some("10"), None);
        march.disaggregations = vec![part("female", "6"), part("male", "4")];
        let april = update(2, Some("12"), None);
        let mut may = update(3, Some("15"), None);
        may.disaggregations = vec![part("female", "9"), part("male", "6")];
        let rule = Rule {
            measure: Measure::Unit,
            cumulative: true,
        };
        let a = rule.actual(vec![march.clone(), april.clone()]);
        assert_eq!(a.value, Some(v("12")));
        assert_eq!(a.disaggregations, [part("female", "6"), part("male", "4")]);
        let a = rule.actual(vec![march, april, may]);
        assert_eq!(a.disaggregations, [part("female", "9"), part("male", "6")]);
        // Sums stay within a value's range, or say they cannot.
        assert_eq!(Value::sum([v("1000000000000000"), v("1")]), None);
    }

    #[test]
    fn disaggregations_must_be_known_and_add_up_exactly() {
        let dims = vec![Dimension {
            name: "sex".into(),
            values: vec!["female".into(), "male".into()],
        }];
        let part = |value: &str, amount: &str| Disaggregation {
            dimension: "sex".into(),
            value: value.into(),
            amount: v(amount),
        };
        assert!(check_disaggregations(&dims, Some(v("10")), &[part("female", "6.5"), part("male", "3.5")]).is_ok());
        let e = check_disaggregations(&dims, Some(v("10")), &[part("female", "6"), part("male", "3")]).unwrap_err();
        assert!(e.contains("add up to 9"), "{e}");
        assert!(check_disaggregations(&dims, Some(v("10")), &[part("other", "10")]).is_err());
        assert!(check_disaggregations(&dims, Some(v("10")), &[part("female", "5"), part("female", "5")]).is_err());
        assert!(
            check_dimensions(&[Dimension {
                name: "sex".into(),
                values: vec![]
            }])
            .is_err()
        );
    }

    #[test]
    fn updates_move_through_review_and_approved_is_final() {
        use UpdateStatus::*;
        assert!(Draft.can_move_to(Submitted));
        assert!(Submitted.can_move_to(Returned) && Returned.can_move_to(Submitted));
        assert!(!Draft.can_move_to(Approved));
        for to in UpdateStatus::VARIANTS {
            assert!(!Approved.can_move_to(*to));
        }
    }
}
