//! Exactly-maintained aggregates for the dashboards, so that reading them
//! costs the same at 100 projects and at 100,000.
//!
//! `dashboard_tallies` holds, per dimension (country, alliance, sector,
//! year, institution, project_status, grant_status), fund scope (`fund_id`,
//! or the nil UUID for all funds), key and currency, how many projects and
//! grants fall under the key and the grants' awarded and net disbursed
//! minor units. Rows that only count projects have currency `''`.
//!
//! `milestone_tallies` counts milestones per status and due date, so the
//! dashboard's overdue and due-soon figures for any `as_of` sum a few
//! thousand rows at most, never the milestones themselves.
//!
//! Every write that changes what they sum updates them in its own
//! transaction (see the service's `store::tallies`). Existing data is
//! counted once by the service at start-up: this migration marks both
//! tallies stale in `stale_tallies`, and the service rebuilds what is
//! marked there.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TALLIES: [&str; 2] = ["dashboard", "milestones"];

/// On PostgreSQL a sum past the BIGINT range is an error; SQLite would turn
/// it into a REAL instead, which this check refuses, so both backends fail
/// the write rather than store a figure that is no longer exact.
fn in_bigint_range<const N: usize>(columns: [&'static str; N]) -> Expr {
    columns
        .into_iter()
        .map(|c| Expr::col(c).between(i64::MIN, i64::MAX))
        .reduce(|a, b| a.and(b))
        .expect("at least one column")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("dashboard_tallies")
                .col(uuid("fund_id"))
                .col(string_len("dimension", 16))
                .col(string_len("key", 64))
                .col(string_len("currency", 3))
                .col(big_integer("projects").default(0))
                .col(big_integer("grants").default(0))
                .col(big_integer("awarded_minor").default(0))
                .col(big_integer("disbursed_minor").default(0))
                .check(in_bigint_range([
                    "projects",
                    "grants",
                    "awarded_minor",
                    "disbursed_minor",
                ]))
                // Dimension first: a breakdown reads one (dimension, fund),
                // the summaries one dimension across funds.
                .primary_key(
                    Index::create()
                        .col("dimension")
                        .col("fund_id")
                        .col("key")
                        .col("currency"),
                )
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("milestone_tallies")
                .col(string_len("status", 16))
                .col(date("due_on"))
                .col(big_integer("milestones").default(0))
                .check(in_bigint_range(["milestones"]))
                .primary_key(Index::create().col("status").col("due_on"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("stale_tallies")
                .col(string_len("name", 16).primary_key())
                .take(),
        )
        .await?;
        let mut mark = Query::insert().into_table("stale_tallies").columns(["name"]).take();
        for name in TALLIES {
            mark.values([name.into()])
                .map_err(|e| DbErr::Migration(e.to_string()))?;
        }
        m.exec_stmt(mark).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["stale_tallies", "milestone_tallies", "dashboard_tallies"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
