//! Reference data from REFERENCE.md, kept in `seed/reference.json` and
//! loaded idempotently: a record whose code exists is left as it is.

mod demo;

pub use demo::{Added as DemoAdded, DemoError, SAMPLE_PREFIX, demo};

use crate::app::{self, Actor, AppError, UnitOfWork};
use crate::domain::kinds::InstitutionKind;
use crate::domain::results::Measure;
use crate::domain::{Code, CountryCode, Currency, FocusArea, Line, LongText, ShortText};
use crate::entities::{alliance, fund, institution, standard_indicator};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

const REFERENCE: &str = include_str!("../seed/reference.json");
/// The actor the audit trail names for seeded records.
pub const ACTOR: &str = "system:seed";

/// The reference data, parsed into the same domain types a request is.
#[derive(Deserialize)]
struct Reference {
    institutions: Vec<RefInstitution>,
    alliances: Vec<RefAlliance>,
    funds: Vec<RefFund>,
    standard_indicators: Vec<RefStandardIndicator>,
}

#[derive(Deserialize)]
struct RefInstitution {
    code: Code,
    name: ShortText,
    kind: InstitutionKind,
    country: CountryCode,
    city: Option<Line>,
}

#[derive(Deserialize)]
struct RefAlliance {
    code: Code,
    name: ShortText,
    description: Option<LongText>,
    founded_on: NaiveDate,
    secretariat: Option<String>,
    focus_areas: Vec<FocusArea>,
}

#[derive(Deserialize)]
struct RefFund {
    code: Code,
    name: ShortText,
    currency: Currency,
    sponsor: String,
    established_on: NaiveDate,
    focus_areas: Vec<FocusArea>,
}

#[derive(Deserialize)]
struct RefStandardIndicator {
    code: Code,
    title: ShortText,
    measure: Measure,
    unit: Option<Line>,
}

/// Loads the reference data when the database has no institution at all,
/// and the standard indicators when there are none (a database made
/// before they existed gets them on its first start-up after the upgrade).
pub async fn reference_if_empty(db: &DatabaseConnection) -> Result<usize, AppError> {
    if institution::Entity::find().count(db).await? == 0 {
        return reference(db).await;
    }
    standard_indicators_if_none(db).await
}

/// Adds the reference data's standard indicators when there are none.
pub async fn standard_indicators_if_none(db: &DatabaseConnection) -> Result<usize, AppError> {
    if standard_indicator::Entity::find().count(db).await? > 0 {
        return Ok(0);
    }
    let data = parse()?;
    let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
    let added = standard_indicators(&mut uow, data.standard_indicators).await?;
    uow.commit().await?;
    Ok(added)
}

/// Adds whatever reference record is missing, through the use cases, as
/// the system, in one unit of work; returns how many were added.
pub async fn reference(db: &DatabaseConnection) -> Result<usize, AppError> {
    let data = parse()?;
    let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
    let mut added = 0;
    let mut ids: BTreeMap<String, Uuid> = BTreeMap::new();

    for i in data.institutions {
        let code = i.code.as_str().to_owned();
        let existing = institution::Entity::find()
            .filter(institution::Column::Code.eq(&code))
            .one(uow.db())
            .await?;
        let id = match existing {
            Some(row) => row.id,
            None => {
                let new = app::institutions::New {
                    code: Some(i.code),
                    name: i.name,
                    kind: i.kind,
                    country: i.country,
                    city: i.city,
                    website: None,
                    iati_org_id: None,
                    time_zone: None,
                    contact_email: None,
                };
                added += 1;
                app::institutions::create(&mut uow, new).await?.id
            }
        };
        ids.insert(code, id);
    }

    for a in data.alliances {
        let code = alliance::Column::Code.eq(a.code.as_str());
        if alliance::Entity::find().filter(code).count(uow.db()).await? > 0 {
            continue;
        }
        let new = app::alliances::New {
            code: a.code,
            name: a.name,
            description: a.description,
            founded_on: a.founded_on,
            secretariat_institution_id: a.secretariat.and_then(|c| ids.get(&c).copied()),
            focus_areas: a.focus_areas,
        };
        app::alliances::create(&mut uow, new).await?;
        added += 1;
    }

    for f in data.funds {
        let code = fund::Column::Code.eq(f.code.as_str());
        if fund::Entity::find().filter(code).count(uow.db()).await? > 0 {
            continue;
        }
        let sponsor = ids
            .get(&f.sponsor)
            .copied()
            .ok_or_else(|| AppError::corrupt(format!("seed/reference.json: unknown sponsor {}", f.sponsor)))?;
        let new = app::funds::New {
            code: f.code,
            name: f.name,
            currency: f.currency,
            sponsor_institution_id: sponsor,
            established_on: f.established_on,
            focus_areas: f.focus_areas,
        };
        app::funds::create(&mut uow, new).await?;
        added += 1;
    }
    added += standard_indicators(&mut uow, data.standard_indicators).await?;
    uow.commit().await?;
    Ok(added)
}

fn parse() -> Result<Reference, AppError> {
    serde_json::from_str(REFERENCE).map_err(|e| AppError::corrupt(format!("seed/reference.json: {e}")))
}

/// Adds the standard indicators whose code is missing; returns how many.
async fn standard_indicators(uow: &mut UnitOfWork, all: Vec<RefStandardIndicator>) -> Result<usize, AppError> {
    let mut added = 0;
    for s in all {
        let code = standard_indicator::Column::Code.eq(s.code.as_str());
        if standard_indicator::Entity::find().filter(code).count(uow.db()).await? > 0 {
            continue;
        }
        let new = app::results::standard::New {
            code: s.code,
            title: s.title,
            measure: s.measure,
            unit: s.unit,
            ascending: true,
        };
        app::results::standard::create(uow, new).await?;
        added += 1;
    }
    Ok(added)
}
