//! Webhooks end to end: a real receiver on loopback, started by the test, that checks
//! every signature with its own Standard Webhooks implementation (HMAC-SHA256 from the
//! `hmac` and `sha2` crates, not the service's code).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use domain_core::webhook::EgressRules;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use crate::both_stores_as;
use crate::support::{Answer as _, Options, StoreKind, TestApp};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn event_type(&self) -> String {
        self.json()["type"].as_str().expect("a type").to_owned()
    }
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; 200 once they run out.
    script: Mutex<VecDeque<u16>>,
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    });
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// Starts a receiver on loopback; returns its URL and state.
async fn receiver() -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), state)
}

/// The Standard Webhooks check, written here from the specification: the key is the
/// base64 after `whsec_`; the signed content is `{id}.{timestamp}.{body}`; the header
/// holds space-separated `v1,<base64>` entries, any of which may match.
fn signed_by(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 secret");
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

/// Waits until the receiver holds `n` requests (or fails after 30 s).
async fn wait_for(r: &Receiver, n: usize) -> Vec<Received> {
    for _ in 0..300 {
        {
            let got = r.got.lock().unwrap();
            if got.len() >= n {
                return got.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the receiver got {:?}", r.got.lock().unwrap());
}

async fn register(app: &TestApp, token: &str, url: &str, events: Value) -> (String, String) {
    let body = app
        .post(
            "/api/admin/webhooks",
            token,
            json!({"url": url, "events": events, "description": "test receiver"}),
        )
        .await
        .expect_status(201);
    assert_eq!(body["enabled"], true);
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn seed_walk_events_arrive_once_each(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let admin = app.admin();
    let (url, rx) = receiver().await;
    let (hook_id, secret) = register(&app, &admin, &url, json!(["*"])).await;
    // Another tenant's endpoint hears nothing of t1's domain.
    let (other_url, other_rx) = receiver().await;
    let other = app.token("tenant_admin", Some("t2"), Some("p1"));
    register(&app, &other, &other_url, json!(["*"])).await;

    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap();
    app.publish_and_verify(id, &created["dns_records"]).await;
    app.rotate_dkim(id, &admin).await.expect_status(202);
    let (_, domain) = app.get_domain(id, &admin).await;
    app.publish_and_verify(id, &domain["dns_records"]).await;
    app.remove_selector(id, "scaisend", &admin)
        .await
        .expect_status(200);
    app.patch_domain(id, &admin, json!({"is_active": false}))
        .await
        .expect_status(200);
    app.delete_domain(id, &admin).await.expect_status(204);

    let expected = [
        "domain.created",
        "domain.verified",
        "dkim.rotation_started",
        "dkim.rotated",
        "dkim.selector_removable",
        "dkim.selector_removed",
        "domain.deactivated",
        "domain.deleted",
    ];
    let got = wait_for(&rx, expected.len()).await;
    // Nothing more arrives: each event exactly once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = rx.got.lock().unwrap().clone();
    assert_eq!(got_now.len(), expected.len(), "{got_now:?}");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for r in &got {
        assert!(signed_by(&secret, r), "a bad signature: {r:?}");
        assert!(ids.insert(r.id.clone()), "webhook-id repeated: {}", r.id);
        let body = r.json();
        assert_eq!(body["data"]["domain"]["id"], id);
        assert!(body["timestamp"].is_string());
        *counts.entry(r.event_type()).or_default() += 1;
    }
    let want: BTreeMap<String, usize> = expected.iter().map(|t| ((*t).to_owned(), 1)).collect();
    assert_eq!(counts, want);
    // The payload's domain is the domain as the API showed it.
    let first = got
        .iter()
        .find(|r| r.event_type() == "domain.created")
        .unwrap();
    assert_eq!(first.json()["data"]["domain"], created);
    let rotated = got
        .iter()
        .find(|r| r.event_type() == "dkim.rotated")
        .unwrap();
    assert_eq!(rotated.json()["data"]["selector"], "scaisend2");
    let removable = got
        .iter()
        .find(|r| r.event_type() == "dkim.selector_removable")
        .unwrap();
    assert_eq!(removable.json()["data"]["selector"], "scaisend");
    let verified = got
        .iter()
        .find(|r| r.event_type() == "domain.verified")
        .unwrap();
    assert_eq!(
        verified.json()["data"]["checks"]["dkim"]["status"],
        "verified"
    );
    documented_payload_matches(&verified.json());

    assert!(
        other_rx.got.lock().unwrap().is_empty(),
        "another tenant heard of t1's domain"
    );
    // The deliveries log shows one delivered attempt per event.
    let (status, log) = app
        .get(
            &format!("/api/admin/webhooks/{hook_id}/deliveries?limit=200"),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let attempts = log["data"].as_array().unwrap();
    assert_eq!(attempts.len(), expected.len());
    assert!(
        attempts
            .iter()
            .all(|a| a["status"] == 200 && a["attempt"] == 1)
    );
    // Invisible to another tenant.
    assert_eq!(
        app.get(&format!("/api/admin/webhooks/{hook_id}"), &other)
            .await
            .0,
        404
    );
    assert_eq!(
        app.get(&format!("/api/admin/webhooks/{hook_id}/deliveries"), &other)
            .await
            .0,
        404
    );
}

/// The example payload of docs/webhooks.md has exactly the fields of a real one.
fn documented_payload_matches(real: &Value) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/webhooks.md"))
        .expect("docs/webhooks.md");
    let start = doc.find("```json\n").expect("a JSON example") + "```json\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let example: Value = serde_json::from_str(&doc[start..end]).expect("the example is JSON");
    fn shape(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
            Value::String(_) => json!("string"),
            Value::Number(_) => json!(0),
            Value::Bool(_) => json!(true),
            Value::Null => Value::Null,
        }
    }
    assert_eq!(example["type"], real["type"]);
    let (doc_shape, real_shape) = (shape(&example), shape(real));
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&doc_shape), keys(&real_shape));
    assert_eq!(keys(&doc_shape["data"]), keys(&real_shape["data"]));
    assert_eq!(
        keys(&doc_shape["data"]["domain"]),
        keys(&real_shape["data"]["domain"]),
        "docs/webhooks.md's domain differs from the API's"
    );
}

both_stores_as!(
    seed_walk_events_arrive_once_each =>
        seed_walk_events_arrive_once_each_on_sqlite, seed_walk_events_arrive_once_each_on_postgres
);

async fn a_failing_receiver_is_retried(kind: StoreKind) {
    let app = TestApp::spawn(kind).await;
    let admin = app.admin();
    let (url, rx) = receiver().await;
    rx.script.lock().unwrap().extend([500, 503]);
    let (hook_id, secret) = register(&app, &admin, &url, json!(["domain.verified"])).await;
    let (status, queued) = app
        .post_empty(&format!("/api/admin/webhooks/{hook_id}/test"), &admin)
        .await;
    assert_eq!(status, 202, "{queued}");
    let got = wait_for(&rx, 3).await;
    assert!(
        got.iter()
            .all(|r| r.id == queued["event_id"] && signed_by(&secret, r))
    );
    assert_eq!(got[0].body, got[2].body, "a retry sends the same body");
    assert_eq!(got[0].event_type(), "webhook.test");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, log) = app
        .get(&format!("/api/admin/webhooks/{hook_id}/deliveries"), &admin)
        .await;
    let summary: Vec<(Value, Value, bool)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].clone(),
                a["status"].clone(),
                a["next_retry_at"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!(3), json!(200), false),
            (json!(2), json!(503), true),
            (json!(1), json!(500), true),
        ],
        "{log}"
    );
    let (_, endpoint) = app
        .get(&format!("/api/admin/webhooks/{hook_id}"), &admin)
        .await;
    assert_eq!(
        endpoint["failing_since"],
        Value::Null,
        "a success clears it"
    );
}

both_stores_as!(
    a_failing_receiver_is_retried =>
        a_failing_receiver_is_retried_on_sqlite, a_failing_receiver_is_retried_on_postgres
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_endpoint_and_tells_the_others() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let (gone_url, gone) = receiver().await;
    gone.script.lock().unwrap().push_back(410);
    let (gone_id, _) = register(&app, &admin, &gone_url, json!(["*"])).await;
    let (url, rx) = receiver().await;
    let (_, secret) = register(&app, &admin, &url, json!(["webhook.disabled"])).await;
    app.post_empty(&format!("/api/admin/webhooks/{gone_id}/test"), &admin)
        .await;
    let got = wait_for(&rx, 1).await;
    assert_eq!(got[0].event_type(), "webhook.disabled");
    assert!(signed_by(&secret, &got[0]));
    assert_eq!(got[0].json()["data"]["endpoint"]["id"], gone_id);
    let (_, endpoint) = app
        .get(&format!("/api/admin/webhooks/{gone_id}"), &admin)
        .await;
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_secrets_sign_during_the_rotation_overlap() {
    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let (url, rx) = receiver().await;
    let (hook_id, old) = register(&app, &admin, &url, json!(["*"])).await;
    let rotated = app
        .post_empty(
            &format!("/api/admin/webhooks/{hook_id}/rotate-secret"),
            &admin,
        )
        .await
        .expect_status(200);
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    app.post_empty(&format!("/api/admin/webhooks/{hook_id}/test"), &admin)
        .await;
    let got = wait_for(&rx, 1).await;
    assert_eq!(
        got[0].signature.split(' ').count(),
        2,
        "{}",
        got[0].signature
    );
    assert!(signed_by(&old, &got[0]), "the old secret still signs");
    assert!(signed_by(&new, &got[0]), "the new secret signs");
    // The secret is not shown again.
    let (_, shown) = app
        .get(&format!("/api/admin/webhooks/{hook_id}"), &admin)
        .await;
    assert!(shown.get("secret").is_none(), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_guard_refuses_loopback_targets() {
    let app = TestApp::spawn_with(
        StoreKind::Sqlite,
        Options {
            webhooks: domain_core::service::WebhookConfig {
                egress: EgressRules::default(),
                ..domain_core::service::WebhookConfig::default()
            },
            ..Options::default()
        },
    )
    .await;
    let admin = app.admin();
    let (url, _rx) = receiver().await;
    let https = url.replace("http://", "https://");
    for (target, word) in [
        (url.as_str(), "https"),
        (https.as_str(), "loopback"),
        ("https://localhost/hook", "this host"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/hook", "loopback"),
    ] {
        let (status, problem) = app
            .post(
                "/api/admin/webhooks",
                &admin,
                json!({"url": target, "events": ["*"]}),
            )
            .await;
        assert_eq!(status, 422, "{target}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(word),
            "{target}: {problem}"
        );
    }
    let problem = app
        .post(
            "/api/admin/webhooks",
            &admin,
            json!({"url": "https://hooks.example.com/x", "events": ["domain.exploded"]}),
        )
        .await
        .expect_status(422);
    assert_eq!(problem["errors"][0]["field"], "events");
    let (_, list) = app.get("/api/admin/webhooks", &admin).await;
    assert_eq!(list["data"], json!([]), "nothing was stored");
    let viewer = app.token("tenant_viewer", Some("t1"), Some("p1"));
    app.post(
        "/api/admin/webhooks",
        &viewer,
        json!({"url": "https://hooks.example.com/x", "events": ["*"]}),
    )
    .await
    .expect_status(403);
}

/// An endpoint that answers nothing but errors for the whole retry window (three days,
/// scaled here by the 50 ms retry base to 43 minutes of the app's clock) is disabled,
/// and the tenant's other endpoints hear of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_the_whole_window_is_disabled() {
    let (app, clock) = TestApp::spawn_on_manual_clock(StoreKind::Sqlite).await;
    let admin = app.admin();
    let (failing_url, failing) = receiver().await;
    failing.script.lock().unwrap().extend([500; 64]);
    let (failing_id, _) = register(&app, &admin, &failing_url, json!(["*"])).await;
    let (url, rx) = receiver().await;
    let (_, secret) = register(&app, &admin, &url, json!(["webhook.disabled"])).await;
    app.post_empty(&format!("/api/admin/webhooks/{failing_id}/test"), &admin)
        .await;
    wait_for(&failing, 1).await;
    let endpoint = || async {
        app.get(&format!("/api/admin/webhooks/{failing_id}"), &admin)
            .await
            .1
    };
    for _ in 0..40 {
        if endpoint().await["enabled"] == false {
            break;
        }
        clock.advance(time::Duration::minutes(5));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let disabled = endpoint().await;
    assert_eq!(disabled["enabled"], false, "{disabled}");
    assert!(disabled["disabled_reason"].is_string(), "{disabled}");
    let attempts = failing.got.lock().unwrap().len();
    assert!(
        attempts >= 3,
        "retried before giving up: {attempts} attempts"
    );
    let got = wait_for(&rx, 1).await;
    assert_eq!(got[0].event_type(), "webhook.disabled");
    assert!(signed_by(&secret, &got[0]));
    assert_eq!(got[0].json()["data"]["endpoint"]["id"], failing_id);
}
