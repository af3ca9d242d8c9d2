//! The scheduler: every `--scheduler-interval-secs`, in every instance,
//! find the milestones to remind of and send each reminder once (the
//! `reminders` table decides which instance sends it).

use super::log_failure;
use crate::app::clock::Clock;
use crate::app::{self, Actor, AppResult, UnitOfWork};
use crate::config;
use sea_orm::DatabaseConnection;
use std::time::Duration;

const ACTOR: &str = "system:scheduler";
/// Reminders sent per unit of work.
const BATCH: u64 = 200;

pub struct Scheduler {
    db: DatabaseConnection,
    every: Duration,
    days: u32,
    mail: bool,
    clock: Clock,
}

impl Scheduler {
    pub fn new(db: DatabaseConnection, settings: &config::Jobs, clock: Clock) -> Scheduler {
        Scheduler {
            db,
            every: Duration::from_secs(settings.scheduler_interval_secs),
            days: settings.reminder_days,
            mail: settings.smtp_url.is_some(),
            clock,
        }
    }

    pub async fn run(self) {
        loop {
            let started = std::time::Instant::now();
            match self.sweep().await {
                Ok(sent) => {
                    // What `make bench` reads: the sweep must stay an index look-up, not a scan.
                    metrics::histogram!("reminder_sweep_seconds").record(started.elapsed().as_secs_f64());
                    metrics::counter!("reminders_sent_total").increment(sent as u64);
                }
                Err(e) => log_failure("the reminder sweep", e),
            }
            tokio::time::sleep(self.every).await;
        }
    }

    /// One sweep; returns how many reminders this instance sent.
    pub async fn sweep(&self) -> AppResult<usize> {
        let mut sent = 0;
        loop {
            let now = self.clock.now();
            let due = app::reminders::due(&self.db, now, self.days, BATCH).await?;
            if due.is_empty() {
                return Ok(sent);
            }
            let mut uow = UnitOfWork::begin(&self.db, Actor::system(ACTOR)).await?;
            let mut this_batch = 0;
            for d in &due {
                if app::reminders::remind(&mut uow, d, self.mail, now).await? {
                    this_batch += 1;
                }
            }
            uow.commit().await?;
            sent += this_batch;
            // Everything found was sent by another instance meanwhile: done.
            if this_batch == 0 {
                return Ok(sent);
            }
        }
    }
}
