//! Keyset pagination: ids are UUIDv7, so ordering by id is ordering by
//! creation, and a page after a cursor is an index range scan whatever its depth.

use super::error::{ApiError, ApiResult};
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// A validated page request: how many, and after which id.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn parse(limit: Option<u64>, cursor: Option<&str>) -> ApiResult<PageRequest> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let mut errors = Vec::new();
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(super::error::FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor {
            None | Some("") => None,
            Some(c) => match decode_cursor(c) {
                Some(id) => Some(id),
                None => {
                    errors.push(super::error::FieldError::new(
                        "cursor",
                        "is not a cursor this service issued",
                    ));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(PageRequest { limit, after })
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }
}

/// The id a cursor names. Every id is a UUIDv7, so sixteen bytes that are
/// not one were not written by this service.
fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes)
        .ok()
        .filter(|id| id.get_version() == Some(uuid::Version::SortRand) && id.get_variant() == uuid::Variant::RFC4122)
}

fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(example = "AZqE1n3Ad0a9d2Q5rQmC2g")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `request.fetch()` rows ordered by id.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        request: PageRequest,
        id: impl Fn(&R) -> Uuid,
        view: impl Fn(R) -> T,
    ) -> Page<T> {
        let more = rows.len() as u64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(id(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

impl<T, E> Page<Result<T, E>> {
    /// A page of fallible views becomes a page of views, or the first error.
    pub fn transpose(self) -> Result<Page<T>, E> {
        Ok(Page {
            items: self.items.into_iter().collect::<Result<_, E>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// A `LIKE` pattern matching `q` anywhere, case-insensitively (the search
/// column is stored lower case), with `%` and `_` in `q` taken literally.
pub fn contains_pattern(q: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped = crate::domain::text::search_form(q)
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert!(PageRequest::parse(Some(10), Some("not a cursor!")).is_err());
        assert!(PageRequest::parse(Some(10), Some(&encode_cursor(Uuid::new_v4()))).is_err());
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(201), None).is_err());
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 50);
    }
}
