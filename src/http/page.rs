//! The regulators' dashboard (CONTRACT §6, `GET /`): one HTML page, its script, stylesheet and
//! icon, all embedded in the binary so the page works on an air-gapped network (no CDN, no
//! fonts, no other fetch). The page itself reads the JSON API (`/api/v1/...`) every 5 s.
//!
//! Caching: every asset carries a strong `ETag` (a hash of its bytes) and `Cache-Control:
//! no-cache`, so a browser revalidates (cheap `304 Not Modified`) and never runs a stale script
//! against a newer server after an upgrade.

use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
}

const INDEX: Asset = Asset {
    body: include_bytes!("../../assets/index.html"),
    content_type: "text/html; charset=utf-8",
};
const APP_JS: Asset = Asset {
    body: include_bytes!("../../assets/app.js"),
    content_type: "text/javascript; charset=utf-8",
};
const APP_CSS: Asset = Asset {
    body: include_bytes!("../../assets/app.css"),
    content_type: "text/css; charset=utf-8",
};
const FAVICON: Asset = Asset {
    body: include_bytes!("../../assets/favicon.svg"),
    content_type: "image/svg+xml",
};

/// Everything the page may load: itself, its script and style, same-origin API calls, and
/// inline SVG. Nothing from another origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The dashboard's routes: `/`, `/index.html`, `/assets/app.js`, `/assets/app.css`,
/// `/assets/favicon.svg` and `/favicon.ico`. Stateless, so it merges into any router.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    ROUTES
        .into_iter()
        .fold(Router::new(), |router, (path, slot)| {
            router.route(
                path,
                get(move |h: HeaderMap| async move { serve(slot, &h) }),
            )
        })
}

/// The embedded files, by slot.
const ASSETS: [&Asset; 4] = [&INDEX, &APP_JS, &APP_CSS, &FAVICON];
/// Each path and the slot of the file it serves.
const ROUTES: [(&str, usize); 6] = [
    ("/", 0),
    ("/index.html", 0),
    ("/assets/app.js", 1),
    ("/assets/app.css", 2),
    ("/assets/favicon.svg", 3),
    ("/favicon.ico", 3),
];

/// Strong ETags, computed once (FNV-1a 64 of the bytes).
fn etag(slot: usize) -> &'static str {
    static TAGS: OnceLock<[String; 4]> = OnceLock::new();
    let tags = TAGS.get_or_init(|| ASSETS.map(|a| format!("\"{:016x}\"", fnv1a(a.body))));
    tags.get(slot).map(String::as_str).unwrap_or("\"0\"")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn serve(slot: usize, req: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.get(slot) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let tag = etag(slot);
    let matches = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if asset.content_type.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    (StatusCode::OK, headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_reference_only_same_origin_files() {
        let html = std::str::from_utf8(INDEX.body).unwrap_or("");
        assert!(html.contains("/assets/app.js") && html.contains("/assets/app.css"));
        for a in [&INDEX, &APP_JS, &APP_CSS] {
            // The SVG namespace URI is an identifier, not a fetch.
            let text = std::str::from_utf8(a.body)
                .unwrap_or("")
                .replace("http://www.w3.org/", "");
            for bad in ["http://", "https://", "//cdn", "@import", "url(http"] {
                assert!(!text.contains(bad), "asset references {bad}");
            }
        }
    }

    #[test]
    fn etags_differ_per_asset() {
        assert_ne!(etag(0), etag(1));
        assert_ne!(etag(1), etag(2));
        assert!(etag(0).starts_with('"'));
    }
}
