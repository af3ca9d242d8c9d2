//! `milestone_day_tallies`: milestones per status and due date, every zone
//! together, kept beside the per-zone `milestone_tallies`.
//!
//! The dashboard's overdue and achieved figures sum a range of days; over
//! the per-zone table that range is one row per zone and day (four times
//! as many rows at the synthetic scale), which made the summary six times
//! slower under load. Only the days near today, where zones disagree,
//! still need the per-zone rows. The service fills the new table at
//! start-up (the tally is marked stale).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("milestone_day_tallies")
                .col(string_len("status", 16))
                .col(date("due_on"))
                .col(big_integer("milestones").default(0))
                .check(Expr::col("milestones").between(i64::MIN, i64::MAX))
                .primary_key(Index::create().col("status").col("due_on"))
                .take(),
        )
        .await?;
        let mark = Query::insert()
            .into_table("stale_tallies")
            .columns(["name"])
            .values_panic(["milestones".into()])
            .on_conflict(OnConflict::column("name").do_nothing().to_owned())
            .take();
        m.exec_stmt(mark).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("milestone_day_tallies").take()).await
    }
}
