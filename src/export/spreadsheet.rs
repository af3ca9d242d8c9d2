//! `grants.csv`: one row a grant, in every status, for Excel and LibreOffice;
//! and the CSV conventions every CSV export shares (`results.csv` too).
//!
//! UTF-8 with a byte-order mark (so Excel reads Chinese names right), CRLF
//! line ends and RFC 4180 quoting by the `csv` crate. Amounts are exact
//! decimals of the grant's currency. A text cell that a spreadsheet would
//! run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
//! leading apostrophe, so a name cannot become a formula.

use super::source::{self, GrantBatch};
use super::vocab::{amount, best, in_lang, timestamp};
use super::{Chunk, Export, ExportError, Filter};
use crate::entities::grant;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The columns, in order.
pub const HEADER: [&str; 20] = [
    "grant_id",
    "grant_code",
    "grant_title",
    "status",
    "fund_id",
    "fund_code",
    "fund_name",
    "project_id",
    "project_code",
    "project_title",
    "recipient_id",
    "recipient_name_en",
    "recipient_name_zh",
    "recipient_country",
    "currency",
    "awarded",
    "disbursed",
    "decided_on",
    "created_at",
    "updated_at",
];

pub struct GrantsCsv {
    filter: Filter,
}

impl GrantsCsv {
    pub fn new(filter: Filter) -> Self {
        GrantsCsv { filter }
    }
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    w.into_inner().map_err(|e| ExportError::Data(e.to_string()))
}

fn csv_error(e: csv::Error) -> ExportError {
    ExportError::Data(e.to_string())
}

/// The start of a CSV file: the byte-order mark and the header row.
pub fn head(header: &[&str]) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record(header).map_err(csv_error)?;
    let mut bytes = BOM.to_vec();
    bytes.extend(finish(w)?);
    Ok(bytes)
}

/// Rows of a CSV file.
pub fn records<R: IntoIterator<Item = S>, S: AsRef<[u8]>>(
    rows: impl IntoIterator<Item = R>,
) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    for r in rows {
        w.write_record(r).map_err(csv_error)?;
    }
    finish(w)
}

impl Export for GrantsCsv {
    fn head(&mut self) -> Result<Vec<u8>, ExportError> {
        head(&HEADER)
    }

    async fn page(&mut self, db: &DatabaseConnection, after: Option<Uuid>) -> Result<Chunk, ExportError> {
        let batch = source::grants(db, &self.filter, &[], after, false).await?;
        let rows = batch
            .grants
            .iter()
            .map(|g| row(g, &batch))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Chunk {
            bytes: records(rows)?,
            next: batch.next,
        })
    }

    fn tail(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

fn row(g: &grant::Model, batch: &GrantBatch) -> Result<[String; 20], ExportError> {
    let fund = batch.funds.get(&g.fund_id);
    let project = batch.projects.get(&g.project_id);
    let recipient = batch.institutions.get(&g.recipient_institution_id);
    Ok([
        g.id.to_string(),
        g.code.clone().unwrap_or_default(),
        text(best(&g.title)),
        g.status.as_str().to_owned(),
        g.fund_id.to_string(),
        fund.map(|f| f.code.clone()).unwrap_or_default(),
        fund.map(|f| text(best(&f.name))).unwrap_or_default(),
        g.project_id.to_string(),
        project.map(|p| p.code.clone()).unwrap_or_default(),
        project.map(|p| text(best(&p.title))).unwrap_or_default(),
        g.recipient_institution_id.to_string(),
        recipient
            .and_then(|r| in_lang(&r.name, "en"))
            .map(text)
            .unwrap_or_default(),
        recipient
            .and_then(|r| in_lang(&r.name, "zh"))
            .map(text)
            .unwrap_or_default(),
        recipient.map(|r| r.country.clone()).unwrap_or_default(),
        g.currency.clone(),
        amount(g.amount_minor, &g.currency)?,
        amount(g.disbursed_minor, &g.currency)?,
        g.decided_on.map(|d| d.to_string()).unwrap_or_default(),
        timestamp(g.created_at),
        timestamp(g.updated_at),
    ])
}

/// Free text, defused: spreadsheets run a cell starting with these as a formula.
pub fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_other_text_is_kept() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("Tonga, \"Friendly\" Islands"), "Tonga, \"Friendly\" Islands");
        assert_eq!(text("聊城大学"), "聊城大学");
    }
}
