//! `/exports`: open data for admins and viewers (403 for partners).
//!
//! Each export streams: the first batch is read before the answer starts,
//! so a database failure there is an ordinary problem response; later
//! batches follow as body chunks. A failure after the answer has started
//! cuts the download off (the client sees an incomplete transfer, never a
//! file that merely looks complete).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Query;
use crate::domain::Date;
use crate::export::giving::GivingPackage;
use crate::export::iati::IatiActivities;
use crate::export::results::ResultsCsv;
use crate::export::spreadsheet::GrantsCsv;
use crate::export::{Export, ExportConfig, ExportError, Filter};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grants_csv))
        .routes(routes!(giving))
        .routes(routes!(iati))
        .routes(routes!(results_csv))
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Db(e) => ApiError::from(e),
            ExportError::Data(detail) => ApiError::Internal(detail),
        }
    }
}

/// Filters shared by every export. `from` and `to` bound the grant's
/// decision date (`decided_on`, inclusive); grants not yet decided are
/// left out when either is given.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Only grants of this fund.
    fund_id: Option<Uuid>,
    /// Only grants of this project.
    project_id: Option<Uuid>,
    /// Only grants decided on or after this date.
    from: Option<Date>,
    /// Only grants decided on or before this date.
    to: Option<Date>,
}

impl ExportParams {
    fn filter(self) -> ApiResult<Filter> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ApiError::field("to", "must not be before `from`"));
        }
        Ok(Filter {
            fund_id: self.fund_id,
            project_id: self.project_id,
            from: self.from.map(Date::naive),
            to: self.to.map(Date::naive),
        })
    }
}

#[utoipa::path(get, path = "/exports/grants.csv", tag = "exports", params(ExportParams),
    responses((status = 200, content_type = "text/csv",
        description = "One row a grant, every status, with a header row: UTF-8 with a byte-order mark, CRLF, \
            RFC 4180 quoting; amounts are exact decimals in the grant's currency",
        body = String, headers(("Content-Disposition" = String)))))]
async fn grants_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ExportParams>,
) -> ApiResult<Response> {
    caller.require_staff()?;
    let export = GrantsCsv::new(q.filter()?);
    stream(state.db, export, "text/csv; charset=utf-8", "grants.csv").await
}

#[utoipa::path(get, path = "/exports/360giving.json", tag = "exports", params(ExportParams),
    responses((status = 200, content_type = "application/json",
        description = "A 360Giving data package (standard 1.4) of the approved, active and completed grants. \
            The standard wants at least one grant: a selection with none gives an empty `grants` list, \
            which is not publishable as is",
        body = Object, headers(("Content-Disposition" = String)))))]
async fn giving(State(state): State<AppState>, caller: Caller, Query(q): Query<ExportParams>) -> ApiResult<Response> {
    caller.require_staff()?;
    let export = GivingPackage::new(q.filter()?, ExportConfig::from_env());
    stream(state.db, export, "application/json", "360giving.json").await
}

#[utoipa::path(get, path = "/exports/iati-activities.xml", tag = "exports", params(ExportParams),
    responses((status = 200, content_type = "application/xml",
        description = "An IATI 2.03 activity file: one activity per funded project and reporting organisation \
            (the fund's sponsor), with commitments and disbursements. The standard wants at least one \
            activity: a selection with none gives an empty `iati-activities` element",
        body = String, headers(("Content-Disposition" = String)))))]
async fn iati(State(state): State<AppState>, caller: Caller, Query(q): Query<ExportParams>) -> ApiResult<Response> {
    caller.require_staff()?;
    let export = IatiActivities::new(q.filter()?, ExportConfig::from_env());
    stream(state.db, export, "application/xml", "iati-activities.xml").await
}

/// Which projects' results `results.csv` carries.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsParams {
    /// Only projects with a grant of this fund (in any status but withdrawn).
    fund_id: Option<Uuid>,
    /// Only this project.
    project_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/exports/results.csv", tag = "exports", params(ResultsParams),
    responses((status = 200, content_type = "text/csv",
        description = "One row per indicator period, and one more per dimension value of its actual: project, \
            result, indicator, unit, baseline, target, actual and the count of updates in each status. \
            UTF-8 with a byte-order mark, CRLF, RFC 4180 quoting, like grants.csv; values are exact decimals",
        body = String, headers(("Content-Disposition" = String)))))]
async fn results_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ResultsParams>,
) -> ApiResult<Response> {
    caller.require_staff()?;
    let filter = Filter {
        fund_id: q.fund_id,
        project_id: q.project_id,
        ..Filter::default()
    };
    stream(
        state.db,
        ResultsCsv::new(filter),
        "text/csv; charset=utf-8",
        "results.csv",
    )
    .await
}

/// Answers with the export's head and first batch, then streams the rest.
async fn stream<E: Export>(
    db: DatabaseConnection,
    mut export: E,
    content_type: &'static str,
    filename: &'static str,
) -> ApiResult<Response> {
    let first = export.page(&db, None).await?;
    let mut opening = export.head()?;
    opening.extend(first.bytes);
    let rest = futures::stream::unfold(Some((export, db, first.next)), |state| async move {
        let (mut export, db, next) = state?;
        let Some(after) = next else {
            return Some((Ok(Bytes::from(export.tail())), None));
        };
        match export.page(&db, Some(after)).await {
            Ok(chunk) => Some((Ok(Bytes::from(chunk.bytes)), Some((export, db, chunk.next)))),
            Err(e) => {
                tracing::error!(error = %e, "export cut off");
                Some((Err(std::io::Error::other(e.to_string())), None))
            }
        }
    });
    // Fused: the compression layer may poll again after the end.
    let body = Body::from_stream(
        futures::stream::once(async move { Ok(Bytes::from(opening)) })
            .chain(rest)
            .fuse(),
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
