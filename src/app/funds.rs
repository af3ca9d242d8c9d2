//! The funds of the cooperation (the records; their money is `ledger`).

use super::alliances::focus_json;
use super::institutions::check_reference;
use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::{Code, Currency, FocusArea, ShortText};
use crate::entities::fund;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A fund: money in from contributors, out as grants, all in its one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Fund {
    pub id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    /// The functional currency: every contribution, grant, tranche and disbursement of the fund is in it.
    #[schema(value_type = Currency)]
    pub currency: String,
    /// The institution backing the fund.
    pub sponsor_institution_id: Uuid,
    pub established_on: NaiveDate,
    #[schema(value_type = Vec<FocusArea>)]
    pub focus_areas: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<fund::Model> for Fund {
    fn from(m: fund::Model) -> Self {
        Fund {
            id: m.id,
            code: m.code,
            name: m.name,
            currency: m.currency,
            sponsor_institution_id: m.sponsor_institution_id,
            established_on: m.established_on,
            focus_areas: m.focus_areas,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

record!(fund => Fund, "fund");

pub struct New {
    pub code: Code,
    pub name: ShortText,
    pub currency: Currency,
    pub sponsor_institution_id: Uuid,
    pub established_on: NaiveDate,
    pub focus_areas: Vec<FocusArea>,
}

/// Absent fields (`None`) stay. The currency never changes: the fund's
/// money is recorded in it.
#[derive(Default)]
pub struct Changes {
    pub code: Option<Code>,
    pub name: Option<ShortText>,
    pub sponsor_institution_id: Option<Uuid>,
    pub established_on: Option<NaiveDate>,
    pub focus_areas: Option<Vec<FocusArea>>,
}

fn refused(e: AppError) -> AppError {
    e.on_duplicate("a fund with this code already exists")
        .on_missing_reference("sponsor_institution_id", "no institution has this id")
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<Fund> {
    uow.actor().require_admin()?;
    check_reference(uow.db(), "sponsor_institution_id", Some(new.sponsor_institution_id)).await?;
    let row = fund::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(new.code.into()),
        search: Set(new.name.search_text()),
        name: Set(to_json(&new.name)),
        currency: Set(new.currency.code().to_owned()),
        sponsor_institution_id: Set(new.sponsor_institution_id),
        established_on: Set(new.established_on),
        focus_areas: Set(focus_json(new.focus_areas)),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| refused(e.into()))?;
    let view = Fund::from(row);
    uow.record(Change::created("fund", view.id, &view));
    Ok(view)
}

pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Fund> {
    uow.actor().require_admin()?;
    check_reference(uow.db(), "sponsor_institution_id", c.sponsor_institution_id).await?;
    let current: fund::Model = versioned::locked(uow.db(), id).await?;
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(code) = c.code {
            row.code = Set(code.into());
        }
        if let Some(name) = c.name {
            row.search = Set(name.search_text());
            row.name = Set(to_json(&name));
        }
        if let Some(sponsor) = c.sponsor_institution_id {
            row.sponsor_institution_id = Set(sponsor);
        }
        if let Some(established_on) = c.established_on {
            row.established_on = Set(established_on);
        }
        if let Some(focus) = c.focus_areas {
            row.focus_areas = Set(focus_json(focus));
        }
    })
    .await
    .map_err(refused)?;
    Ok(view)
}
