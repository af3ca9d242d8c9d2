//! Reference data from REFERENCE.md, kept in `seed/reference.json` and
//! loaded idempotently: a record whose code exists is left as it is.

mod demo;

pub use demo::{Added as DemoAdded, DemoError, SAMPLE_PREFIX, demo};

use crate::entities::{alliance, fund, institution};
use crate::http::write::{Change, record};
use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

const REFERENCE: &str = include_str!("../seed/reference.json");
const ACTOR: &str = "system:seed";

type Text = BTreeMap<String, String>;

#[derive(Deserialize)]
struct Reference {
    institutions: Vec<RefInstitution>,
    alliances: Vec<RefAlliance>,
    funds: Vec<RefFund>,
}

#[derive(Deserialize)]
struct RefInstitution {
    code: String,
    name: Text,
    kind: String,
    country: String,
    city: Option<String>,
}

#[derive(Deserialize)]
struct RefAlliance {
    code: String,
    name: Text,
    description: Option<Text>,
    founded_on: NaiveDate,
    secretariat: Option<String>,
    focus_areas: Vec<String>,
}

#[derive(Deserialize)]
struct RefFund {
    code: String,
    name: Text,
    currency: String,
    sponsor: String,
    established_on: NaiveDate,
    focus_areas: Vec<String>,
}

fn search_text(t: &Text) -> String {
    t.values().cloned().collect::<Vec<_>>().join("\n").to_lowercase()
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Loads the reference data when the database has no institution at all.
pub async fn reference_if_empty(db: &DatabaseConnection) -> Result<usize, DbErr> {
    if institution::Entity::find().count(db).await? > 0 {
        return Ok(0);
    }
    reference(db).await
}

/// Adds whatever reference record is missing; returns how many were added.
pub async fn reference(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let data: Reference = serde_json::from_str(REFERENCE).map_err(|e| DbErr::Custom(format!("reference.json: {e}")))?;
    let txn = db.begin().await?;
    let now = Utc::now();
    let mut added = 0;
    let mut ids: BTreeMap<String, Uuid> = BTreeMap::new();

    for i in data.institutions {
        let existing = institution::Entity::find()
            .filter(institution::Column::Code.eq(&i.code))
            .one(&txn)
            .await?;
        let id = match existing {
            Some(row) => row.id,
            None => {
                let row = institution::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                    code: Set(Some(i.code.clone())),
                    name: Set(json(&i.name)),
                    search: Set(search_text(&i.name)),
                    kind: Set(i.kind),
                    country: Set(i.country),
                    city: Set(i.city),
                    website: Set(None),
                    iati_org_id: Set(None),
                }
                .insert(&txn)
                .await?;
                record(
                    &txn,
                    None,
                    ACTOR,
                    Change::created("institution", row.id, &json(&row.name)),
                )
                .await?;
                added += 1;
                row.id
            }
        };
        ids.insert(i.code, id);
    }

    for a in data.alliances {
        if alliance::Entity::find()
            .filter(alliance::Column::Code.eq(&a.code))
            .one(&txn)
            .await?
            .is_some()
        {
            continue;
        }
        let row = alliance::ActiveModel {
            id: Set(Uuid::now_v7()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            code: Set(a.code),
            name: Set(json(&a.name)),
            description: Set(a.description.as_ref().map(json)),
            search: Set(search_text(&a.name)),
            founded_on: Set(a.founded_on),
            secretariat_institution_id: Set(a.secretariat.and_then(|c| ids.get(&c).copied())),
            focus_areas: Set(json(&a.focus_areas)),
        }
        .insert(&txn)
        .await?;
        record(&txn, None, ACTOR, Change::created("alliance", row.id, &json(&row.name))).await?;
        added += 1;
    }

    for f in data.funds {
        if fund::Entity::find()
            .filter(fund::Column::Code.eq(&f.code))
            .one(&txn)
            .await?
            .is_some()
        {
            continue;
        }
        let sponsor = ids
            .get(&f.sponsor)
            .copied()
            .ok_or_else(|| DbErr::Custom(format!("reference.json: unknown sponsor {}", f.sponsor)))?;
        let row = fund::ActiveModel {
            id: Set(Uuid::now_v7()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            code: Set(f.code),
            name: Set(json(&f.name)),
            search: Set(search_text(&f.name)),
            currency: Set(f.currency),
            sponsor_institution_id: Set(sponsor),
            established_on: Set(f.established_on),
            focus_areas: Set(json(&f.focus_areas)),
        }
        .insert(&txn)
        .await?;
        record(&txn, None, ACTOR, Change::created("fund", row.id, &json(&row.name))).await?;
        added += 1;
    }
    txn.commit().await?;
    Ok(added)
}
