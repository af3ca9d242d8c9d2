//! Database rows, one module per table. Only the store and the handlers use
//! these; the API speaks in `http` types and the rules in `domain` types.

pub mod alliance;
pub mod audit_chain_head;
pub mod audit_event;
pub mod contribution;
pub mod dashboard_tally;
pub mod disbursement;
pub mod fund;
pub mod fund_balance;
pub mod grant;
pub mod idempotency_key;
pub mod institution;
pub mod ledger_entry;
pub mod membership;
pub mod milestone;
pub mod milestone_tally;
pub mod participant;
pub mod progress_report;
pub mod project;
pub mod project_country;
pub mod stale_tally;
pub mod token;
pub mod tranche;
