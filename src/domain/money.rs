//! Exact money: a decimal amount in an ISO 4217 currency, never a float.
//!
//! In JSON an amount is a string (`"1500000.00"`); in the database it is an
//! integer count of the currency's minor unit (fen, seniti, cents), so both
//! SQLite and PostgreSQL store and add it exactly.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest absolute amount accepted: 10^15 major units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// 10^15 in thousandths still fits an `i64` (about 9.2 × 10^18).
const MAX_MINOR_DIGITS: u16 = 3;

/// An ISO 4217 currency that has a minor unit (so XAU, XDR… are refused) of
/// at most three decimals: 10^15 of a four-decimal unit of account (CLF,
/// UYW) would not fit the 64-bit count of minor units money is stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[A-Z]{3}$", example = "CNY")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the minor unit: CNY 2, VUV 0, KWD 3.
    pub fn minor_digits(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }
}

impl std::str::FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match iso_currency::Currency::from_code(s) {
            Some(c) if c.exponent().is_some_and(|e| e <= MAX_MINOR_DIGITS) => Ok(Currency(c)),
            _ => Err(format!(
                "'{s}' is not an ISO 4217 currency code with a minor unit of at most 3 decimals (e.g. CNY)"
            )),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exact amount of one currency. Any sign: a reversal is negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MoneyJson", into = "MoneyJson")]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// Money as it travels in JSON.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "Money", example = json!({"amount": "1500000.00", "currency": "CNY"}))]
pub struct MoneyJson {
    /// A decimal string, never a JSON number; no more decimals than the currency's minor unit.
    #[schema(pattern = r"^-?[0-9]{1,16}(\.[0-9]{1,3})?$", example = "1500000.00")]
    pub amount: String,
    /// ISO 4217 code.
    #[schema(value_type = String, pattern = "^[A-Z]{3}$", example = "CNY")]
    pub currency: String,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Rebuilds stored money: minor units and the stored currency code.
    pub fn from_stored(minor: i64, currency: &str) -> Result<Money, String> {
        Ok(Money {
            minor,
            currency: currency.parse()?,
        })
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses a decimal string such as `"1500000.00"` in `currency`.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, String> {
        let digits = amount.strip_prefix('-').unwrap_or(amount);
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && frac.is_empty());
        if !well_formed {
            return Err(format!("'{amount}' is not a decimal number such as \"1500.00\""));
        }
        let places = currency.minor_digits();
        if frac.len() as u32 > places {
            return Err(format!(
                "{} allows at most {places} decimal places, '{amount}' has {}",
                currency.code(),
                frac.len()
            ));
        }
        let value: Decimal = amount.parse().map_err(|_| format!("'{amount}' is out of range"))?;
        if value.abs() > Decimal::from(MAX_AMOUNT) {
            return Err("the amount may not exceed 10^15".into());
        }
        let minor = (value * Decimal::from(10i64.pow(places)))
            .trunc()
            .try_into()
            .map_err(|_| format!("'{amount}' is out of range"))?;
        Ok(Money { minor, currency })
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn amount(self) -> Decimal {
        Decimal::new(self.minor, self.currency.minor_digits())
    }

    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    pub fn negated(self) -> Money {
        Money {
            minor: -self.minor,
            currency: self.currency,
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount(), self.currency)
    }
}

impl TryFrom<MoneyJson> for Money {
    type Error = String;
    fn try_from(j: MoneyJson) -> Result<Self, String> {
        let currency: Currency = j.currency.parse()?;
        Money::parse(&j.amount, currency)
    }
}

impl From<Money> for MoneyJson {
    fn from(m: Money) -> Self {
        MoneyJson {
            amount: m.amount().to_string(),
            currency: m.currency.code().to_owned(),
        }
    }
}

/// Money that is paid, awarded or contributed: strictly positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Money", into = "Money")]
pub struct PositiveMoney(Money);

impl PositiveMoney {
    pub fn money(self) -> Money {
        self.0
    }
}

impl TryFrom<Money> for PositiveMoney {
    type Error = String;
    fn try_from(m: Money) -> Result<Self, String> {
        if m.is_positive() {
            Ok(PositiveMoney(m))
        } else {
            Err("the amount must be positive".into())
        }
    }
}

impl From<PositiveMoney> for Money {
    fn from(p: PositiveMoney) -> Money {
        p.0
    }
}

/// Units of the currency actually paid per unit of the fund's currency,
/// as the payer recorded it: a positive decimal string such as `"0.3251"`,
/// kept exactly as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = r"^[0-9]{1,20}(\.[0-9]{1,10})?$", example = "0.3251")]
pub struct ExchangeRate(String);

impl ExchangeRate {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExchangeRate {
    type Error = String;
    fn try_from(rate: String) -> Result<Self, String> {
        let (whole, frac) = rate.split_once('.').unwrap_or((&rate, ""));
        let digits = |s: &str, most: usize| (1..=most).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        let shaped = digits(whole, 20) && (!rate.contains('.') || digits(frac, 10));
        match rate.parse::<Decimal>() {
            Ok(d) if shaped && d > Decimal::ZERO => Ok(ExchangeRate(rate)),
            _ => Err("must be a positive decimal string such as \"0.3251\"".into()),
        }
    }
}

impl From<ExchangeRate> for String {
    fn from(r: ExchangeRate) -> String {
        r.0
    }
}

/// Both money types are documented as the one `Money` JSON object.
macro_rules! money_schema {
    ($t:ty) => {
        impl utoipa::__dev::ComposeSchema for $t {
            fn compose(
                _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
            ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <MoneyJson as utoipa::PartialSchema>::schema()
            }
        }
        impl utoipa::ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                "Money".into()
            }
        }
    };
}
money_schema!(Money);

/// Money paid, awarded or contributed is documented with an amount that
/// cannot be zero or negative: a whole part with a digit other than 0, or
/// `0.` and a fraction with one.
impl utoipa::__dev::ComposeSchema for PositiveMoney {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        let RefOr::T(Schema::Object(mut money)) = <MoneyJson as utoipa::PartialSchema>::schema() else {
            return <MoneyJson as utoipa::PartialSchema>::schema();
        };
        money.title = Some("PositiveMoney".into());
        money.description = Some("Money that is paid, awarded or contributed: the amount is positive.".into());
        money.properties.insert(
            "amount".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "A positive decimal string, never a JSON number; no more decimals than the currency's minor unit.",
                ))
                .pattern(Some(POSITIVE_AMOUNT))
                .examples(["250000.00"])
                .build()
                .into(),
        );
        RefOr::T(Schema::Object(money))
    }
}

impl utoipa::ToSchema for PositiveMoney {
    fn name() -> std::borrow::Cow<'static, str> {
        "PositiveMoney".into()
    }
}

/// What [`Money::parse`] accepts and [`PositiveMoney`] keeps, as a regular
/// expression for the OpenAPI document (no look-arounds, which not every
/// client's generator supports).
pub const POSITIVE_AMOUNT: &str = r"^(0*[1-9][0-9]{0,15}(\.[0-9]{1,3})?|0+\.([1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$";

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        "CNY".parse().unwrap()
    }

    #[test]
    fn amounts_round_trip_exactly() {
        let m = Money::parse("999999999999999.99", cny()).unwrap();
        assert_eq!(m.minor(), 99_999_999_999_999_999);
        assert_eq!(m.amount().to_string(), "999999999999999.99");
        assert_eq!(Money::parse("1.5", cny()).unwrap().amount().to_string(), "1.50");
    }

    #[test]
    fn minor_unit_decimals_are_enforced() {
        let vuv: Currency = "VUV".parse().unwrap();
        assert!(Money::parse("1.5", vuv).is_err());
        assert_eq!(Money::parse("15", vuv).unwrap().amount().to_string(), "15");
        assert!(Money::parse("1.234", cny()).is_err());
    }

    #[test]
    fn malformed_and_huge_amounts_are_refused() {
        for bad in ["", "1e5", "1.", ".5", "+1", "1_000", "NaN", "1,5", "--1", " 1"] {
            assert!(Money::parse(bad, cny()).is_err(), "{bad} accepted");
        }
        assert!(Money::parse("1000000000000000.01", cny()).is_err());
        assert!(Money::parse("1000000000000000", cny()).is_ok());
    }

    #[test]
    fn json_amount_must_be_a_string() {
        let ok: Result<Money, _> = serde_json::from_str(r#"{"amount":"10.00","currency":"CNY"}"#);
        assert!(ok.is_ok());
        let number: Result<Money, _> = serde_json::from_str(r#"{"amount":10,"currency":"CNY"}"#);
        assert!(number.is_err());
        let json = serde_json::to_string(&ok.unwrap()).unwrap();
        assert_eq!(json, r#"{"amount":"10.00","currency":"CNY"}"#);
    }

    #[test]
    fn the_documented_positive_pattern_matches_what_is_positive() {
        let documented = regex::Regex::new(POSITIVE_AMOUNT).unwrap();
        let kwd: Currency = "KWD".parse().unwrap();
        for (amount, positive) in [
            ("1", true),
            ("0.5", true),
            ("0.05", true),
            ("0.005", true),
            ("10.00", true),
            ("007.10", true),
            ("999999999999999.999", true),
            ("0", false),
            ("0.00", false),
            ("00.000", false),
            ("-1.00", false),
            (".5", false),
            ("1.", false),
        ] {
            assert_eq!(documented.is_match(amount), positive, "pattern on {amount}");
            let parsed = Money::parse(amount, kwd)
                .ok()
                .and_then(|m| PositiveMoney::try_from(m).ok());
            assert_eq!(parsed.is_some(), positive, "parser on {amount}");
        }
    }

    #[test]
    fn exchange_rates_are_positive_decimal_strings_kept_as_given() {
        for good in ["0.3251", "1", "7.10", "0.0000000001"] {
            assert_eq!(ExchangeRate::try_from(good.to_owned()).unwrap().as_str(), good);
        }
        for bad in ["0", "0.0", "-1", "1.", ".5", "1e3", " 1", "1,5", "", "0.00000000001"] {
            assert!(ExchangeRate::try_from(bad.to_owned()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn currencies_without_minor_unit_are_refused() {
        assert!("XAU".parse::<Currency>().is_err());
        assert!("cny".parse::<Currency>().is_err());
        assert_eq!("KWD".parse::<Currency>().unwrap().minor_digits(), 3);
        assert!(
            "CLF".parse::<Currency>().is_err(),
            "four decimals: 10^15 would overflow"
        );
        let kwd: Currency = "KWD".parse().unwrap();
        assert!(Money::parse("999999999999999.999", kwd).is_ok());
    }
}
