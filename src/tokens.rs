//! Token records outside HTTP: created by the CLI and at start-up.

use crate::domain::kinds::Role;
use crate::entities::token;
use crate::http::auth::{hash_secret, new_secret};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

pub struct Created {
    pub id: Uuid,
    pub secret: String,
    pub row: token::Model,
}

/// Stores a new token with a fresh secret; the secret is returned once and only its hash is kept.
pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
    institution_id: Option<Uuid>,
) -> Result<Created, DbErr> {
    let secret = new_secret();
    let row = insert(db, name, role, institution_id, &secret).await?;
    Ok(Created {
        id: row.id,
        secret,
        row,
    })
}

async fn insert(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
    institution_id: Option<Uuid>,
    secret: &str,
) -> Result<token::Model, DbErr> {
    token::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        role: Set(role.as_str().to_owned()),
        institution_id: Set(institution_id),
        secret_hash: Set(hash_secret(secret)),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
}

/// Makes sure a live admin token with this secret exists (from `CLIMATE_TRACKER_ADMIN_TOKEN`).
pub async fn ensure_admin(db: &impl ConnectionTrait, secret: &str) -> Result<(), DbErr> {
    let exists = token::Entity::find()
        .filter(token::Column::SecretHash.eq(hash_secret(secret)))
        .one(db)
        .await?;
    match exists {
        Some(t) if t.revoked_at.is_none() && t.role == Role::Admin.as_str() => Ok(()),
        // A revoked or demoted configured token stays as it is: revocation wins over configuration.
        Some(_) => {
            tracing::warn!("CLIMATE_TRACKER_ADMIN_TOKEN names a revoked or non-admin token; it is not restored");
            Ok(())
        }
        None => insert(db, "configured admin", Role::Admin, None, secret)
            .await
            .map(|_| ()),
    }
}

pub async fn any_exist(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(token::Entity::find().count(db).await? > 0)
}
