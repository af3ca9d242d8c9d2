//! Database rows, one module per table, and the one invariant every
//! versioned row keeps ([`versioned_row!`]). The use cases and the store use
//! these; the API speaks in the views of `app` and the rules in `domain` types.

/// The row invariant of every versioned table, kept on every save: a new
/// row is version 1 with `created_at` = `updated_at` = now (unless given);
/// every update adds one to `version` and stamps `updated_at`. Bulk
/// `update_many` statements bypass it, and none is used on these tables.
macro_rules! versioned_row {
    () => {
        #[async_trait::async_trait]
        impl ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                let now = chrono::Utc::now();
                if insert {
                    if self.version.is_not_set() {
                        self.version = sea_orm::ActiveValue::Set(1);
                    }
                    let created = match &self.created_at {
                        sea_orm::ActiveValue::Set(t) | sea_orm::ActiveValue::Unchanged(t) => *t,
                        sea_orm::ActiveValue::NotSet => now,
                    };
                    self.created_at = sea_orm::ActiveValue::Set(created);
                    if self.updated_at.is_not_set() {
                        self.updated_at = sea_orm::ActiveValue::Set(created);
                    }
                } else {
                    let version = match &self.version {
                        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => *v,
                        sea_orm::ActiveValue::NotSet => {
                            return Err(DbErr::Custom(
                                "an update of a versioned row needs its version".into(),
                            ));
                        }
                    };
                    self.version = sea_orm::ActiveValue::Set(version + 1);
                    self.updated_at = sea_orm::ActiveValue::Set(now);
                }
                Ok(self)
            }
        }
    };
}

pub mod alliance;
pub mod audit_chain_head;
pub mod audit_event;
pub mod contribution;
pub mod dashboard_tally;
pub mod disbursement;
pub mod event;
pub mod fund;
pub mod fund_balance;
pub mod grant;
pub mod idempotency_key;
pub mod indicator;
pub mod indicator_period;
pub mod indicator_tally;
pub mod indicator_total;
pub mod indicator_update;
pub mod institution;
pub mod ledger_entry;
pub mod mail_delivery;
pub mod membership;
pub mod milestone;
pub mod milestone_day_tally;
pub mod milestone_tally;
pub mod participant;
pub mod progress_report;
pub mod project;
pub mod project_country;
pub mod reminder;
pub mod result;
pub mod stale_tally;
pub mod standard_indicator;
pub mod token;
pub mod tranche;
pub mod values;
pub mod webhook;
pub mod webhook_delivery;
