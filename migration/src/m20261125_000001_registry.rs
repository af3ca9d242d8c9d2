//! The registry: tokens, institutions, alliances and memberships, funds,
//! projects with participants and milestones, progress reports, and the
//! shared machinery tables (audit events, idempotency keys).

use crate::shape::{fk, index, resource};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 11] = [
    "idempotency_keys",
    "audit_events",
    "progress_reports",
    "milestones",
    "participants",
    "project_countries",
    "projects",
    "funds",
    "memberships",
    "alliances",
    "tokens",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            resource("institutions")
                .col(string_null("code").unique_key())
                .col(json("name"))
                .col(text("search"))
                .col(string("kind"))
                .col(string_len("country", 2))
                .col(string_null("city"))
                .col(string_null("website"))
                .col(string_null("iati_org_id"))
                .take(),
        )
        .await?;
        m.create_index(index("institutions", "institutions_country", &["country", "id"]))
            .await?;

        m.create_table(
            Table::create()
                .table("tokens")
                .col(pk_uuid("id"))
                .col(string("name"))
                .col(string("role"))
                .col(uuid_null("institution_id"))
                .col(string_uniq("secret_hash"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk("tokens", "institution_id", "institutions"))
                .take(),
        )
        .await?;

        m.create_table(
            resource("alliances")
                .col(string_uniq("code"))
                .col(json("name"))
                .col(json_null("description"))
                .col(text("search"))
                .col(date("founded_on"))
                .col(uuid_null("secretariat_institution_id"))
                .col(json("focus_areas"))
                .foreign_key(&mut fk("alliances", "secretariat_institution_id", "institutions"))
                .take(),
        )
        .await?;

        m.create_table(
            resource("memberships")
                .col(uuid("alliance_id"))
                .col(uuid("institution_id"))
                .col(string("role"))
                .col(date("joined_on"))
                .col(date_null("left_on"))
                .foreign_key(&mut fk("memberships", "alliance_id", "alliances"))
                .foreign_key(&mut fk("memberships", "institution_id", "institutions"))
                .take(),
        )
        .await?;
        // One active membership per institution and alliance; ended ones are history.
        m.create_index(
            index(
                "memberships",
                "memberships_one_active",
                &["alliance_id", "institution_id"],
            )
            .unique()
            .and_where(Expr::col("left_on").is_null())
            .take(),
        )
        .await?;
        m.create_index(index("memberships", "memberships_institution", &["institution_id"]))
            .await?;

        m.create_table(
            resource("funds")
                .col(string_uniq("code"))
                .col(json("name"))
                .col(text("search"))
                .col(string_len("currency", 3))
                .col(uuid("sponsor_institution_id"))
                .col(date("established_on"))
                .col(json("focus_areas"))
                .foreign_key(&mut fk("funds", "sponsor_institution_id", "institutions"))
                .take(),
        )
        .await?;

        m.create_table(
            resource("projects")
                .col(string_uniq("code"))
                .col(json("title"))
                .col(json_null("summary"))
                .col(text("search"))
                .col(uuid_null("alliance_id"))
                .col(string("sector"))
                .col(json("countries"))
                .col(small_integer("rio_mitigation"))
                .col(small_integer("rio_adaptation"))
                .col(string("status"))
                .col(date("planned_start"))
                .col(date("planned_end"))
                .col(date_null("actual_start"))
                .col(date_null("actual_end"))
                .foreign_key(&mut fk("projects", "alliance_id", "alliances"))
                .take(),
        )
        .await?;
        m.create_index(index("projects", "projects_status", &["status", "id"]))
            .await?;
        m.create_index(index("projects", "projects_alliance", &["alliance_id", "id"]))
            .await?;
        m.create_index(index("projects", "projects_sector", &["sector", "id"]))
            .await?;

        // Countries of a project, one row each, so `country=` filters use an index.
        m.create_table(
            Table::create()
                .table("project_countries")
                .col(uuid("project_id"))
                .col(string_len("country", 2))
                .primary_key(Index::create().col("project_id").col("country"))
                .foreign_key(&mut fk("project_countries", "project_id", "projects"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "project_countries",
            "project_countries_country",
            &["country", "project_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("participants")
                .col(uuid("project_id"))
                .col(uuid("institution_id"))
                .col(string("role"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("project_id").col("institution_id"))
                .foreign_key(&mut fk("participants", "project_id", "projects"))
                .foreign_key(&mut fk("participants", "institution_id", "institutions"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "participants",
            "participants_institution",
            &["institution_id", "project_id"],
        ))
        .await?;

        m.create_table(
            resource("milestones")
                .col(uuid("project_id"))
                .col(json("title"))
                .col(json_null("description"))
                .col(date("due_on"))
                .col(string("status"))
                .col(date_null("achieved_on"))
                .col(text_null("evidence"))
                .foreign_key(&mut fk("milestones", "project_id", "projects"))
                .take(),
        )
        .await?;
        m.create_index(index("milestones", "milestones_project", &["project_id", "due_on"]))
            .await?;
        m.create_index(index("milestones", "milestones_status_due", &["status", "due_on"]))
            .await?;

        m.create_table(
            Table::create()
                .table("progress_reports")
                .col(pk_uuid("id"))
                .col(uuid("milestone_id"))
                .col(text("note"))
                .col(small_integer_null("progress_percent"))
                .col(date("reported_on"))
                .col(uuid("token_id"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("progress_reports", "milestone_id", "milestones"))
                .foreign_key(&mut fk("progress_reports", "token_id", "tokens"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "progress_reports",
            "progress_reports_milestone",
            &["milestone_id", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("audit_events")
                .col(pk_uuid("id"))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(uuid_null("token_id"))
                .col(string("token_name"))
                .col(string("action"))
                .col(string("entity_type"))
                .col(uuid("entity_id"))
                .col(json_null("before"))
                .col(json_null("after"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "audit_events",
            "audit_events_entity",
            &["entity_type", "entity_id", "id"],
        ))
        .await?;
        m.create_index(index("audit_events", "audit_events_actor", &["token_id", "id"]))
            .await?;

        // Idempotency keys live in the database so every instance sees them.
        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .col(uuid("token_id"))
                .col(string("key"))
                .col(string("request_hash"))
                .col(small_integer_null("status_code"))
                .col(text_null("body"))
                .col(string_null("location"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("token_id").col("key"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in TABLES.iter().copied().chain(["institutions"]) {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
