//! The OpenAPI document's frame and the interactive docs at `/docs`.
//!
//! Problem responses that every operation of a kind can give (401, 403, 422…)
//! are added here once, from each operation's shape, so handlers document
//! only what is particular to them.

use super::error::Problem;
use axum::Router;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "climate-tracker",
        description = "Partners, alliances, projects, milestones and the money of the Liaocheng Climate \
            Change Cooperation Fund (China–Pacific Island Countries). Authenticate with \
            `Authorization: Bearer <token>`; errors are RFC 9457 problem details.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/", description = "This service")),
    modifiers(&BearerAuth),
    components(schemas(Problem, super::dashboard::By, super::projects::Include)),
    tags(
        (name = "institutions", description = "Partner institutions"),
        (name = "alliances", description = "Alliances and their members"),
        (name = "funds", description = "Funds, their contributions, summary and ledger"),
        (name = "grants", description = "Grants, tranches, disbursements and reversals"),
        (name = "projects", description = "Cooperation projects and their participants"),
        (name = "milestones", description = "Milestones and progress reports"),
        (name = "results", description = "Results, indicators, periods and the updates partners report; standard indicators"),
        (name = "dashboard", description = "Figures across the cooperation (not for partners)"),
        (name = "exports", description = "Open data: CSV, 360Giving and IATI 2.03 (not for partners)"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "audit", description = "Audit trail (admin)"),
        (name = "webhooks", description = "Endpoints told of every change, signed as Standard Webhooks sign (admin)"),
        (name = "events", description = "The feed of every change, in commit order, for dashboards and other systems"),
        (name = "ops", description = "Health, readiness and metrics (no auth)"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    problem_response(description).build().into()
}

/// A response whose body is a problem document.
fn problem_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Problem::name())))
            .build(),
    )
}

/// 429, which any `/api/v1` operation may answer when a rate limit is configured.
fn rate_limited() -> RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::header::HeaderBuilder;
    problem_response(
        "`rate_limited`: this token sent more requests per minute than this instance allows \
         (`CLIMATE_TRACKER_RATE_LIMIT_PER_MINUTE`), or has more in flight at once \
         (`CLIMATE_TRACKER_MAX_CONCURRENT_REQUESTS_PER_TOKEN`); retry after `Retry-After` seconds",
    )
    .header(
        "Retry-After",
        HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Integer),
            ))
            .description(Some("Seconds to wait before the next request"))
            .build(),
    )
    .build()
    .into()
}

/// Handlers in different modules share names (`list`, `get`…); where an
/// operation id repeats, it is prefixed with the operation's tag.
fn unique_operation_ids(doc: &mut OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for op in operations(doc) {
        if let Some(id) = &op.operation_id {
            *seen.entry(id.clone()).or_default() += 1;
        }
    }
    for op in operations(doc) {
        let tag = op.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_default();
        if let Some(id) = op
            .operation_id
            .as_mut()
            .filter(|id| seen.get(*id).copied().unwrap_or(0) > 1)
        {
            *id = format!("{tag}_{id}");
        }
    }
}

fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
            &mut item.put,
        ]
        .into_iter()
        .filter_map(|op| op.as_mut())
    })
}

/// Adds the problem responses each operation can give, by its shape.
pub fn add_problem_responses(doc: &mut OpenApi) {
    unique_operation_ids(doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1") {
            continue;
        }
        let has_path_params = path.contains('{');
        let ops: [(HttpMethod, &mut Option<Operation>); 4] = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new::<_, _, &str>(
                "bearer",
                [],
            )]);
            let responses = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                responses.entry(code.to_owned()).or_insert_with(|| problem(description));
            };
            add("401", "`unauthorized`: missing, unknown or revoked token");
            add("403", "`forbidden`: the token's role may not do this");
            add(
                "503",
                "`service_unavailable`: the database is unreachable, the instance is at capacity, \
                 or the request took too long; retry after `Retry-After` seconds",
            );
            if has_path_params {
                add("404", "`not_found`: no such resource, or not visible to this token");
            }
            add(
                "422",
                "`validation_failed`: a parameter or field is invalid; `errors` lists each",
            );
            if matches!(method, HttpMethod::Post | HttpMethod::Patch) && op.request_body.is_some() {
                add("400", "`malformed_json`: the body is not JSON");
                add("413", "`payload_too_large`: the body exceeds 1 MiB");
                add(
                    "408",
                    "`request_timeout`: the body did not arrive within the body-read timeout \
                     (`CLIMATE_TRACKER_BODY_READ_TIMEOUT_SECS`)",
                );
                add("415", "`unsupported_media_type`: the body is not application/json");
            }
            if method == HttpMethod::Post {
                add_header(
                    op,
                    "Idempotency-Key",
                    "Makes a retry safe: the same key and body replay the first response",
                );
            }
            if method == HttpMethod::Get && path.ends_with("/{id}") {
                add_header(
                    op,
                    "If-None-Match",
                    "The ETag you hold, e.g. \"3\"; while it is current the answer is 304 with no body",
                );
                op.responses.responses.entry("304".to_owned()).or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(
                            "Not modified: the ETag you hold is current. A milestone or a webhook, whose \
                             `overdue` or `failing_since` can change without a new version, is always sent whole",
                        )
                        .build()
                        .into()
                });
            }
            if method == HttpMethod::Patch {
                add_header(
                    op,
                    "If-Match",
                    "The version you read, e.g. \"3\"; a different current version is 412, a malformed value 422",
                );
            }
            let responses = &mut op.responses.responses;
            let mut add = |code: &str, description: &str| {
                responses.entry(code.to_owned()).or_insert_with(|| problem(description));
            };
            if method == HttpMethod::Post {
                add(
                    "409",
                    "`idempotency_in_progress`: the same Idempotency-Key is still running; or a rule refused the change",
                );
            }
            op.responses
                .responses
                .entry("429".to_owned())
                .or_insert_with(rate_limited);
            describe_shared_parameters(op);
        }
    }
    close_request_bodies(doc);
    list_country_codes(doc);
    page_items_by_ref(doc);
}

/// utoipa writes the item schema of a generic `Page<T>` inline, so a
/// generated client would get `Institution` and a second, identical type
/// for the list's items. Each `Page_<T>` names its items by `$ref` to `T`
/// instead (moving the schema into the components when only lists use it).
fn page_items_by_ref(doc: &mut OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let pages: Vec<String> = components
        .schemas
        .keys()
        .filter(|k| k.starts_with("Page_"))
        .cloned()
        .collect();
    for page in pages {
        let item = page.trim_start_matches("Page_").to_owned();
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&page) else {
            continue;
        };
        let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut("items") else {
            continue;
        };
        let ArrayItems::RefOrSchema(schema) = &mut array.items else {
            continue;
        };
        let inline = std::mem::replace(schema.as_mut(), Ref::from_schema_name(item.as_str()).into());
        if let RefOr::T(inline) = inline {
            components.schemas.entry(item).or_insert(RefOr::T(inline));
        }
    }
}

/// A country is checked against ISO 3166-1, not just its shape, so the
/// schema lists the codes the service accepts.
fn list_country_codes(doc: &mut OpenApi) {
    use utoipa::openapi::schema::Schema;
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut("CountryCode") {
        let mut codes: Vec<&str> = isocountry::CountryCode::iter().map(|c| c.alpha2()).collect();
        codes.sort_unstable();
        object.enum_values = Some(codes.into_iter().map(serde_json::Value::from).collect());
    }
}

/// States what the shared extractors accept, so that a client (or a fuzzer)
/// that follows the document is not refused for a reason it could not read:
/// `limit` is 1 to 200, a `cursor` is one this service issued (16 bytes in
/// unpadded base64url), an `Idempotency-Key` is 1 to 255 visible ASCII
/// characters, and `If-Match` is `*` or a version.
fn describe_shared_parameters(op: &mut Operation) {
    use utoipa::openapi::ObjectBuilder;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::Type;
    let string = |pattern: &str| ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern));
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        let schema = match (&param.parameter_in, param.name.to_ascii_lowercase().as_str()) {
            (ParameterIn::Query, "limit") => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(super::pagination::MAX_LIMIT as usize))
                .default(Some(super::pagination::DEFAULT_LIMIT.into())),
            (ParameterIn::Query, "cursor") => string("^([A-Za-z0-9_-]{21}[AQgw])?$"),
            (ParameterIn::Header, "idempotency-key") => string("^[!-~]([ -~]{0,253}[!-~])?$"),
            (ParameterIn::Header, "if-match") => string(r#"^(\*|(W/)?("[0-9]{1,10}"|[0-9]{1,10}))$"#),
            _ => continue,
        };
        param.schema = Some(schema.build().into());
    }
}

/// Unknown fields in a body are refused (422), so every request body says
/// `additionalProperties: false`.
fn close_request_bodies(doc: &mut OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let names: std::collections::BTreeSet<String> = operations(doc)
        .filter_map(|op| match &op.request_body {
            Some(RefOr::T(body)) => body.content.get("application/json"),
            _ => None,
        })
        .filter_map(|content| match content {
            RefOr::T(content) => match &content.schema {
                Some(RefOr::Ref(r)) => r.ref_location.rsplit('/').next().map(str::to_owned),
                _ => None,
            },
            RefOr::Ref(_) => None,
        })
        .collect();
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for name in names {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name)
            && !object.properties.is_empty()
            && object.additional_properties.is_none()
        {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// Documents an optional request header, unless the operation already does.
fn add_header(op: &mut Operation, name: &str, description: &str) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    let params = op.parameters.get_or_insert_with(Vec::new);
    let named =
        |p: &RefOr<utoipa::openapi::path::Parameter>| matches!(p, RefOr::T(p) if p.name.eq_ignore_ascii_case(name));
    if params.iter().any(named) {
        return;
    }
    params.push(
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(utoipa::openapi::Required::False)
            .description(Some(description))
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String),
            ))
            .build()
            .into(),
    );
}

/// `/docs` (Swagger UI, served from the binary) and `/openapi.json`.
pub fn ui<S: Clone + Send + Sync + 'static>(doc: OpenApi) -> Router<S> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", doc))
}
