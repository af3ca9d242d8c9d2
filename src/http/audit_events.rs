//! `/audit-events`: who changed what, when, admin only. Events are written
//! by [`super::write::Write::commit`] in the transaction of each change and
//! never altered.
//!
//! The events form a hash chain, and `/audit-events/verify` walks it: an
//! event edited, inserted or deleted behind the service's back shows as the
//! first place the chain breaks. (Someone able to rewrite the whole table
//! could rewrite every hash after an edit too; keeping the reported
//! `last_hash` somewhere else, now and then, makes that visible as well.)

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::Query;
use super::pagination::{Page, PageRequest};
use super::tokens::Admin;
use crate::entities::audit_chain_head;
use crate::entities::audit_event::{self, GENESIS_HASH};
use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(verify))
}

/// One change, as it was recorded.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The token that made the change; null for the system (reference data loaded at start-up).
    pub token_id: Option<Uuid>,
    /// The token's name at the time of the change.
    pub token_name: String,
    /// `create`, `update`, `delete`, `revoke`, or an action such as `transition:active`.
    #[schema(example = "create")]
    pub action: String,
    #[schema(example = "institution")]
    pub entity_type: String,
    pub entity_id: Uuid,
    /// The resource before the change; null for a create.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The resource after the change; null for a delete.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// Place in the audit hash chain, from 1.
    pub seq: Option<i64>,
    /// `hash` of the event before this one in the chain (64 zeros for the first).
    #[schema(example = "9f2c0c6f5a3e4b1d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d")]
    pub prev_hash: Option<String>,
    /// SHA-256 (hex) of this event's content and `prev_hash`.
    #[schema(example = "4b1d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d9f2c0c6f5a3e")]
    pub hash: Option<String>,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(m: audit_event::Model) -> Self {
        AuditEvent {
            id: m.id,
            occurred_at: m.occurred_at,
            token_id: m.token_id,
            token_name: m.token_name,
            action: m.action,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            before: m.before,
            after: m.after,
            seq: m.seq,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAuditEvents {
    /// Only events about this kind of resource, e.g. `institution`, `grant`, `token`.
    entity_type: Option<String>,
    /// Only events about this resource.
    entity_id: Option<Uuid>,
    /// Only events made with this token (its id).
    actor: Option<Uuid>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/audit-events", tag = "audit", params(ListAuditEvents),
    responses((status = 200, description = "A page of audit events, oldest first", body = Page<AuditEvent>)))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<ListAuditEvents>,
) -> ApiResult<axum::Json<Page<AuditEvent>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = audit_event::Entity::find();
    if let Some(entity_type) = q.entity_type.as_deref().filter(|t| !t.is_empty()) {
        select = select.filter(audit_event::Column::EntityType.eq(entity_type));
    }
    if let Some(entity_id) = q.entity_id {
        select = select.filter(audit_event::Column::EntityId.eq(entity_id));
    }
    if let Some(actor) = q.actor {
        select = select.filter(audit_event::Column::TokenId.eq(actor));
    }
    if let Some(after) = page.after {
        select = select.filter(audit_event::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(audit_event::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, AuditEvent::from)))
}

/// The result of walking the audit hash chain.
#[derive(Serialize, ToSchema)]
pub struct ChainReport {
    /// True when every event is intact, in place, and nothing is missing.
    pub ok: bool,
    /// Events in the chain, as far as the head recorded when the walk began.
    pub events: u64,
    /// The first place the chain breaks; null when `ok`.
    pub first_broken: Option<ChainBreak>,
    /// `seq` of the last event (0 when there is none).
    pub last_seq: i64,
    /// `hash` of the last event: keep it elsewhere to detect a later rewrite of the whole chain.
    pub last_hash: String,
}

/// Where and how the chain breaks.
#[derive(Serialize, ToSchema)]
pub struct ChainBreak {
    /// The event at which the break shows; null when events are missing at the end.
    pub id: Option<Uuid>,
    /// Its place in the chain (for missing events at the end, the first missing place).
    pub seq: Option<i64>,
    pub reason: BreakReason,
    #[schema(example = "its content does not match its hash: it was edited after it was written")]
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The event's content does not match its hash.
    Altered,
    /// The event does not link to the hash of the event before it.
    Relinked,
    /// Events are missing before this one (or at the end of the chain).
    Missing,
    /// The event is outside the chain: written around the service.
    Unchained,
}

/// Events read per query while walking the chain.
const VERIFY_BATCH: u64 = 1000;

#[utoipa::path(get, path = "/audit-events/verify", tag = "audit",
    responses((status = 200, description = "The chain was walked; `ok` says whether it is intact", body = ChainReport)))]
async fn verify(State(state): State<AppState>, _admin: Admin) -> ApiResult<axum::Json<ChainReport>> {
    // The head first: events appended while we walk are past it and left for next time.
    let head = audit_chain_head::Entity::find_by_id(1)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::Internal("audit_chain_head has no row".into()))?;
    let mut walk = Walk::new();
    loop {
        let batch = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gt(walk.last_seq))
            .filter(audit_event::Column::Seq.lte(head.seq))
            .order_by_asc(audit_event::Column::Seq)
            .limit(VERIFY_BATCH)
            .all(&state.db)
            .await?;
        let done = (batch.len() as u64) < VERIFY_BATCH;
        for event in &batch {
            walk.step(event);
        }
        if done {
            break;
        }
    }
    walk.finish(&head);
    if walk.first_broken.is_none() {
        let unchained = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.is_null())
            .order_by_asc(audit_event::Column::Id)
            .one(&state.db)
            .await?;
        if let Some(event) = unchained {
            let count = audit_event::Entity::find()
                .filter(audit_event::Column::Seq.is_null())
                .count(&state.db)
                .await?;
            walk.first_broken = Some(ChainBreak {
                id: Some(event.id),
                seq: None,
                reason: BreakReason::Unchained,
                detail: format!("{count} event(s) have no place in the chain: written around the service"),
            });
        }
    }
    Ok(axum::Json(ChainReport {
        ok: walk.first_broken.is_none(),
        events: walk.events,
        first_broken: walk.first_broken,
        last_seq: walk.last_seq,
        last_hash: walk.last_hash,
    }))
}

/// The state of a walk along the chain, event by event in `seq` order.
struct Walk {
    events: u64,
    last_seq: i64,
    last_hash: String,
    first_broken: Option<ChainBreak>,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            events: 0,
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            first_broken: None,
        }
    }

    fn step(&mut self, event: &audit_event::Model) {
        let seq = event.seq.unwrap_or_default();
        let problem = if seq != self.last_seq + 1 {
            Some((
                BreakReason::Missing,
                format!("the events at seq {} to {} are missing", self.last_seq + 1, seq - 1),
            ))
        } else if event.prev_hash.as_deref() != Some(self.last_hash.as_str()) {
            Some((
                BreakReason::Relinked,
                "it does not link to the event before it: that one was replaced or re-hashed".to_owned(),
            ))
        } else if event.hash.as_deref() != Some(event.chain_hash().as_str()) {
            Some((
                BreakReason::Altered,
                "its content does not match its hash: it was edited after it was written".to_owned(),
            ))
        } else {
            None
        };
        if let Some((reason, detail)) = problem {
            self.first_broken.get_or_insert(ChainBreak {
                id: Some(event.id),
                seq: Some(seq),
                reason,
                detail,
            });
        }
        self.events += 1;
        self.last_seq = seq;
        self.last_hash = event.hash.clone().unwrap_or_default();
    }

    /// The walk must end where the head says the chain ends.
    fn finish(&mut self, head: &audit_chain_head::Model) {
        if self.last_seq < head.seq {
            self.first_broken.get_or_insert(ChainBreak {
                id: None,
                seq: Some(self.last_seq + 1),
                reason: BreakReason::Missing,
                detail: format!(
                    "the chain ends at seq {} but {} events were written: the last ones are missing",
                    self.last_seq, head.seq
                ),
            });
        } else if self.last_hash != head.hash {
            self.first_broken.get_or_insert(ChainBreak {
                id: None,
                seq: Some(self.last_seq),
                reason: BreakReason::Relinked,
                detail: "the last event's hash is not the one the chain's head recorded".to_owned(),
            });
        }
    }
}
