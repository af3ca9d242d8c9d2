//! The unit of work: one transaction per change, in which the change's
//! rows, its audit event, the dashboards' tallies, its outbox events and
//! (for HTTP) its idempotency record commit together or not at all.
//!
//! A use case takes `&mut UnitOfWork`, writes through [`UnitOfWork::db`],
//! and says what it did with [`UnitOfWork::record`]; the adapter that
//! began the unit commits it. Dropping it uncommitted rolls everything back.

use super::actor::Actor;
use super::error::AppResult;
use crate::entities::{milestone, project};
use crate::store::audit::{self, Entry};
use crate::store::idempotency::{self, Completion};
use crate::store::indicator_tallies;
use crate::store::outbox::{self, Audience, NewEvent};
use crate::store::tallies::Pending;
use chrono::Utc;
use sea_orm::{DatabaseConnection, DatabaseTransaction, EntityTrait, QuerySelect};
use serde::Serialize;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// What a change did: one audit event, and the outbox event it implies.
pub struct Change {
    entry: Entry,
    event: NewEvent,
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    // Our views are plain structs with string keys: serializing cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

impl Change {
    fn new(
        action: String,
        event: String,
        entity_type: &'static str,
        id: Uuid,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Change {
        let data = after
            .clone()
            .or_else(|| before.clone())
            .unwrap_or(serde_json::Value::Null);
        Change {
            entry: Entry {
                action,
                entity_type,
                entity_id: id,
                before,
                after,
            },
            event: NewEvent::new(event, entity_type, id, Audience::default(), data),
        }
    }

    /// `<entity>.created`.
    pub fn created<T: Serialize>(entity_type: &'static str, id: Uuid, after: &T) -> Change {
        let event = format!("{entity_type}.created");
        Change::new("create".into(), event, entity_type, id, None, Some(json(after)))
    }

    /// `<entity>.updated` (a PATCH).
    pub fn updated<B: Serialize, A: Serialize>(entity_type: &'static str, id: Uuid, before: &B, after: &A) -> Change {
        let event = format!("{entity_type}.updated");
        Change::new(
            "update".into(),
            event,
            entity_type,
            id,
            Some(json(before)),
            Some(json(after)),
        )
    }

    /// `<entity>.deleted`; the event carries the entity as it last was.
    pub fn deleted<T: Serialize>(entity_type: &'static str, id: Uuid, before: &T) -> Change {
        let event = format!("{entity_type}.deleted");
        Change::new("delete".into(), event, entity_type, id, Some(json(before)), None)
    }

    /// A status move through `/transitions`: audited as `transition:<to>`
    /// with its note, announced as `<entity>.transitioned`.
    pub fn transitioned<B: Serialize, A: Serialize>(
        entity_type: &'static str,
        id: Uuid,
        to: &str,
        note: Option<&str>,
        before: &B,
        after: &A,
    ) -> Change {
        let mut change = Change::new(
            format!("transition:{to}"),
            format!("{entity_type}.transitioned"),
            entity_type,
            id,
            Some(json(before)),
            Some(json(after)),
        );
        // The records have no column for the note; the audit trail keeps it.
        if let Some(serde_json::Value::Object(after)) = change.entry.after.as_mut() {
            after.insert("note".into(), note.into());
        }
        change
    }

    /// A named action: audited as `action`, announced as `<entity>.<event>`
    /// (e.g. `achieve` → `milestone.achieved`).
    pub fn named<B: Serialize, A: Serialize>(
        action: &str,
        event: &str,
        entity_type: &'static str,
        id: Uuid,
        before: &B,
        after: &A,
    ) -> Change {
        let event = format!("{entity_type}.{event}");
        Change::new(
            action.into(),
            event,
            entity_type,
            id,
            Some(json(before)),
            Some(json(after)),
        )
    }

    /// Which partners may read the change's event (staff read every one).
    pub fn seen_by(mut self, audience: Audience) -> Change {
        self.event.audience = audience;
        self
    }

    /// The project the entity belongs to: its partners may read the event.
    pub fn in_project(self, project_id: Uuid) -> Change {
        self.seen_by(Audience {
            project_id: Some(project_id),
            recipient_id: None,
        })
    }

    /// Announces the change under another entity type than it is audited
    /// as (a reversal is audited as `reversal`, announced as a disbursement).
    pub fn announced_as(mut self, entity_type: &'static str) -> Change {
        let action = self.event.kind.rsplit('.').next().unwrap_or_default().to_owned();
        self.event.kind = format!("{entity_type}.{action}");
        self.event.entity_type = entity_type;
        self
    }
}

/// An open unit of work on behalf of an actor.
pub struct UnitOfWork {
    txn: DatabaseTransaction,
    actor: Actor,
    tallies: Pending,
    /// Projects whose results changed: their standard-indicator shares are counted afresh at commit.
    results: Vec<Uuid>,
    entries: Vec<Entry>,
    events: Vec<NewEvent>,
    completion: Option<Completion>,
    /// Held until the transaction has ended (SQLite; see `store::write_turn`).
    turn: Option<OwnedMutexGuard<()>>,
}

impl UnitOfWork {
    /// Begins the transaction (on SQLite, `BEGIN IMMEDIATE`: writers queue
    /// instead of failing to upgrade a read lock).
    pub async fn begin(db: &DatabaseConnection, actor: Actor) -> AppResult<UnitOfWork> {
        let turn = crate::store::write_turn(db).await?;
        Ok(UnitOfWork {
            txn: crate::store::begin_immediate(db).await?,
            actor,
            tallies: Pending::default(),
            results: Vec::new(),
            entries: Vec::new(),
            events: Vec::new(),
            completion: None,
            turn,
        })
    }

    pub fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Locks a project and takes its share of the dashboard tallies out;
    /// the commit puts it back as it then stands. Call it before changing
    /// the project, its participants or its grants, after any fund or grant
    /// lock (see `store::tallies`).
    pub async fn hold_project(&mut self, project_id: Uuid) -> AppResult<()> {
        self.tallies.hold_project(&self.txn, project_id).await?;
        Ok(())
    }

    /// Locks a project for a change of its results framework; the commit
    /// counts its share of the standard indicators' progress afresh.
    pub async fn hold_results(&mut self, project_id: Uuid) -> AppResult<()> {
        if !self.results.contains(&project_id) {
            project::Entity::find_by_id(project_id)
                .lock_exclusive()
                .one(&self.txn)
                .await?
                .ok_or(super::AppError::NotFound)?;
            self.results.push(project_id);
        }
        Ok(())
    }

    /// Counts a created (`before` is `None`) or changed milestone in the tallies.
    pub fn count_milestone(&mut self, before: Option<&milestone::Model>, after: &milestone::Model) {
        self.tallies.milestone(before, after);
    }

    /// Records a change: its audit event and its outbox event.
    pub fn record(&mut self, change: Change) {
        self.entries.push(change.entry);
        self.events.push(change.event);
    }

    /// An outbox event beyond the one a recorded change implies.
    pub fn announce(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// The idempotency record to complete with the change (HTTP supplies it).
    pub fn complete_idempotency(&mut self, completion: Completion) {
        self.completion = Some(completion);
    }

    /// Settles the tallies, completes the idempotency record, appends the
    /// outbox events and the audit events, then commits. The two heads
    /// (events, then audit chain) are locked last, in that order, and held
    /// only until the commit.
    pub async fn commit(self) -> AppResult<()> {
        let UnitOfWork {
            txn,
            actor,
            tallies,
            results,
            entries,
            events,
            completion,
            turn,
        } = self;
        tallies.settle(&txn).await?;
        for project_id in results {
            indicator_tallies::refresh(&txn, project_id).await?;
        }
        if let Some(c) = completion {
            idempotency::complete(&txn, c).await?;
        }
        let announced = !events.is_empty();
        outbox::append(&txn, events, Utc::now()).await?;
        for entry in entries {
            audit::record(&txn, actor.author(), entry).await?;
        }
        txn.commit().await?;
        drop(turn);
        if announced {
            outbox::appended().notify_waiters();
        }
        Ok(())
    }
}
