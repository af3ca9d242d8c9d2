//! Schema migrations, one file per migration, for SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod shape;

mod m20261125_000001_registry;
mod m20261125_000002_money;
mod m20261125_000003_audit_chain;
mod m20261125_000004_tallies;
mod m20261202_000005_outbox;
mod m20261202_000008_webhooks;
mod m20261207_000009_milestone_day_tallies;
mod m20261208_000010_results;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_registry::Migration),
            Box::new(m20261125_000002_money::Migration),
            Box::new(m20261125_000003_audit_chain::Migration),
            Box::new(m20261125_000004_tallies::Migration),
            Box::new(m20261202_000005_outbox::Migration),
            Box::new(m20261202_000008_webhooks::Migration),
            Box::new(m20261207_000009_milestone_day_tallies::Migration),
            Box::new(m20261208_000010_results::Migration),
        ]
    }
}
