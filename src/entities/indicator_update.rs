//! What a partner reports for an indicator in a period, and its review.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "indicator_updates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub period_id: Uuid,
    pub indicator_id: Uuid,
    pub project_id: Uuid,
    pub value: Option<String>,
    pub numerator: Option<String>,
    pub denominator: Option<String>,
    pub narrative: Option<String>,
    pub reported_on: Date,
    /// `[{dimension, value, amount}]`.
    pub disaggregations: Json,
    pub status: crate::domain::results::UpdateStatus,
    pub review_note: Option<String>,
    pub author_token_id: Option<Uuid>,
    /// The partner institution of the author, if the author was a partner.
    pub author_institution_id: Option<Uuid>,
    pub author_name: String,
}

versioned_row!();

impl Model {
    /// The update as a period's actual counts it (`domain::results::Rule::actual`);
    /// an error names a stored value that does not read back.
    pub fn counted(&self) -> Result<crate::domain::results::Counted, String> {
        use crate::domain::results::Value;
        let value = |v: &Option<String>| v.as_deref().map(Value::from_stored).transpose();
        Ok(crate::domain::results::Counted {
            value: value(&self.value)?,
            numerator: value(&self.numerator)?,
            denominator: value(&self.denominator)?,
            narrative: self.narrative.clone(),
            reported_on: self.reported_on,
            created_at: self.created_at,
            disaggregations: serde_json::from_value(self.disaggregations.clone())
                .map_err(|e| format!("stored disaggregations: {e}"))?,
        })
    }
}
