//! `/events`: the outbox as a feed, oldest first. Every audited change
//! appends its events in its own transaction, numbered in commit order
//! (`seq`), so a reader that keeps the last `seq` it saw and asks for what
//! follows never misses one and never sees one twice. With `wait`, the
//! request is held open until an event past `after` exists.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Query;
use super::pagination::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use crate::app::access;
use crate::domain::kinds::Role;
use crate::entities::event;
use crate::store::outbox;
use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// One change, as the outbox recorded it.
#[derive(Serialize, ToSchema)]
pub struct Event {
    pub id: Uuid,
    /// Position in the feed: grows in commit order, across instances.
    pub seq: i64,
    /// `<entity>.<action>`, e.g. `grant.transitioned`, `milestone.achieved`.
    #[serde(rename = "type")]
    #[schema(example = "grant.transitioned")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    #[schema(example = "grant")]
    pub entity_type: String,
    pub entity_id: Uuid,
    pub project_id: Option<Uuid>,
    /// The entity as the API shows it after the change (as it last was, for a delete).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<event::Model> for Event {
    fn from(m: event::Model) -> Self {
        Event {
            id: m.id,
            seq: m.seq,
            kind: m.kind,
            occurred_at: m.occurred_at,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            project_id: m.project_id,
            data: m.data,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEvents {
    /// The `seq` of the last event seen; 0 or absent for the start.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Comma-separated event types, e.g. `grant.transitioned,milestone.achieved`; default all.
    #[param(pattern = r"^[a-z_]+\.[a-z_]+(,[a-z_]+\.[a-z_]+)*$")]
    types: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    /// 1 to 30: hold the request until an event past `after` exists, or
    /// this many seconds pass (then an empty page). While an eighth of the
    /// instance's request slots are held by waiting requests, it answers at once.
    #[param(minimum = 1, maximum = 30)]
    wait: Option<u64>,
}

/// Entity types whose events only admins read.
const ADMIN_ONLY: [&str; 2] = ["token", "webhook"];

/// How often a waiting request looks again for events written by other
/// instances (this instance's own commits wake it at once).
const LOOK_AGAIN: Duration = Duration::from_millis(500);

struct Feed {
    after: i64,
    types: Vec<String>,
    limit: u64,
    wait: Option<Duration>,
}

fn parse(q: ListEvents) -> ApiResult<Feed> {
    let mut errors = Vec::new();
    let after = q.after.unwrap_or(0);
    if after < 0 {
        errors.push(super::error::FieldError::new("after", "must be 0 or more"));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.push(super::error::FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let types: Vec<String> = q
        .types
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let well_formed = |t: &String| {
        t.split_once('.').is_some_and(|(e, a)| {
            [e, a]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        })
    };
    if !types.iter().all(well_formed) {
        errors.push(super::error::FieldError::new(
            "types",
            "must be event types such as grant.transitioned, separated by commas",
        ));
    }
    if q.wait.is_some_and(|w| !(1..=30).contains(&w)) {
        errors.push(super::error::FieldError::new(
            "wait",
            "must be between 1 and 30 seconds",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(Feed {
        after,
        types,
        limit,
        wait: q.wait.map(Duration::from_secs),
    })
}

/// The events past `after` the caller may read: partners those of their
/// projects (grant money only when theirs), viewers all but tokens' own.
async fn page(state: &AppState, caller: &Caller, feed: &Feed) -> ApiResult<Vec<event::Model>> {
    let mut select = access::visible_projects(event::Entity::find(), caller, event::Column::ProjectId)
        .filter(event::Column::Seq.gt(feed.after));
    if let Some(institution) = caller.partner_scope() {
        select = select.filter(
            Condition::any()
                .add(event::Column::RecipientId.is_null())
                .add(event::Column::RecipientId.eq(institution)),
        );
    }
    if caller.role != Role::Admin {
        // Tokens and webhooks are an admin's business, as the audit trail is.
        select = select.filter(event::Column::EntityType.is_not_in(ADMIN_ONLY));
    }
    if !feed.types.is_empty() {
        select = select.filter(event::Column::Kind.is_in(feed.types.clone()));
    }
    Ok(select
        .order_by_asc(event::Column::Seq)
        .limit(feed.limit)
        .all(&state.db)
        .await?)
}

#[utoipa::path(get, path = "/events", tag = "events", params(ListEvents),
    responses((status = 200, description = "Events after `after`, oldest first; `next_cursor` is the last item's `seq` (pass it as `after`), null on an empty page", body = Page<Event>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListEvents>,
) -> ApiResult<axum::Json<Page<Event>>> {
    let feed = parse(q)?;
    // With too many readers waiting already, this one answers at once, as without `wait`.
    let leave = feed.wait.and_then(|_| state.security.may_wait());
    let wait = leave.as_ref().and(feed.wait).unwrap_or_default();
    // A wait ends before the request's own time limit would cut it off.
    let most = Duration::from_secs(state.security.settings().request_timeout_secs.saturating_sub(1).max(1));
    let deadline = Instant::now() + wait.min(most);
    loop {
        // Listen before looking, so a commit between the two is not missed.
        let appended = outbox::appended().notified();
        let rows = page(&state, &caller, &feed).await?;
        let now = Instant::now();
        if !rows.is_empty() || now >= deadline {
            let next_cursor = rows.last().map(|e| e.seq.to_string());
            return Ok(axum::Json(Page {
                items: rows.into_iter().map(Event::from).collect(),
                next_cursor,
            }));
        }
        let _ = tokio::time::timeout(LOOK_AGAIN.min(deadline - now), appended).await;
    }
}
