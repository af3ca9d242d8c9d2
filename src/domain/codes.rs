//! Identifiers that people type: resource codes and ISO country codes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A human code: a lowercase slug, `^[a-z0-9][a-z0-9-]{1,62}$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{1,62}$", example = "green-development-alliance")]
pub struct Code(String);

impl Code {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Code {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && (2..=63).contains(&s.len()) {
            Ok(Code(s))
        } else {
            Err("must be 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit".into())
        }
    }
}

impl From<Code> for String {
    fn from(c: Code) -> String {
        c.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case (`TO`, `KI`, `CN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[A-Z]{2}$", example = "TO")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Only ever built from two ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl std::str::FromStr for CountryCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase());
        if upper && isocountry::CountryCode::for_alpha2(s).is_ok() {
            let b = s.as_bytes();
            Ok(CountryCode([b[0], b[1]]))
        } else {
            Err(format!(
                "'{s}' is not an ISO 3166-1 alpha-2 country code (upper case, e.g. TO)"
            ))
        }
    }
}

impl TryFrom<String> for CountryCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_lowercase_slugs() {
        assert!(Code::try_from("liaocheng-university".to_string()).is_ok());
        assert!(Code::try_from("a".to_string()).is_err());
        assert!(Code::try_from("-abc".to_string()).is_err());
        assert!(Code::try_from("Abc".to_string()).is_err());
        assert!(Code::try_from("a".repeat(64)).is_err());
        assert!(Code::try_from("a".repeat(63)).is_ok());
    }

    #[test]
    fn countries_are_real_upper_case_alpha2() {
        assert_eq!("TO".parse::<CountryCode>().unwrap().as_str(), "TO");
        assert!("to".parse::<CountryCode>().is_err());
        assert!("XX".parse::<CountryCode>().is_err());
        assert!("TON".parse::<CountryCode>().is_err());
    }
}
