//! The partner's own clock, webhooks and reminders.
//!
//! - Institutions gain `time_zone` (an explicit IANA zone; null means the
//!   country's default) and `contact_email`.
//! - Projects and milestones carry the zone their deadlines live in (the
//!   lead participant's), kept by the service; this migration marks the
//!   `zones` stale so the service fills them for existing rows at start-up,
//!   and recounts `milestone_tallies`, which now count per zone too.
//! - `webhooks` and `webhook_deliveries`: endpoints and one row per event
//!   and endpoint, claimed by the delivery workers.
//! - `reminders`: one row per milestone, due date and kind once sent, so
//!   every instance's scheduler sends each reminder once.
//! - `mail_deliveries`: reminder e-mail waiting to be sent, with retries.

use crate::shape::index;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn add(table: &'static str, column: &mut ColumnDef) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).take()
}

fn milestone_tallies(with_zone: bool) -> TableCreateStatement {
    let mut t = Table::create()
        .table("milestone_tallies")
        .col(string_len("status", 16))
        .col(date("due_on"))
        .col(big_integer("milestones").default(0))
        .check(Expr::col("milestones").between(i64::MIN, i64::MAX))
        .take();
    let mut pk = Index::create().col("status").col("due_on").take();
    if with_zone {
        t.col(string_len("time_zone", 64).default("UTC"));
        pk.col("time_zone");
    }
    t.primary_key(&mut pk).take()
}

async fn mark_stale(m: &SchemaManager<'_>, names: &[&str]) -> Result<(), DbErr> {
    let mut mark = Query::insert().into_table("stale_tallies").columns(["name"]).take();
    for name in names {
        mark.values([(*name).into()])
            .map_err(|e| DbErr::Migration(e.to_string()))?;
    }
    mark.on_conflict(OnConflict::column("name").do_nothing().to_owned());
    m.exec_stmt(mark).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(add("institutions", &mut string_len_null("time_zone", 64)))
            .await?;
        m.alter_table(add("institutions", &mut string_len_null("contact_email", 254)))
            .await?;
        m.alter_table(add("projects", string_len("time_zone", 64).default("UTC")))
            .await?;
        m.alter_table(add("milestones", string_len("time_zone", 64).default("UTC")))
            .await?;
        // The reminder sweep reads open milestones of one zone due in a window.
        m.create_index(index("milestones", "milestones_zone_due", &["time_zone", "due_on"]))
            .await?;

        m.drop_table(Table::drop().table("milestone_tallies").take()).await?;
        m.create_table(milestone_tallies(true)).await?;
        mark_stale(m, &["zones", "milestones"]).await?;

        m.create_table(
            Table::create()
                .table("webhooks")
                .col(pk_uuid("id"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(string_len("url", 2048))
                .col(json("event_types"))
                .col(string_len_null("description", 500))
                .col(boolean("enabled"))
                // The signing secret must be kept as it is to sign with it.
                .col(string_len("secret", 128))
                .col(string_len_null("previous_secret", 128))
                .col(timestamp_with_time_zone_null("previous_until"))
                // The last event seq fanned out to this endpoint.
                .col(big_integer("dispatched_seq").default(0))
                .col(timestamp_with_time_zone_null("failing_since"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(pk_uuid("id"))
                .col(uuid("webhook_id"))
                .col(big_integer("event_seq"))
                .col(uuid("event_id"))
                .col(string_len("event_type", 64))
                .col(string_len("status", 16))
                .col(integer("attempts").default(0))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(integer_null("last_status_code"))
                .col(string_len_null("last_error", 500))
                .col(timestamp_with_time_zone_null("last_attempt_at"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("webhook_deliveries", "webhook_id")
                        .to("webhooks", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(index(
            "webhook_deliveries",
            "webhook_deliveries_due",
            &["status", "next_attempt_at"],
        ))
        .await?;
        m.create_index(index(
            "webhook_deliveries",
            "webhook_deliveries_log",
            &["webhook_id", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("reminders")
                .col(uuid("milestone_id"))
                .col(date("due_on"))
                .col(string_len("kind", 16))
                .col(timestamp_with_time_zone("sent_at"))
                .primary_key(Index::create().col("milestone_id").col("due_on").col("kind"))
                .foreign_key(
                    ForeignKey::create()
                        .from("reminders", "milestone_id")
                        .to("milestones", "id")
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("mail_deliveries")
                .col(pk_uuid("id"))
                .col(big_integer_null("event_seq"))
                .col(string_len("to_address", 254))
                .col(string_len("language", 8))
                .col(string_len("subject", 500))
                .col(text("body"))
                .col(string_len("status", 16))
                .col(integer("attempts").default(0))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(string_len_null("last_error", 500))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "mail_deliveries",
            "mail_deliveries_due",
            &["status", "next_attempt_at"],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["mail_deliveries", "reminders", "webhook_deliveries", "webhooks"] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        m.drop_table(Table::drop().table("milestone_tallies").take()).await?;
        m.create_table(milestone_tallies(false)).await?;
        mark_stale(m, &["milestones"]).await?;
        m.drop_index(Index::drop().name("milestones_zone_due").table("milestones").to_owned())
            .await?;
        for (table, column) in [
            ("milestones", "time_zone"),
            ("projects", "time_zone"),
            ("institutions", "contact_email"),
            ("institutions", "time_zone"),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(column).take())
                .await?;
        }
        Ok(())
    }
}
