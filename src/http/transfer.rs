//! What crosses a slow link (SPEC §12): answers of 1 KiB or more are
//! compressed when the client accepts it (`br`, else `gzip`), and a read
//! whose ETag the client already holds is answered 304 with no body.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Smaller answers gain less than the encoding costs.
const COMPRESS_FROM_BYTES: u16 = 1024;

/// Compression for every route (only `br` and `gzip` are built in),
/// streamed exports too (their size is unknown, so they always qualify).
/// Brotli at tower-http's default level (4) keeps the CPU cost near gzip's
/// while sending less.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .br(true)
        .gzip(true)
        .quality(CompressionLevel::Default)
        .compress_when(SizeAbove::new(COMPRESS_FROM_BYTES).and(
            |_: StatusCode, _: axum::http::Version, headers: &HeaderMap, _: &axum::http::Extensions| {
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(is_text)
            },
        ))
}

/// Text of every kind the service sends: JSON, problem details, HTML, JS,
/// CSS, CSV, XML and SVG. Anything else (a PNG, a PDF, an office file) is
/// compressed already, or is not ours to touch.
fn is_text(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json" | "application/xml" | "application/javascript"
        )
}

/// Marks an answer whose ETag changes whenever its body does, so it may be
/// answered 304 (a version-tagged view that is fixed by its version, a
/// file tagged by its content).
#[derive(Clone, Copy, Debug)]
pub struct EtagFollowsBody;

/// Middleware around every route: a GET or HEAD whose `If-None-Match` names
/// the ETag of an answer marked [`EtagFollowsBody`] gets 304 with the same
/// headers and no body. The answer is still made (the ETag comes from what
/// is read), but a partner on a satellite link is not sent what it has.
pub async fn not_modified(req: Request, next: Next) -> Response {
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    let held = req.headers().get(header::IF_NONE_MATCH).cloned();
    let response = next.run(req).await;
    let (true, Some(held)) = (is_read, held) else {
        return response;
    };
    let fresh = response.status() == StatusCode::OK
        && response.extensions().get::<EtagFollowsBody>().is_some()
        && response
            .headers()
            .get(header::ETAG)
            .is_some_and(|etag| matches_any(&held, etag));
    if !fresh {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    for gone in [header::CONTENT_LENGTH, header::CONTENT_TYPE] {
        parts.headers.remove(gone);
    }
    Response::from_parts(parts, Body::empty())
}

/// `If-None-Match` compares weakly (RFC 9110 §13.1.2): `W/` aside, the
/// tags must be equal; `*` matches any.
fn matches_any(held: &HeaderValue, etag: &HeaderValue) -> bool {
    fn opaque(tag: &str) -> &str {
        tag.trim().trim_start_matches("W/")
    }
    let (Ok(held), Ok(etag)) = (held.to_str(), etag.to_str()) else {
        return false;
    };
    held.split(',').any(|t| t.trim() == "*" || opaque(t) == opaque(etag))
}

#[cfg(test)]
mod tests {
    use super::{is_text, matches_any};
    use axum::http::HeaderValue;

    #[test]
    fn text_is_compressed_and_compressed_documents_are_not() {
        for t in [
            "application/json",
            "application/problem+json",
            "text/html; charset=utf-8",
            "text/javascript; charset=utf-8",
            "text/css; charset=utf-8",
            "text/csv; charset=utf-8",
            "application/xml",
            "image/svg+xml",
        ] {
            assert!(is_text(t), "{t}");
        }
        for t in [
            "image/png",
            "image/jpeg",
            "application/pdf",
            "application/zip",
            "application/octet-stream",
        ] {
            assert!(!is_text(t), "{t}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let etag = HeaderValue::from_static("\"3\"");
        for held in ["\"3\"", "W/\"3\"", "\"1\", \"3\"", "*"] {
            assert!(matches_any(&HeaderValue::from_static(held), &etag), "{held}");
        }
        for held in ["\"4\"", "3", "\"3"] {
            assert!(!matches_any(&HeaderValue::from_static(held), &etag), "{held}");
        }
    }
}
