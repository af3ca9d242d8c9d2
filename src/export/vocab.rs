//! Our vocabularies mapped to the standards' codes, and the small text
//! helpers every format shares. `docs/exports.md` has these tables too.

use super::ExportError;
use crate::domain::Money;
use crate::domain::kinds::{InstitutionKind, ParticipantRole, Sector};
use crate::domain::status::ProjectStatus;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// IATI OrganisationType code for an institution kind.
pub fn iati_org_type(kind: &str) -> &'static str {
    use InstitutionKind::*;
    match kind.parse::<InstitutionKind>() {
        Ok(University | VocationalCollege | ResearchInstitute) => "80", // Academic, Training and Research
        Ok(Company) => "70",                                            // Private Sector
        Ok(Foundation) => "60",                                         // Foundation
        Ok(GovernmentAgency) => "10",                                   // Government
        Ok(LocalGovernment) => "11",                                    // Local Government
        Ok(Ngo) => "22",                                                // National NGO
        Ok(InternationalOrganization) => "40",                          // Multilateral
        Ok(Other) | Err(_) => "90",                                     // Other
    }
}

/// A reader's label for an institution kind (360Giving `organisationType` is free text).
pub fn kind_label(kind: &str) -> &'static str {
    use InstitutionKind::*;
    match kind.parse::<InstitutionKind>() {
        Ok(University) => "University",
        Ok(VocationalCollege) => "Vocational college",
        Ok(ResearchInstitute) => "Research institute",
        Ok(Company) => "Company",
        Ok(Foundation) => "Foundation",
        Ok(GovernmentAgency) => "Government agency",
        Ok(LocalGovernment) => "Local government",
        Ok(Ngo) => "Non-governmental organisation",
        Ok(InternationalOrganization) => "International organisation",
        Ok(Other) | Err(_) => "Other",
    }
}

/// IATI OrganisationRole for a project participant. Beneficiaries have no
/// role in IATI 2.03; a beneficiary that receives a grant is listed as
/// implementing (4), like every grant recipient.
pub fn iati_role(role: ParticipantRole) -> Option<&'static str> {
    match role {
        ParticipantRole::Funding => Some("1"),
        ParticipantRole::Lead => Some("2"),
        ParticipantRole::Implementing => Some("4"),
        ParticipantRole::Beneficiary => None,
    }
}

/// IATI ActivityStatus for a project status. A completed project whose
/// grants still hold money to pay is in finalisation (3), else closed (4).
pub fn iati_activity_status(status: ProjectStatus, money_still_committed: bool) -> &'static str {
    match status {
        ProjectStatus::Planned => "1",
        ProjectStatus::Active => "2",
        ProjectStatus::Completed if money_still_committed => "3",
        ProjectStatus::Completed => "4",
        ProjectStatus::Cancelled => "5",
        ProjectStatus::OnHold => "6",
    }
}

/// Best-fit OECD DAC CRS purpose code (IATI sector vocabulary 1) and its name.
pub fn dac_sector(sector: &str) -> (&'static str, &'static str) {
    use Sector::*;
    match sector.parse::<Sector>() {
        Ok(LowCarbonDemonstration | ClimateAdaptation) => {
            ("41010", "Environmental policy and administrative management")
        }
        Ok(CleanEnergy) => ("23210", "Energy generation, renewable sources - multiple technologies"),
        Ok(EcologicalProtection) => ("41030", "Biodiversity"),
        Ok(DisasterResilience) => ("43060", "Disaster Risk Reduction"),
        Ok(AcademicExchange) => ("11420", "Higher education"),
        Ok(EducationTraining) => ("11330", "Vocational training"),
        Ok(PairedAssistance) => ("43010", "Multisector aid"),
        Ok(HumanitarianSupplies) => ("72010", "Material relief assistance and services"),
        Ok(CultureExchange) => ("16061", "Culture and recreation"),
        Ok(Other) | Err(_) => ("99810", "Sectors not specified"),
    }
}

/// A reader's label for one of our sectors.
pub fn sector_label(sector: &str) -> String {
    let mut label = sector.replace('_', " ");
    if let Some(first) = label.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    label
}

/// OECD DAC Rio marker score, in words.
pub fn rio_label(score: i16) -> &'static str {
    match score {
        2 => "Principal objective",
        1 => "Significant objective",
        _ => "Not targeted",
    }
}

/// The English name of an ISO 3166-1 alpha-2 country.
pub fn country_name(code: &str) -> Option<&'static str> {
    isocountry::CountryCode::for_alpha2(code).ok().map(|c| c.name())
}

/// Every language of a localized text, as stored (sorted by tag).
pub fn entries(text: &Value) -> Vec<(&str, &str)> {
    text.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(lang, t)| t.as_str().filter(|t| !t.trim().is_empty()).map(|t| (lang.as_str(), t)))
                .collect()
        })
        .unwrap_or_default()
}

/// The text in `lang` (`en` also matches `en-GB`; `zh` matches `zh-Hans`).
pub fn in_lang<'a>(text: &'a Value, lang: &str) -> Option<&'a str> {
    let all = entries(text);
    let exact = all.iter().find(|(tag, _)| tag.eq_ignore_ascii_case(lang));
    let regional = || {
        all.iter().find(|(tag, _)| {
            tag.split('-')
                .next()
                .is_some_and(|primary| primary.eq_ignore_ascii_case(lang))
        })
    };
    exact.or_else(regional).map(|(_, t)| *t)
}

/// English if there is any, else the first language: for one-language fields.
pub fn best(text: &Value) -> &str {
    in_lang(text, "en")
        .or_else(|| entries(text).first().map(|(_, t)| *t))
        .unwrap_or("")
}

/// An exact decimal amount from stored minor units, e.g. `"1500000.00"`.
pub fn amount(minor: i64, currency: &str) -> Result<String, ExportError> {
    Money::from_stored(minor, currency)
        .map(|m| m.amount().to_string())
        .map_err(ExportError::Data)
}

/// RFC 3339 in UTC, whole seconds: `2025-01-02T03:04:05Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A country list stored as a JSON array of codes.
pub fn countries(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn languages_match_by_primary_subtag() {
        let t = json!({"en-GB": "Tonga", "zh-Hans": "汤加"});
        assert_eq!(in_lang(&t, "zh"), Some("汤加"));
        assert_eq!(best(&t), "Tonga");
        assert_eq!(best(&json!({"to": "Tonga"})), "Tonga");
        assert_eq!(in_lang(&json!({"en": "x"}), "zh"), None);
    }

    #[test]
    fn amounts_are_exact_decimals_of_the_minor_unit() {
        assert_eq!(amount(10, "CNY").unwrap(), "0.10");
        assert_eq!(amount(-2500, "USD").unwrap(), "-25.00");
        assert_eq!(amount(15, "VUV").unwrap(), "15");
        assert_eq!(amount(99_999_999_999_999_999, "CNY").unwrap(), "999999999999999.99");
        assert!(amount(1, "XAU").is_err());
    }

    #[test]
    fn every_kind_sector_and_status_has_a_code() {
        use strum::VariantArray;
        for k in InstitutionKind::VARIANTS {
            assert_ne!(iati_org_type(k.as_str()), "");
        }
        for s in Sector::VARIANTS {
            assert_eq!(dac_sector(s.as_str()).0.len(), 5);
        }
        assert_eq!(sector_label("climate_adaptation"), "Climate adaptation");
        assert_eq!(iati_activity_status(ProjectStatus::Completed, true), "3");
        assert_eq!(iati_activity_status(ProjectStatus::OnHold, false), "6");
    }
}
