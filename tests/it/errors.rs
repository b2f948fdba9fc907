//! Every error status of docs/api.md, "Errors", each with its problem+json body, and the token
//! checks of docs/api.md, "Authentication".

use adapter_http::Claims;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{StoreKind, TestApp, now, send};

fn assert_problem(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem lacks {field}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_is_problem_json() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let url = format!("{}/api/admin/domains", app.base);

    // 400: not JSON; JSON that is not an object.
    for body in ["{\"domain\": ", "[1, 2]"] {
        let response = app
            .client
            .post(&url)
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let (status, problem) = send_response(response).await;
        assert_problem(status, &problem, 400);
    }

    // 415: JSON without saying so.
    let (status, problem) = send(
        app.client
            .post(&url)
            .bearer_auth(&admin)
            .body(r#"{"domain": "a.example.com"}"#),
    )
    .await;
    assert_problem(status, &problem, 415);
    let (status, problem) = send(
        app.client
            .post(&url)
            .bearer_auth(&admin)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_problem(status, &problem, 415);

    // 413: over 64 KiB.
    let huge = json!({"domain": "a.example.com", "dmarc_rua_email": "x".repeat(70 * 1024)});
    let (status, problem) = app.post("/api/admin/domains", &admin, huge).await;
    assert_problem(status, &problem, 413);

    // 422: every invalid field at once, each named.
    let (status, problem) = app
        .post("/api/admin/domains", &admin, json!({"domain": "co.uk", "dmarc_policy": "block", "dmarc_rua_email": "a@example.com; p=none", "dkim_key_bits": 1024}))
        .await;
    assert_problem(status, &problem, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["domain", "dmarc_policy", "dmarc_rua_email", "dkim_key_bits"]
    );
    let messages = problem["errors"].to_string();
    assert!(
        messages.contains("public suffix") && messages.contains("too weak"),
        "{messages}"
    );
    let (status, problem) = app.post("/api/admin/domains", &admin, json!({})).await;
    assert_problem(status, &problem, 422);
    assert_eq!(problem["errors"][0]["field"], "domain");
    let (status, problem) = app
        .post("/api/admin/domains", &admin, json!({"domain": 42}))
        .await;
    assert_problem(status, &problem, 422);
    assert_eq!(problem["errors"][0]["field"], "domain");
    let (status, problem) = app
        .post(
            "/api/admin/domains",
            &admin,
            json!({"domain": "a.example.com", "colour": "blue"}),
        )
        .await;
    assert_problem(status, &problem, 422);
    assert_eq!(problem["errors"][0]["field"], "colour");

    let (status, problem) = app
        .post(
            "/api/admin/domains",
            &admin,
            json!({"domain": "a.example.com", "dkim_rotation_days": 0}),
        )
        .await;
    assert_problem(status, &problem, 422);
    assert_eq!(problem["errors"][0]["field"], "dkim_rotation_days");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("between 1 and 3650"),
        "{problem}"
    );

    // Nothing was created by any of the above.
    let (_, list) = app.get("/api/admin/domains", &admin).await;
    assert!(list["data"].as_array().unwrap().is_empty());

    // 409: the same domain twice.
    let created = app.create_product_page_domain().await;
    let (status, problem) = app
        .post(
            "/api/admin/domains",
            &admin,
            json!({"domain": "MAIL.example.com."}),
        )
        .await;
    assert_problem(status, &problem, 409);
    let id = created["id"].as_str().unwrap();

    // 422 on PATCH: a field that cannot change, named.
    let (status, problem) = app
        .patch(
            &format!("/api/admin/domains/{id}"),
            &admin,
            json!({"domain": "other.example.com"}),
        )
        .await;
    assert_problem(status, &problem, 422);
    assert_eq!(problem["errors"][0]["field"], "domain");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is_active"),
        "{problem}"
    );
    let (status, domain) = app
        .patch(
            &format!("/api/admin/domains/{id}"),
            &admin,
            json!({"dmarc_rua_email": null}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(domain["dmarc_rua_email"].is_null());

    // 404: unknown, malformed, or another tenant's.
    for path in [
        "/api/admin/domains/dom_01J0000000000000000000000A",
        "/api/admin/domains/nonsense",
        "/api/nothing-here",
    ] {
        let (status, problem) = app.get(path, &admin).await;
        assert_problem(status, &problem, 404);
    }
    let other = app.token("tenant_admin", Some("t2"), Some("p1"));
    let (status, problem) = app.get(&format!("/api/admin/domains/{id}"), &other).await;
    assert_problem(status, &problem, 404);

    // 403: a viewer may read but not change.
    let viewer = app.token("tenant_viewer", Some("t1"), Some("p1"));
    let (status, _) = app.get(&format!("/api/admin/domains/{id}"), &viewer).await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .patch(
            &format!("/api/admin/domains/{id}"),
            &viewer,
            json!({"is_active": false}),
        )
        .await;
    assert_problem(status, &problem, 403);

    // Every answer carries a request id.
    let response = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"].to_str().unwrap().len(),
        26
    );
}

async fn send_response(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_goes_down_answers_503_with_retry_after() {
    let app = TestApp::spawn_behind_proxy().await;
    let admin = app.admin();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    // Lose the database the way production does: connections die, new ones are refused.
    app.proxy.as_ref().expect("behind a proxy").cut();
    for path in [
        format!("/api/admin/domains/{id}"),
        "/api/admin/domains".to_owned(),
    ] {
        let response = app
            .request(reqwest::Method::GET, &path, &admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{path}");
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_problem(503, &body, 503);
        let text = body.to_string().to_lowercase();
        assert!(
            !text.contains("sqlx") && !text.contains("127.0.0.1") && !text.contains("connection"),
            "no internals in 5xx bodies: {text}"
        );
    }
    let (status, _) = app
        .post(
            "/api/admin/domains",
            &admin,
            json!({"domain": "b.example.com"}),
        )
        .await;
    assert_eq!(status, 503);
    let (status, _) = app.get("/readyz", &admin).await;
    assert_eq!(status, 503);
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
    let (status, problem) = send(app.client.get(format!("{}{path}", app.base))).await;
    assert_problem(status, &problem, 401);
    let (status, _) = send(
        app.client
            .get(format!("{}{path}", app.base))
            .header("authorization", "Basic dTpw"),
    )
    .await;
    assert_eq!(status, 401);

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
    let (status, problem) = app.get(path, &expired).await;
    assert_problem(status, &problem, 401);
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
    let (status, _) = app
        .post("/api/internal/sender-authorization", &app.admin(), json!({"tenant_id": "t1", "partner_id": "p1", "from": "a@b.example", "key_mode": "live"}))
        .await;
    assert_eq!(status, 403);
}

/// Sends a request and checks that the answer is an RFC 9457 problem with `expected`.
async fn assert_problem_response(
    request: reqwest::RequestBuilder,
    expected: u16,
) -> reqwest::header::HeaderMap {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{text}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{status}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_problem(status, &body, expected);
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_problem_json() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    let url = |path: &str| format!("{}{path}", app.base);
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
        (app.client.get(url("/nope")), 404),
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
        (app.client.get(url("/api/admin/domains")), 401),
        (
            app.request(m("GET"), "/api/admin/domains", &app.service_token()),
            403,
        ),
    ];
    for (request, expected) in table {
        assert_problem_response(request, expected).await;
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
        let headers = assert_problem_response(app.request(m(method), &path, &admin), 405).await;
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
