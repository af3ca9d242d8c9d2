//! Extractors whose rejections are our problem details: JSON bodies
//! (415/413/400/422), query strings (422) and path ids (404).

use super::error::{ApiError, FieldError};
use super::input::Validator;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

/// A JSON request body and the validator that already holds its unknown keys.
pub struct Input<T>(pub T, pub Validator);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::Malformed(format!("could not read the body: {e}"))
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        let mut nul = Vec::new();
        find_nul(&value, "", &mut nul);
        if !nul.is_empty() {
            return Err(ApiError::Validation(nul));
        }
        let mut unknown = Vec::new();
        let parsed = serde_ignored::deserialize(value, |path| {
            unknown.push(FieldError::new(path.to_string(), "unknown field"));
        });
        match parsed {
            Ok(input) => Ok(Input(input, Validator::with_errors(unknown))),
            Err(e) => Err(ApiError::field("body", e.to_string())),
        }
    }
}

const NUL_MESSAGE: &str = "may not contain the NUL character (U+0000)";

/// Collects every string (value or key) that holds U+0000. PostgreSQL can
/// store it neither in `text` nor in `jsonb`, and no human text needs it, so
/// it is refused up front with a 422 on every backend alike.
fn find_nul(value: &serde_json::Value, path: &str, out: &mut Vec<FieldError>) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => out.push(FieldError::new(path, NUL_MESSAGE)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let field = match path {
                    "" => key.replace('\0', "\\u0000"),
                    _ => format!("{path}.{}", key.replace('\0', "\\u0000")),
                };
                if key.contains('\0') {
                    out.push(FieldError::new(&field, NUL_MESSAGE));
                } else {
                    find_nul(item, &field, out);
                }
            }
        }
        _ => {}
    }
}

/// Query parameters; anything that does not parse is a 422 naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let nul: Vec<FieldError> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, v)| k.contains('\0') || v.contains('\0'))
            .map(|(k, _)| FieldError::new(k.replace('\0', "\\u0000"), NUL_MESSAGE))
            .collect();
        if !nul.is_empty() {
            return Err(ApiError::Validation(nul));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let field = e.path().to_string();
            ApiError::field(
                if field == "." { "query".into() } else { field },
                e.into_inner().to_string(),
            )
        })
    }
}

/// Path parameters; an id that is not a UUID names no resource, so 404.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// `If-Match`: the version the client expects the resource to have.
pub struct IfMatch(pub crate::app::Expected);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        super::reply::if_match(&parts.headers).map(IfMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_anywhere_in_a_body_is_named_by_its_path() {
        let mut found = Vec::new();
        let body = json!({"name": {"en": "a\u{0}b"}, "countries": ["TO", "F\u{0}"], "ok": "fine", "k\u{0}": 1});
        find_nul(&body, "", &mut found);
        let mut fields: Vec<&str> = found.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["countries[1]", "k\\u0000", "name.en"]);
    }

    #[test]
    fn text_without_nul_passes() {
        let mut found = Vec::new();
        find_nul(
            &json!({"name": {"en": "line\none", "zh": "聊城"}, "n": [1, null]}),
            "",
            &mut found,
        );
        assert!(found.is_empty());
    }
}
