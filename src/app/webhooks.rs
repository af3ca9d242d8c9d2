//! Webhook endpoints (admin): where other systems are told of changes.
//!
//! An endpoint names the event types it wants (or `*`); the delivery
//! workers (`jobs::webhooks`) post every matching outbox event to it,
//! signed as Standard Webhooks sign. The secret is shown once, when the
//! endpoint is made or its secret rotated; it is stored as it is (signing
//! needs it) and never shown in a view, the audit trail or the feed.

use super::versioned::{self, Expected, How, record};
use super::{AppError, AppResult, Change, UnitOfWork};
use crate::config::UrlPolicy;
use crate::domain::delivery::{DeliveryStatus, SigningSecret};
use crate::entities::{webhook, webhook_delivery};
use crate::store::outbox::{self, Audience, NewEvent};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;
use std::net::IpAddr;
use utoipa::ToSchema;
use uuid::Uuid;

const KIND: &str = "webhook";

/// How long the previous secret still signs after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// A webhook endpoint, without its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    #[schema(example = "https://dashboard.example.org/hooks/climate-tracker")]
    pub url: String,
    /// Event types delivered, e.g. `["grant.transitioned", "milestone.achieved"]`, or `["*"]`.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    /// A disabled endpoint gets nothing meanwhile; enabled again, it gets the events
    /// since it was disabled. An endpoint failing for 3 days is disabled.
    pub enabled: bool,
    /// When the current run of failed deliveries began; null while they succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until then deliveries carry a second signature, made with the secret before the last rotation.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<webhook::Model> for Webhook {
    type Error = AppError;
    fn try_from(m: webhook::Model) -> AppResult<Webhook> {
        let event_types = serde_json::from_value(m.event_types)
            .map_err(|e| AppError::corrupt(format!("event types of webhook {}: {e}", m.id)))?;
        Ok(Webhook {
            id: m.id,
            url: m.url,
            event_types,
            description: m.description,
            enabled: m.enabled,
            failing_since: m.failing_since,
            previous_secret_until: m.previous_until,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

record!(webhook => Webhook, KIND);

/// One event's delivery to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: Uuid,
    pub event_seq: i64,
    #[schema(example = "grant.transitioned")]
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The HTTP status the endpoint last answered; null if it did not answer.
    pub last_response_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it will be tried (again); null once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_delivery::Model> for Delivery {
    fn from(m: webhook_delivery::Model) -> Delivery {
        Delivery {
            next_attempt_at: (m.status == DeliveryStatus::Pending).then_some(m.next_attempt_at),
            id: m.id,
            webhook_id: m.webhook_id,
            event_id: m.event_id,
            event_seq: m.event_seq,
            event_type: m.event_type,
            status: m.status,
            attempts: m.attempts,
            last_response_code: m.last_status_code,
            last_error: m.last_error,
            last_attempt_at: m.last_attempt_at,
            delivered_at: m.delivered_at,
            created_at: m.created_at,
        }
    }
}

/// A webhook endpoint just made (or whose secret was just rotated), with the secret.
pub struct WithSecret {
    pub webhook: Webhook,
    pub secret: SigningSecret,
}

/// Event types an endpoint subscribes to: `*`, or `<entity>.<action>` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypes(Vec<String>);

impl EventTypes {
    pub fn parse(types: Vec<String>) -> Result<EventTypes, String> {
        if types.is_empty() || types.len() > 100 {
            return Err("needs 1 to 100 event types, or [\"*\"]".into());
        }
        let named = |t: &str| {
            t.split_once('.').is_some_and(|(e, a)| {
                [e, a]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 40 && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
            })
        };
        match types.iter().find(|t| *t != "*" && !named(t)) {
            Some(bad) => Err(format!(
                "'{bad}' is not an event type such as grant.transitioned, nor *"
            )),
            None => {
                let mut distinct = Vec::with_capacity(types.len());
                for t in types {
                    if !distinct.contains(&t) {
                        distinct.push(t);
                    }
                }
                Ok(EventTypes(distinct))
            }
        }
    }

    /// Whether an event of type `kind` is delivered to an endpoint with these types.
    pub fn matches(types: &[String], kind: &str) -> bool {
        types.iter().any(|t| t == "*" || t == kind)
    }
}

pub struct New {
    pub url: CheckedUrl,
    pub event_types: EventTypes,
    pub description: Option<String>,
    pub enabled: bool,
}

#[derive(Default)]
pub struct Changes {
    pub url: Option<CheckedUrl>,
    pub event_types: Option<EventTypes>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An address no webhook may reach unless its host is allowed: loopback,
/// private, link-local (the cloud metadata service at 169.254.169.254
/// among them), shared, multicast, unspecified and reserved ranges.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Checks a webhook URL: `https://` (or `http://` when allowed), a host,
/// no credentials; and every address the host resolves to is public,
/// unless the host is in the allow list.
pub async fn check_url(raw: &str, policy: &UrlPolicy) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err("must be https:// (http:// is allowed only with --webhook-allow-http)".into()),
        other => return Err(format!("must be https://, not {other}://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("may not carry a user name or password".into());
    }
    // The normalised form is what is stored and sent (percent-encoding can triple a name).
    if url.as_str().len() > 2048 {
        return Err("is longer than 2048 characters".into());
    }
    let host = url
        .host_str()
        .ok_or("needs a host")?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if policy.allow_hosts.contains(&host) {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| format!("the host {host} does not resolve"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("the host {host} does not resolve"));
    }
    if let Some(ip) = addresses.into_iter().find(|ip| is_internal(*ip)) {
        return Err(format!(
            "reaches {ip}, an internal address (loopback, private, link-local or metadata); \
             allow the host with --webhook-allow-hosts if this is intended"
        ));
    }
    Ok(url)
}

/// A webhook URL that passed `check_url`: the only kind a use case stores.
pub struct CheckedUrl(String);

impl CheckedUrl {
    /// Checks a URL for `url`. Called before a unit of work begins: the DNS
    /// look-up may be slow, and must not hold the database's write lock.
    pub async fn check(raw: &str, policy: &UrlPolicy) -> AppResult<CheckedUrl> {
        check_url(raw, policy)
            .await
            .map(|u| CheckedUrl(u.into()))
            .map_err(|message| AppError::field("url", message))
    }
}

pub async fn create(uow: &mut UnitOfWork, new: New) -> AppResult<WithSecret> {
    uow.actor().require_admin()?;
    let secret = SigningSecret::generate();
    let row = webhook::ActiveModel {
        id: Set(Uuid::now_v7()),
        url: Set(new.url.0),
        event_types: Set(serde_json::Value::from(new.event_types.0)),
        description: Set(new.description),
        enabled: Set(new.enabled),
        secret: Set(secret.as_str().to_owned()),
        previous_secret: Set(None),
        previous_until: Set(None),
        // A new endpoint is told of what happens from now on.
        dispatched_seq: Set(outbox::newest_seq(uow.db()).await?),
        failing_since: Set(None),
        ..Default::default()
    }
    .insert(uow.db())
    .await?;
    let view = Webhook::try_from(row)?;
    uow.record(Change::created(KIND, view.id, &view));
    Ok(WithSecret { webhook: view, secret })
}

pub async fn update(uow: &mut UnitOfWork, id: Uuid, expected: Expected, c: Changes) -> AppResult<Webhook> {
    uow.actor().require_admin()?;
    let current: webhook::Model = versioned::locked(uow.db(), id).await?;
    let (_, view) = versioned::update(uow, current, expected, How::Update, |row| {
        if let Some(url) = c.url {
            row.url = Set(url.0);
        }
        if let Some(types) = c.event_types {
            row.event_types = Set(serde_json::Value::from(types.0));
        }
        if let Some(description) = c.description {
            row.description = Set(description);
        }
        if let Some(enabled) = c.enabled {
            row.enabled = Set(enabled);
            if enabled {
                // Enabled again: its failures start afresh.
                row.failing_since = Set(None);
            }
        }
    })
    .await?;
    Ok(view)
}

/// Deletes an endpoint and its delivery log; the audit trail keeps its record.
pub async fn delete(uow: &mut UnitOfWork, id: Uuid) -> AppResult<()> {
    uow.actor().require_admin()?;
    let current: webhook::Model = versioned::locked(uow.db(), id).await?;
    let before = Webhook::try_from(current)?;
    webhook::Entity::delete_by_id(id).exec(uow.db()).await?;
    uow.record(Change::deleted(KIND, id, &before));
    Ok(())
}

/// A new secret; the previous one still signs (a second signature) for 24 h,
/// so receivers can switch without losing a delivery.
pub async fn rotate_secret(uow: &mut UnitOfWork, id: Uuid, now: DateTime<Utc>) -> AppResult<WithSecret> {
    uow.actor().require_admin()?;
    let current: webhook::Model = versioned::locked(uow.db(), id).await?;
    let secret = SigningSecret::generate();
    let previous = current.secret.clone();
    let how = How::Named {
        action: "rotate_secret",
        event: "secret_rotated",
    };
    let (_, view) = versioned::update(uow, current, Expected::Any, how, |row| {
        row.secret = Set(secret.as_str().to_owned());
        row.previous_secret = Set(Some(previous));
        row.previous_until = Set(Some(now + ROTATION_OVERLAP));
    })
    .await?;
    Ok(WithSecret { webhook: view, secret })
}

/// Sends a `webhook.test` event to this endpoint alone; returns the event's id.
pub async fn test(uow: &mut UnitOfWork, id: Uuid) -> AppResult<Uuid> {
    uow.actor().require_admin()?;
    let hook = webhook::Entity::find_by_id(id)
        .one(uow.db())
        .await?
        .ok_or(AppError::NotFound)?;
    if !hook.enabled {
        return Err(AppError::conflict(
            "invalid_state",
            "the endpoint is disabled: enable it (PATCH enabled: true) to send it a test event",
        ));
    }
    let data = serde_json::json!({
        "webhook_id": hook.id,
        "message": "A test event from climate-tracker: this endpoint receives and verifies deliveries.",
    });
    let event = NewEvent::new(TEST_EVENT.into(), KIND, hook.id, Audience::default(), data);
    let event_id = event.id;
    uow.announce(event);
    Ok(event_id)
}

/// The type of the event `test` sends; delivered only to the endpoint it names.
pub const TEST_EVENT: &str = "webhook.test";

/// Delivers an event to the endpoint again, as a new delivery with the
/// same `webhook-id`.
pub async fn redeliver(
    uow: &mut UnitOfWork,
    webhook_id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Delivery> {
    uow.actor().require_admin()?;
    let original: webhook_delivery::Model = webhook_delivery::Entity::find_by_id(delivery_id)
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .one(uow.db())
        .await?
        .ok_or(AppError::NotFound)?;
    let row = webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        webhook_id: Set(webhook_id),
        event_seq: Set(original.event_seq),
        event_id: Set(original.event_id),
        event_type: Set(original.event_type.clone()),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        last_attempt_at: Set(None),
        delivered_at: Set(None),
        created_at: Set(now),
    }
    .insert(uow.db())
    .await?;
    let view = Delivery::from(row);
    // Recorded against the endpoint (`webhook.redelivered`), which is not told of changes to itself.
    let before = Delivery::from(original);
    uow.record(Change::named(
        "redeliver",
        "redelivered",
        KIND,
        webhook_id,
        &before,
        &view,
    ));
    Ok(view)
}

/// Disables an endpoint that kept failing (the delivery worker, as the
/// system), announcing `webhook.disabled`.
pub async fn disable(uow: &mut UnitOfWork, id: Uuid) -> AppResult<Webhook> {
    uow.actor().require_admin()?;
    let current: webhook::Model = versioned::locked(uow.db(), id).await?;
    let how = How::Named {
        action: "disable",
        event: "disabled",
    };
    let (_, view) = versioned::update(uow, current, Expected::Any, how, |row| row.enabled = Set(false)).await?;
    Ok(view)
}

/// The deliveries of an endpoint, for its log (newest last).
pub async fn deliveries_of(
    db: &impl sea_orm::ConnectionTrait,
    webhook_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<webhook_delivery::Model>> {
    let mut select = webhook_delivery::Entity::find().filter(webhook_delivery::Column::WebhookId.eq(webhook_id));
    if let Some(after) = after {
        select = select.filter(webhook_delivery::Column::Id.gt(after));
    }
    Ok(select
        .order_by_asc(webhook_delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_are_https_and_public_unless_allowed() {
        let strict = UrlPolicy::default();
        assert!(check_url("http://93.184.216.34/hook", &strict).await.is_err());
        assert!(check_url("https://93.184.216.34/hook", &strict).await.is_ok());
        assert!(check_url("https://127.0.0.1:9000/hook", &strict).await.is_err());
        assert!(check_url("https://[::1]/hook", &strict).await.is_err());
        assert!(
            check_url("https://169.254.169.254/latest/meta-data", &strict)
                .await
                .is_err()
        );
        assert!(
            check_url("https://localhost/hook", &strict).await.is_err(),
            "a name resolving to loopback"
        );
        assert!(check_url("https://user:pw@93.184.216.34/", &strict).await.is_err());
        assert!(check_url("ftp://93.184.216.34/", &strict).await.is_err());
        let local = UrlPolicy {
            allow_http: true,
            allow_hosts: vec!["127.0.0.1".into()],
        };
        assert!(check_url("http://127.0.0.1:9000/hook", &local).await.is_ok());
        assert!(check_url("http://10.0.0.1/hook", &local).await.is_err());
    }

    #[test]
    fn event_types_are_named_or_everything() {
        assert!(EventTypes::parse(vec!["*".into()]).is_ok());
        assert!(EventTypes::parse(vec!["grant.transitioned".into(), "grant.transitioned".into()]).is_ok());
        assert!(EventTypes::parse(vec![]).is_err());
        assert!(EventTypes::parse(vec!["Grant".into()]).is_err());
        assert!(EventTypes::matches(&["*".into()], "milestone.achieved"));
        assert!(!EventTypes::matches(&["grant.created".into()], "grant.updated"));
    }
}
