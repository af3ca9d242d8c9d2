//! `/audit-events`: who changed what, when, admin only. Events are written
//! by [`super::write::Write::commit`] in the transaction of each change and
//! never altered.

use super::AppState;
use super::error::ApiResult;
use super::extract::Query;
use super::pagination::{Page, PageRequest};
use super::tokens::Admin;
use crate::entities::audit_event;
use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
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
