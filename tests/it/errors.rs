//! Every error status of docs/api.md, "Errors", each with its problem+json body, and the token
//! checks of docs/api.md, "Authentication".

use adapter_http::Claims;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{
    Answer as _, DOMAINS, StoreKind, TestApp, domain_path, expect_problem_response, now, send,
    strings,
};

/// Asserts that the first field error of `problem` names `field` with a message that
/// says `says`.
#[track_caller]
fn assert_first_error(problem: &Value, field: &str, says: &str) {
    let error = &problem["errors"][0];
    assert_eq!(error["field"], field, "{problem}");
    assert!(
        error["message"].as_str().unwrap().contains(says),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_is_problem_json() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let post = || app.request(reqwest::Method::POST, DOMAINS, &admin);

    // 400: not JSON; JSON that is not an object.
    for body in ["{\"domain\": ", "[1, 2]"] {
        let request = post().header("content-type", "application/json").body(body);
        expect_problem_response(request, 400).await;
    }

    // 415: JSON without saying so.
    send(post().body(r#"{"domain": "a.example.com"}"#))
        .await
        .expect_problem(415);
    send(post().header("content-type", "text/plain").body("{}"))
        .await
        .expect_problem(415);

    // 413: over 64 KiB.
    let huge = json!({"domain": "a.example.com", "dmarc_rua_email": "x".repeat(70 * 1024)});
    app.post_domain(&admin, huge).await.expect_problem(413);

    // 422: every invalid field at once, each named.
    let invalid = json!({"domain": "co.uk", "dmarc_policy": "block", "dmarc_rua_email": "a@example.com; p=none", "dkim_key_bits": 1024});
    let problem = app.post_domain(&admin, invalid).await.expect_problem(422);
    let fields = strings(&problem["errors"], "field");
    assert_eq!(
        fields,
        vec!["domain", "dmarc_policy", "dmarc_rua_email", "dkim_key_bits"]
    );
    let messages = problem["errors"].to_string();
    assert!(
        messages.contains("public suffix") && messages.contains("too weak"),
        "{messages}"
    );
    let problem = app.post_domain(&admin, json!({})).await.expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "domain");
    let problem = app
        .post_domain(&admin, json!({"domain": 42}))
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "domain");
    let problem = app
        .post_domain(&admin, json!({"domain": "a.example.com", "colour": "blue"}))
        .await
        .expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "colour");

    let problem = app
        .post_domain(
            &admin,
            json!({"domain": "a.example.com", "dkim_rotation_days": 0}),
        )
        .await
        .expect_problem(422);
    assert_first_error(&problem, "dkim_rotation_days", "between 1 and 3650");

    // Nothing was created by any of the above.
    let (_, list) = app.get("/api/admin/domains", &admin).await;
    assert!(list["data"].as_array().unwrap().is_empty());

    // 409: the same domain twice.
    let created = app.create_product_page_domain().await;
    app.post_domain(&admin, json!({"domain": "MAIL.example.com."}))
        .await
        .expect_problem(409);
    let id = created["id"].as_str().unwrap();

    // 422 on PATCH: a field that cannot change, named.
    let problem = app
        .patch_domain(id, &admin, json!({"domain": "other.example.com"}))
        .await
        .expect_problem(422);
    assert_first_error(&problem, "domain", "is_active");
    let domain = app
        .patch_domain(id, &admin, json!({"dmarc_rua_email": null}))
        .await
        .expect_status(200);
    assert!(domain["dmarc_rua_email"].is_null());

    // 404: unknown, malformed, or another tenant's.
    for path in [
        "/api/admin/domains/dom_01J0000000000000000000000A",
        "/api/admin/domains/nonsense",
        "/api/nothing-here",
    ] {
        app.get(path, &admin).await.expect_problem(404);
    }
    let other = app.token("tenant_admin", Some("t2"), Some("p1"));
    app.get_domain(id, &other).await.expect_problem(404);

    // 403: a viewer may read but not change.
    let viewer = app.token("tenant_viewer", Some("t1"), Some("p1"));
    app.get_domain(id, &viewer).await.expect_status(200);
    app.patch_domain(id, &viewer, json!({"is_active": false}))
        .await
        .expect_problem(403);

    // Every answer carries a request id.
    let response = app.get_without_token("/healthz").await;
    assert_eq!(
        response.headers()["x-request-id"].to_str().unwrap().len(),
        26
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_goes_down_answers_503_with_retry_after() {
    let app = TestApp::spawn_behind_proxy().await;
    let admin = app.admin();
    let id = app.create_product_page_domain_id().await;
    // Lose the database the way production does: connections die, new ones are refused.
    app.proxy.as_ref().expect("behind a proxy").cut();
    for path in [domain_path(&id), DOMAINS.to_owned()] {
        let (headers, body) =
            expect_problem_response(app.request(reqwest::Method::GET, &path, &admin), 503).await;
        assert!(headers.contains_key("retry-after"), "{path}");
        let text = body.to_string().to_lowercase();
        assert!(
            !text.contains("sqlx") && !text.contains("127.0.0.1") && !text.contains("connection"),
            "no internals in 5xx bodies: {text}"
        );
    }
    app.post_domain(&admin, json!({"domain": "b.example.com"}))
        .await
        .expect_status(503);
    app.get("/readyz", &admin).await.expect_status(503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_as_contract_section_1_says() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let path = "/api/admin/domains";
    let claims = || Claims {
        sub: "u1".into(),
        role: "tenant_admin".into(),
        tenant_id: Some("t1".into()),
        partner_id: Some("p1".into()),
        exp: now() + 600,
        iat: None,
        iss: None,
        aud: None,
    };

    // No token, not a bearer token.
    send(app.request_without_token(reqwest::Method::GET, path))
        .await
        .expect_problem(401);
    send(
        app.request_without_token(reqwest::Method::GET, path)
            .header("authorization", "Basic dTpw"),
    )
    .await
    .expect_status(401);

    // A bad signature: signed with another secret.
    let forged = adapter_http::issue_token(&[7u8; 32], &claims()).unwrap();
    assert_eq!(app.get(path, &forged).await.0, 401);

    // alg: none.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(serde_json::to_vec(&claims()).unwrap())
    );
    assert_eq!(app.get(path, &none).await.0, 401);

    // Expired; missing exp; missing tenant claim; unknown role.
    let expired = app.token_with(Claims {
        exp: now() - 3600,
        ..claims()
    });
    let problem = app.get(path, &expired).await.expect_problem(401);
    assert!(problem["detail"].as_str().unwrap().contains("expired"));
    let no_exp = format!(
        "{}.{}.sig",
        b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(r#"{"sub":"u1","role":"tenant_admin","tenant_id":"t1","partner_id":"p1"}"#)
    );
    assert_eq!(app.get(path, &no_exp).await.0, 401);
    let no_tenant = app.token_with(Claims {
        tenant_id: None,
        ..claims()
    });
    assert_eq!(app.get(path, &no_tenant).await.0, 401);
    let bad_role = app.token_with(Claims {
        role: "root".into(),
        ..claims()
    });
    assert_eq!(app.get(path, &bad_role).await.0, 401);

    // A valid token passes; a service token may not use the admin API, nor a tenant the
    // internal one.
    assert_eq!(app.get(path, &app.token_with(claims())).await.0, 200);
    let service = app.service_token();
    assert_eq!(app.get(path, &service).await.0, 403);
    app.post(
        "/api/internal/sender-authorization",
        &app.admin(),
        json!({"tenant_id": "t1", "partner_id": "p1", "from": "a@b.example", "key_mode": "live"}),
    )
    .await
    .expect_status(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_problem_json() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let id = app.create_product_page_domain_id().await;
    let m = |name: &str| reqwest::Method::from_bytes(name.as_bytes()).unwrap();

    let table: Vec<(reqwest::RequestBuilder, u16)> = vec![
        // Query and path extractor rejections.
        (
            app.request(m("GET"), "/api/admin/domains?limit=1&limit=2", &admin),
            400,
        ),
        (
            app.request(
                m("GET"),
                &format!("/api/admin/domains/{id}/events?cursor=a&cursor=b"),
                &admin,
            ),
            400,
        ),
        (app.request(m("GET"), "/api/admin/domains/%FF", &admin), 404),
        (
            app.request(
                m("DELETE"),
                &format!("/api/admin/domains/{id}/dkim/%FF%FE"),
                &admin,
            ),
            404,
        ),
        // Unknown routes, with and without a token.
        (
            app.request(m("GET"), "/api/admin/nothing/here", &admin),
            404,
        ),
        (app.request_without_token(m("GET"), "/nope"), 404),
        // JSON, media type and size.
        (
            app.request(m("POST"), "/api/admin/domains", &admin)
                .header("content-type", "application/json")
                .body("{\"domain\": "),
            400,
        ),
        (
            app.request(m("POST"), "/api/admin/domains", &admin)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
        ),
        (
            app.request(m("POST"), "/api/admin/domains", &admin)
                .json(&json!({"domain": "a.example.com", "x": "y".repeat(70 * 1024)})),
            413,
        ),
        (
            app.request(m("POST"), "/api/admin/domains", &admin)
                .json(&json!({"domain": 7})),
            422,
        ),
        // Tokens.
        (app.request_without_token(m("GET"), DOMAINS), 401),
        (
            app.request(m("GET"), "/api/admin/domains", &app.service_token()),
            403,
        ),
    ];
    for (request, expected) in table {
        expect_problem_response(request, expected).await;
    }

    // A path that exists with a method it does not take: 405, and `Allow` lists those it
    // takes.
    for (method, path, allowed) in [
        // A GET route takes HEAD too.
        (
            "PUT",
            "/api/admin/domains".to_owned(),
            vec!["GET", "HEAD", "POST"],
        ),
        (
            "POST",
            format!("/api/admin/domains/{id}"),
            vec!["DELETE", "GET", "HEAD", "PATCH"],
        ),
        (
            "GET",
            format!("/api/admin/domains/{id}/verify"),
            vec!["POST"],
        ),
        ("DELETE", "/healthz".to_owned(), vec!["GET", "HEAD"]),
        ("GET", "/api/internal/dkim/sign".to_owned(), vec!["POST"]),
    ] {
        let (headers, _) =
            expect_problem_response(app.request(m(method), &path, &admin), 405).await;
        let allow = headers
            .get("allow")
            .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
            .to_str()
            .unwrap();
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        assert_eq!(listed, allowed, "{method} {path}");
    }
    // Nothing changed.
    let (_, list) = app.get("/api/admin/domains", &admin).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
