//! Webhook delivery: fan each outbox event out to the endpoints that want
//! it (one `webhook_deliveries` row each), then deliver due rows, signed as
//! Standard Webhooks sign, retrying failures on the schedule of
//! `domain::delivery::retry_after`, disabling an endpoint that has failed
//! for three days.

use super::claim::{self, Table};
use super::log_failure;
use crate::app::clock::Clock;
use crate::app::webhooks::{EventTypes, TEST_EVENT, is_internal};
use crate::app::{self, Actor, UnitOfWork};
use crate::config::{self, UrlPolicy};
use crate::domain::delivery::{DISABLE_AFTER_FAILING, DeliveryStatus, SigningSecret, retry_after};
use crate::entities::{event, webhook, webhook_delivery};
use crate::store::{self, outbox};
use chrono::{DateTime, Duration as Span, Utc};
use futures::future::join_all;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Events fanned out per endpoint per pass.
const FAN_OUT_BATCH: u64 = 500;
/// How often the worker looks even when nothing woke it (other instances'
/// events, retries falling due).
const LOOK_AGAIN: Duration = Duration::from_secs(1);
const ACTOR: &str = "system:webhooks";

pub struct Deliverer {
    db: DatabaseConnection,
    client: reqwest::Client,
    policy: UrlPolicy,
    timeout: Duration,
    concurrency: u64,
    clock: Clock,
}

impl Deliverer {
    pub fn new(db: DatabaseConnection, settings: &config::Jobs, clock: Clock) -> Deliverer {
        let policy = settings.url_policy();
        let timeout = Duration::from_secs(settings.webhook_timeout_secs);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect is a failure (Standard Webhooks), and could lead inside.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly(policy.clone())))
            .user_agent(concat!("climate-tracker/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Deliverer {
            db,
            client,
            policy,
            timeout,
            concurrency: settings.delivery_concurrency,
            clock,
        }
    }

    pub async fn run(self) {
        loop {
            // Listen before looking, so a commit in between is not missed.
            let appended = outbox::appended().notified();
            let worked = match self.pass().await {
                Ok(worked) => worked,
                Err(e) => {
                    log_failure("webhook delivery", e);
                    false
                }
            };
            if !worked {
                let _ = tokio::time::timeout(LOOK_AGAIN, appended).await;
            }
        }
    }

    /// One pass: fan out, then deliver what is due; true if it did anything.
    pub async fn pass(&self) -> Result<bool, DbErr> {
        if !has_work(&self.db, self.clock.now()).await? {
            return Ok(false);
        }
        let fanned = fan_out(&self.db, self.clock.now()).await?;
        let delivered = self.deliver_due().await?;
        Ok(fanned > 0 || delivered > 0)
    }

    /// Claims up to `concurrency` due deliveries, attempts them at once, and
    /// settles them all in one transaction (a commit per pass, not per call).
    async fn deliver_due(&self) -> Result<usize, DbErr> {
        let now = self.clock.now();
        // Long enough for the attempt and its bookkeeping; then another instance may retry.
        let lease = now + Span::from_std(self.timeout * 3).unwrap_or(Span::seconds(30));
        let ids = claim::due(&self.db, Table::WebhookDeliveries, now, lease, self.concurrency).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let claimed = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        let n = claimed.len();
        let attempts = join_all(claimed.into_iter().map(|d| self.attempt(d))).await;
        let now = self.clock.now();
        let txn = store::begin_immediate(&self.db).await?;
        let mut failing_too_long = Vec::new();
        for attempt in attempts {
            match attempt {
                Ok(a) => failing_too_long.extend(a.settle(&txn, now).await?),
                Err(e) => log_failure("a webhook delivery's bookkeeping", e),
            }
        }
        txn.commit().await?;
        failing_too_long.sort();
        failing_too_long.dedup();
        for id in failing_too_long {
            disable(&self.db, id).await?;
        }
        Ok(n)
    }

    /// Posts one claimed delivery, unless its endpoint or event is gone or
    /// the endpoint disabled; writes nothing.
    async fn attempt(&self, delivery: webhook_delivery::Model) -> Result<Attempt, DbErr> {
        let hook = webhook::Entity::find_by_id(delivery.webhook_id).one(&self.db).await?;
        let event = event::Entity::find_by_id(delivery.event_seq).one(&self.db).await?;
        let (outcome, tried) = match (hook, event) {
            (Some(hook), Some(_)) if !hook.enabled => (Outcome::gave_up("the endpoint is disabled"), None),
            (Some(hook), Some(event)) => (self.post(&hook, &event).await, Some((hook, event.occurred_at))),
            _ => (Outcome::gave_up("the endpoint or the event no longer exists"), None),
        };
        Ok(Attempt {
            delivery,
            outcome,
            tried,
        })
    }

    /// Posts the event, signed; what the endpoint made of it.
    async fn post(&self, hook: &webhook::Model, event: &event::Model) -> Outcome {
        let Ok(url) = reqwest::Url::parse(&hook.url) else {
            return Outcome::failed(None, "the stored URL does not parse");
        };
        // A name is resolved by `PublicOnly`; an address literal is checked here.
        if let Some(ip) = url
            .host_str()
            .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            && is_internal(ip)
            && !self.policy.allow_hosts.contains(&ip.to_string())
        {
            return Outcome::failed(None, "the URL reaches an internal address");
        }
        let body = serde_json::json!({
            "id": event.id,
            "type": event.kind,
            "occurred_at": event.occurred_at,
            "data": event.data,
        })
        .to_string();
        let id = event.id.to_string();
        let now = self.clock.now();
        let timestamp = now.timestamp();
        let mut signatures = Vec::new();
        for (secret, valid) in [
            (Some(hook.secret.as_str()), true),
            (
                hook.previous_secret.as_deref(),
                hook.previous_until.is_some_and(|until| until > now),
            ),
        ] {
            if let (Some(secret), true) = (secret.and_then(SigningSecret::from_stored), valid) {
                signatures.push(secret.sign(&id, timestamp, body.as_bytes()));
            }
        }
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(body)
            .send()
            .await;
        metrics::histogram!("webhook_attempt_seconds").record(started.elapsed().as_secs_f64());
        match sent {
            Ok(r) if r.status().is_success() => Outcome {
                code: Some(i32::from(r.status().as_u16())),
                kind: Kind::Delivered,
            },
            Ok(r) => {
                let status = r.status();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok());
                Outcome {
                    code: Some(i32::from(status.as_u16())),
                    kind: Kind::Failed {
                        error: format!("the endpoint answered {status}"),
                        gone: status == reqwest::StatusCode::GONE,
                        retry_after,
                    },
                }
            }
            Err(e) if e.is_timeout() => Outcome::failed(None, format!("no answer within {} s", self.timeout.as_secs())),
            Err(e) => Outcome::failed(None, format!("could not reach the endpoint: {}", without_url(&e))),
        }
    }
}

/// reqwest's error text, without the URL (it may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let text = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
    text.chars().take(400).collect()
}

struct Outcome {
    code: Option<i32>,
    kind: Kind,
}

enum Kind {
    Delivered,
    Failed {
        error: String,
        /// 410 Gone: the endpoint asks to be told no more.
        gone: bool,
        retry_after: Option<i64>,
    },
}

impl Outcome {
    fn failed(code: Option<i32>, error: impl Into<String>) -> Outcome {
        Outcome {
            code,
            kind: Kind::Failed {
                error: error.into(),
                gone: false,
                retry_after: None,
            },
        }
    }

    /// Not worth retrying: the endpoint or event is gone, or disabled.
    fn gave_up(error: &str) -> Outcome {
        Outcome {
            code: None,
            kind: Kind::Failed {
                error: error.into(),
                gone: true,
                retry_after: None,
            },
        }
    }
}

/// One delivery attempted (or given up on) in a pass, to be settled.
struct Attempt {
    delivery: webhook_delivery::Model,
    outcome: Outcome,
    /// The endpoint and when the event occurred, when a call was made.
    tried: Option<(webhook::Model, DateTime<Utc>)>,
}

impl Attempt {
    /// Records the outcome, and the endpoint's run of failures; returns the
    /// endpoint when it has failed long enough (or said 410) to be disabled.
    async fn settle(self, txn: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Option<Uuid>, DbErr> {
        let disable = match (&self.outcome.kind, &self.tried) {
            (Kind::Delivered, Some((hook, occurred_at))) => {
                metrics::counter!("webhook_deliveries_total", "outcome" => "delivered").increment(1);
                let latency = (now - *occurred_at).to_std().unwrap_or_default();
                metrics::histogram!("webhook_delivery_latency_seconds").record(latency.as_secs_f64());
                if hook.failing_since.is_some() {
                    set_failing_since(txn, hook.id, None).await?;
                }
                None
            }
            (Kind::Failed { gone, .. }, Some((hook, _))) => {
                if hook.failing_since.is_none() {
                    set_failing_since(txn, hook.id, Some(now)).await?;
                }
                let since = hook.failing_since.unwrap_or(now);
                (*gone || now - since >= DISABLE_AFTER_FAILING).then_some(hook.id)
            }
            _ => None,
        };
        settle(txn, &self.delivery, self.outcome, now).await?;
        Ok(disable)
    }
}

/// When an endpoint's current run of failures began (`None`: it succeeds).
/// A run already begun is kept: another instance may have started it first,
/// and moving it later would put off disabling the endpoint.
async fn set_failing_since(txn: &impl ConnectionTrait, id: Uuid, since: Option<DateTime<Utc>>) -> Result<(), DbErr> {
    let unchanged = match since {
        Some(_) => webhook::Column::FailingSince.is_null(),
        None => webhook::Column::FailingSince.is_not_null(),
    };
    webhook::Entity::update_many()
        .col_expr(webhook::Column::FailingSince, Expr::value(since))
        .filter(webhook::Column::Id.eq(id))
        .filter(unchanged)
        .exec(txn)
        .await?;
    Ok(())
}

/// Writes an attempt's outcome and frees the lease.
async fn settle(
    db: &impl ConnectionTrait,
    d: &webhook_delivery::Model,
    o: Outcome,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut row: webhook_delivery::ActiveModel = d.clone().into();
    row.lease_until = Set(None);
    row.last_attempt_at = Set(Some(now));
    row.last_status_code = Set(o.code);
    match o.kind {
        Kind::Delivered => {
            row.status = Set(DeliveryStatus::Delivered);
            row.delivered_at = Set(Some(now));
            row.last_error = Set(None);
        }
        Kind::Failed {
            error,
            gone,
            retry_after: asked,
        } => {
            row.last_error = Set(Some(error));
            let jitter = rand::random_range(-10..=10);
            let next = (!gone).then(|| retry_after(d.attempts.max(0) as u32, jitter)).flatten();
            match next {
                Some(wait) => {
                    // An endpoint that asks for more time (429, 503) gets it, up to an hour.
                    let asked = Span::seconds(asked.unwrap_or(0).clamp(0, 3600));
                    row.next_attempt_at = Set(now + wait.max(asked));
                    metrics::counter!("webhook_deliveries_total", "outcome" => "retry").increment(1);
                }
                None => {
                    row.status = Set(DeliveryStatus::Failed);
                    metrics::counter!("webhook_deliveries_total", "outcome" => "failed").increment(1);
                }
            }
        }
    }
    sea_orm::ActiveModelTrait::update(row, db).await?;
    Ok(())
}

/// Disables an endpoint through the use case, as the system: audited, and
/// announced as `webhook.disabled`. Its pending deliveries give up.
async fn disable(db: &DatabaseConnection, id: Uuid) -> Result<(), DbErr> {
    let run = async {
        let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
        app::webhooks::disable(&mut uow, id).await?;
        uow.commit().await
    };
    match run.await {
        Ok(()) | Err(app::AppError::NotFound) => {
            tracing::warn!(webhook = %id, "a webhook endpoint kept failing and was disabled");
            Ok(())
        }
        Err(e) => Err(DbErr::Custom(e.to_string())),
    }
}

/// Whether a pass would find anything to do: an enabled endpoint behind
/// the newest event, or a delivery due. The worker asks after every commit
/// of this instance and most answers are no, so it is one read.
async fn has_work(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let (enabled, at, values) = match backend {
        DatabaseBackend::Postgres => ("$1", "$2", vec![true.into(), now.into()]),
        _ => ("?", "?", vec![true.into(), now.into(), now.into()]),
    };
    let sql = format!(
        "SELECT 1 AS work WHERE EXISTS (SELECT 1 FROM webhooks WHERE enabled = {enabled} \
           AND dispatched_seq < (SELECT COALESCE(MAX(seq), 0) FROM events)) OR EXISTS ({})",
        claim::select_due(Table::WebhookDeliveries, at)
    );
    let found = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(found.is_some())
}

/// Gives every enabled endpoint a delivery row for each new event it
/// wants, and moves its `dispatched_seq` past them, in one transaction per
/// pass. On PostgreSQL each endpoint is locked `SKIP LOCKED`, so two
/// instances never fan out the same endpoint's events; `seq` is in commit
/// order, so an endpoint's cursor never skips an event.
pub async fn fan_out(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, DbErr> {
    // A read first: with nothing new, no write transaction (SQLite has one writer).
    let newest = outbox::newest_seq(db).await.map_err(|e| DbErr::Custom(e.to_string()))?;
    let behind = webhook::Entity::find()
        .filter(webhook::Column::Enabled.eq(true))
        .filter(webhook::Column::DispatchedSeq.lt(newest))
        .count(db)
        .await?;
    if behind == 0 {
        return Ok(0);
    }
    let txn = store::begin_immediate(db).await?;
    let mut hooks = webhook::Entity::find()
        .filter(webhook::Column::Enabled.eq(true))
        .order_by_asc(webhook::Column::Id);
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        hooks = hooks.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let hooks = hooks.all(&txn).await?;
    let mut made = 0;
    for hook in hooks {
        let events = event::Entity::find()
            .filter(event::Column::Seq.gt(hook.dispatched_seq))
            .order_by_asc(event::Column::Seq)
            .limit(FAN_OUT_BATCH)
            .all(&txn)
            .await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            continue;
        };
        let types: Vec<String> = serde_json::from_value(hook.event_types.clone()).unwrap_or_default();
        let rows: Vec<webhook_delivery::ActiveModel> = events
            .iter()
            .filter(|e| wanted(&hook, &types, e))
            .map(|e| webhook_delivery::ActiveModel {
                id: Set(Uuid::now_v7()),
                webhook_id: Set(hook.id),
                event_seq: Set(e.seq),
                event_id: Set(e.id),
                event_type: Set(e.kind.clone()),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(now),
                lease_until: Set(None),
                last_status_code: Set(None),
                last_error: Set(None),
                last_attempt_at: Set(None),
                delivered_at: Set(None),
                created_at: Set(now),
            })
            .collect();
        made += rows.len();
        if !rows.is_empty() {
            webhook_delivery::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        // The cursor is the service's bookkeeping, not an edit of the endpoint: no new version.
        webhook::Entity::update_many()
            .col_expr(webhook::Column::DispatchedSeq, Expr::value(last))
            .filter(webhook::Column::Id.eq(hook.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(made)
}

/// A test event goes to the endpoint it names alone; an endpoint is not
/// told of changes to itself (its own creation, edits, rotations); other
/// events go by type.
fn wanted(hook: &webhook::Model, types: &[String], e: &event::Model) -> bool {
    if e.kind == TEST_EVENT {
        e.entity_id == hook.id
    } else {
        e.entity_id != hook.id && EventTypes::matches(types, &e.kind)
    }
}

/// Resolves names as usual, then keeps only public addresses (unless the
/// host is allowed): a name that resolves to an internal address at
/// delivery time (DNS rebinding) reaches nothing.
struct PublicOnly(UrlPolicy);

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allowed = self.0.allow_hosts.contains(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| allowed || !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
