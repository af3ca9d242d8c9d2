//! A tamper-evident audit trail: every audit event carries its place in one
//! chain (`seq`), the hash of the event before it (`prev_hash`) and its own
//! `hash`, a SHA-256 of its content and `prev_hash`. Editing, inserting or
//! deleting an event breaks the chain where it happened.
//!
//! `audit_chain_head` is one row holding the last `seq` and `hash`. Whoever
//! appends an event updates it first, in the same transaction, so appends
//! are serialized by that row's lock on every backend and every instance.
//!
//! The columns are nullable so that they can be added to a table that
//! already has rows on both backends; the service chains such events at
//! start-up, in id order, before it serves.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `prev_hash` of the first event: no event came before it.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const COLUMNS: [&str; 3] = ["seq", "prev_hash", "hash"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            big_integer_null("seq"),
            string_len_null("prev_hash", 64),
            string_len_null("hash", 64),
        ] {
            m.alter_table(Table::alter().table("audit_events").add_column(column).take())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("audit_events_seq")
                .table("audit_events")
                .col("seq")
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("audit_chain_head")
                .col(integer("id").primary_key())
                .col(big_integer("seq"))
                .col(string_len("hash", 64))
                .check(Expr::col("id").eq(1))
                .take(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table("audit_chain_head")
                .columns(["id", "seq", "hash"])
                .values([1.into(), 0i64.into(), GENESIS.into()])
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("audit_chain_head").take()).await?;
        m.drop_index(Index::drop().name("audit_events_seq").table("audit_events").to_owned())
            .await?;
        for column in COLUMNS.iter().rev() {
            m.alter_table(Table::alter().table("audit_events").drop_column(*column).take())
                .await?;
        }
        Ok(())
    }
}
