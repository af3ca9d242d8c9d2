//! The outbox: every audited change appends events in its own transaction,
//! for the feed (`GET /events`) and, later, webhook delivery.
//!
//! `seq` is not a database sequence: a sequence hands out numbers at insert
//! time, so a transaction that took 5 could commit after one that took 6,
//! and a reader that saw 6 would later find 5. The service takes numbers
//! from the one `event_head` row instead, with the row locked until its
//! transaction commits, so numbers are handed out in commit order on every
//! backend and across instances.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("events")
                .col(big_integer("seq").primary_key())
                .col(uuid_uniq("id"))
                .col(string_len("type", 64))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(string_len("entity_type", 32))
                .col(uuid("entity_id"))
                .col(uuid_null("project_id"))
                // A grant and its money: partners see these only when it is theirs.
                .col(uuid_null("recipient_id"))
                .col(json("data"))
                .take(),
        )
        .await?;
        // A partner's feed reads its projects' events in seq order.
        m.create_index(
            Index::create()
                .name("events_project_seq")
                .table("events")
                .col("project_id")
                .col("seq")
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("event_head")
                .col(integer("id").primary_key())
                .col(big_integer("seq"))
                .check(Expr::col("id").eq(1))
                .take(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table("event_head")
                .columns(["id", "seq"])
                .values([1.into(), 0i64.into()])
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("event_head").take()).await?;
        m.drop_table(Table::drop().table("events").take()).await?;
        Ok(())
    }
}
