//! `/webhooks`: endpoints other systems receive events at (admin only; the
//! use cases are `app::webhooks`, the delivery `jobs::webhooks`).

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{IfMatch, Input, Path, Query};
use super::input::Field;
use super::pagination::{Page, PageRequest};
use super::reply::{Reply, Versioned};
use super::tokens::Admin;
use crate::app::webhooks::{self, CheckedUrl, Delivery, EventTypes, Webhook};
use crate::domain::Line;
use crate::entities::webhook;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, patch, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(test))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

impl Versioned for Webhook {
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }

    /// `failing_since` is kept by the delivery workers without a new version.
    fn fixed_by_version(&self) -> bool {
        false
    }
}

impl Versioned for Delivery {
    fn version(&self) -> Option<i32> {
        None
    }
}

/// A webhook endpoint just made, or whose secret was just rotated, with its secret.
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks). Shown only
    /// in this response; an idempotent replay carries null.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
}

impl Versioned for WebhookWithSecret {
    fn version(&self) -> Option<i32> {
        Some(self.webhook.version)
    }
}

/// The test event sent.
#[derive(Serialize, ToSchema)]
pub struct TestSent {
    /// The `webhook-id` the endpoint receives it with.
    pub event_id: Uuid,
    #[serde(rename = "type")]
    #[schema(example = "webhook.test")]
    pub kind: &'static str,
}

impl Versioned for TestSent {
    fn version(&self) -> Option<i32> {
        None
    }
}

crate::input! {
    /// A webhook endpoint. `url` must be `https://` and reach a public
    /// address (unless the operator allowed the host).
    #[schema(example = json!({"url": "https://dashboard.example.org/hooks/climate-tracker",
        "event_types": ["grant.transitioned", "disbursement.created", "milestone.overdue"],
        "description": "Board dashboard"}))]
    pub struct NewWebhook {
        #[schema(required = true, max_length = 2048)]
        url: String,
        /// Event types, e.g. `grant.transitioned`, or `["*"]` for all.
        #[schema(required = true, min_items = 1, max_items = 100)]
        event_types: Vec<String>,
        description: Option<Line>,
        /// Default true.
        enabled: bool,
    }
}

crate::input! {
    /// Changes to a webhook endpoint: absent fields stay.
    pub struct WebhookChanges {
        #[schema(max_length = 2048)]
        url: String,
        #[schema(min_items = 1, max_items = 100)]
        event_types: Vec<String>,
        description: Option<Line>,
        /// Enabling again clears its run of failures.
        enabled: bool,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    limit: Option<u64>,
    cursor: Option<String>,
}

fn event_types(v: &mut super::input::Validator, field: Field<Vec<String>>, required: bool) -> Option<EventTypes> {
    let types = if required {
        v.required("event_types", field)
    } else {
        v.change("event_types", field)
    }?;
    match EventTypes::parse(types) {
        Ok(t) => Some(t),
        Err(message) => {
            v.check(false, "event_types", &message);
            None
        }
    }
}

/// The answer with the secret, or (for the idempotent replay, which is
/// stored for a day) without it.
fn with_secret(made: &webhooks::WithSecret, shown: bool) -> WebhookWithSecret {
    WebhookWithSecret {
        webhook: made.webhook.clone(),
        secret: shown.then(|| made.secret.as_str().to_owned()),
    }
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(PageParams),
    responses((status = 200, description = "A page of webhook endpoints, oldest first", body = Page<Webhook>)))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Webhook>>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut select = webhook::Entity::find();
    if let Some(after) = page.after {
        select = select.filter(webhook::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(webhook::Column::Id)
        .limit(page.fetch())
        .all(&state.db)
        .await?;
    let page = Page::from_rows(rows, page, |r| r.id, Webhook::try_from);
    Ok(axum::Json(page.transpose()?))
}

#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "Created; the secret is shown only here", body = WebhookWithSecret,
        headers(("Location" = String), ("ETag" = String)))))]
async fn create(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Input(body, mut v): Input<NewWebhook>,
) -> ApiResult<Reply> {
    let url = v.required("url", body.url);
    let types = event_types(&mut v, body.event_types, true);
    let description = v.optional("description", body.description);
    let enabled = v.change("enabled", body.enabled);
    let (Some(url), Some(event_types)) = (url, types) else {
        return Err(v.incomplete());
    };
    v.finish()?;

    let new = webhooks::New {
        url: CheckedUrl::check(&url, &state.url_policy).await?,
        event_types,
        description: description.map(Line::into_string),
        enabled: enabled.unwrap_or(true),
    };
    let mut uow = caller.begin(&state.db).await?;
    let created = webhooks::create(&mut uow, new).await?;
    let location = format!("/api/v1/webhooks/{}", created.webhook.id);
    let replayed = Reply::created(location.clone(), &with_secret(&created, false));
    caller.commit_replaying(uow, &replayed).await?;
    Ok(Reply::created(location, &with_secret(&created, true)))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The webhook endpoint, without its secret", body = Webhook, headers(("ETag" = String)))))]
async fn get(State(state): State<AppState>, _admin: Admin, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    use sea_orm::EntityTrait;
    let row = webhook::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&Webhook::try_from(row)?))
}

#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", request_body = WebhookChanges, params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Updated", body = Webhook, headers(("ETag" = String))),
        (status = 412, description = "`version_mismatch`: changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Input(body, mut v): Input<WebhookChanges>,
) -> ApiResult<Reply> {
    let url = v.change("url", body.url);
    let event_types = event_types(&mut v, body.event_types, false);
    let description = v
        .change_nullable("description", body.description)
        .map(|d| d.map(Line::into_string));
    let enabled = v.change("enabled", body.enabled);
    v.finish()?;
    let url = match url {
        Some(url) => Some(CheckedUrl::check(&url, &state.url_policy).await?),
        None => None,
    };

    let changes = webhooks::Changes {
        url,
        event_types,
        description,
        enabled,
    };
    let mut uow = caller.begin(&state.db).await?;
    let view = webhooks::update(&mut uow, id, expected, changes).await?;
    caller.commit(uow, Reply::ok(&view)).await
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted, with its delivery log; nothing more is sent to it")))]
async fn delete(State(state): State<AppState>, Admin(caller): Admin, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let mut uow = caller.begin(&state.db).await?;
    webhooks::delete(&mut uow, id).await?;
    caller.commit(uow, Reply::no_content()).await
}

#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, description = "A new secret, shown only here; for 24 h deliveries carry a signature with the old one too",
        body = WebhookWithSecret, headers(("ETag" = String)))))]
async fn rotate_secret(State(state): State<AppState>, Admin(caller): Admin, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let mut uow = caller.begin(&state.db).await?;
    let rotated = webhooks::rotate_secret(&mut uow, id, state.clock.now()).await?;
    let replayed = Reply::ok(&with_secret(&rotated, false));
    caller.commit_replaying(uow, &replayed).await?;
    Ok(Reply::ok(&with_secret(&rotated, true)))
}

#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 202, description = "A `webhook.test` event, to be delivered to this endpoint alone", body = TestSent)))]
async fn test(State(state): State<AppState>, Admin(caller): Admin, Path(id): Path<Uuid>) -> ApiResult<Reply> {
    let mut uow = caller.begin(&state.db).await?;
    let event_id = webhooks::test(&mut uow, id).await?;
    let sent = TestSent {
        event_id,
        kind: webhooks::TEST_EVENT,
    };
    caller.commit(uow, Reply::accepted(&sent)).await
}

#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, description = "The endpoint's deliveries, oldest first", body = Page<Delivery>)))]
async fn list_deliveries(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Delivery>>> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    if webhook::Entity::find_by_id(id).count(&state.db).await? == 0 {
        return Err(ApiError::NotFound);
    }
    let rows = webhooks::deliveries_of(&state.db, id, page.after, page.fetch()).await?;
    Ok(axum::Json(Page::from_rows(rows, page, |r| r.id, Delivery::from)))
}

#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 201, description = "A new delivery of the same event (same `webhook-id`)", body = Delivery,
        headers(("Location" = String)))))]
async fn redeliver(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path((id, delivery_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Reply> {
    let mut uow = caller.begin(&state.db).await?;
    let view = webhooks::redeliver(&mut uow, id, delivery_id, state.clock.now()).await?;
    let location = format!("/api/v1/webhooks/{id}/deliveries");
    caller.commit(uow, Reply::created(location, &view)).await
}
