//! `360giving.json`: a 360Giving data package (standard 1.4) of the
//! awarded grants: approved, active and completed.
//!
//! Amounts are JSON numbers, as the standard wants, written from minor
//! units as exact decimal text (`1500000.00`), never through a float.
//! `disbursementTransaction` lists the payments that stand: a reversed
//! payment and its reversal net to zero and are both left out, so the
//! transactions always sum to `amountDisbursed`.

use super::source::{self, AWARDED, GrantBatch};
use super::vocab::{
    amount, best, countries, country_name, dac_sector, entries, kind_label, rio_label, sector_label, timestamp,
};
use super::{Chunk, Export, ExportConfig, ExportError, Filter};
use crate::entities::{disbursement, grant, institution};
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::HashSet;
use uuid::Uuid;

/// The 360Giving standard version the package follows (`major.minor`).
pub const VERSION: &str = "1.4";

pub struct GivingPackage {
    filter: Filter,
    config: ExportConfig,
    written: u64,
}

impl GivingPackage {
    pub fn new(filter: Filter, config: ExportConfig) -> Self {
        GivingPackage {
            filter,
            config,
            written: 0,
        }
    }
}

#[derive(Serialize)]
struct PackageHead {
    version: &'static str,
    title: &'static str,
    description: &'static str,
    issued: String,
}

impl Export for GivingPackage {
    fn head(&mut self) -> Result<Vec<u8>, ExportError> {
        let head = PackageHead {
            version: VERSION,
            title: "climate-tracker grants",
            description: "Grants approved by the funds of the China–Pacific Island Countries climate cooperation, \
                          as recorded in climate-tracker.",
            issued: timestamp(Utc::now()),
        };
        // The package object, left open so that the grants can follow one batch at a time.
        let mut bytes = serde_json::to_vec(&head).map_err(|e| ExportError::Data(e.to_string()))?;
        bytes.pop();
        bytes.extend_from_slice(br#","grants":["#);
        Ok(bytes)
    }

    async fn page(&mut self, db: &DatabaseConnection, after: Option<Uuid>) -> Result<Chunk, ExportError> {
        let batch = source::grants(db, &self.filter, &AWARDED, after, true).await?;
        let mut bytes = Vec::new();
        for g in &batch.grants {
            if self.written > 0 {
                bytes.push(b',');
            }
            let grant = Grant::new(g, &batch, &self.config)?;
            serde_json::to_writer(&mut bytes, &grant).map_err(|e| ExportError::Data(e.to_string()))?;
            self.written += 1;
        }
        Ok(Chunk {
            bytes,
            next: batch.next,
        })
    }

    fn tail(&mut self) -> Vec<u8> {
        b"]}".to_vec()
    }
}

/// A JSON number written from its exact decimal text.
fn number(minor: i64, currency: &str) -> Result<Box<RawValue>, ExportError> {
    RawValue::from_string(amount(minor, currency)?).map_err(|e| ExportError::Data(e.to_string()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Grant<'a> {
    id: String,
    title: &'a str,
    description: &'a str,
    currency: &'a str,
    amount_awarded: Box<RawValue>,
    amount_disbursed: Box<RawValue>,
    award_date: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    planned_dates: Vec<Event>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actual_dates: Vec<Event>,
    recipient_organization: Vec<Organization<'a>>,
    funding_organization: Vec<Organization<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    beneficiary_location: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    grant_programme: Vec<Programme<'a>>,
    classifications: Vec<Classification>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disbursement_transaction: Vec<Transaction>,
    date_modified: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    start_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_date: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Organization<'a> {
    id: String,
    name: &'a str,
    /// The name in its other languages, e.g. the Chinese name.
    #[serde(skip_serializing_if = "Option::is_none")]
    alternate_name: Option<String>,
    organisation_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_locality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_country: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    location: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    country_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
}

#[derive(Serialize)]
struct Programme<'a> {
    code: &'a str,
    title: &'a str,
}

#[derive(Serialize)]
struct Classification {
    vocabulary: &'static str,
    code: String,
    title: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    id: String,
    transaction_date: String,
    currency: String,
    value: Box<RawValue>,
    provider: String,
    recipient: String,
}

impl<'a> Grant<'a> {
    fn new(g: &'a grant::Model, batch: &'a GrantBatch, config: &ExportConfig) -> Result<Grant<'a>, ExportError> {
        let missing = |what: &str| ExportError::Data(format!("grant {}: its {what} is missing", g.id));
        let fund = batch.funds.get(&g.fund_id).ok_or_else(|| missing("fund"))?;
        let project = batch.projects.get(&g.project_id).ok_or_else(|| missing("project"))?;
        let recipient = batch
            .institutions
            .get(&g.recipient_institution_id)
            .ok_or_else(|| missing("recipient"))?;
        let sponsor = batch
            .institutions
            .get(&fund.sponsor_institution_id)
            .ok_or_else(|| missing("fund's sponsor"))?;
        let recipient_org = Organization::new(recipient, config);
        let funder_org = Organization::new(sponsor, config);
        let title = best(&g.title);
        let description = g.purpose.as_ref().map(best).filter(|d| !d.is_empty()).unwrap_or(title);
        let payments = batch.disbursements.get(&g.id).map(Vec::as_slice).unwrap_or_default();
        let disbursement_transaction = standing(payments)
            .map(|d| {
                Ok(Transaction {
                    id: format!("{}disbursement-{}", config.prefix, d.id),
                    transaction_date: d.paid_on.to_string(),
                    currency: d.currency.clone(),
                    value: number(d.amount_minor, &d.currency)?,
                    provider: funder_org.id.clone(),
                    recipient: recipient_org.id.clone(),
                })
            })
            .collect::<Result<_, ExportError>>()?;
        let actual_dates = project
            .actual_start
            .map(|start| Event {
                start_date: start.to_string(),
                end_date: project.actual_end.map(|d| d.to_string()),
            })
            .into_iter()
            .collect();
        let (dac_code, dac_name) = dac_sector(&project.sector);
        Ok(Grant {
            id: config.grant_id(g),
            title,
            description,
            currency: &g.currency,
            amount_awarded: number(g.amount_minor, &g.currency)?,
            amount_disbursed: number(g.disbursed_minor, &g.currency)?,
            // Approving sets decided_on; a row without one falls back to its creation.
            award_date: g.decided_on.unwrap_or(g.created_at.date_naive()).to_string(),
            planned_dates: vec![Event {
                start_date: project.planned_start.to_string(),
                end_date: Some(project.planned_end.to_string()),
            }],
            actual_dates,
            recipient_organization: vec![recipient_org],
            funding_organization: vec![funder_org],
            beneficiary_location: countries(&project.countries)
                .into_iter()
                .map(|c| Location {
                    country_code: c.to_owned(),
                    name: country_name(c),
                })
                .collect(),
            grant_programme: vec![Programme {
                code: &fund.code,
                title: best(&fund.name),
            }],
            classifications: vec![
                Classification {
                    vocabulary: "climate-tracker:sector",
                    code: project.sector.clone(),
                    title: sector_label(&project.sector),
                },
                Classification {
                    vocabulary: "OECD-DAC-CRS-purpose",
                    code: dac_code.to_owned(),
                    title: dac_name.to_owned(),
                },
                Classification {
                    vocabulary: "OECD-DAC-Rio-marker:climate-change-mitigation",
                    code: project.rio_mitigation.to_string(),
                    title: rio_label(project.rio_mitigation).to_owned(),
                },
                Classification {
                    vocabulary: "OECD-DAC-Rio-marker:climate-change-adaptation",
                    code: project.rio_adaptation.to_string(),
                    title: rio_label(project.rio_adaptation).to_owned(),
                },
            ],
            disbursement_transaction,
            date_modified: timestamp(g.updated_at),
        })
    }
}

impl<'a> Organization<'a> {
    fn new(i: &'a institution::Model, config: &ExportConfig) -> Organization<'a> {
        let name = best(&i.name);
        let others: Vec<&str> = entries(&i.name)
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| *t != name)
            .collect();
        Organization {
            id: config.org_id(i),
            name,
            alternate_name: (!others.is_empty()).then(|| others.join(" / ")),
            organisation_type: kind_label(&i.kind),
            address_locality: i.city.as_deref().filter(|c| !c.trim().is_empty()),
            address_country: country_name(&i.country),
            url: i.website.as_deref().filter(|w| is_web_address(w)),
            location: vec![Location {
                country_code: i.country.clone(),
                name: country_name(&i.country),
            }],
        }
    }
}

/// Payments that stand: neither reversed nor a reversal. Reversals undo a
/// whole payment, so what is left sums to the grant's net disbursed.
fn standing(payments: &[disbursement::Model]) -> impl Iterator<Item = &disbursement::Model> {
    let reversed: HashSet<Uuid> = payments.iter().filter_map(|d| d.reversal_of).collect();
    payments
        .iter()
        .filter(move |d| d.reversal_of.is_none() && !reversed.contains(&d.id))
}

/// The website is free text; only a plain absolute http(s) address is
/// exported, as the schema wants a URI there.
fn is_web_address(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && r.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_web_addresses_are_exported() {
        assert!(is_web_address("https://www.lcu.edu.cn/"));
        assert!(is_web_address("http://example.org/a?b=c"));
        assert!(!is_web_address("www.lcu.edu.cn"));
        assert!(!is_web_address("https://"));
        assert!(!is_web_address("https://exa mple.org"));
        assert!(!is_web_address("javascript:alert(1)"));
    }
}
