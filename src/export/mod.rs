//! Open data: the grants as CSV for spreadsheets, a 360Giving data package
//! and an IATI 2.03 activity file. `docs/exports.md` maps every field.
//!
//! An export is written in batches: [`source`] reads a few hundred rows by
//! keyset (ids are UUIDv7, so "after this id" is an index range scan) with
//! what they refer to, a format turns them into bytes, and the HTTP layer
//! sends each batch as one chunk of the response body. Memory therefore
//! depends on the batch size, never on the size of the database.

pub mod giving;
pub mod iati;
pub mod results;
pub mod source;
pub mod spreadsheet;
mod vocab;

use crate::entities::{grant, institution};
use sea_orm::{DatabaseConnection, DbErr};
use std::future::Future;
use uuid::Uuid;

pub use source::Filter;

/// The 360Giving identifier prefix used when none is configured.
pub const DEFAULT_360G_PREFIX: &str = "360G-climatetracker-";
/// The environment variable that sets the 360Giving prefix.
pub const PREFIX_ENV: &str = "CLIMATE_TRACKER_360G_PREFIX";

/// How exported identifiers are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportConfig {
    /// The publisher's 360Giving prefix, e.g. `360G-climatetracker-`.
    pub prefix: String,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            prefix: DEFAULT_360G_PREFIX.to_owned(),
        }
    }
}

impl ExportConfig {
    /// Reads `CLIMATE_TRACKER_360G_PREFIX`; unset or blank means the default.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        get(PREFIX_ENV)
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .map(|prefix| ExportConfig { prefix })
            .unwrap_or_default()
    }

    /// A grant's stable identifier: the prefix and the grant's code, or its
    /// id when it has none. Exported grants are approved or later, and a code
    /// can only change while a grant is a draft or submitted, so it is stable.
    pub fn grant_id(&self, g: &grant::Model) -> String {
        match &g.code {
            Some(code) => format!("{}{code}", self.prefix),
            None => format!("{}{}", self.prefix, g.id),
        }
    }

    /// An organisation's identifier: its IATI organisation identifier when
    /// set, else one made from the prefix and the institution's id.
    pub fn org_id(&self, i: &institution::Model) -> String {
        match i.iati_org_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(id) => id.to_owned(),
            None => format!("{}org-{}", self.prefix, i.id),
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Db(#[from] DbErr),
    /// A stored row the export cannot express (e.g. an unknown currency).
    #[error("{0}")]
    Data(String),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Data(e.to_string())
    }
}

/// One batch of output and where the next one starts (`None`: no more).
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub next: Option<Uuid>,
}

/// A format written batch by batch: `head`, then `page` until it says there
/// is no more, then `tail`.
pub trait Export: Send + 'static {
    fn head(&mut self) -> Result<Vec<u8>, ExportError>;
    fn page(
        &mut self,
        db: &DatabaseConnection,
        after: Option<Uuid>,
    ) -> impl Future<Output = Result<Chunk, ExportError>> + Send;
    fn tail(&mut self) -> Vec<u8>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_comes_from_the_environment_or_defaults() {
        assert_eq!(ExportConfig::from_lookup(|_| None).prefix, DEFAULT_360G_PREFIX);
        assert_eq!(
            ExportConfig::from_lookup(|_| Some("  ".into())).prefix,
            DEFAULT_360G_PREFIX
        );
        let set = ExportConfig::from_lookup(|k| (k == PREFIX_ENV).then(|| "360G-xinfa-".to_owned()));
        assert_eq!(set.prefix, "360G-xinfa-");
    }
}
