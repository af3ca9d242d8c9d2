//! The fund's money: contributions, grants, tranches, disbursements (with
//! reversals), the ledger, and each fund's running balances.
//!
//! Amounts are BIGINT counts of the currency's minor unit (fen, cents), so
//! both backends store and add them exactly. Money rows are never updated
//! or deleted; a reversal is a new disbursement row with a negative amount.

use crate::shape::{fk, index};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per fund, locked by every money movement of that fund.
        m.create_table(
            Table::create()
                .table("fund_balances")
                .col(uuid("fund_id").primary_key())
                .col(big_integer("contributed_minor").default(0))
                .col(big_integer("disbursed_minor").default(0))
                .col(big_integer("committed_minor").default(0))
                .col(big_integer("ledger_seq").default(0))
                .foreign_key(&mut fk("fund_balances", "fund_id", "funds"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("contributions")
                .col(pk_uuid("id"))
                .col(uuid("fund_id"))
                .col(uuid("contributor_institution_id"))
                .col(big_integer("amount_minor"))
                .col(string_len("currency", 3))
                .col(date("received_on"))
                .col(string_null("reference"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("contributions", "fund_id", "funds"))
                .foreign_key(&mut fk("contributions", "contributor_institution_id", "institutions"))
                .check(Expr::col("amount_minor").gt(0))
                .take(),
        )
        .await?;
        m.create_index(index("contributions", "contributions_fund", &["fund_id", "id"]))
            .await?;

        m.create_table(
            Table::create()
                .table("grants")
                .col(pk_uuid("id"))
                .col(integer("version").default(1))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(string_null("code").unique_key())
                .col(uuid("fund_id"))
                .col(uuid("project_id"))
                .col(uuid("recipient_institution_id"))
                .col(json("title"))
                .col(json_null("purpose"))
                .col(big_integer("amount_minor"))
                .col(string_len("currency", 3))
                .col(string("status"))
                .col(date_null("decided_on"))
                .col(big_integer("disbursed_minor").default(0))
                .foreign_key(&mut fk("grants", "fund_id", "funds"))
                .foreign_key(&mut fk("grants", "project_id", "projects"))
                .foreign_key(&mut fk("grants", "recipient_institution_id", "institutions"))
                .check(Expr::col("amount_minor").gt(0))
                // Net disbursed stays within the award, whatever the code does.
                .check(Expr::col("disbursed_minor").gte(0))
                .check(Expr::col("disbursed_minor").lte(Expr::col("amount_minor")))
                .take(),
        )
        .await?;
        m.create_index(index("grants", "grants_fund", &["fund_id", "id"]))
            .await?;
        m.create_index(index("grants", "grants_project", &["project_id", "id"]))
            .await?;
        m.create_index(index("grants", "grants_recipient", &["recipient_institution_id", "id"]))
            .await?;
        m.create_index(index("grants", "grants_status", &["status", "id"]))
            .await?;

        m.create_table(
            Table::create()
                .table("tranches")
                .col(pk_uuid("id"))
                .col(uuid("grant_id"))
                .col(big_integer("amount_minor"))
                .col(string_len("currency", 3))
                .col(date_null("due_on"))
                .col(uuid_null("milestone_id"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("tranches", "grant_id", "grants"))
                .foreign_key(&mut fk("tranches", "milestone_id", "milestones"))
                .check(Expr::col("amount_minor").gt(0))
                .take(),
        )
        .await?;
        m.create_index(index("tranches", "tranches_grant", &["grant_id", "id"]))
            .await?;

        m.create_table(
            Table::create()
                .table("disbursements")
                .col(pk_uuid("id"))
                .col(uuid("grant_id"))
                .col(uuid("fund_id"))
                .col(uuid_null("tranche_id"))
                .col(big_integer("amount_minor"))
                .col(string_len("currency", 3))
                .col(date("paid_on"))
                .col(string_null("reference"))
                .col(big_integer_null("local_amount_minor"))
                .col(string_len_null("local_currency", 3))
                .col(string_null("exchange_rate"))
                .col(uuid_null("reversal_of").unique_key())
                .col(text_null("reason"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("disbursements", "grant_id", "grants"))
                .foreign_key(&mut fk("disbursements", "fund_id", "funds"))
                .foreign_key(&mut fk("disbursements", "tranche_id", "tranches"))
                .foreign_key(&mut fk("disbursements", "reversal_of", "disbursements"))
                .check(Expr::col("amount_minor").ne(0))
                .take(),
        )
        .await?;
        m.create_index(index("disbursements", "disbursements_grant", &["grant_id", "id"]))
            .await?;
        m.create_index(index("disbursements", "disbursements_tranche", &["tranche_id"]))
            .await?;
        m.create_index(index(
            "disbursements",
            "disbursements_fund_paid",
            &["fund_id", "paid_on"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("ledger_entries")
                .col(pk_uuid("id"))
                .col(uuid("fund_id"))
                .col(big_integer("seq"))
                .col(string("kind"))
                .col(big_integer("amount_minor"))
                .col(string_len("currency", 3))
                .col(date("occurred_on"))
                .col(timestamp_with_time_zone("recorded_at"))
                .col(uuid_null("grant_id"))
                .col(uuid_null("contribution_id"))
                .col(uuid_null("disbursement_id"))
                .col(big_integer("cash_minor"))
                .col(big_integer("available_minor"))
                .foreign_key(&mut fk("ledger_entries", "fund_id", "funds"))
                .check(Expr::col("amount_minor").gt(0))
                .check(Expr::col("available_minor").gte(0))
                .take(),
        )
        .await?;
        m.create_index(
            index("ledger_entries", "ledger_entries_fund_seq", &["fund_id", "seq"])
                .unique()
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "ledger_entries",
            "disbursements",
            "tranches",
            "grants",
            "contributions",
            "fund_balances",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
