//! The console's files and headers, through the router.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;

async fn get(path: &str, if_none_match: Option<&str>) -> Response {
    let mut request = Request::get(path);
    if let Some(etag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    routes::<()>()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[track_caller]
fn assert_security_headers(response: &Response, what: &str) {
    let h = response.headers();
    assert_eq!(
        h[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{what}");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{what}");
    assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{what}");
}

#[tokio::test]
async fn the_root_and_the_bare_path_redirect_to_the_console() {
    for path in ["/", "/console"] {
        let response = get(path, None).await;
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT, "{path}");
        assert_eq!(response.headers()[header::LOCATION], "/console/", "{path}");
    }
}

#[tokio::test]
async fn every_page_address_serves_the_page_revalidated_each_time() {
    for path in [
        "/console/",
        "/console/domains/dom_01J9Z7Q4X3V6N8M2K5H7G9F1D3",
    ] {
        let response = get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_security_headers(&response, path);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        let page = text(response).await;
        assert!(page.contains(&format!("/console/assets/{}/app.js", *VERSION)));
        // A browser that has this version is told so, without the page.
        let again = get(path, Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_security_headers(&again, path);
        assert!(text(again).await.is_empty());
    }
}

#[tokio::test]
async fn assets_are_served_for_a_year_under_their_version_only() {
    for asset in ASSETS {
        let path = format!("/console/assets/{}/{}", *VERSION, asset.name);
        let response = get(&path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_security_headers(&response, &path);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], asset.content_type, "{path}");
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(text(response).await, asset.body);
    }
    for path in [
        "/console/assets/0000000000000000/app.js".to_owned(),
        format!("/console/assets/{}/nope.js", *VERSION),
        format!("/console/assets/{}/..%2Fmod.rs", *VERSION),
    ] {
        let response = get(&path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            crate::PROBLEM_JSON
        );
        assert_security_headers(&response, &path);
    }
}

/// The files hold what the Content-Security-Policy allows: no inline script or style,
/// nothing from another origin, and no HTML built from strings (Trusted Types would
/// refuse it at run time, in the browser tests; this names the line).
#[test]
fn the_files_need_nothing_the_policy_forbids() {
    let page = PAGE_TEMPLATE;
    let scripts = page.matches("<script").count();
    assert_eq!(
        scripts,
        page.matches("<script type=\"module\" src=\"{{assets}}/")
            .count(),
        "every script is a module file of ours"
    );
    for forbidden in [
        "<style",
        " style=",
        " onclick=",
        " onload=",
        "http://",
        "https://",
    ] {
        assert!(!page.contains(forbidden), "index.html contains {forbidden}");
    }
    for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute(\"style\"",
            ".style.",
            "http://",
            "https://",
        ] {
            assert!(
                !asset.body.contains(forbidden),
                "{} contains {forbidden}",
                asset.name
            );
        }
    }
}

/// Every file the page or a module names is embedded, and every embedded file is named
/// somewhere: a renamed module fails here, not in a browser.
#[test]
fn every_file_referenced_is_embedded_and_every_embedded_file_is_referenced() {
    let mut referenced = Vec::new();
    for piece in PAGE_TEMPLATE.split("{{assets}}/").skip(1) {
        referenced.push(piece.split('"').next().unwrap().to_owned());
    }
    for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
        for piece in asset.body.split("from \"./").skip(1) {
            referenced.push(piece.split('"').next().unwrap().to_owned());
        }
    }
    for name in &referenced {
        assert!(
            ASSETS.iter().any(|a| a.name == name),
            "{name} is referenced but not embedded"
        );
    }
    for asset in ASSETS {
        assert!(
            referenced.iter().any(|r| r == asset.name),
            "{} is embedded but never referenced",
            asset.name
        );
    }
}

#[test]
fn the_version_is_a_stable_hash_of_the_files() {
    let mut a = Fnv64::default();
    a.write(b"a");
    // The published FNV-1a test vector for "a".
    assert_eq!(a.0, 0xaf63_dc4c_8601_ec8c);
    assert_eq!(VERSION.len(), 16);
}
