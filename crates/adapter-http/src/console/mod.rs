//! The admin console: hand-written HTML, CSS and JavaScript modules embedded in the
//! binary and served at `/console/`, talking to the same JSON API as any other client.
//!
//! The console holds no rule and no secret. It runs in the browser with the caller's own
//! Bearer token (kept in `sessionStorage`), so the API decides what the caller may see
//! and do exactly as it does for `curl`; the server side here only serves files. There is
//! no build step: the files under `assets/` are what the browser runs.
//!
//! Every response carries a Content-Security-Policy that allows scripts, styles, images
//! and requests from this origin only, with no inline script or style and Trusted Types
//! enforced (the scripts build the page with DOM calls, never from HTML strings), and
//! the usual headers against sniffing, framing and referrer leaks. Assets are served
//! under a path that names a hash of their content, so they can be cached for a year;
//! the page itself is revalidated on every load, so a new binary's assets are picked up
//! at once.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;

/// Where the console lives.
pub const CONSOLE_PATH: &str = "/console/";

/// The Content-Security-Policy of every console response: this origin only, no inline
/// script or style, no plugins, no `<base>`, forms only to this origin, never in a
/// frame, and Trusted Types so that no string can become HTML or script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// An embedded file of `assets/`.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("assets/", $name)),
        }
    };
}

/// The files the page loads. Modules import each other by relative paths, so they all
/// live in one folder.
const ASSETS: &[Asset] = &[
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("domains.js", JS),
    asset!("domain.js", JS),
];

/// The page every console address serves; the script shows the view the path names.
const PAGE_TEMPLATE: &str = include_str!("assets/index.html");

/// A hash of every embedded file: it names the assets' folder, so a changed file gets
/// a new address and a browser never mixes files of two versions.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Fnv64::default();
    hash.write(PAGE_TEMPLATE.as_bytes());
    for asset in ASSETS {
        hash.write(asset.name.as_bytes());
        hash.write(asset.body.as_bytes());
    }
    format!("{:016x}", hash.0)
});

/// The page, pointing at this version's assets.
static PAGE: LazyLock<String> =
    LazyLock::new(|| PAGE_TEMPLATE.replace("{{assets}}", &format!("/console/assets/{}", *VERSION)));

/// The console's routes: `/` and `/console` redirect to `/console/`; `/console/` and
/// `/console/domains/{id}` serve the page; `/console/assets/{version}/{file}` the files.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(to_console))
        .route("/console", get(to_console))
        .route("/console/", get(page))
        .route("/console/domains/{id}", get(page))
        .route("/console/assets/{version}/{file}", get(asset))
        .layer(from_fn(security_headers))
}

async fn to_console() -> Redirect {
    Redirect::temporary(CONSOLE_PATH)
}

async fn page(headers: HeaderMap) -> Response {
    // Revalidated on every load (cheap: the ETag answers 304), so that a new release is
    // picked up at once.
    cached(
        &headers,
        "text/html; charset=utf-8",
        PAGE.as_str(),
        "no-cache",
    )
}

async fn asset(headers: HeaderMap, Path((version, file)): Path<(String, String)>) -> Response {
    // An old version's address names files this binary does not have: a 404 rather than
    // today's file, which a browser would then cache for a year under the old name.
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) if version == *VERSION => cached(
            &headers,
            a.content_type,
            a.body,
            "public, max-age=31536000, immutable",
        ),
        _ => ApiError::not_found().into_response(),
    }
}

/// A response with an ETag of the version, or `304` when the browser has it already.
fn cached(
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static str,
    cache_control: &'static str,
) -> Response {
    let etag = format!("\"{}\"", *VERSION);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, cache_control.to_owned()),
        (header::ETAG, etag),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, content_type.to_owned())],
        body,
    )
        .into_response()
}

/// The headers every console response carries, its redirects and errors included.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // For browsers that predate `frame-ancestors`.
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// FNV-1a, 64 bits: a stable content hash for cache-busting (not for security), so the
/// version does not change between builds of the same files.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests;
