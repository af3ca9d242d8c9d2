//! `iati-activities.xml`: an IATI 2.03 activity file, one activity per
//! project and reporting organisation.
//!
//! The reporting organisation of an activity is the sponsor of the fund
//! that paid for it. A project funded by one sponsor (the usual case) is one
//! activity; a project funded by funds of two sponsors is one activity for
//! each, carrying that sponsor's grants, as each publisher reports its own
//! spending in IATI. The identifier is `{reporting-org ref}-{project id}`:
//! unique, and permanent as IATI requires (the project code, which may be
//! edited, is given as `other-identifier` type A1).
//!
//! Every element is written by `quick-xml`, which escapes text and
//! attributes; characters XML 1.0 cannot carry are dropped first.

use super::results::{self, IndicatorNode, PeriodNode, ResultNode};
use super::source::{self, COMMITTED, ProjectBatch};
use super::vocab::{
    amount, countries, country_name, dac_sector, entries, iati_activity_status, iati_org_type, iati_role, sector_label,
    timestamp,
};
use super::{Chunk, Export, ExportConfig, ExportError, Filter};
use crate::domain::status::GrantStatus;
use crate::entities::{grant, institution, project};
use chrono::{NaiveDate, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io;
use uuid::Uuid;

/// The IATI standard version the file follows.
pub const VERSION: &str = "2.03";

pub struct IatiActivities {
    filter: Filter,
    config: ExportConfig,
}

impl IatiActivities {
    pub fn new(filter: Filter, config: ExportConfig) -> Self {
        IatiActivities { filter, config }
    }
}

type Xml = Writer<Vec<u8>>;

impl Export for IatiActivities {
    fn head(&mut self) -> Result<Vec<u8>, ExportError> {
        let mut w = Writer::new(Vec::new());
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.write_event(Event::Text(BytesText::new("\n")))?;
        let generated = timestamp(Utc::now());
        let root = BytesStart::new("iati-activities")
            .with_attributes([("version", VERSION), ("generated-datetime", generated.as_str())]);
        w.write_event(Event::Start(root))?;
        Ok(w.into_inner())
    }

    async fn page(&mut self, db: &DatabaseConnection, after: Option<Uuid>) -> Result<Chunk, ExportError> {
        let batch = source::projects(db, &self.filter, &COMMITTED, after).await?;
        let ids: Vec<Uuid> = batch.projects.iter().map(|p| p.id).collect();
        let results = results::framework(db, &ids).await?;
        let mut bytes = Vec::new();
        for p in &batch.projects {
            let results = results.get(&p.id).map(Vec::as_slice).unwrap_or_default();
            for activity in activities(p, &batch, &self.config)? {
                bytes.push(b'\n');
                let mut w = Writer::new_with_indent(bytes, b' ', 2);
                write_activity(&mut w, &activity, results)?;
                bytes = w.into_inner();
            }
        }
        Ok(Chunk {
            bytes,
            next: batch.next,
        })
    }

    fn tail(&mut self) -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        // Writing into a Vec cannot fail.
        let _ = w.write_event(Event::Text(BytesText::new("\n")));
        let _ = w.write_event(Event::End(BytesEnd::new("iati-activities")));
        let _ = w.write_event(Event::Text(BytesText::new("\n")));
        w.into_inner()
    }
}

/// An organisation as IATI names it.
struct Org<'a> {
    reference: String,
    kind: &'static str,
    name: &'a Value,
}

impl<'a> Org<'a> {
    fn new(i: &'a institution::Model, config: &ExportConfig) -> Org<'a> {
        Org {
            reference: config.org_id(i),
            kind: iati_org_type(&i.kind),
            name: &i.name,
        }
    }
}

enum Text<'a> {
    Localized(&'a Value),
    English(String),
}

struct Transaction<'a> {
    code: &'static str,
    reference: String,
    date: NaiveDate,
    value: String,
    currency: &'a str,
    description: Option<Text<'a>>,
    receiver: Org<'a>,
}

struct Activity<'a> {
    identifier: String,
    updated: String,
    project: &'a project::Model,
    reporting: Org<'a>,
    /// Organisations with their IATI role code.
    participants: Vec<(Org<'a>, &'static str)>,
    status: &'static str,
    transactions: Vec<Transaction<'a>>,
}

/// The activities of one project: one per sponsor of the funds that granted to it.
fn activities<'a>(
    p: &'a project::Model,
    batch: &'a ProjectBatch,
    config: &ExportConfig,
) -> Result<Vec<Activity<'a>>, ExportError> {
    let missing = |what: String| ExportError::Data(format!("project {}: {what} is missing", p.id));
    let mut by_sponsor: BTreeMap<Uuid, (&institution::Model, Vec<&grant::Model>)> = BTreeMap::new();
    for g in batch.grants.get(&p.id).map(Vec::as_slice).unwrap_or_default() {
        let fund = batch
            .funds
            .get(&g.fund_id)
            .ok_or_else(|| missing(format!("fund {}", g.fund_id)))?;
        let sponsor = batch
            .institutions
            .get(&fund.sponsor_institution_id)
            .ok_or_else(|| missing(format!("sponsor {}", fund.sponsor_institution_id)))?;
        by_sponsor
            .entry(sponsor.id)
            .or_insert_with(|| (sponsor, Vec::new()))
            .1
            .push(g);
    }
    by_sponsor
        .into_values()
        .map(|(sponsor, grants)| activity(p, sponsor, &grants, batch, config))
        .collect()
}

fn activity<'a>(
    p: &'a project::Model,
    sponsor: &'a institution::Model,
    grants: &[&'a grant::Model],
    batch: &'a ProjectBatch,
    config: &ExportConfig,
) -> Result<Activity<'a>, ExportError> {
    let institution = |id: &Uuid| {
        batch
            .institutions
            .get(id)
            .ok_or_else(|| ExportError::Data(format!("project {}: institution {id} is missing", p.id)))
    };
    let reporting = Org::new(sponsor, config);

    let mut participants = vec![(Org::new(sponsor, config), "1")];
    let mut listed: HashSet<(Uuid, &str)> = HashSet::from([(sponsor.id, "1")]);
    for part in batch.participants.get(&p.id).map(Vec::as_slice).unwrap_or_default() {
        if let Some(role) = iati_role(part.role)
            && listed.insert((part.institution_id, role))
        {
            participants.push((Org::new(institution(&part.institution_id)?, config), role));
        }
    }
    for g in grants {
        let id = g.recipient_institution_id;
        if !listed.contains(&(id, "2")) && listed.insert((id, "4")) {
            participants.push((Org::new(institution(&id)?, config), "4"));
        }
    }

    let mut transactions = Vec::new();
    for g in grants {
        let receiver = || institution(&g.recipient_institution_id).map(|r| Org::new(r, config));
        let grant_ref = config.grant_id(g);
        transactions.push(Transaction {
            code: "2",
            reference: grant_ref.clone(),
            // Approving sets decided_on; a row without one falls back to its creation.
            date: g.decided_on.unwrap_or(g.created_at.date_naive()),
            value: amount(g.amount_minor, &g.currency)?,
            currency: &g.currency,
            description: Some(Text::Localized(&g.title)),
            receiver: receiver()?,
        });
        let closed = matches!(g.status, GrantStatus::Cancelled | GrantStatus::Completed);
        if closed && g.amount_minor > g.disbursed_minor {
            // A closed grant's commitment comes down to what it paid, net.
            transactions.push(Transaction {
                code: "2",
                reference: grant_ref,
                date: g.updated_at.date_naive(),
                value: amount(g.disbursed_minor - g.amount_minor, &g.currency)?,
                currency: &g.currency,
                description: Some(Text::English(format!(
                    "Commitment reduced to the amount paid: the grant was {}",
                    g.status.as_str()
                ))),
                receiver: receiver()?,
            });
        }
        for d in batch.disbursements.get(&g.id).map(Vec::as_slice).unwrap_or_default() {
            transactions.push(Transaction {
                code: "3",
                reference: format!("{}disbursement-{}", config.prefix, d.id),
                date: d.paid_on,
                value: amount(d.amount_minor, &d.currency)?,
                currency: &g.currency,
                description: d
                    .reversal_of
                    .map(|of| Text::English(format!("Reversal of disbursement {}disbursement-{of}", config.prefix))),
                receiver: receiver()?,
            });
        }
    }

    let still_committed = grants.iter().any(|g| g.status.holds_commitment());
    let updated = grants
        .iter()
        .map(|g| g.updated_at)
        .chain([p.updated_at])
        .max()
        .unwrap_or(p.updated_at);
    Ok(Activity {
        identifier: format!("{}-{}", reporting.reference, p.id),
        updated: timestamp(updated),
        project: p,
        status: iati_activity_status(p.status, still_committed),
        reporting,
        participants,
        transactions,
    })
}

// ---------------------------------------------------------------- writing

/// Drops the characters XML 1.0 cannot carry (control characters but tab
/// and line ends, U+FFFE, U+FFFF); quick-xml escapes the rest.
fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect()
}

fn narrative(w: &mut Xml, lang: &str, text: &str) -> io::Result<()> {
    w.create_element("narrative")
        .with_attribute(("xml:lang", xml_safe(lang).as_str()))
        .write_text_content(BytesText::new(&xml_safe(text)))?;
    Ok(())
}

/// One narrative per language, each with its `xml:lang`.
fn narratives(w: &mut Xml, text: &Text) -> io::Result<()> {
    match text {
        Text::Localized(v) => {
            for (lang, t) in entries(v) {
                narrative(w, lang, t)?;
            }
            Ok(())
        }
        Text::English(t) => narrative(w, "en", t),
    }
}

fn org(w: &mut Xml, element: &str, o: &Org, role: Option<&str>) -> io::Result<()> {
    let reference = xml_safe(&o.reference);
    let mut e = w
        .create_element(element)
        .with_attribute(("ref", reference.as_str()))
        .with_attribute(("type", o.kind));
    if let Some(role) = role {
        e = e.with_attribute(("role", role));
    }
    e.write_inner_content(|w| narratives(w, &Text::Localized(o.name)))?;
    Ok(())
}

/// Equal shares of 100 with two decimals, the rounding remainder on the first.
fn shares(n: usize) -> Vec<String> {
    let n = n.max(1) as u64;
    let base = 10_000 / n;
    let rest = 10_000 - base * n;
    (0..n)
        .map(|i| {
            let hundredths = base + if i == 0 { rest } else { 0 };
            format!("{}.{:02}", hundredths / 100, hundredths % 100)
        })
        .collect()
}

fn write_activity(w: &mut Xml, a: &Activity, results: &[ResultNode]) -> io::Result<()> {
    let p = a.project;
    w.create_element("iati-activity")
        .with_attribute(("last-updated-datetime", a.updated.as_str()))
        .write_inner_content(|w| {
            w.create_element("iati-identifier")
                .write_text_content(BytesText::new(&xml_safe(&a.identifier)))?;
            org(w, "reporting-org", &a.reporting, None)?;
            w.create_element("title")
                .write_inner_content(|w| narratives(w, &Text::Localized(&p.title)))?;
            let description = p
                .summary
                .as_ref()
                .filter(|s| !entries(s).is_empty())
                .unwrap_or(&p.title);
            w.create_element("description")
                .with_attribute(("type", "1"))
                .write_inner_content(|w| narratives(w, &Text::Localized(description)))?;
            for (o, role) in &a.participants {
                org(w, "participating-org", o, Some(role))?;
            }
            w.create_element("other-identifier")
                .with_attributes([("ref", p.code.as_str()), ("type", "A1")])
                .write_empty()?;
            w.create_element("activity-status")
                .with_attribute(("code", a.status))
                .write_empty()?;
            let dates = [
                ("1", Some(p.planned_start)),
                ("2", p.actual_start),
                ("3", Some(p.planned_end)),
                ("4", p.actual_end),
            ];
            for (kind, date) in dates {
                if let Some(date) = date {
                    w.create_element("activity-date")
                        .with_attributes([("type", kind), ("iso-date", date.to_string().as_str())])
                        .write_empty()?;
                }
            }
            let codes = countries(&p.countries);
            for (code, share) in codes.iter().zip(shares(codes.len())) {
                let code = xml_safe(code);
                let e = w
                    .create_element("recipient-country")
                    .with_attributes([("code", code.as_str()), ("percentage", share.as_str())]);
                match country_name(&code) {
                    Some(name) => e.write_inner_content(|w| narrative(w, "en", name))?,
                    None => e.write_empty()?,
                };
            }
            let (dac_code, dac_name) = dac_sector(&p.sector);
            w.create_element("sector")
                .with_attributes([("vocabulary", "1"), ("code", dac_code), ("percentage", "100")])
                .write_inner_content(|w| narrative(w, "en", dac_name))?;
            let sector = xml_safe(&p.sector);
            w.create_element("sector")
                .with_attributes([("vocabulary", "99"), ("code", sector.as_str()), ("percentage", "100")])
                .write_inner_content(|w| narrative(w, "en", &sector_label(&p.sector)))?;
            for (code, significance) in [("6", p.rio_mitigation), ("7", p.rio_adaptation)] {
                w.create_element("policy-marker")
                    .with_attributes([
                        ("vocabulary", "1"),
                        ("code", code),
                        ("significance", significance.to_string().as_str()),
                    ])
                    .write_empty()?;
            }
            w.create_element("default-finance-type")
                .with_attribute(("code", "110"))
                .write_empty()?;
            for t in &a.transactions {
                write_transaction(w, t, &a.reporting)?;
            }
            // After every transaction (and document link), as the XSD orders them.
            write_results(w, results)
        })?;
    Ok(())
}

/// The project's results; a result without indicators is left out (the XSD wants one at least).
fn write_results(w: &mut Xml, results: &[ResultNode]) -> io::Result<()> {
    for r in results.iter().filter(|r| !r.indicators.is_empty()) {
        w.create_element("result")
            .with_attribute(("type", r.result.result_type.iati_code()))
            .write_inner_content(|w| {
                w.create_element("title")
                    .write_inner_content(|w| narratives(w, &Text::Localized(&r.result.title)))?;
                if let Some(d) = r.result.description.as_ref().filter(|d| !entries(d).is_empty()) {
                    w.create_element("description")
                        .write_inner_content(|w| narratives(w, &Text::Localized(d)))?;
                }
                for i in &r.indicators {
                    write_indicator(w, i)?;
                }
                Ok(())
            })?;
    }
    Ok(())
}

/// An indicator: a linked standard indicator is its `reference` (never the
/// result's, rule 8.11.1); baseline, target and actual carry `@value`
/// exactly when the measure has values (rules 8.8–8.10), so a period
/// without a target value or an approved update has no `target` or `actual`.
fn write_indicator(w: &mut Xml, node: &IndicatorNode) -> io::Result<()> {
    let i = &node.indicator;
    let valued = i.measure.has_values();
    let comment = |w: &mut Xml, text: &str| -> io::Result<()> {
        w.create_element("comment")
            .write_inner_content(|w| narrative(w, "en", text))?;
        Ok(())
    };
    w.create_element("indicator")
        .with_attributes([
            ("measure", i.measure.iati_code()),
            ("ascending", if i.ascending { "1" } else { "0" }),
        ])
        .write_inner_content(|w| {
            w.create_element("title")
                .write_inner_content(|w| narratives(w, &Text::Localized(&i.title)))?;
            if let Some(d) = i.description.as_ref().filter(|d| !entries(d).is_empty()) {
                w.create_element("description")
                    .write_inner_content(|w| narratives(w, &Text::Localized(d)))?;
            }
            if let Some(code) = &node.standard_code {
                w.create_element("reference")
                    .with_attributes([("vocabulary", "99"), ("code", xml_safe(code).as_str())])
                    .write_empty()?;
            }
            if let Some(year) = i.baseline_year {
                let year = year.to_string();
                let mut e = w.create_element("baseline").with_attribute(("year", year.as_str()));
                if let Some(v) = i.baseline_value.as_deref().filter(|_| valued) {
                    e = e.with_attribute(("value", v));
                }
                match &i.baseline_comment {
                    Some(c) => e.write_inner_content(|w| comment(w, c))?,
                    None => e.write_empty()?,
                };
            }
            for p in &node.periods {
                write_period(w, p, valued, &comment)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_period(
    w: &mut Xml,
    n: &PeriodNode,
    valued: bool,
    comment: &dyn Fn(&mut Xml, &str) -> io::Result<()>,
) -> io::Result<()> {
    let p = &n.period;
    w.create_element("period").write_inner_content(|w| {
        for (element, date) in [("period-start", p.period_start), ("period-end", p.period_end)] {
            w.create_element(element)
                .with_attribute(("iso-date", date.to_string().as_str()))
                .write_empty()?;
        }
        let target_comment = p.target_comment.as_deref();
        match (valued, p.target_value.as_deref()) {
            (true, Some(v)) => {
                let e = w.create_element("target").with_attribute(("value", v));
                match target_comment {
                    Some(c) => e.write_inner_content(|w| comment(w, c))?,
                    None => e.write_empty()?,
                };
            }
            (false, _) if target_comment.is_some() => {
                w.create_element("target")
                    .write_inner_content(|w| comment(w, target_comment.unwrap_or_default()))?;
            }
            _ => {}
        }
        let a = &n.actual;
        if valued {
            if let Some(v) = a.value {
                w.create_element("actual")
                    .with_attribute(("value", v.to_stored().as_str()))
                    .write_empty()?;
            }
            for d in &a.disaggregations {
                w.create_element("actual")
                    .with_attribute(("value", d.amount.to_stored().as_str()))
                    .write_inner_content(|w| {
                        w.create_element("dimension")
                            .with_attributes([
                                ("name", xml_safe(&d.dimension).as_str()),
                                ("value", xml_safe(&d.value).as_str()),
                            ])
                            .write_empty()?;
                        Ok(())
                    })?;
            }
        } else if let Some(text) = a.narrative.as_deref().filter(|_| a.updates > 0) {
            w.create_element("actual").write_inner_content(|w| comment(w, text))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// A transaction: the provider is always the reporting organisation, the fund's sponsor.
fn write_transaction(w: &mut Xml, t: &Transaction, provider: &Org) -> io::Result<()> {
    let reference = xml_safe(&t.reference);
    let date = t.date.to_string();
    w.create_element("transaction")
        .with_attribute(("ref", reference.as_str()))
        .write_inner_content(|w| {
            w.create_element("transaction-type")
                .with_attribute(("code", t.code))
                .write_empty()?;
            w.create_element("transaction-date")
                .with_attribute(("iso-date", date.as_str()))
                .write_empty()?;
            w.create_element("value")
                .with_attributes([("currency", t.currency), ("value-date", date.as_str())])
                .write_text_content(BytesText::new(&t.value))?;
            if let Some(d) = &t.description {
                w.create_element("description")
                    .write_inner_content(|w| narratives(w, d))?;
            }
            org(w, "provider-org", provider, None)?;
            org(w, "receiver-org", &t.receiver, None)?;
            Ok(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_exactly_one_hundred() {
        assert_eq!(shares(1), ["100.00"]);
        assert_eq!(shares(2), ["50.00", "50.00"]);
        assert_eq!(shares(3), ["33.34", "33.33", "33.33"]);
        for n in 1..40 {
            let total: u64 = shares(n)
                .iter()
                .map(|s| s.replace('.', "").parse::<u64>().unwrap())
                .sum();
            assert_eq!(total, 10_000, "{n} countries");
        }
    }

    #[test]
    fn text_xml_cannot_carry_is_dropped() {
        assert_eq!(xml_safe("a\u{1}b\u{FFFE}c\td"), "abc\td");
        assert_eq!(xml_safe("聊城 <&> \"x\""), "聊城 <&> \"x\"");
    }
}
