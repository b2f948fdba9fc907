//! Losing the store. PostgreSQL under load: during the outage every answer is a success
//! completed before it or `503` with `Retry-After` — never a `500`, never a hang —
//! readiness fails, the service recovers by itself once the database is back, and no
//! write that was acknowledged is lost. SQLite whose file another process holds locked:
//! writes answer `503` with `Retry-After`, reads go on, and writes resume once the lock
//! is released.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Answer as _, DOMAINS, Options, StoreKind, TestApp, domain_path, items};

/// Concurrent writers, each creating domains and changing its own one.
const WRITERS: usize = 6;
/// The longest any one request may take: far above the store's 5-second acquire
/// timeout, so only a hang reaches it.
const REQUEST_BOUND: Duration = Duration::from_secs(30);
/// How long the service may take to be ready again once the database is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// One answer a writer got.
#[derive(Debug, Clone)]
struct Outcome {
    /// `create <name>` or `patch <domain id> <rua>`.
    what: String,
    status: u16,
    retry_after: bool,
    problem: bool,
    body: Value,
}

/// What every writer saw, and the writes that were acknowledged.
#[derive(Debug, Default)]
struct Log {
    outcomes: Vec<Outcome>,
    /// Names whose create answered `201`.
    created: BTreeSet<String>,
    /// Per domain id, the report addresses whose PATCH answered `200`.
    patched: BTreeMap<String, Vec<String>>,
}

/// Sends one request, bounded, and records its outcome; `None` if it hung.
async fn attempt(request: reqwest::RequestBuilder, what: String) -> Option<Outcome> {
    let response = tokio::time::timeout(REQUEST_BOUND, request.send())
        .await
        .ok()?
        .unwrap_or_else(|e| panic!("{what}: the server must answer: {e}"));
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    let body = response.json().await.unwrap_or(Value::Null);
    Some(Outcome {
        what,
        status,
        retry_after,
        problem,
        body,
    })
}

/// Creates and patches until `stop`, recording everything.
async fn writer(app: Arc<TestApp>, index: usize, own: String, stop: Arc<AtomicBool>) -> Log {
    let admin = app.admin();
    let mut log = Log::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        // Mostly changes, which are all database work; a create (whose key generation
        // takes a while) every few rounds.
        if n % 4 == 1 {
            create(&app, &admin, index, n, &mut log).await;
        }
        let rua = format!("reports-{index}-{n}@example.com");
        let patch = app
            .request(reqwest::Method::PATCH, &domain_path(&own), &admin)
            .json(&json!({ "dmarc_rua_email": rua }));
        let outcome = attempt(patch, format!("patch {own} {rua}"))
            .await
            .unwrap_or_else(|| panic!("patch {own} hung"));
        if outcome.status == 200 {
            log.patched.entry(own.clone()).or_default().push(rua);
        }
        log.outcomes.push(outcome);
    }
    log
}

/// Creates one domain and records the outcome.
async fn create(app: &TestApp, admin: &str, index: usize, n: usize, log: &mut Log) {
    let name = format!("w{index}-{n}.example.com");
    let create = app
        .request(reqwest::Method::POST, DOMAINS, admin)
        .json(&json!({ "domain": name }));
    let outcome = attempt(create, format!("create {name}"))
        .await
        .unwrap_or_else(|| panic!("create {name} hung"));
    if outcome.status == 201 {
        log.created.insert(name);
    }
    log.outcomes.push(outcome);
}

/// Polls `/readyz` until it answers `want`, within `bound`.
async fn wait_for_readiness(app: &TestApp, want: u16, bound: Duration) {
    let started = tokio::time::Instant::now();
    loop {
        let request = app.request_without_token(reqwest::Method::GET, "/readyz");
        let status = tokio::time::timeout(REQUEST_BOUND, request.send())
            .await
            .expect("/readyz must not hang")
            .expect("/readyz answers")
            .status()
            .as_u16();
        if status == want {
            return;
        }
        assert!(
            started.elapsed() < bound,
            "/readyz still answers {status}, not {want}, after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every domain the admin sees, through every page.
async fn all_domains(app: &TestApp) -> Vec<Value> {
    let mut domains = Vec::new();
    let mut path = "/api/admin/domains?limit=200".to_owned();
    loop {
        let page = app.get(&path, &app.admin()).await.expect_status(200);
        domains.extend(items(&page["data"]).iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/admin/domains?limit=200&cursor={cursor}"),
            None => return domains,
        }
    }
}

/// Every report address a domain's timeline says was set.
async fn addresses_in_timeline(app: &TestApp, id: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut path = format!("/api/admin/domains/{id}/events?limit=200");
    loop {
        let page = app.get(&path, &app.admin()).await.expect_status(200);
        for event in items(&page["data"]) {
            if let Some(rua) = event["detail"]["after"]["dmarc_rua_email"].as_str() {
                seen.insert(rua.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/admin/domains/{id}/events?limit=200&cursor={cursor}")
            }
            None => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_postgres_under_load_answers_503_recovers_and_loses_no_acknowledged_write() {
    let app = Arc::new(
        TestApp::spawn_with(
            StoreKind::Postgres,
            Options {
                behind_proxy: true,
                ..Options::default()
            },
        )
        .await,
    );
    let proxy = app.proxy.as_ref().expect("behind a proxy");
    let admin = app.admin();
    let mut own = Vec::new();
    for i in 0..WRITERS {
        let body = app
            .create_domain(&admin, json!({ "domain": format!("own-{i}.example.com") }))
            .await;
        own.push(body["id"].as_str().unwrap().to_owned());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = own
        .iter()
        .enumerate()
        .map(|(i, id)| tokio::spawn(writer(app.clone(), i, id.clone(), stop.clone())))
        .collect();

    // Load, then the database goes away mid-flight.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    wait_for_readiness(&app, 503, RECOVERY_BOUND).await;
    // Long enough for the writers to meet the outage (each waits out the pool's
    // acquire timeout before its 503).
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.restore();
    wait_for_readiness(&app, 200, RECOVERY_BOUND).await;
    // Writes succeed again by themselves: a create, through the same app.
    app.create_domain(&admin, json!({ "domain": "after.example.com" }))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);

    let mut log = Log::default();
    for w in writers {
        let part = w.await.expect("writer");
        log.outcomes.extend(part.outcomes);
        log.created.extend(part.created);
        for (id, addresses) in part.patched {
            log.patched.entry(id).or_default().extend(addresses);
        }
    }

    // During the outage: a success or 503 problem+json with Retry-After, nothing else.
    let unavailable: Vec<&Outcome> = log.outcomes.iter().filter(|o| o.status == 503).collect();
    assert!(
        !unavailable.is_empty(),
        "the writers met the outage: {:?}",
        log.outcomes.iter().map(|o| o.status).collect::<Vec<_>>()
    );
    for o in &log.outcomes {
        assert!(
            matches!(o.status, 200 | 201 | 503),
            "{}: {} {}",
            o.what,
            o.status,
            o.body
        );
    }
    for o in &unavailable {
        assert!(o.retry_after && o.problem, "{}: {}", o.what, o.body);
        assert_eq!(o.body["status"], 503, "{}: {}", o.what, o.body);
    }
    assert!(
        log.outcomes
            .iter()
            .rev()
            .take(WRITERS)
            .any(|o| o.status / 100 == 2),
        "writes succeed again after the outage"
    );

    // Every acknowledged create is there, every acknowledged change is in the timeline.
    let names: BTreeSet<String> = all_domains(&app)
        .await
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = log.created.difference(&names).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    assert!(!log.created.is_empty());
    for (id, addresses) in &log.patched {
        let seen = addresses_in_timeline(&app, id).await;
        for rua in addresses {
            assert!(
                seen.contains(rua),
                "acknowledged PATCH to {rua} of {id} lost"
            );
        }
        // The last acknowledged change is the domain's state, unless a change that was
        // not acknowledged committed after it.
        let (_, domain) = app.get_domain(id, &admin).await;
        let now = domain["dmarc_rua_email"].as_str().unwrap().to_owned();
        assert!(seen.contains(&now), "{id} holds {now}, which no PATCH set");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_answers_503_to_writes_and_they_resume_when_it_is_released() {
    use sqlx::Connection as _;

    let app = TestApp::spawn(StoreKind::Sqlite).await;
    let admin = app.admin();
    let id = app.create_product_page_domain_id().await;

    // Another process — a backup tool, an operator's shell — takes the write lock.
    let url = format!("sqlite://{}", app.sqlite_file().display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    // Writes wait out the busy timeout, then answer 503; both at once, to wait once.
    let create = app
        .request(reqwest::Method::POST, DOMAINS, &admin)
        .json(&json!({ "domain": "locked.example.com" }));
    let patch = app
        .request(reqwest::Method::PATCH, &domain_path(&id), &admin)
        .json(&json!({ "dmarc_policy": "reject" }));
    let (create, patch) = tokio::join!(
        attempt(create, "create".to_owned()),
        attempt(patch, "patch".to_owned())
    );
    for o in [create.expect("create hung"), patch.expect("patch hung")] {
        assert_eq!(o.status, 503, "{}: {}", o.what, o.body);
        assert!(o.retry_after && o.problem, "{}: {}", o.what, o.body);
    }
    // Readers are not blocked by a writer (WAL), so the store is still ready.
    let (status, domain) = app.get_domain(&id, &admin).await;
    assert_eq!(
        (status, &domain["dmarc_policy"]),
        (200, &json!("quarantine"))
    );
    assert_eq!(app.get("/readyz", "").await.0, 200);

    // The lock is released: writes go through again, nothing was half-written.
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    app.create_domain(&admin, json!({ "domain": "locked.example.com" }))
        .await;
    let (status, body) = app
        .patch_domain(&id, &admin, json!({ "dmarc_policy": "reject" }))
        .await;
    assert_eq!(
        (status, &body["dmarc_policy"]),
        (200, &json!("reject")),
        "{body}"
    );
}
