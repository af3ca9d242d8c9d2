//! The dashboard page at `/` and its files under `/assets/`, compiled into
//! the binary. The page is static: it reads the public API with a token the
//! user pastes, so these routes need no auth and stay out of the OpenAPI
//! document. Scripts and styles are separate files (no inline code), so the
//! page can be served under a strict Content-Security-Policy.

use super::error::ApiError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
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

/// A file as served: its body, its content-hashed name and strong ETag.
struct Served {
    asset: &'static Asset,
    body: Bytes,
    hashed_name: String,
    etag: String,
}

fn served(asset: &'static Asset, body: Bytes) -> Served {
    let hex: String = Sha256::digest(&body)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let hashed_name = match asset.name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hex}.{ext}"),
        None => format!("{}.{hex}", asset.name),
    };
    Served {
        asset,
        body,
        hashed_name,
        etag: format!("\"{hex}\""),
    }
}

/// The assets, then the page, which names them by their hashed names: a
/// hashed name never changes its content, so a browser keeps it for a year
/// and asks nothing; the page itself is revalidated (`no-cache`, a 304
/// until a new build). The plain names still answer, revalidated.
static FILES: LazyLock<(Served, Vec<Served>)> = LazyLock::new(|| {
    let assets: Vec<Served> = ASSETS.iter().map(|a| served(a, Bytes::from_static(a.body))).collect();
    let mut page = String::from_utf8_lossy(PAGE.body).into_owned();
    for a in &assets {
        page = page.replace(
            &format!("\"/assets/{}\"", a.asset.name),
            &format!("\"/assets/{}\"", a.hashed_name),
        );
    }
    (served(&PAGE, Bytes::from(page)), assets)
});

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(page)).route("/assets/{name}", get(asset))
}

async fn page() -> Response {
    serve(&FILES.0, "no-cache")
}

async fn asset(Path(name): Path<String>) -> Response {
    let found = FILES.1.iter().find_map(|f| {
        if f.hashed_name == name {
            Some((f, IMMUTABLE))
        } else if f.asset.name == name {
            Some((f, "no-cache"))
        } else {
            None
        }
    });
    match found {
        Some((f, caching)) => serve(f, caching),
        None => ApiError::NotFound.into_response(),
    }
}

/// The file with its ETag; `transfer::not_modified` answers 304 when the
/// browser holds it already.
fn serve(file: &Served, caching: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(file.asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(caching)),
        ],
        file.body.clone(),
    )
        .into_response();
    if let Ok(etag) = HeaderValue::from_str(&file.etag) {
        response.headers_mut().insert(header::ETAG, etag);
        response.extensions_mut().insert(super::transfer::EtagFollowsBody);
    }
    response
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
