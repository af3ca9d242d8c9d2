//! Every integration test in one binary, so the test build links once (as
//! zero-to-production's `tests/api/main.rs` does). Each module is one
//! resource or concern; `common` is the harness: the real router on a
//! fresh database per test, on SQLite and, with `TEST_POSTGRES_URL`, on
//! PostgreSQL.

#![allow(dead_code)]

mod common;

mod alliances;
mod audit_chain;
mod binary;
mod browser;
mod concurrency;
mod conventions;
mod dashboard;
mod demo;
mod events;
mod exports;
mod faults;
mod funds;
mod hardening;
mod institutions;
mod migrations;
mod milestones;
mod money;
mod money_rules;
mod openapi;
mod parsers;
mod projects;
mod reminders;
mod results;
mod security;
mod tallies;
mod tokens;
mod transfer;
mod two_instances;
mod use_cases;
mod webhooks;
mod zones;
