//! Localized human text: `{"en": "Liaocheng University", "zh": "聊城大学"}`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Text in one or more languages, keyed by BCP 47 tag; `MAX` characters per entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct LocalizedText<const MAX: usize>(BTreeMap<String, String>);

/// Names and titles: at most 500 characters per language.
pub type ShortText = LocalizedText<500>;
/// Descriptions, summaries and purposes: at most 5,000 characters per language.
pub type LongText = LocalizedText<5000>;

impl<const MAX: usize> LocalizedText<MAX> {
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn get(&self, lang: &str) -> Option<&str> {
        self.0.get(lang).map(String::as_str)
    }

    /// All languages in one lowercase string, for `q=` search in any language.
    pub fn search_text(&self) -> String {
        let joined: Vec<&str> = self.0.values().map(String::as_str).collect();
        search_form(&joined.join("\n"))
    }

    /// English if present, else the first language: for labels and logs.
    pub fn best(&self) -> &str {
        self.get("en")
            .or_else(|| self.0.values().next().map(String::as_str))
            .unwrap_or("")
    }
}

/// How text is compared in `q=` search, stored and searched alike: lower
/// case, NFC, so "Café" typed composed finds "Café" sent decomposed.
pub fn search_form(text: &str) -> String {
    text.to_lowercase().nfc().collect()
}

/// What is wrong with a piece of human text; each caller names its subject.
enum Flaw {
    /// Nothing but white space.
    Blank,
    /// Nothing visible: white space and format characters (category Cf) such as U+200B.
    Invisible(char),
    TooLong(usize),
    Control(char),
    Bidi(char, &'static str),
}

impl Flaw {
    /// The flaw as the end of a sentence ("the 'en' text …", "… may not be empty").
    fn describe(&self) -> String {
        match self {
            Flaw::Blank => "is empty".into(),
            Flaw::Invisible(c) => format!(
                "shows nothing: it holds only white space and invisible format characters such as U+{:04X}",
                u32::from(*c)
            ),
            Flaw::TooLong(max) => format!("is longer than {max} characters"),
            Flaw::Control(c) => format!("contains the control character {c:?}"),
            Flaw::Bidi(c, name) => format!(
                "contains U+{:04X} ({name}), a bidirectional control character that can make text \
                 display in another order than it is stored",
                u32::from(*c)
            ),
        }
    }
}

/// The bidirectional controls (embeddings, overrides, isolates and the
/// implicit marks): they reorder what a reader sees, in names, notes, the
/// dashboard, CSV and open-data exports alike.
fn bidi_control(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        _ => return None,
    })
}

/// What the OpenAPI document says of every text value, as far as a pattern
/// can: none of the control characters or bidirectional controls that
/// `clean` refuses. (That a text must show something is beyond a pattern.)
pub const TEXT_PATTERN: &str =
    r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$";

/// The one check of human text, plain or localized: returns it NFC-normalised
/// (one spelling per word, so equality and search hold), or its first flaw.
/// Control characters other than tab and line breaks are refused (never
/// meant, and PostgreSQL cannot store NUL at all), bidirectional controls
/// too, and so is text with nothing visible in it.
fn clean(text: &str, max: usize) -> Result<String, Flaw> {
    if text.trim().is_empty() {
        return Err(Flaw::Blank);
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Flaw::Control(c));
    }
    if let Some((c, name)) = text.chars().find_map(|c| bidi_control(c).map(|name| (c, name))) {
        return Err(Flaw::Bidi(c, name));
    }
    let is_format = |c: char| c.general_category() == GeneralCategory::Format;
    if text.chars().all(|c| c.is_whitespace() || is_format(c)) {
        let first = text.chars().find(|c| is_format(*c)).unwrap_or(' ');
        return Err(Flaw::Invisible(first));
    }
    let normalized: String = text.nfc().collect();
    if normalized.chars().count() > max {
        return Err(Flaw::TooLong(max));
    }
    Ok(normalized)
}

/// A pragmatic BCP 47 check: a 2-3 letter primary language, then subtags of
/// 1-8 letters or digits (`en`, `zh-Hans`, `to-TO`).
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl<const MAX: usize> TryFrom<BTreeMap<String, String>> for LocalizedText<MAX> {
    type Error = String;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        if map.is_empty() {
            return Err("needs at least one language, e.g. {\"en\": \"...\"}".into());
        }
        let mut clean_map = BTreeMap::new();
        for (tag, text) in map {
            if !is_language_tag(&tag) {
                return Err(format!("'{tag}' is not a BCP 47 language tag"));
            }
            let text = clean(&text, MAX).map_err(|flaw| format!("the '{tag}' text {}", flaw.describe()))?;
            clean_map.insert(tag, text);
        }
        Ok(LocalizedText(clean_map))
    }
}

impl<const MAX: usize> From<LocalizedText<MAX>> for BTreeMap<String, String> {
    fn from(t: LocalizedText<MAX>) -> Self {
        t.0
    }
}

impl<const MAX: usize> utoipa::__dev::ComposeSchema for LocalizedText<MAX> {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some(format!(
                "Text by BCP 47 language tag; at least one entry, each non-empty, at most {MAX} characters"
            )))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX))
                    .pattern(Some(TEXT_PATTERN)),
            ))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")),
            ))
            .min_properties(Some(1))
            .examples([serde_json::json!({"en": "Liaocheng University", "zh": "聊城大学"})])
            .into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for LocalizedText<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        if MAX > 500 {
            "LongText".into()
        } else {
            "ShortText".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<ShortText, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn accepts_several_languages_and_searches_all() {
        let t = parse(serde_json::json!({"en": "Liaocheng University", "zh": "聊城大学"})).unwrap();
        assert_eq!(t.best(), "Liaocheng University");
        assert!(t.search_text().contains("聊城"));
        assert!(t.search_text().contains("liaocheng"));
    }

    #[test]
    fn refuses_empty_bad_tags_and_long_text() {
        assert!(parse(serde_json::json!({})).is_err());
        assert!(parse(serde_json::json!({"en": " "})).is_err());
        assert!(parse(serde_json::json!({"english": "x"})).is_err());
        assert!(parse(serde_json::json!({"en": "x".repeat(501)})).is_err());
        assert!(serde_json::from_value::<LongText>(serde_json::json!({"en": "x".repeat(501)})).is_ok());
    }

    #[test]
    fn refuses_control_characters_but_keeps_line_breaks() {
        assert!(parse(serde_json::json!({"en": "a\u{0}b"})).is_err());
        assert!(parse(serde_json::json!({"en": "a\u{1b}b"})).is_err());
        assert!(parse(serde_json::json!({"en": "line one\nline two\tand\r\n"})).is_ok());
        assert!(serde_json::from_value::<Note>(serde_json::json!("a\u{0}b")).is_err());
        assert!(serde_json::from_value::<Note>(serde_json::json!("a\nb")).is_ok());
    }

    #[test]
    fn refuses_text_with_nothing_visible() {
        for invisible in ["\u{200B}", "\u{FEFF}", " \u{2060} ", "\u{200B}\u{200D}\u{00AD}"] {
            let e = parse(serde_json::json!({"en": invisible})).unwrap_err().to_string();
            assert!(e.contains("shows nothing"), "{invisible:?}: {e}");
            assert!(serde_json::from_value::<Line>(serde_json::json!(invisible)).is_err());
        }
        // Format characters inside visible text stay (a zero-width joiner in an emoji, say).
        assert!(parse(serde_json::json!({"en": "Tonga\u{200D}Fiji"})).is_ok());
    }

    #[test]
    fn refuses_bidirectional_controls_naming_them() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let text = format!("Tonga{c}gnp.exe");
            let e = parse(serde_json::json!({"en": text})).unwrap_err().to_string();
            assert!(e.contains(&format!("U+{:04X}", u32::from(c))), "{e}");
            let e = serde_json::from_value::<Note>(serde_json::json!(text))
                .unwrap_err()
                .to_string();
            assert!(e.contains("bidirectional"), "{e}");
        }
    }

    #[test]
    fn stores_text_nfc_normalised_and_searches_it_so() {
        let t = parse(serde_json::json!({"en": "Cafe\u{301} Nuku\u{2BB}alofa"})).unwrap();
        assert_eq!(t.get("en"), Some("Caf\u{E9} Nuku\u{2BB}alofa"));
        assert!(t.search_text().contains(&search_form("CAF\u{C9}")));
        assert!(t.search_text().contains(&search_form("cafe\u{301}")));
        let line: Line = serde_json::from_value(serde_json::json!("A\u{30A}")).unwrap();
        assert_eq!(line.as_str(), "\u{C5}");
        // The limit counts characters as stored: 500 decomposed pairs are 500 characters.
        assert!(parse(serde_json::json!({"en": "e\u{301}".repeat(500)})).is_ok());
    }
}

/// A plain, single-language string: non-blank, at most `MAX` characters
/// (notes, evidence, reasons, references, cities, URLs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plain<const MAX: usize>(String);

impl<const MAX: usize> Plain<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> TryFrom<String> for Plain<MAX> {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match clean(&s, MAX) {
            Ok(text) => Ok(Plain(text)),
            Err(Flaw::Blank) => Err("may not be empty".into()),
            Err(flaw) => Err(flaw.describe()),
        }
    }
}

impl<const MAX: usize> From<Plain<MAX>> for String {
    fn from(p: Plain<MAX>) -> String {
        p.0
    }
}

impl<const MAX: usize> utoipa::__dev::ComposeSchema for Plain<MAX> {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX))
            .pattern(Some(TEXT_PATTERN))
            .into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for Plain<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        if MAX > 500 { "Note".into() } else { "Line".into() }
    }
}

/// Short plain strings: names of cities, URLs, identifiers, references.
pub type Line = Plain<500>;
/// Long plain strings: notes, evidence, reasons.
pub type Note = Plain<5000>;

/// A focus area of an alliance or a fund, e.g. `clean energy`: plain text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, max_length = 100, example = "clean energy")]
pub struct FocusArea(String);

impl FocusArea {
    /// The most focus areas an alliance or fund may list.
    pub const MAX_LISTED: usize = 20;
}

impl TryFrom<String> for FocusArea {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() {
            Err("may not be empty".into())
        } else if s.chars().count() > 100 {
            Err("is longer than 100 characters".into())
        } else {
            Ok(FocusArea(s))
        }
    }
}

impl From<FocusArea> for String {
    fn from(f: FocusArea) -> String {
        f.0
    }
}

/// An e-mail address to write to: `local@domain`, at most 254 characters,
/// no spaces or control characters, a dot in the domain. (The mail crate
/// checks it again when it sends.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = "email", max_length = 254, example = "climate@usp.ac.fj")]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let plausible = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if plausible {
            Ok(Email(s))
        } else {
            Err(format!("'{s}' is not an e-mail address such as climate@usp.ac.fj"))
        }
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}
