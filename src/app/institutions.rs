//! The partner registry: institutions.

use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::kinds::{InstitutionKind, ParticipantRole};
use crate::domain::{Code, CountryCode, Email, Line, ShortText, TimeZone};
use crate::entities::{institution, participant};
use crate::store;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "institution";

/// A partner institution.
#[derive(Debug, Serialize, ToSchema)]
pub struct Institution {
    pub id: Uuid,
    #[schema(value_type = Option<Code>)]
    pub code: Option<String>,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    #[schema(value_type = InstitutionKind)]
    pub kind: String,
    #[schema(value_type = CountryCode)]
    pub country: String,
    pub city: Option<String>,
    pub website: Option<String>,
    /// IATI organisation identifier, e.g. `CN-USCC-12371500MB2852376F`.
    pub iati_org_id: Option<String>,
    /// The IANA zone its deadlines are judged in: the one set, else the country's.
    pub time_zone: TimeZone,
    /// Where reminders are sent.
    pub contact_email: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<institution::Model> for Institution {
    fn from(m: institution::Model) -> Self {
        let time_zone = store::zones::of_institution(&m);
        Institution {
            id: m.id,
            code: m.code,
            name: m.name,
            kind: m.kind,
            country: m.country,
            city: m.city,
            website: m.website,
            time_zone,
            contact_email: m.contact_email,
            iati_org_id: m.iati_org_id,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

record!(institution => Institution, KIND);

pub struct New {
    pub code: Option<Code>,
    pub name: ShortText,
    pub kind: InstitutionKind,
    pub country: CountryCode,
    pub city: Option<Line>,
    pub website: Option<Line>,
    pub iati_org_id: Option<Line>,
    /// None: the country's default zone.
    pub time_zone: Option<TimeZone>,
    pub contact_email: Option<Email>,
}

/// Absent fields (`None`) stay; `Some(None)` clears an optional one.
#[derive(Default)]
pub struct Changes {
    pub code: Option<Option<Code>>,
    pub name: Option<ShortText>,
    pub kind: Option<InstitutionKind>,
    pub country: Option<CountryCode>,
    pub city: Option<Option<Line>>,
    pub website: Option<Option<Line>>,
    pub iati_org_id: Option<Option<Line>>,
    /// `Some(None)` goes back to the country's default.
    pub time_zone: Option<Option<TimeZone>>,
    pub contact_email: Option<Option<Email>>,
}

const DUPLICATE: &str = "an institution with this code already exists";

/// Whether an institution exists, for a body that refers to one.
pub async fn exists(db: &impl ConnectionTrait, id: Uuid) -> AppResult<bool> {
    Ok(institution::Entity::find_by_id(id).count(db).await? > 0)
}

/// A reference to an institution: 422 on `field` when none has this id.
pub async fn check_reference(db: &impl ConnectionTrait, field: &str, id: Option<Uuid>) -> AppResult<()> {
    match id {
        Some(id) if !exists(db, id).await? => Err(AppError::field(field, "no institution has this id")),
        _ => Ok(()),
    }
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<Institution> {
    uow.actor().require_admin()?;
    let row = institution::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(new.code.map(String::from)),
        search: Set(new.name.search_text()),
        name: Set(to_json(&new.name)),
        kind: Set(new.kind.as_str().to_owned()),
        country: Set(new.country.to_string()),
        city: Set(new.city.map(Line::into_string)),
        website: Set(new.website.map(Line::into_string)),
        iati_org_id: Set(new.iati_org_id.map(Line::into_string)),
        time_zone: Set(new.time_zone.map(String::from)),
        contact_email: Set(new.contact_email.map(String::from)),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| AppError::from(e).on_duplicate(DUPLICATE))?;
    let view = Institution::from(row);
    uow.record(Change::created(KIND, view.id, &view));
    Ok(view)
}

pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Institution> {
    uow.actor().require_admin()?;
    let current: institution::Model = versioned::locked(uow.db(), id).await?;
    let moves_clock = c.time_zone.is_some() || c.country.is_some();
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(code) = c.code {
            row.code = Set(code.map(String::from));
        }
        if let Some(name) = c.name {
            row.search = Set(name.search_text());
            row.name = Set(to_json(&name));
        }
        if let Some(kind) = c.kind {
            row.kind = Set(kind.as_str().to_owned());
        }
        if let Some(country) = c.country {
            row.country = Set(country.to_string());
        }
        if let Some(city) = c.city {
            row.city = Set(city.map(Line::into_string));
        }
        if let Some(website) = c.website {
            row.website = Set(website.map(Line::into_string));
        }
        if let Some(iati) = c.iati_org_id {
            row.iati_org_id = Set(iati.map(Line::into_string));
        }
        if let Some(zone) = c.time_zone {
            row.time_zone = Set(zone.map(String::from));
        }
        if let Some(email) = c.contact_email {
            row.contact_email = Set(email.map(String::from));
        }
    })
    .await
    .map_err(|e| e.on_duplicate(DUPLICATE))?;
    if moves_clock {
        // The projects it leads keep their deadlines in its zone.
        for project_id in led_projects(uow.db(), id).await? {
            super::projects::refresh_zone(uow, project_id).await?;
        }
    }
    Ok(view)
}

async fn led_projects(db: &impl ConnectionTrait, institution_id: Uuid) -> AppResult<Vec<Uuid>> {
    Ok(participant::Entity::find()
        .select_only()
        .column(participant::Column::ProjectId)
        .filter(participant::Column::InstitutionId.eq(institution_id))
        .filter(participant::Column::Role.eq(ParticipantRole::Lead))
        .into_tuple()
        .all(db)
        .await?)
}

/// Deletes an institution nothing refers to.
pub async fn delete(uow: &mut UnitOfWork, id: Uuid) -> AppResult<()> {
    uow.actor().require_admin()?;
    let current: institution::Model = versioned::locked(uow.db(), id).await?;
    let before = Institution::from(current);
    institution::Entity::delete_by_id(id)
        .exec(uow.db())
        .await
        .map_err(|e| {
            AppError::from(e)
                .on_still_referenced("memberships, projects, funds, grants or tokens still refer to this institution")
        })?;
    uow.record(Change::deleted(KIND, id, &before));
    Ok(())
}
