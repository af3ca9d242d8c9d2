//! The dashboard page at `/` and its files under `/assets/`, compiled into
//! the binary. The page is static: it reads the public API with a token the
//! user pastes, so these routes need no auth and stay out of the OpenAPI
//! document. Scripts and styles are separate files (no inline code), so the
//! page can be served under a strict Content-Security-Policy.

use super::error::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// A file served as it was compiled in.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const PAGE: Asset = Asset {
    name: "dashboard.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../assets/dashboard.html"),
};

const ASSETS: &[Asset] = &[
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/dashboard.js"),
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/dashboard.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/favicon.svg"),
    },
];

/// Strong ETags from the content: a browser on a slow link revalidates
/// (`Cache-Control: no-cache`) and gets a body-less 304 until a new build.
static ETAGS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    std::iter::once(&PAGE)
        .chain(ASSETS)
        .map(|a| {
            let digest = Sha256::digest(a.body);
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            (a.name, format!("\"{hex}\""))
        })
        .collect()
});

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(page)).route("/assets/{name}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve(&PAGE, &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => serve(a, &headers),
        None => ApiError::NotFound.into_response(),
    }
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = ETAGS
        .iter()
        .find(|(name, _)| *name == asset.name)
        .map(|(_, tag)| tag.as_str())
        .unwrap_or("\"0\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page must run under a CSP that allows only its own files.
    #[test]
    fn the_page_has_no_inline_code_and_no_external_urls() {
        let html = std::str::from_utf8(PAGE.body).unwrap_or_default();
        assert!(!html.contains("<style"), "no inline <style>");
        assert!(!html.contains(" style="), "no style attributes");
        let handler = html.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase()).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "no inline event handlers");
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(open.contains("src=\"/assets/"), "scripts come from /assets/: {open}");
        }
        for a in std::iter::once(&PAGE).chain(ASSETS) {
            let text = String::from_utf8_lossy(a.body);
            let external = text.matches("http").count() - text.matches("http://www.w3.org/2000/svg").count();
            assert_eq!(external, 0, "{} names no external URL", a.name);
        }
    }
}
