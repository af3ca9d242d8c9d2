//! Reminder e-mail: claim due `mail_deliveries` and send them through the
//! configured SMTP server, retrying failures on the webhook schedule.

use super::claim::{self, Table};
use super::log_failure;
use crate::app::clock::Clock;
use crate::config;
use crate::domain::delivery::{DeliveryStatus, retry_after};
use crate::entities::mail_delivery;
use chrono::Duration as Span;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use std::time::Duration;

const LOOK_AGAIN: Duration = Duration::from_secs(1);
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Mailer {
    db: DatabaseConnection,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
    concurrency: u64,
    clock: Clock,
}

impl Mailer {
    /// `None` when no SMTP server is configured (or its URL does not parse, which is logged).
    pub fn new(db: DatabaseConnection, settings: &config::Jobs, clock: Clock) -> Option<Mailer> {
        let url = settings.smtp_url.as_deref()?;
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
            Ok(t) => t.timeout(Some(SEND_TIMEOUT)).build(),
            Err(e) => {
                tracing::error!(error = %e, "CLIMATE_TRACKER_SMTP_URL is not an SMTP URL; no e-mail will be sent");
                return None;
            }
        };
        Some(Mailer {
            db,
            transport,
            from: settings.smtp_from.clone(),
            concurrency: settings.delivery_concurrency,
            clock,
        })
    }

    pub async fn run(self) {
        loop {
            match self.pass().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => log_failure("sending e-mail", e),
            }
            tokio::time::sleep(LOOK_AGAIN).await;
        }
    }

    /// Sends what is due; returns how many it attempted.
    pub async fn pass(&self) -> Result<usize, DbErr> {
        let now = self.clock.now();
        let lease = now + Span::from_std(SEND_TIMEOUT * 3).unwrap_or(Span::minutes(1));
        let ids = claim::due(&self.db, Table::MailDeliveries, now, lease, self.concurrency).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mails = mail_delivery::Entity::find()
            .filter(mail_delivery::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        let n = mails.len();
        // Sent side by side, so the whole claim ends well inside its lease
        // (one send's timeout) and no other instance takes a mail being sent.
        let sent = futures::future::join_all(mails.iter().map(|mail| self.send(mail))).await;
        for (mail, sent) in mails.into_iter().zip(sent) {
            self.settle(mail, sent).await?;
        }
        Ok(n)
    }

    async fn send(&self, mail: &mail_delivery::Model) -> Result<(), String> {
        let message = Message::builder()
            .from(self.from.parse().map_err(|e| format!("the sender address: {e}"))?)
            .to(mail.to_address.parse().map_err(|e| format!("the address: {e}"))?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn settle(&self, mail: mail_delivery::Model, sent: Result<(), String>) -> Result<(), DbErr> {
        let now = self.clock.now();
        let attempts = mail.attempts.max(0) as u32;
        let mut row: mail_delivery::ActiveModel = mail.into();
        row.lease_until = Set(None);
        match sent {
            Ok(()) => {
                row.status = Set(DeliveryStatus::Delivered);
                row.sent_at = Set(Some(now));
                row.last_error = Set(None);
                metrics::counter!("mail_deliveries_total", "outcome" => "delivered").increment(1);
            }
            Err(error) => {
                row.last_error = Set(Some(error.chars().take(500).collect()));
                match retry_after(attempts, rand::random_range(-10..=10)) {
                    Some(wait) => row.next_attempt_at = Set(now + wait),
                    None => row.status = Set(DeliveryStatus::Failed),
                }
                metrics::counter!("mail_deliveries_total", "outcome" => "failed_attempt").increment(1);
            }
        }
        row.update(&self.db).await?;
        Ok(())
    }
}
