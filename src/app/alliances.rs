//! The alliances of the cooperation and their members.
//!
//! A membership is never deleted: ending it sets `left_on`, so the history of
//! who belonged when stays. At most one membership of an institution in an
//! alliance is active at a time (the unique index `memberships_one_active`).

use super::institutions::check_reference;
use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork, to_json};
use crate::domain::kinds::MemberRole;
use crate::domain::{Code, FocusArea, LongText, ShortText};
use crate::entities::{alliance, membership};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

const NO_INSTITUTION: &str = "no institution has this id";

/// An alliance of the cooperation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alliance {
    pub id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    #[schema(value_type = Option<LongText>)]
    pub description: Option<serde_json::Value>,
    pub founded_on: NaiveDate,
    /// The institution that hosts the secretariat.
    pub secretariat_institution_id: Option<Uuid>,
    #[schema(value_type = Vec<FocusArea>)]
    pub focus_areas: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<alliance::Model> for Alliance {
    fn from(m: alliance::Model) -> Self {
        Alliance {
            id: m.id,
            code: m.code,
            name: m.name,
            description: m.description,
            founded_on: m.founded_on,
            secretariat_institution_id: m.secretariat_institution_id,
            focus_areas: m.focus_areas,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

record!(alliance => Alliance, "alliance");

/// The membership of an institution in an alliance; `left_on` is set once it ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Membership {
    pub id: Uuid,
    pub alliance_id: Uuid,
    pub institution_id: Uuid,
    #[schema(value_type = MemberRole)]
    pub role: String,
    pub joined_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<membership::Model> for Membership {
    fn from(m: membership::Model) -> Self {
        Membership {
            id: m.id,
            alliance_id: m.alliance_id,
            institution_id: m.institution_id,
            role: m.role,
            joined_on: m.joined_on,
            left_on: m.left_on,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

record!(membership => Membership, "membership");

/// Focus areas as stored: distinct, in the order given.
pub fn focus_json(areas: Vec<FocusArea>) -> serde_json::Value {
    let mut distinct: Vec<String> = Vec::with_capacity(areas.len());
    for area in areas {
        let area = String::from(area);
        if !distinct.contains(&area) {
            distinct.push(area);
        }
    }
    serde_json::Value::from(distinct)
}

pub struct New {
    pub code: Code,
    pub name: ShortText,
    pub description: Option<LongText>,
    pub founded_on: NaiveDate,
    pub secretariat_institution_id: Option<Uuid>,
    pub focus_areas: Vec<FocusArea>,
}

/// Absent fields (`None`) stay; `Some(None)` clears an optional one.
#[derive(Default)]
pub struct Changes {
    pub code: Option<Code>,
    pub name: Option<ShortText>,
    pub description: Option<Option<LongText>>,
    pub founded_on: Option<NaiveDate>,
    pub secretariat_institution_id: Option<Option<Uuid>>,
    pub focus_areas: Option<Vec<FocusArea>>,
}

const DUPLICATE: &str = "an alliance with this code already exists";

/// The foreign key still guards a reference whose institution was deleted
/// between a check and the write; that is the client's 422 too.
fn refused(field: &'static str) -> impl Fn(AppError) -> AppError {
    move |e| e.on_duplicate(DUPLICATE).on_missing_reference(field, NO_INSTITUTION)
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<Alliance> {
    uow.actor().require_admin()?;
    check_reference(uow.db(), "secretariat_institution_id", new.secretariat_institution_id).await?;
    let row = alliance::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(new.code.into()),
        search: Set(new.name.search_text()),
        name: Set(to_json(&new.name)),
        description: Set(new.description.as_ref().map(to_json)),
        founded_on: Set(new.founded_on),
        secretariat_institution_id: Set(new.secretariat_institution_id),
        focus_areas: Set(focus_json(new.focus_areas)),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| refused("secretariat_institution_id")(e.into()))?;
    let view = Alliance::from(row);
    uow.record(Change::created("alliance", view.id, &view));
    Ok(view)
}

pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Alliance> {
    uow.actor().require_admin()?;
    check_reference(
        uow.db(),
        "secretariat_institution_id",
        c.secretariat_institution_id.flatten(),
    )
    .await?;
    let current: alliance::Model = versioned::locked(uow.db(), id).await?;
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(code) = c.code {
            row.code = Set(code.into());
        }
        if let Some(name) = c.name {
            row.search = Set(name.search_text());
            row.name = Set(to_json(&name));
        }
        if let Some(description) = c.description {
            row.description = Set(description.as_ref().map(to_json));
        }
        if let Some(founded_on) = c.founded_on {
            row.founded_on = Set(founded_on);
        }
        if let Some(secretariat) = c.secretariat_institution_id {
            row.secretariat_institution_id = Set(secretariat);
        }
        if let Some(focus) = c.focus_areas {
            row.focus_areas = Set(focus_json(focus));
        }
    })
    .await
    .map_err(refused("secretariat_institution_id"))?;
    Ok(view)
}

/// Loads an alliance, or `NotFound`. Inside a write it is locked, so that
/// changes to one alliance's members queue behind each other (PostgreSQL;
/// SQLite writes are serialized already).
pub async fn alliance_for(db: &impl ConnectionTrait, id: Uuid, lock: bool) -> AppResult<alliance::Model> {
    let mut select = alliance::Entity::find_by_id(id);
    if lock {
        select = select.lock_exclusive();
    }
    select.one(db).await?.ok_or(AppError::NotFound)
}

/// The current membership of an institution in an alliance, or `NotFound`.
pub async fn active_membership(
    db: &impl ConnectionTrait,
    alliance_id: Uuid,
    institution_id: Uuid,
) -> AppResult<membership::Model> {
    membership::Entity::find()
        .filter(membership::Column::AllianceId.eq(alliance_id))
        .filter(membership::Column::InstitutionId.eq(institution_id))
        .filter(membership::Column::LeftOn.is_null())
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// A membership may not begin before the institution's previous one in the
/// alliance ended, so the history never overlaps.
async fn check_joined_after(
    db: &impl ConnectionTrait,
    alliance_id: Uuid,
    institution_id: Uuid,
    joined_on: NaiveDate,
) -> AppResult<()> {
    let last = membership::Entity::find()
        .filter(membership::Column::AllianceId.eq(alliance_id))
        .filter(membership::Column::InstitutionId.eq(institution_id))
        .filter(membership::Column::LeftOn.is_not_null())
        .order_by_desc(membership::Column::LeftOn)
        .one(db)
        .await?;
    match last.and_then(|m| m.left_on) {
        Some(left) if joined_on < left => Err(AppError::field(
            "joined_on",
            format!("may not be before {left}, when the previous membership ended"),
        )),
        _ => Ok(()),
    }
}

pub struct NewMember {
    pub institution_id: Uuid,
    pub role: MemberRole,
    pub joined_on: NaiveDate,
}

#[derive(Default)]
pub struct MemberChanges {
    pub role: Option<MemberRole>,
    pub joined_on: Option<NaiveDate>,
}

pub async fn add_member(uow: &mut UnitOfWork, alliance_id: Uuid, new: NewMember) -> AppResult<Membership> {
    uow.actor().require_admin()?;
    alliance_for(uow.db(), alliance_id, true).await?;
    check_reference(uow.db(), "institution_id", Some(new.institution_id)).await?;
    check_joined_after(uow.db(), alliance_id, new.institution_id, new.joined_on).await?;
    let row = membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        alliance_id: Set(alliance_id),
        institution_id: Set(new.institution_id),
        role: Set(new.role.as_str().to_owned()),
        joined_on: Set(new.joined_on),
        left_on: Set(None),
        ..Default::default()
    }
    .insert(uow.db())
    .await
    .map_err(|e| {
        AppError::from(e)
            .on_duplicate("this institution is already an active member of the alliance")
            .on_missing_reference("institution_id", NO_INSTITUTION)
    })?;
    let view = Membership::from(row);
    uow.record(Change::created("membership", view.id, &view));
    Ok(view)
}

pub async fn update_member(
    uow: &mut UnitOfWork,
    alliance_id: Uuid,
    institution_id: Uuid,
    expected: Expected,
    c: MemberChanges,
) -> AppResult<Membership> {
    uow.actor().require_admin()?;
    alliance_for(uow.db(), alliance_id, true).await?;
    let current = active_membership(uow.db(), alliance_id, institution_id).await?;
    expected.check(current.version)?;
    if let Some(joined_on) = c.joined_on {
        check_joined_after(uow.db(), alliance_id, institution_id, joined_on).await?;
    }
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(role) = c.role {
            row.role = Set(role.as_str().to_owned());
        }
        if let Some(joined_on) = c.joined_on {
            row.joined_on = Set(joined_on);
        }
    })
    .await?;
    Ok(view)
}

/// Ends the membership today (UTC); it stays listed with `left_on`.
pub async fn end_member(
    uow: &mut UnitOfWork,
    alliance_id: Uuid,
    institution_id: Uuid,
    expected: Expected,
) -> AppResult<Membership> {
    uow.actor().require_admin()?;
    alliance_for(uow.db(), alliance_id, true).await?;
    let current = active_membership(uow.db(), alliance_id, institution_id).await?;
    // A membership recorded ahead of its start ends on the day it would
    // have begun, so `left_on` is never before `joined_on`.
    let left_on = Utc::now().date_naive().max(current.joined_on);
    let how = How::Named {
        action: "end",
        event: "ended",
    };
    let (_, view) = versioned::update(uow, current, expected, how, |row| row.left_on = Set(Some(left_on))).await?;
    Ok(view)
}
