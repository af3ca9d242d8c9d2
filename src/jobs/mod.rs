//! Background work, in every instance: fanning outbox events out to
//! webhook endpoints and delivering them, reminding of milestones, sending
//! e-mail. Work is claimed in the database (a lease on the row, taken with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of instances
//! share it, each delivery is attempted by one of them at a time, and an
//! instance killed mid-delivery loses nothing: once its lease passes,
//! another retries. Delivery is at least once.

pub mod claim;
pub mod mail;
pub mod reminders;
pub mod webhooks;

use crate::app::clock::Clock;
use crate::config;
use sea_orm::DatabaseConnection;
use tokio::task::JoinSet;

/// The loops this instance runs; dropped or aborted, they stop (leases
/// protect what was in flight).
pub struct Workers {
    tasks: JoinSet<()>,
}

impl Workers {
    pub fn abort(mut self) {
        self.tasks.abort_all();
    }
}

/// Starts the workers against `db`.
pub fn start(db: DatabaseConnection, settings: config::Jobs, clock: Clock) -> Workers {
    let mut tasks = JoinSet::new();
    let deliverer = webhooks::Deliverer::new(db.clone(), &settings, clock);
    tasks.spawn(deliverer.run());
    let scheduler = reminders::Scheduler::new(db.clone(), &settings, clock);
    tasks.spawn(scheduler.run());
    if let Some(mailer) = mail::Mailer::new(db, &settings, clock) {
        tasks.spawn(mailer.run());
    }
    Workers { tasks }
}

/// Logs a worker's failure and carries on: a worker never stops for good
/// on an error (the database may be down for a while).
fn log_failure(what: &str, e: impl std::fmt::Display) {
    tracing::warn!(error = %e, "{what} failed; trying again shortly");
}
