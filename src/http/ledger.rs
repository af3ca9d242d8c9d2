//! A fund's money in and its books: `/funds/{id}/contributions`,
//! `/funds/{id}/summary`, `/funds/{id}/ledger`. Not for partners.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Input, Path, Query};
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned};
use crate::app::ledger::{self, Contribution};
use crate::domain::ledger::Balances;
use crate::domain::money::{Money, PositiveMoney};
use crate::domain::status::GrantStatus;
use crate::domain::{Code, Date, Line, ShortText};
use crate::entities::{contribution, dashboard_tally, fund, fund_balance, ledger_entry};
use crate::store::books::balances_of;
use crate::store::tallies::Dimension;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contributions, contribute))
        .routes(routes!(summary))
        .routes(routes!(ledger))
}

pub(crate) fn stored(minor: i64, currency: &str) -> ApiResult<Money> {
    Ok(crate::app::stored_money(minor, currency)?)
}

impl Versioned for Contribution {
    fn version(&self) -> Option<i32> {
        None
    }
}

crate::input! {
    /// Money in. The amount must be in the fund's currency.
    #[schema(example = json!({"contributor_institution_id": "01a213a4-80e0-7170-bd31-ddd69b06687e",
        "amount": {"amount": "5000000.00", "currency": "CNY"}, "received_on": "2024-11-01", "reference": "XF-2024-001"}))]
    pub struct NewContribution {
        #[schema(required = true)]
        contributor_institution_id: Uuid,
        #[schema(required = true)]
        amount: PositiveMoney,
        #[schema(required = true)]
        received_on: Date,
        reference: Option<Line>,
    }
}

/// What a fund has: every figure exact, in the fund's currency.
#[derive(Serialize, ToSchema)]
pub struct FundSummary {
    pub fund_id: Uuid,
    #[schema(value_type = Code)]
    pub code: String,
    #[schema(value_type = ShortText)]
    pub name: serde_json::Value,
    /// Sum of contributions.
    pub contributed: Money,
    /// Over approved and active grants: amount minus net disbursed.
    pub committed: Money,
    /// Sum of disbursements net of reversals.
    pub disbursed: Money,
    /// contributed − disbursed − committed; never negative.
    pub available: Money,
    /// Number of grants in each status.
    #[schema(value_type = BTreeMap<GrantStatus, u64>)]
    pub grants_by_status: BTreeMap<&'static str, u64>,
}

impl Versioned for FundSummary {
    fn version(&self) -> Option<i32> {
        None
    }
}

/// One money movement, with the fund's balances after it.
#[derive(Serialize, ToSchema)]
pub struct LedgerEntry {
    pub id: Uuid,
    /// Position in the fund's ledger: 1, 2, 3…
    pub seq: i64,
    #[schema(value_type = crate::domain::ledger::EntryKind)]
    pub kind: String,
    /// Always positive; `kind` says which way it moved.
    pub amount: Money,
    pub occurred_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub grant_id: Option<Uuid>,
    pub contribution_id: Option<Uuid>,
    pub disbursement_id: Option<Uuid>,
    /// Contributed − disbursed, after this entry.
    pub cash: Money,
    /// Available, after this entry.
    pub available: Money,
}

impl TryFrom<ledger_entry::Model> for LedgerEntry {
    type Error = ApiError;
    fn try_from(m: ledger_entry::Model) -> ApiResult<Self> {
        Ok(LedgerEntry {
            amount: stored(m.amount_minor, &m.currency)?,
            cash: stored(m.cash_minor, &m.currency)?,
            available: stored(m.available_minor, &m.currency)?,
            id: m.id,
            seq: m.seq,
            kind: m.kind,
            occurred_on: m.occurred_on,
            recorded_at: m.recorded_at,
            grant_id: m.grant_id,
            contribution_id: m.contribution_id,
            disbursement_id: m.disbursement_id,
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

async fn find_fund(state: &AppState, id: Uuid) -> ApiResult<fund::Model> {
    fund::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)
}

#[utoipa::path(get, path = "/funds/{id}/contributions", tag = "funds", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "Contributions, oldest first", body = Page<Contribution>)))]
async fn list_contributions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Contribution>>> {
    caller.require_staff()?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    find_fund(&state, id).await?;
    let mut select = contribution::Entity::find().filter(contribution::Column::FundId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(contribution::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(contribution::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(
        Page::from_rows(rows, page, |r| r.id, Contribution::try_from).transpose()?,
    ))
}

#[utoipa::path(post, path = "/funds/{id}/contributions", tag = "funds", params(("id" = Uuid, Path)),
    request_body = NewContribution,
    responses((status = 201, description = "Recorded, with a ledger entry", body = Contribution, headers(("Location" = String)))))]
async fn contribute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewContribution>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let contributor = v.required("contributor_institution_id", body.contributor_institution_id);
    let amount = v.required("amount", body.amount);
    let received_on = v.required("received_on", body.received_on).map(Date::naive);
    let reference = v.optional("reference", body.reference);
    let (Some(contributor), Some(amount), Some(received_on)) = (contributor, amount, received_on) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = ledger::NewContribution {
        contributor_institution_id: contributor,
        amount,
        received_on,
        reference,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = ledger::contribute(&mut uow, id, new).await?;
    let location = format!("/api/v1/funds/{id}/contributions/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/funds/{id}/summary", tag = "funds", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Contributed, committed, disbursed and available", body = FundSummary)))]
async fn summary(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    caller.require_staff()?;
    let fund = find_fund(&state, id).await?;
    let row = fund_balance::Entity::find_by_id(id).one(&state.db).await?;
    let balances = row.as_ref().map(balances_of).unwrap_or_default();
    let counts = grant_counts(&state.db, Some(id)).await?;
    let counts = counts.get(&id).map_or(&[][..], Vec::as_slice);
    Ok(Reply::ok(&fund_summary(&fund, balances, counts)?))
}

/// Grants by status, from the tallies: of one fund, or of every fund and
/// of all together (under [`ALL_FUNDS`](crate::store::tallies::ALL_FUNDS)).
pub(crate) async fn grant_counts(
    db: &impl ConnectionTrait,
    fund: Option<Uuid>,
) -> ApiResult<HashMap<Uuid, Vec<(String, i64)>>> {
    use dashboard_tally::Column as C;
    let mut select = dashboard_tally::Entity::find()
        .select_only()
        .columns([C::FundId, C::Key, C::Grants])
        .filter(C::Dimension.eq(Dimension::GrantStatus.as_str()))
        .filter(C::Grants.ne(0));
    if let Some(f) = fund {
        select = select.filter(C::FundId.eq(f));
    }
    let mut out: HashMap<Uuid, Vec<(String, i64)>> = HashMap::new();
    for (fund_id, status, n) in select.into_tuple::<(Uuid, String, i64)>().all(db).await? {
        out.entry(fund_id).or_default().push((status, n));
    }
    Ok(out)
}

/// Every status of a vocabulary with its count: 0 when absent, summed
/// when it comes more than once (once per currency).
pub(crate) fn counts_by<S: Copy + 'static>(
    variants: &'static [S],
    name: fn(S) -> &'static str,
    rows: &[(String, i64)],
) -> BTreeMap<&'static str, u64> {
    variants
        .iter()
        .map(|s| {
            let key = name(*s);
            let n: i64 = rows.iter().filter(|(k, _)| k == key).map(|(_, n)| *n).sum();
            (key, n.max(0) as u64)
        })
        .collect()
}

/// A fund's summary from its balances and its grant counts by status.
pub(crate) fn fund_summary(fund: &fund::Model, b: Balances, counts: &[(String, i64)]) -> ApiResult<FundSummary> {
    let currency = fund.currency.as_str();
    Ok(FundSummary {
        fund_id: fund.id,
        code: fund.code.clone(),
        name: fund.name.clone(),
        contributed: stored(b.contributed, currency)?,
        committed: stored(b.committed, currency)?,
        disbursed: stored(b.disbursed, currency)?,
        available: stored(b.available(), currency)?,
        grants_by_status: counts_by(GrantStatus::VARIANTS, GrantStatus::as_str, counts),
    })
}

#[utoipa::path(get, path = "/funds/{id}/ledger", tag = "funds", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "Every money movement, oldest first, with running balances", body = Page<LedgerEntry>)))]
async fn ledger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<LedgerEntry>>> {
    caller.require_staff()?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    find_fund(&state, id).await?;
    // The order is `seq` (written one at a time under the fund's lock); the
    // cursor names the last entry seen, whose `seq` is looked up by key.
    let mut select = ledger_entry::Entity::find().filter(ledger_entry::Column::FundId.eq(id));
    if let Some(after) = page.after {
        let last = ledger_entry::Entity::find_by_id(after)
            .filter(ledger_entry::Column::FundId.eq(id))
            .one(&state.db)
            .await?
            .ok_or_else(|| ApiError::field("cursor", "is not a cursor of this ledger"))?;
        select = select.filter(ledger_entry::Column::Seq.gt(last.seq));
    }
    let rows = select
        .order_by_asc(ledger_entry::Column::Seq)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    Ok(axum::Json(
        Page::from_rows(rows, page, |r| r.id, LedgerEntry::try_from).transpose()?,
    ))
}
