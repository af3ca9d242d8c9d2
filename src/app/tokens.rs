//! API tokens. A secret is random, shown once and stored only as its
//! SHA-256 hash: a leaked database does not leak usable tokens.
//!
//! Revoking is the only way a token ends; revoked tokens stay listed. A
//! token may revoke itself (rotation: create the new one, retire the old),
//! but the last live admin token cannot be revoked, so the service is never
//! left without an administrator.

use super::{AppError, AppResult, Change, UnitOfWork};
use crate::domain::kinds::Role;
use crate::entities::{institution, token};
use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "token";

/// An API token, without its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The institution a partner token is bound to; null for admin and viewer tokens.
    pub institution_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once the token is revoked; a revoked token answers 401.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<token::Model> for Token {
    fn from(m: token::Model) -> Self {
        Token {
            id: m.id,
            name: m.name,
            role: m.role,
            institution_id: m.institution_id,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// A new random secret: `ctk_` and 43 URL-safe characters (256 bits).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("ctk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The live token a presented secret belongs to, if any, and a note that it
/// was used (`last_used_at`, at most once a minute per token, so reads stay
/// reads). Looked up in the database on every request, so a revocation holds
/// at once on every instance.
pub async fn presented(db: &impl ConnectionTrait, secret: &str) -> AppResult<Option<token::Model>> {
    let hash = hash_secret(secret);
    let Some(row) = token::Entity::find()
        .filter(token::Column::SecretHash.eq(&hash))
        .filter(token::Column::RevokedAt.is_null())
        .one(db)
        .await?
        // The database found the row by an ordinary comparison; the last check is in constant time.
        .filter(|row| bool::from(row.secret_hash.as_bytes().ct_eq(hash.as_bytes())))
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if row.last_used_at.is_none_or(|t| now - t >= chrono::Duration::minutes(1)) {
        let used = token::ActiveModel {
            id: Set(row.id),
            last_used_at: Set(Some(now)),
            ..Default::default()
        };
        // Bookkeeping only: a failure to note the use must not refuse the request.
        if let Err(e) = used.update(db).await {
            tracing::warn!(error = %e, "could not record token use");
        }
    }
    Ok(Some(row))
}

/// A token just made, and its secret (never stored).
pub struct Created {
    pub token: Token,
    pub secret: String,
}

pub struct New {
    pub name: String,
    pub role: Role,
    /// Required for, and only for, a partner token (the caller checks which).
    pub institution_id: Option<Uuid>,
}

async fn insert(uow: &mut UnitOfWork, new: New, secret: &str) -> AppResult<Token> {
    uow.actor().require_admin()?;
    if let Some(institution_id) = new.institution_id {
        // Shared lock: the institution cannot be deleted under the new token.
        let found = institution::Entity::find_by_id(institution_id)
            .lock_shared()
            .one(uow.db())
            .await?;
        if found.is_none() {
            return Err(AppError::field("institution_id", "no institution has this id"));
        }
    }
    let row = token::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        role: Set(new.role),
        institution_id: Set(new.institution_id),
        secret_hash: Set(hash_secret(secret)),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(uow.db())
    .await?;
    let view = Token::from(row);
    uow.record(Change::created(KIND, view.id, &view));
    Ok(view)
}

/// Makes a token with a fresh secret; the secret is returned once.
pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<Created> {
    let secret = new_secret();
    let token = insert(uow, new, &secret).await?;
    Ok(Created { token, secret })
}

/// Makes sure a live admin token with this secret exists (from
/// `CLIMATE_TRACKER_ADMIN_TOKEN`); returns it when it had to be made. A
/// revoked or demoted configured token stays as it is: revocation wins
/// over configuration.
pub async fn ensure_admin(uow: &mut UnitOfWork, secret: &str) -> AppResult<Option<Token>> {
    let exists = token::Entity::find()
        .filter(token::Column::SecretHash.eq(hash_secret(secret)))
        .one(uow.db())
        .await?;
    match exists {
        Some(t) if t.revoked_at.is_none() && t.role == Role::Admin => Ok(None),
        Some(_) => {
            tracing::warn!("CLIMATE_TRACKER_ADMIN_TOKEN names a revoked or non-admin token; it is not restored");
            Ok(None)
        }
        None => {
            let new = New {
                name: "configured admin".into(),
                role: Role::Admin,
                institution_id: None,
            };
            insert(uow, new, secret).await.map(Some)
        }
    }
}

pub async fn any_exist(db: &impl ConnectionTrait) -> AppResult<bool> {
    Ok(token::Entity::find().count(db).await? > 0)
}

/// Revokes a token: it answers 401 from now on, on every instance. Revoking
/// a revoked token changes nothing and records nothing (`Ok(None)`).
pub async fn revoke(uow: &mut UnitOfWork, id: Uuid) -> AppResult<Option<Token>> {
    uow.actor().require_admin()?;
    // A role never changes, so reading it unlocked is safe.
    let target = token::Entity::find_by_id(id)
        .one(uow.db())
        .await?
        .ok_or(AppError::NotFound)?;
    if target.role == Role::Admin {
        // Lock every live admin token, in id order so that concurrent
        // revocations queue instead of deadlocking: two admins revoking each
        // other at once cannot both succeed.
        let live_admins = token::Entity::find()
            .filter(token::Column::Role.eq(Role::Admin))
            .filter(token::Column::RevokedAt.is_null())
            .order_by_asc(token::Column::Id)
            .lock_exclusive()
            .all(uow.db())
            .await?;
        if live_admins.iter().all(|t| t.id == id) && live_admins.iter().any(|t| t.id == id) {
            return Err(AppError::conflict(
                "invalid_state",
                "this is the last live admin token; create another admin token before revoking it",
            ));
        }
    }
    let current = token::Entity::find_by_id(id)
        .lock_exclusive()
        .one(uow.db())
        .await?
        .ok_or(AppError::NotFound)?;
    if current.revoked_at.is_some() {
        return Ok(None);
    }
    let before = Token::from(current.clone());
    let mut row: token::ActiveModel = current.into();
    row.revoked_at = Set(Some(Utc::now()));
    let after = Token::from(row.update(uow.db()).await?);
    uow.record(Change::named("revoke", "revoked", KIND, id, &before, &after));
    Ok(Some(after))
}

/// Makes a token in a unit of work of its own, as the system (`token
/// create` on the command line, the first admin at start-up); audited like
/// any other.
pub async fn create_as_system(db: &sea_orm::DatabaseConnection, why: &str, new: New) -> AppResult<Created> {
    let mut uow = UnitOfWork::begin(db, super::Actor::system(why)).await?;
    let created = create(&mut uow, new).await?;
    uow.commit().await?;
    Ok(created)
}
