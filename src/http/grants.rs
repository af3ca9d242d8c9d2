//! `/grants`: awards from a fund to a project participant, their life
//! cycle, planned tranches, disbursements and reversals (the use cases, and
//! the lock order that makes them safe, are in `app::grants`).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned};
use crate::app::access::{self, Lock};
use crate::app::grants::{self, Disbursement, Grant, Tranche};
use crate::domain::Date;
use crate::domain::money::{ExchangeRate, PositiveMoney};
use crate::domain::status::GrantStatus;
use crate::domain::{Code, Line, LongText, Note, ShortText};
use crate::entities::{disbursement, grant, tranche};
use axum::extract::State;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch))
        .routes(routes!(transition))
        .routes(routes!(list_tranches, add_tranche))
        .routes(routes!(list_disbursements, disburse))
        .routes(routes!(reverse))
}

impl Versioned for Grant {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

impl Versioned for Tranche {
    fn version(&self) -> Option<i32> {
        None
    }
}

impl Versioned for Disbursement {
    fn version(&self) -> Option<i32> {
        None
    }
}

crate::input! {
    /// A new grant; it starts `draft`. The amount is in the fund's currency.
    #[schema(example = json!({"fund_id": "01a213a4-80e0-7170-bd31-ddd69b06687e", "project_id": "01a213a4-88c6-7673-a145-50aab33444c0",
        "recipient_institution_id": "01a213a4-80de-75f8-885c-96e3a53facad", "title": {"en": "Solar lighting for Betio"},
        "amount": {"amount": "250000.00", "currency": "CNY"}}))]
    pub struct NewGrant {
        code: Option<Code>,
        #[schema(required = true)]
        fund_id: Uuid,
        #[schema(required = true)]
        project_id: Uuid,
        /// Must take part in the project.
        #[schema(required = true)]
        recipient_institution_id: Uuid,
        #[schema(required = true)]
        title: ShortText,
        purpose: Option<LongText>,
        #[schema(required = true)]
        amount: PositiveMoney,
    }
}

crate::input! {
    /// Changes to a grant in `draft` or `submitted`.
    pub struct GrantChanges {
        code: Option<Code>,
        recipient_institution_id: Uuid,
        title: ShortText,
        purpose: Option<LongText>,
        amount: PositiveMoney,
    }
}

crate::input! {
    /// A status move, e.g. `{"to": "approved", "note": "board meeting 2025-03"}`.
    pub struct GrantTransition {
        #[schema(required = true)]
        to: GrantStatus,
        note: Option<Note>,
    }
}

crate::input! {
    /// A planned payment. The tranches of a grant never sum past its amount.
    pub struct NewTranche {
        #[schema(required = true)]
        amount: PositiveMoney,
        due_on: Option<Date>,
        /// A milestone of the grant's project; the tranche is payable once it is achieved.
        milestone_id: Option<Uuid>,
    }
}

crate::input! {
    /// Money out on an approved or active grant.
    #[schema(example = json!({"amount": {"amount": "50000.00", "currency": "CNY"}, "paid_on": "2025-04-01",
        "reference": "BOC-2025-0412", "local_amount": {"amount": "16255.00", "currency": "TOP"}, "exchange_rate": "0.3251"}))]
    pub struct NewDisbursement {
        #[schema(required = true)]
        amount: PositiveMoney,
        #[schema(required = true)]
        paid_on: Date,
        tranche_id: Option<Uuid>,
        reference: Option<Line>,
        local_amount: Option<PositiveMoney>,
        exchange_rate: Option<ExchangeRate>,
    }
}

crate::input! {
    /// Why a disbursement is undone.
    pub struct NewReversal {
        #[schema(required = true)]
        reason: Note,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListGrants {
    fund_id: Option<Uuid>,
    project_id: Option<Uuid>,
    recipient_institution_id: Option<Uuid>,
    status: Option<GrantStatus>,
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

// ---------------------------------------------------------------- shared steps

/// A grant the caller may see (partners: grants to their institution), or 404.
async fn visible_grant(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<grant::Model> {
    Ok(access::grant(&state.db, caller, id, Lock::No).await?)
}

// ---------------------------------------------------------------- grants

#[utoipa::path(get, path = "/grants", tag = "grants", params(ListGrants),
    responses((status = 200, description = "A page of grants the token may see", body = Page<Grant>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListGrants>,
) -> ApiResult<axum::Json<Page<Grant>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = access::visible_grants(grant::Entity::find(), &caller);
    if let Some(fund) = q.fund_id {
        select = select.filter(grant::Column::FundId.eq(fund));
    }
    if let Some(project) = q.project_id {
        select = select.filter(grant::Column::ProjectId.eq(project));
    }
    if let Some(recipient) = q.recipient_institution_id {
        select = select.filter(grant::Column::RecipientInstitutionId.eq(recipient));
    }
    if let Some(status) = q.status {
        select = select.filter(grant::Column::Status.eq(status));
    }
    if let Some(after) = page.after {
        select = select.filter(grant::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(grant::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Grant::try_from);
    Ok(axum::Json(page.transpose()?))
}

#[utoipa::path(post, path = "/grants", tag = "grants", request_body = NewGrant,
    responses(
        (status = 201, description = "Created, status `draft`", body = Grant, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "`duplicate`: the code is taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Input(body, mut v): Input<NewGrant>,
) -> ApiResult<Reply> {
    caller.require_admin()?;
    let code = v.optional("code", body.code);
    let fund_id = v.required("fund_id", body.fund_id);
    let project_id = v.required("project_id", body.project_id);
    let recipient = v.required("recipient_institution_id", body.recipient_institution_id);
    let title = v.required("title", body.title);
    let purpose = v.optional("purpose", body.purpose);
    let amount = v.required("amount", body.amount);
    let (Some(fund_id), Some(project_id), Some(recipient), Some(title), Some(amount)) =
        (fund_id, project_id, recipient, title, amount)
    else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = grants::New {
        code,
        fund_id,
        project_id,
        recipient_institution_id: recipient,
        title,
        purpose,
        amount,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = grants::create(&mut uow, new).await?;
    let location = format!("/api/v1/grants/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(get, path = "/grants/{id}", tag = "grants", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The grant", body = Grant, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let row = visible_grant(&state, &caller, id).await?;
    Ok(Reply::ok(&Grant::try_from(row)?))
}

#[utoipa::path(patch, path = "/grants/{id}", tag = "grants", request_body = GrantChanges, params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Grant, headers(("ETag" = String))),
        (status = 409, description = "`invalid_state`: only draft or submitted grants change; `tranche_over_allocated`: the new amount is below the tranches; `duplicate`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<GrantChanges>,
) -> ApiResult<Reply> {
    let changes = grants::Changes {
        code: v.change_nullable("code", body.code),
        recipient_institution_id: v.change("recipient_institution_id", body.recipient_institution_id),
        title: v.change("title", body.title),
        purpose: v.change_nullable("purpose", body.purpose),
        amount: v.change("amount", body.amount),
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = grants::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(post, path = "/grants/{id}/transitions", tag = "grants", request_body = GrantTransition, params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The grant in its new status", body = Grant, headers(("ETag" = String))),
        (status = 409, description = "`invalid_transition`: not allowed from the current status; `insufficient_funds`: approving needs available ≥ amount", body = Problem, content_type = "application/problem+json"),
    ))]
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<GrantTransition>,
) -> ApiResult<Reply> {
    let to = v.required("to", body.to);
    let note = v.optional("note", body.note);
    let Some(to) = to else { return Err(v.incomplete()) };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = grants::transition(&mut uow, id, to, note).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

// ---------------------------------------------------------------- tranches

#[utoipa::path(get, path = "/grants/{id}/tranches", tag = "grants", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The grant's planned payments", body = Page<Tranche>)))]
async fn list_tranches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Tranche>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    visible_grant(&state, &caller, id).await?;
    let mut select = tranche::Entity::find().filter(tranche::Column::GrantId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(tranche::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(tranche::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Tranche::try_from);
    Ok(axum::Json(page.transpose()?))
}

#[utoipa::path(post, path = "/grants/{id}/tranches", tag = "grants", request_body = NewTranche, params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Planned", body = Tranche, headers(("Location" = String))),
        (status = 409, description = "`tranche_over_allocated`: the tranches would sum past the grant; `invalid_state`: the grant is closed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_tranche(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewTranche>,
) -> ApiResult<Reply> {
    let amount = v.required("amount", body.amount);
    let due_on = v.optional("due_on", body.due_on).map(Date::naive);
    let milestone_id = v.optional("milestone_id", body.milestone_id);
    let Some(amount) = amount else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = grants::NewTranche {
        amount,
        due_on,
        milestone_id,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = grants::add_tranche(&mut uow, id, new).await?;
    let location = format!("/api/v1/grants/{id}/tranches/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

// ---------------------------------------------------------------- disbursements

#[utoipa::path(get, path = "/grants/{id}/disbursements", tag = "grants", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "Payments and reversals, oldest first", body = Page<Disbursement>)))]
async fn list_disbursements(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Disbursement>>> {
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    visible_grant(&state, &caller, id).await?;
    let mut select = disbursement::Entity::find().filter(disbursement::Column::GrantId.eq(id));
    if let Some(after) = page.after {
        select = select.filter(disbursement::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(disbursement::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Disbursement::try_from);
    Ok(axum::Json(page.transpose()?))
}

#[utoipa::path(post, path = "/grants/{id}/disbursements", tag = "grants", request_body = NewDisbursement, params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "Paid, with a ledger entry; the first payment makes an approved grant active", body = Disbursement, headers(("Location" = String))),
        (status = 409, description = "`over_disbursement`: would pass the grant's or tranche's amount; `milestone_not_achieved`: the tranche's milestone is not achieved; `invalid_state`: the grant is not approved or active", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disburse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewDisbursement>,
) -> ApiResult<Reply> {
    let amount = v.required("amount", body.amount);
    let paid_on = v.required("paid_on", body.paid_on).map(Date::naive);
    let tranche_id = v.optional("tranche_id", body.tranche_id);
    let reference = v.optional("reference", body.reference);
    let local_amount = v.optional("local_amount", body.local_amount);
    let rate = v.optional("exchange_rate", body.exchange_rate);
    v.check(
        rate.is_none() || local_amount.is_some(),
        "local_amount",
        "is required with exchange_rate",
    );
    let (Some(amount), Some(paid_on)) = (amount, paid_on) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = grants::NewDisbursement {
        amount,
        paid_on,
        tranche_id,
        reference,
        local_amount,
        exchange_rate: rate,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = grants::disburse(&mut uow, id, new).await?;
    let location = format!("/api/v1/grants/{id}/disbursements/{}", view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}

#[utoipa::path(post, path = "/disbursements/{id}/reversal", tag = "grants", request_body = NewReversal, params(("id" = Uuid, Path)),
    responses(
        (status = 201, description = "The compensating entry: negative amount, `reversal_of` set", body = Disbursement, headers(("Location" = String))),
        (status = 409, description = "`already_reversed`; `invalid_state`: a reversal cannot itself be reversed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn reverse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Input(body, mut v): Input<NewReversal>,
) -> ApiResult<Reply> {
    let reason = v.required("reason", body.reason);
    let Some(reason) = reason else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let mut uow = caller.begin(&state.db).await?;
    let view = grants::reverse(&mut uow, id, reason).await?;
    let location = format!("/api/v1/grants/{}/disbursements/{}", view.grant_id, view.id);
    caller.commit(uow, Reply::created(location, &view)).await
}
