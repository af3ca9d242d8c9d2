use sea_orm::entity::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: DateTimeUtc,
    pub token_id: Option<Uuid>,
    pub token_name: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub before: Option<Json>,
    pub after: Option<Json>,
    /// Place in the hash chain, from 1; null only for an event written
    /// before the chain existed and not yet chained (see `write::seal_unchained`).
    pub seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

/// `prev_hash` of the first event of the chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an event's hash covers, in a fixed field order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: Option<i64>,
    prev_hash: Option<&'a str>,
    id: Uuid,
    occurred_at: String,
    token_id: Option<Uuid>,
    token_name: &'a str,
    action: &'a str,
    entity_type: &'a str,
    entity_id: Uuid,
    before: Option<Json>,
    after: Option<Json>,
}

impl Model {
    /// SHA-256 (lower-case hex) of the event's content and `prev_hash`.
    ///
    /// The serialization is the same whichever backend the event was read
    /// from: time in RFC 3339 UTC with exactly microseconds (PostgreSQL keeps
    /// no more), and JSON with object keys sorted (PostgreSQL may reorder
    /// them, and the same object reads back equal in any order).
    pub fn chain_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            prev_hash: self.prev_hash.as_deref(),
            id: self.id,
            occurred_at: self.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            token_id: self.token_id,
            token_name: &self.token_name,
            action: &self.action,
            entity_type: &self.entity_type,
            entity_id: self.entity_id,
            before: self.before.as_ref().map(sorted_keys),
            after: self.after.as_ref().map(sorted_keys),
        };
        // A struct of strings, ids and JSON values always serializes.
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The same JSON with every object's keys in sorted order.
fn sorted_keys(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Json::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted_keys(v))).collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Model {
        Model {
            id: Uuid::nil(),
            occurred_at: chrono::DateTime::from_timestamp(1_764_000_000, 123_456_789).unwrap_or_default(),
            token_id: None,
            token_name: "system".into(),
            action: "create".into(),
            entity_type: "institution".into(),
            entity_id: Uuid::nil(),
            before: None,
            after: Some(serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}})),
            seq: Some(1),
            prev_hash: Some(GENESIS_HASH.into()),
            hash: None,
        }
    }

    #[test]
    fn the_hash_ignores_key_order_and_sub_microsecond_time() {
        let a = event();
        let mut b = event();
        b.after = Some(serde_json::json!({"a": {"c": "x", "d": [1, {"y": 1, "z": 0}]}, "b": 1}));
        b.occurred_at = chrono::DateTime::from_timestamp(1_764_000_000, 123_456_000).unwrap_or_default();
        assert_eq!(a.chain_hash(), b.chain_hash());
        assert_eq!(a.chain_hash().len(), 64);
    }

    #[test]
    fn the_hash_covers_content_and_link() {
        let base = event().chain_hash();
        let mut changed = event();
        changed.action = "delete".into();
        assert_ne!(changed.chain_hash(), base);
        let mut relinked = event();
        relinked.prev_hash = Some("1".repeat(64));
        assert_ne!(relinked.chain_hash(), base);
        let mut moved = event();
        moved.seq = Some(2);
        assert_ne!(moved.chain_hash(), base);
    }
}
