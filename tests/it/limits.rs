//! What one client may cost the server (issue 12): the admin API's per-tenant rate
//! limit, the internal endpoints' concurrency limit, time limits per route, and
//! authorization before a body is read.

use std::time::Duration;

use adapter_http::{Limits, RateLimit, Timeouts};
use serde_json::{Value, json};
use test_dns::Failure;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{
    Answer as _, Options, StoreKind, TestApp, domain_path, expect_problem_response, items,
};

fn with_limits(limits: Limits) -> Options {
    Options {
        limits,
        ..Options::default()
    }
}

fn rate(per_second: u32, burst: u32) -> Limits {
    Limits {
        rate: RateLimit { per_second, burst },
        ..Limits::default()
    }
}

/// Sends `count` PATCHes of one domain as fast as the server answers; the statuses and
/// the `Retry-After` of the first `429`.
async fn patches(app: &TestApp, token: &str, id: &str, count: usize) -> (Vec<u16>, Option<String>) {
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..count {
        let response = app
            .request(reqwest::Method::PATCH, &domain_path(id), token)
            .json(&json!({"dmarc_policy": if i % 2 == 0 { "none" } else { "reject" }}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 429 && retry_after.is_none() {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            retry_after = Some(
                response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], 429, "{body}");
        }
        statuses.push(status);
    }
    (statuses, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_changes_are_rate_limited_and_nobody_elses() {
    let app = TestApp::spawn_with(StoreKind::Sqlite, with_limits(rate(1, 3))).await;
    let admin = app.admin();
    let id = app.create_product_page_domain_id().await;

    // A burst of 3 with one token a second: ten quick changes meet the limit.
    let (statuses, retry_after) = patches(&app, &admin, &id, 10).await;
    assert!(statuses.contains(&429), "{statuses:?}");
    let seconds: u64 = retry_after.unwrap().parse().expect("whole seconds");
    assert!(seconds >= 1);
    // Every kind of change is counted, verify and rotate included.
    app.verify_domain(&id, &admin).await.expect_status(429);
    app.rotate_dkim(&id, &admin).await.expect_status(429);
    // A refused create creates nothing.
    app.post_domain(&admin, json!({"domain": "refused.example.com"}))
        .await
        .expect_status(429);

    // Reads are not limited.
    for _ in 0..10 {
        assert_eq!(app.get_domain(&id, &admin).await.0, 200);
    }
    let (_, list) = app.get("/api/admin/domains", &admin).await;
    assert_eq!(items(&list["data"]).len(), 1);

    // Another tenant of the same partner, and the partner's operator, have their own
    // buckets.
    let other = app.token("tenant_admin", Some("t2"), Some("p1"));
    app.create_domain(&other, json!({"domain": "other.example.com"}))
        .await;
    let operator = app.token("partner_operator", None, Some("p1"));
    app.create_domain(
        &operator,
        json!({"domain": "shared.example.com", "is_shared": true}),
    )
    .await;

    // The internal endpoints serve the sending pipeline at full speed.
    for _ in 0..10 {
        app.decide("a@mail.example.com").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_of_zero_turns_the_limit_off() {
    let app = TestApp::spawn_with(StoreKind::Sqlite, with_limits(rate(0, 3))).await;
    let id = app.create_product_page_domain_id().await;
    let (statuses, _) = patches(&app, &app.admin(), &id, 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// Opens a connection and sends a request's head announcing `length` bytes of body that
/// never come (or `body_sent` of them).
async fn hanging_request(
    app: &TestApp,
    path: &str,
    token: &str,
    length: usize,
    body_sent: &str,
) -> TcpStream {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{body_sent}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Whether the server has answered (or closed) `stream` by now.
async fn answered(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(10), stream.peek(&mut buf))
        .await
        .is_ok()
}

/// Reads a response's head from `stream`, failing if none comes within two seconds.
async fn response_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed without an answer");
            head.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .expect("an answer within 2 s, without the body being sent");
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_is_checked_before_the_body_is_read() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let viewer = app.token("tenant_viewer", Some("t1"), Some("p1"));
    // A service role signed with the admin key is no service credential either.
    let forged = app.token("service", None, None);
    for token in [viewer.as_str(), forged.as_str()] {
        let mut stream =
            hanging_request(&app, "/api/internal/dkim/sign", token, 32 * 1024 * 1024, "").await;
        let head = response_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{head}");
        assert!(
            head.to_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
    }
    let mut stream = hanging_request(
        &app,
        "/api/internal/sender-authorization",
        "not-a-token",
        60_000,
        "",
    )
    .await;
    assert!(response_head(&mut stream).await.starts_with("HTTP/1.1 401"));
    // An admin request with a bad token is refused before its body too.
    let mut stream = hanging_request(&app, "/api/admin/domains", "not-a-token", 60_000, "").await;
    assert!(response_head(&mut stream).await.starts_with("HTTP/1.1 401"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_requests_over_the_concurrency_limit_are_refused_at_once() {
    let app = TestApp::spawn_with(
        StoreKind::Sqlite,
        with_limits(Limits {
            internal_concurrency: 1,
            ..Limits::default()
        }),
    )
    .await;
    let service = app.service_token();
    let request = json!({"tenant_id": "t1", "partner_id": "p1", "from": "a@mail.example.com", "key_mode": "live"});
    // One signing request whose body is still arriving holds the only slot.
    let hold = || {
        hanging_request(
            &app,
            "/api/internal/dkim/sign",
            &service,
            1000,
            "{\"tenant_id\"",
        )
    };
    let mut holder = hold().await;
    let mut refused = None;
    // A bound on waiting for the holder to arrive, generous for a loaded machine.
    for _ in 0..200 {
        let response = app
            .request(
                reqwest::Method::POST,
                "/api/internal/sender-authorization",
                &service,
            )
            .json(&request)
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            refused = Some(response);
            break;
        }
        // The holder's request may not have reached the server yet, or it came while
        // this request had the slot and was refused itself: then it holds again.
        if answered(&mut holder).await {
            holder = hold().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refused.expect("a second internal request is refused while the slot is taken");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], 503);

    // The admin API is not affected by the internal limit.
    assert_eq!(app.get("/api/admin/domains", &app.admin()).await.0, 200);

    // Once the holder goes away its slot is free again.
    drop(holder);
    let mut status = 0;
    for _ in 0..50 {
        status = app
            .post(
                "/api/internal/sender-authorization",
                &service,
                request.clone(),
            )
            .await
            .0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_time_limit_answers_503_problem_json() {
    let app = TestApp::spawn_with(
        StoreKind::Sqlite,
        with_limits(Limits {
            timeouts: Timeouts {
                verify: Duration::from_secs(1),
                ..Timeouts::default()
            },
            ..Limits::default()
        }),
    )
    .await;
    let id = app.create_product_page_domain_id().await;
    // The DMARC lookup never answers: the verification would take the DNS deadline
    // (2 × 1.5 s), longer than verify's limit here.
    app.dns
        .fail("_dmarc.mail.example.com", Failure::Timeout)
        .unwrap();
    let verify = format!("{}/verify", domain_path(&id));
    let (headers, body) = expect_problem_response(
        app.request(reqwest::Method::POST, &verify, &app.admin()),
        503,
    )
    .await;
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["title"], "Request timed out", "{body}");
    // Other routes keep their own, longer limit.
    assert_eq!(app.get_domain(&id, &app.admin()).await.0, 200);
}

/// Key generation runs on a bounded pool: when it is saturated, a create answers 503
/// problem+json with `Retry-After` at once instead of queueing CPU work without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_key_generator_answers_503_with_retry_after() {
    let app = TestApp::spawn_with(
        StoreKind::Sqlite,
        Options {
            keygen_concurrency: 1,
            ..Options::default()
        },
    )
    .await;
    let token = app.admin();
    // One generation runs and one waits; 4096-bit keys take long enough that the rest of
    // these arrive while both places are taken.
    let creates = (0..8).map(|i| {
        let app = &app;
        let token = &token;
        async move {
            let response = app
                .request(reqwest::Method::POST, "/api/admin/domains", token)
                .json(&json!({ "domain": format!("d{i}.example.com"), "dkim_key_bits": 4096 }))
                .send()
                .await
                .expect("the server answers");
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            (status, retry_after, content_type)
        }
    });
    let answers = futures::future::join_all(creates).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _, _)| *s).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&201),
        "some creates got through: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "a saturated pool refuses: {statuses:?}"
    );
    for (status, retry_after, content_type) in &answers {
        if *status == 503 {
            assert!(retry_after.is_some(), "503 without Retry-After");
            assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        }
    }
}
