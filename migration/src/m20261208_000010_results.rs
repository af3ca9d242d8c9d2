//! Results and indicators (SPEC §6): standard indicators, a project's
//! results, their indicators, reporting periods and the updates partners
//! report, and `indicator_tallies`, each project's share of every standard
//! indicator's progress, and `indicator_totals`, those shares summed per
//! standard indicator and year. Indicator values are decimal strings (TEXT): up to
//! 10^15 with 6 places does not fit a BIGINT of micro-units, and no value
//! may pass through a float.

use crate::shape::{fk, index, resource};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            resource("standard_indicators")
                .col(string_len("code", 64).unique_key())
                .col(json("title"))
                .col(string_len("measure", 16))
                .col(string_null("unit"))
                .col(boolean("ascending"))
                .take(),
        )
        .await?;

        m.create_table(
            resource("results")
                .col(uuid("project_id"))
                .col(string_len("type", 16))
                .col(json("title"))
                .col(json_null("description"))
                .foreign_key(&mut fk("results", "project_id", "projects"))
                .take(),
        )
        .await?;
        m.create_index(index("results", "results_project", &["project_id"]))
            .await?;

        m.create_table(
            resource("indicators")
                .col(uuid("result_id"))
                .col(uuid("project_id"))
                .col(json("title"))
                .col(json_null("description"))
                .col(string_len("measure", 16))
                .col(string_null("unit"))
                .col(boolean("ascending"))
                .col(boolean("cumulative"))
                .col(uuid_null("standard_indicator_id"))
                .col(integer_null("baseline_year"))
                .col(string_null("baseline_value"))
                .col(text_null("baseline_comment"))
                .col(json("dimensions"))
                .foreign_key(&mut fk("indicators", "result_id", "results"))
                .foreign_key(&mut fk("indicators", "project_id", "projects"))
                .foreign_key(&mut fk("indicators", "standard_indicator_id", "standard_indicators"))
                .take(),
        )
        .await?;
        m.create_index(index("indicators", "indicators_result", &["result_id"]))
            .await?;
        m.create_index(index("indicators", "indicators_project", &["project_id"]))
            .await?;
        m.create_index(index("indicators", "indicators_standard", &["standard_indicator_id"]))
            .await?;

        m.create_table(
            resource("indicator_periods")
                .col(uuid("indicator_id"))
                .col(uuid("project_id"))
                .col(date("period_start"))
                .col(date("period_end"))
                .col(string_null("target_value"))
                .col(text_null("target_comment"))
                .col(boolean("locked").default(false))
                .foreign_key(&mut fk("indicator_periods", "indicator_id", "indicators"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "indicator_periods",
            "indicator_periods_indicator",
            &["indicator_id", "period_start"],
        ))
        .await?;
        // A project's periods are read by every recount of its share and by the exports.
        m.create_index(index("indicator_periods", "indicator_periods_project", &["project_id"]))
            .await?;

        m.create_table(
            resource("indicator_updates")
                .col(uuid("period_id"))
                .col(uuid("indicator_id"))
                .col(uuid("project_id"))
                .col(string_null("value"))
                .col(string_null("numerator"))
                .col(string_null("denominator"))
                .col(text_null("narrative"))
                .col(date("reported_on"))
                .col(json("disaggregations"))
                .col(string_len("status", 16))
                .col(text_null("review_note"))
                .col(uuid_null("author_token_id"))
                .col(uuid_null("author_institution_id"))
                .col(string("author_name"))
                .foreign_key(&mut fk("indicator_updates", "period_id", "indicator_periods"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "indicator_updates",
            "indicator_updates_period",
            &["period_id", "status"],
        ))
        .await?;
        m.create_index(index(
            "indicator_updates",
            "indicator_updates_project",
            &["project_id", "status"],
        ))
        .await?;
        m.create_index(index(
            "indicator_updates",
            "indicator_updates_indicator",
            &["indicator_id"],
        ))
        .await?;

        // One row per standard indicator, project and year (0: every year).
        m.create_table(
            Table::create()
                .table("indicator_tallies")
                .col(uuid("standard_indicator_id"))
                .col(uuid("project_id"))
                .col(integer("year"))
                .col(big_integer("indicators"))
                .col(string_null("baseline"))
                .col(string_null("target"))
                .col(string_null("actual"))
                .col(string_null("numerator"))
                .col(string_null("denominator"))
                .primary_key(
                    Index::create()
                        .col("standard_indicator_id")
                        .col("year")
                        .col("project_id"),
                )
                .take(),
        )
        .await?;
        m.create_index(index("indicator_tallies", "indicator_tallies_project", &["project_id"]))
            .await?;

        // The shares summed per standard indicator and year: each figure's
        // sum and how many shares carry it (none: the figure is null).
        let mut totals = Table::create()
            .table("indicator_totals")
            .col(uuid("standard_indicator_id"))
            .col(integer("year"))
            .col(big_integer("projects"))
            .col(big_integer("indicators"))
            .primary_key(Index::create().col("standard_indicator_id").col("year"))
            .take();
        for figure in ["baseline", "target", "actual", "numerator", "denominator"] {
            totals.col(string(figure)).col(big_integer(format!("{figure}_count")));
        }
        m.create_table(totals).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "indicator_totals",
            "indicator_tallies",
            "indicator_updates",
            "indicator_periods",
            "indicators",
            "results",
            "standard_indicators",
        ] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
