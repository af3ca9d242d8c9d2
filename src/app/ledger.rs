//! Money in: contributions to a fund, each a ledger movement under the
//! fund's lock (`store::books`).

use super::institutions::check_reference;
use super::{AppError, AppResult, Change, UnitOfWork, stored_money};
use crate::domain::ledger::Movement;
use crate::domain::{Currency, Line, Money, PositiveMoney};
use crate::entities::contribution;
use crate::store::books::{Books, Links};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Money received by a fund.
#[derive(Debug, Serialize, ToSchema)]
pub struct Contribution {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub contributor_institution_id: Uuid,
    pub amount: Money,
    pub received_on: NaiveDate,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<contribution::Model> for Contribution {
    type Error = AppError;
    fn try_from(m: contribution::Model) -> AppResult<Self> {
        Ok(Contribution {
            amount: stored_money(m.amount_minor, &m.currency)?,
            id: m.id,
            fund_id: m.fund_id,
            contributor_institution_id: m.contributor_institution_id,
            received_on: m.received_on,
            reference: m.reference,
            created_at: m.created_at,
        })
    }
}

/// Money of a fund must be in the fund's currency: 422 on `<field>.currency`.
pub fn check_currency(fund: Currency, money: Money, field: &str) -> AppResult<()> {
    if money.currency() == fund {
        Ok(())
    } else {
        Err(AppError::field(
            format!("{field}.currency"),
            format!(
                "must be the fund's currency {}, not {}",
                fund.code(),
                money.currency().code()
            ),
        ))
    }
}

pub struct NewContribution {
    pub contributor_institution_id: Uuid,
    pub amount: PositiveMoney,
    pub received_on: NaiveDate,
    pub reference: Option<Line>,
}

pub async fn contribute(uow: &mut UnitOfWork, fund_id: Uuid, new: NewContribution) -> AppResult<Contribution> {
    uow.actor().require_admin()?;
    let amount = new.amount.money();
    let mut books = Books::open(uow.db(), fund_id).await?;
    check_currency(books.currency, amount, "amount")?;
    check_reference(
        uow.db(),
        "contributor_institution_id",
        Some(new.contributor_institution_id),
    )
    .await?;
    let row = contribution::ActiveModel {
        id: Set(Uuid::now_v7()),
        fund_id: Set(fund_id),
        contributor_institution_id: Set(new.contributor_institution_id),
        amount_minor: Set(amount.minor()),
        currency: Set(amount.currency().code().to_owned()),
        received_on: Set(new.received_on),
        reference: Set(new.reference.map(Line::into_string)),
        created_at: Set(Utc::now()),
    }
    .insert(uow.db())
    .await?;
    let links = Links {
        contribution_id: Some(row.id),
        ..Links::default()
    };
    books
        .post(uow.db(), Movement::Contribution(amount.minor()), new.received_on, links)
        .await?;
    let view = Contribution::try_from(row)?;
    uow.record(Change::created("contribution", view.id, &view));
    Ok(view)
}
