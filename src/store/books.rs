//! A fund's books, opened under a lock for one transaction.
//!
//! Every money movement of a fund locks that fund's `fund_balances` row
//! first (`SELECT … FOR UPDATE` on PostgreSQL; SQLite write transactions
//! are serial). Movements of one fund are therefore applied one at a time,
//! across all instances, and each sees the balances the previous left: the
//! checks in `domain::ledger` then hold under any concurrency. The ledger
//! entry and the new balances are written in the caller's transaction.

use super::{StoreError, StoreResult};
use crate::domain::Currency;
use crate::domain::ledger::{Balances, Movement};
use crate::entities::{fund, fund_balance, ledger_entry};
use chrono::{NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QuerySelect, Set};
use uuid::Uuid;

/// What a ledger entry points at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Links {
    pub grant_id: Option<Uuid>,
    pub contribution_id: Option<Uuid>,
    pub disbursement_id: Option<Uuid>,
}

pub struct Books {
    pub fund: fund::Model,
    pub currency: Currency,
    balances: Balances,
    seq: i64,
}

impl Books {
    /// Locks the fund's balances (creating them at zero the first time);
    /// `NotFound` if no such fund.
    pub async fn open(db: &impl ConnectionTrait, fund_id: Uuid) -> StoreResult<Books> {
        let fund = fund::Entity::find_by_id(fund_id)
            .one(db)
            .await?
            .ok_or(StoreError::NotFound)?;
        let currency = fund
            .currency
            .parse()
            .map_err(|_| StoreError::Db(DbErr::Custom(format!("fund {fund_id} has currency {}", fund.currency))))?;
        let zero = fund_balance::ActiveModel {
            fund_id: Set(fund_id),
            contributed_minor: Set(0),
            disbursed_minor: Set(0),
            committed_minor: Set(0),
            ledger_seq: Set(0),
        };
        fund_balance::Entity::insert(zero)
            .on_conflict(OnConflict::column(fund_balance::Column::FundId).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
        let row = fund_balance::Entity::find_by_id(fund_id)
            .lock_exclusive()
            .one(db)
            .await?
            .ok_or_else(|| StoreError::Db(DbErr::RecordNotFound(format!("balances of fund {fund_id}"))))?;
        Ok(Books {
            fund,
            currency,
            balances: balances_of(&row),
            seq: row.ledger_seq,
        })
    }

    pub fn balances(&self) -> Balances {
        self.balances
    }

    /// Applies a movement, or refuses it, and appends its ledger entry.
    pub async fn post(
        &mut self,
        db: &impl ConnectionTrait,
        m: Movement,
        on: NaiveDate,
        links: Links,
    ) -> StoreResult<()> {
        let after = self.balances.apply(m)?;
        self.seq += 1;
        ledger_entry::ActiveModel {
            id: Set(Uuid::now_v7()),
            fund_id: Set(self.fund.id),
            seq: Set(self.seq),
            kind: Set(m.kind().as_str().to_owned()),
            amount_minor: Set(m.amount()),
            currency: Set(self.currency.code().to_owned()),
            occurred_on: Set(on),
            recorded_at: Set(Utc::now()),
            grant_id: Set(links.grant_id),
            contribution_id: Set(links.contribution_id),
            disbursement_id: Set(links.disbursement_id),
            cash_minor: Set(after.cash()),
            available_minor: Set(after.available()),
        }
        .insert(db)
        .await?;
        fund_balance::ActiveModel {
            fund_id: Set(self.fund.id),
            contributed_minor: Set(after.contributed),
            disbursed_minor: Set(after.disbursed),
            committed_minor: Set(after.committed),
            ledger_seq: Set(self.seq),
        }
        .update(db)
        .await?;
        self.balances = after;
        Ok(())
    }
}

pub fn balances_of(row: &fund_balance::Model) -> Balances {
    Balances {
        contributed: row.contributed_minor,
        disbursed: row.disbursed_minor,
        committed: row.committed_minor,
    }
}
