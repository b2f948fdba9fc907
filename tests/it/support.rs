//! `spawn_app()`: the real router on port 0 over a real store (a SQLite file in a temp
//! dir, or a fresh PostgreSQL database), with a real DNS server on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use adapter_http::{Claims, JwtKey, JwtSettings, Limits};
use domain_core::crypto::MasterKey;
use domain_core::ports::{Clock, SystemClock};
use domain_core::service::WebhookConfig;
use domain_core::testing::ManualClock;
use domain_core::webhook::{EgressRules, RetryPolicy};
use domain_core::{DomainService, ServiceConfig};
use repo_contract::pg::TestDatabase;
use scaisend_domains::config::DnsArgs;
use scaisend_domains::secrets::Secrets;
use scaisend_domains::webhooks::{WebhookParts, WorkerLimits};
use scaisend_domains::zone::ServedZone;
use scaisend_domains::{App, AppParts, BlockingKeyGenerator, Store};
use serde_json::{Value, json};
use test_dns::{Record, TestDns};

/// The SPF record of our include host in the test DNS: the sending range.
pub const INCLUDE_RECORD: &str = "v=spf1 ip4:192.0.2.0/24 -all";

/// Which store an app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite file in a temp dir.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// What a test can swap in.
pub struct Options {
    /// The clock the service runs on.
    pub clock: Arc<dyn Clock>,
    /// Reach PostgreSQL through a proxy the test can cut ([`TestApp::proxy`]).
    pub behind_proxy: bool,
    /// Rate, concurrency and time limits of the HTTP edge.
    pub limits: Limits,
    /// Key generations at once (as many more may wait; beyond that, 503).
    pub keygen_concurrency: usize,
    /// Webhook settings: loopback over plain HTTP allowed, a 50 ms retry base.
    pub webhooks: WebhookConfig,
    /// The use cases' settings.
    pub config: ServiceConfig,
    /// Keys kept in the key pool (0: none, so that most tests generate nothing in the
    /// background).
    pub key_pool: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            behind_proxy: false,
            limits: Limits::default(),
            keygen_concurrency: 2,
            webhooks: WebhookConfig {
                egress: EgressRules {
                    allow_http: true,
                    allow_private: true,
                },
                retry: RetryPolicy {
                    base: time::Duration::milliseconds(50),
                },
                ..WebhookConfig::default()
            },
            config: ServiceConfig::default(),
            key_pool: 0,
        }
    }
}

/// A running app and everything around it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The authoritative DNS server the app asks.
    pub dns: TestDns,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The use cases, for tests that drive the monitor directly.
    pub service: Arc<DomainService>,
    /// The proxy between the app and PostgreSQL, when asked for.
    pub proxy: Option<CuttableProxy>,
    secret: Vec<u8>,
    service_secret: Vec<u8>,
    /// The master key, so that a peer opens the keys this app sealed.
    master: String,
    _db: Option<TestDatabase>,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    webhook_worker: tokio::task::JoinHandle<()>,
    _stop_webhooks: tokio::sync::watch::Sender<bool>,
    refill: Option<tokio::task::JoinHandle<()>>,
    follower: Option<tokio::task::JoinHandle<()>>,
}

/// What an app is started from: its store and its secrets.
struct Started {
    store: Store,
    db: Option<TestDatabase>,
    proxy: Option<CuttableProxy>,
    dir: tempfile::TempDir,
    secret: Vec<u8>,
    service_secret: Vec<u8>,
    master: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.webhook_worker.abort();
        for task in [&self.refill, &self.follower].into_iter().flatten() {
            task.abort();
        }
    }
}

/// Opens a store of `kind` (migrated), keeping what must live as long as it; Postgres
/// optionally through a proxy the test can cut.
pub async fn store(
    kind: StoreKind,
    dir: &tempfile::TempDir,
    behind_proxy: bool,
) -> (Store, Option<TestDatabase>, Option<CuttableProxy>) {
    match kind {
        StoreKind::Sqlite => {
            let url = format!("sqlite://{}", sqlite_file(dir).display());
            let store = scaisend_domains::open_store(&url)
                .await
                .expect("SQLite store opens");
            (store, None, None)
        }
        StoreKind::Postgres => {
            let db = TestDatabase::create().await;
            let mut url = db.url();
            let proxy = if behind_proxy {
                let proxy = CuttableProxy::start("127.0.0.1:5432".parse().expect("addr")).await;
                url = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
                Some(proxy)
            } else {
                None
            };
            let store = scaisend_domains::open_store(&url)
                .await
                .expect("Postgres store opens");
            (store, Some(db), proxy)
        }
    }
}

/// Where an app on [`StoreKind::Sqlite`] keeps its database.
fn sqlite_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("scaisend.db")
}

/// DNS through the production adapter, asking only `server`.
pub fn dns_client(server: SocketAddr) -> Arc<dyn domain_core::ports::DnsLookup> {
    scaisend_domains::dns_lookup(&DnsArgs {
        dns_servers: Some(server.to_string()),
        dns_timeout_ms: 1500,
        dns_attempts: 2,
        dns_authoritative_first: false,
        dns_allow_private: false,
        dns_max_inflight: 256,
    })
    .expect("DNS configures")
}

impl TestApp {
    /// Starts an app on `kind` with the defaults.
    pub async fn spawn(kind: StoreKind) -> TestApp {
        Self::spawn_with(kind, Options::default()).await
    }

    /// Starts an app on `kind` whose clock the test moves.
    pub async fn spawn_on_manual_clock(kind: StoreKind) -> (TestApp, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let options = Options {
            clock: clock.clone(),
            ..Options::default()
        };
        (Self::spawn_with(kind, options).await, clock)
    }

    /// Starts an app on PostgreSQL reached through a proxy the test can cut.
    pub async fn spawn_behind_proxy() -> TestApp {
        let options = Options {
            behind_proxy: true,
            ..Options::default()
        };
        Self::spawn_with(StoreKind::Postgres, options).await
    }

    /// Starts an app on `kind`.
    pub async fn spawn_with(kind: StoreKind, options: Options) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, db, proxy) = store(kind, &dir, options.behind_proxy).await;
        let secret = MasterKey::generate().expect("random").1.as_bytes().to_vec();
        let service_secret = MasterKey::generate().expect("random").1.as_bytes().to_vec();
        // A test's throwaway key, kept in a plain string so that a peer can share it.
        let master = MasterKey::generate().expect("master key").1.to_string();
        let started = Started {
            store,
            db,
            proxy,
            dir,
            secret,
            service_secret,
            master,
        };
        Self::start(started, options).await
    }

    /// Starts a second instance on this app's PostgreSQL database, with the same tokens
    /// and master key, as a second replica behind a load balancer would run; it has a
    /// DNS server of its own.
    pub async fn peer(&self, options: Options) -> TestApp {
        let url = self
            .database_url()
            .expect("a peer shares a PostgreSQL database");
        let store = scaisend_domains::open_store(&url)
            .await
            .expect("Postgres store opens");
        let started = Started {
            store,
            db: None,
            proxy: None,
            dir: tempfile::tempdir().expect("temp dir"),
            secret: self.secret.clone(),
            service_secret: self.service_secret.clone(),
            master: self.master.clone(),
        };
        Self::start(started, options).await
    }

    async fn start(started: Started, options: Options) -> TestApp {
        let dns = TestDns::start().await.expect("test DNS starts");
        dns.publish("scaisend.scailabs.ai", Record::txt(INCLUDE_RECORD))
            .expect("include record");
        let master = MasterKey::from_base64(&started.master).expect("master key");
        let app = App::build(AppParts {
            store: started.store,
            dns: dns_client(dns.addr()),
            clock: options.clock,
            keygen: Arc::new(BlockingKeyGenerator::new(options.keygen_concurrency)),
            secrets: Secrets {
                jwt: JwtSettings {
                    key: JwtKey::Hs256(started.secret.clone()),
                    issuer: None,
                    audience: None,
                },
                hs256_secret: None,
                service_jwt: JwtSettings {
                    key: JwtKey::Hs256(started.service_secret.clone()),
                    issuer: None,
                    audience: None,
                },
                service_hs256_secret: None,
                master,
            },
            config: options.config,
            limits: options.limits,
            separate_internal: false,
            webhooks: WebhookParts {
                config: options.webhooks,
                sender: Arc::new(
                    adapter_webhook::HttpSender::new(adapter_webhook::SenderConfig {
                        egress: options.webhooks.egress,
                        timeout: Duration::from_secs(10),
                    })
                    .expect("the webhook client builds"),
                ),
            },
            key_pool: options.key_pool,
        })
        .expect("app builds");
        let refill = app.key_pool.clone().map(|refill| refill.spawn());
        let follower = app.changes.clone().map(|follower| follower.spawn());
        let (stop_webhooks, stop_rx) = tokio::sync::watch::channel(false);
        let webhook_worker = tokio::spawn(scaisend_domains::webhooks::run(
            app.webhooks.clone(),
            WorkerLimits {
                total: 8,
                per_endpoint: 4,
                poll: Duration::from_millis(100),
            },
            stop_rx,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app.router;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestApp {
            base: format!("http://{addr}"),
            dns,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            service: app.service,
            proxy: started.proxy,
            secret: started.secret,
            service_secret: started.service_secret,
            master: started.master,
            _db: started.db,
            _dir: started.dir,
            server,
            webhook_worker,
            _stop_webhooks: stop_webhooks,
            refill,
            follower,
        }
    }

    /// The URL of the app's PostgreSQL database, for a second instance on the same one.
    pub fn database_url(&self) -> Option<String> {
        self._db.as_ref().map(TestDatabase::url)
    }

    /// Serves the app's DKIM zone on a loopback port, read again from its store every
    /// 100 ms, and delegates the zone to it in the test DNS server: a resolver asking the
    /// test DNS follows a tenant's CNAME into the running zone server, as on the internet.
    pub async fn serve_zone(&self) -> ServedZone {
        let zone = serve_zone(self.service.zone_source()).await;
        self.dns
            .delegate(domain_core::zone::DEFAULT_ZONE, zone.local_addr())
            .expect("the zone server is on loopback");
        zone
    }

    /// The SQLite database file of an app on [`StoreKind::Sqlite`].
    pub fn sqlite_file(&self) -> std::path::PathBuf {
        sqlite_file(&self._dir)
    }

    /// A token for `role` with these claims, valid for an hour.
    pub fn token(&self, role: &str, tenant: Option<&str>, partner: Option<&str>) -> String {
        self.token_with(Claims {
            sub: format!("{role}-user"),
            role: role.to_owned(),
            tenant_id: tenant.map(Into::into),
            partner_id: partner.map(Into::into),
            exp: now() + 3600,
            iat: Some(now()),
            iss: None,
            aud: None,
        })
    }

    /// A token with exactly these claims, signed with the app's admin secret.
    pub fn token_with(&self, claims: Claims) -> String {
        adapter_http::issue_token(&self.secret, &claims).expect("token")
    }

    /// A token of the sending pipeline: role `service`, signed with the service secret,
    /// the only credential the internal endpoints take.
    pub fn service_token(&self) -> String {
        let claims = Claims {
            sub: "pipeline".to_owned(),
            role: "service".to_owned(),
            tenant_id: None,
            partner_id: None,
            exp: now() + 3600,
            iat: Some(now()),
            iss: None,
            aud: None,
        };
        adapter_http::issue_token(&self.service_secret, &claims).expect("token")
    }

    /// tenant_admin of t1 under p1.
    pub fn admin(&self) -> String {
        self.token("tenant_admin", Some("t1"), Some("p1"))
    }

    /// A request with a bearer token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.request_without_token(method, path).bearer_auth(token)
    }

    /// A request without any credentials.
    pub fn request_without_token(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// `GET` without any credentials, for the whole response (status and headers).
    pub async fn get_without_token(&self, path: &str) -> reqwest::Response {
        self.request_without_token(reqwest::Method::GET, path)
            .send()
            .await
            .expect("the server answers")
    }

    /// `POST` JSON and read the answer.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        send(self.request(reqwest::Method::POST, path, token).json(&body)).await
    }

    /// `POST` without a body, as the product page's curl commands do.
    pub async fn post_empty(&self, path: &str, token: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::POST, path, token)).await
    }

    /// `GET` and read the answer.
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::GET, path, token)).await
    }

    /// `PATCH` JSON and read the answer.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        send(
            self.request(reqwest::Method::PATCH, path, token)
                .json(&body),
        )
        .await
    }

    /// `DELETE` and read the answer.
    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::DELETE, path, token)).await
    }

    /// `POST /api/admin/domains`: asks to create a domain.
    pub async fn post_domain(&self, token: &str, request: Value) -> (u16, Value) {
        self.post(DOMAINS, token, request).await
    }

    /// Creates a domain, asserting `201`; returns the representation.
    pub async fn create_domain(&self, token: &str, request: Value) -> Value {
        self.post_domain(token, request).await.expect_status(201)
    }

    /// `GET` a domain.
    pub async fn get_domain(&self, id: &str, token: &str) -> (u16, Value) {
        self.get(&domain_path(id), token).await
    }

    /// `PATCH` a domain with `changes`.
    pub async fn patch_domain(&self, id: &str, token: &str, changes: Value) -> (u16, Value) {
        self.patch(&domain_path(id), token, changes).await
    }

    /// `DELETE` a domain.
    pub async fn delete_domain(&self, id: &str, token: &str) -> (u16, Value) {
        self.delete(&domain_path(id), token).await
    }

    /// Checks a domain's records now (`POST …/verify`).
    pub async fn verify_domain(&self, id: &str, token: &str) -> (u16, Value) {
        self.post_empty(&format!("{}/verify", domain_path(id)), token)
            .await
    }

    /// Starts a DKIM rotation (`POST …/rotate-dkim`).
    pub async fn rotate_dkim(&self, id: &str, token: &str) -> (u16, Value) {
        self.post_empty(&format!("{}/rotate-dkim", domain_path(id)), token)
            .await
    }

    /// Removes (or cancels) a DKIM selector (`DELETE …/dkim/{selector}`).
    pub async fn remove_selector(&self, id: &str, selector: &str, token: &str) -> (u16, Value) {
        self.delete(&format!("{}/dkim/{selector}", domain_path(id)), token)
            .await
    }

    /// Publishes `dns_records` as [`TestApp::publish`] does, then verifies the domain as
    /// t1's admin, asserting that it is verified; returns the report.
    pub async fn publish_and_verify(&self, id: &str, dns_records: &Value) -> Value {
        self.publish(dns_records);
        let report = self
            .verify_domain(id, &self.admin())
            .await
            .expect_status(200);
        assert_eq!(report["verified"], true, "{report}");
        report
    }

    /// `POST /api/internal/sender-authorization` with the service token.
    pub async fn post_sender_authorization(&self, request: Value) -> (u16, Value) {
        self.post(SENDER_AUTHORIZATION, &self.service_token(), request)
            .await
    }

    /// The send-time decision for `from` by tenant t1 of p1 with a live key, asserting
    /// `200`.
    pub async fn decide(&self, from: &str) -> Value {
        let request =
            json!({"tenant_id": "t1", "partner_id": "p1", "from": from, "key_mode": "live"});
        self.post_sender_authorization(request)
            .await
            .expect_status(200)
    }

    /// `POST /api/internal/dkim/sign` with the service token.
    pub async fn post_sign(&self, request: Value) -> (u16, Value) {
        self.post(DKIM_SIGN, &self.service_token(), request).await
    }

    /// Signs `message` for tenant t1 of p1, asserting `200`; returns the answer.
    pub async fn sign(&self, message: &str) -> Value {
        let request = json!({"tenant_id": "t1", "partner_id": "p1", "message": message});
        self.post_sign(request).await.expect_status(200)
    }

    /// The types of a domain's timeline events, newest first (the first page).
    pub async fn event_types(&self, path: &str, token: &str) -> Vec<String> {
        let (status, events) = self.get(&format!("{path}/events"), token).await;
        assert_eq!(status, 200, "{events}");
        events["data"]
            .as_array()
            .expect("a page of events")
            .iter()
            .map(|e| e["type"].as_str().expect("a type").to_owned())
            .collect()
    }

    /// Creates the product page's domain as tenant t1's admin; returns the representation.
    pub async fn create_product_page_domain(&self) -> Value {
        self.create_product_page_domain_with(json!({})).await
    }

    /// Creates the product page's domain as tenant t1's admin; returns its id.
    pub async fn create_product_page_domain_id(&self) -> String {
        let created = self.create_product_page_domain().await;
        created["id"].as_str().expect("an id").to_owned()
    }

    /// The product page's domain with more fields of the create request
    /// (`dkim_algorithms`, `return_path`, …).
    pub async fn create_product_page_domain_with(&self, extra: Value) -> Value {
        let mut request = json!({
            "domain": "mail.example.com",
            "dmarc_policy": "quarantine",
            "dmarc_rua_email": "dmarc-reports@example.com"
        });
        if let (Some(request), Value::Object(extra)) = (request.as_object_mut(), extra) {
            request.extend(extra);
        }
        self.create_domain(&self.admin(), request).await
    }

    /// Publishes every `action: publish` row of `dns_records` in the test DNS, as an admin
    /// would at their provider (long TXT values as their character-strings, MX rows with
    /// their priority), replacing what was there of the row's type.
    pub fn publish(&self, dns_records: &Value) {
        for r in dns_records.as_array().expect("dns_records is an array") {
            if r["action"] != "publish" {
                continue;
            }
            let host = r["host"].as_str().expect("host");
            let value = r["value"].as_str().expect("value");
            let (kind, record) = match (r["type"].as_str(), r.get("value_chunks")) {
                (Some("MX"), _) => {
                    let priority = r["priority"].as_u64().expect("an MX row has a priority");
                    let priority = u16::try_from(priority).expect("a 16-bit preference");
                    (test_dns::RecordKind::Mx, Record::mx(priority, value))
                }
                (Some("TXT"), Some(Value::Array(chunks))) => (
                    test_dns::RecordKind::Txt,
                    Record::txt_strings(
                        chunks
                            .iter()
                            .map(|c| c.as_str().expect("chunk").as_bytes().to_vec()),
                    ),
                ),
                (Some("TXT"), _) => (test_dns::RecordKind::Txt, Record::txt(value)),
                (Some("CNAME"), _) => (test_dns::RecordKind::Cname, Record::Cname(value.into())),
                (other, _) => panic!("a record of type {other:?}"),
            };
            self.dns.replace(host, kind, vec![record]).expect("publish");
        }
    }
}

/// Serves the zone `source` reads on a loopback port, read again every 100 ms, until the
/// returned server is dropped.
pub async fn serve_zone(source: domain_core::ZoneSource) -> ServedZone {
    // Never signalled: the zone server stops when the test drops it.
    let (_, stopped) = tokio::sync::watch::channel(false);
    ServedZone::start(
        source,
        "127.0.0.1:0".parse().expect("an address"),
        Duration::from_millis(100),
        Arc::new(domain_core::ports::NoObserver),
        stopped,
    )
    .await
    .expect("the zone server starts")
}

/// Sends a request and reads status and JSON body (`null` for an empty body).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

/// Where domains are listed and created.
pub const DOMAINS: &str = "/api/admin/domains";

/// The sending pipeline's send-time decision.
pub const SENDER_AUTHORIZATION: &str = "/api/internal/sender-authorization";

/// The sending pipeline's signing endpoint.
pub const DKIM_SIGN: &str = "/api/internal/dkim/sign";

/// The batch signing endpoint.
pub const DKIM_SIGN_BATCH: &str = "/api/internal/dkim/sign-batch";

/// `/api/admin/domains/{id}`: a domain's resource, below which its actions live.
pub fn domain_path(id: &str) -> String {
    format!("{DOMAINS}/{id}")
}

/// What a test asserts of an answer, `(status, body)` as [`send`] reads it.
pub trait Answer {
    /// Asserts the status (showing the body when it differs); returns the body.
    fn expect_status(self, expected: u16) -> Value;

    /// Asserts that the answer is an RFC 9457 problem with status `expected`: the
    /// status, and a body with that `status` and a string `type`, `title` and `detail`;
    /// returns the body.
    fn expect_problem(self, expected: u16) -> Value;
}

impl Answer for (u16, Value) {
    #[track_caller]
    fn expect_status(self, expected: u16) -> Value {
        let (status, body) = self;
        assert_eq!(status, expected, "{body}");
        body
    }

    #[track_caller]
    fn expect_problem(self, expected: u16) -> Value {
        let body = self.expect_status(expected);
        assert_eq!(body["status"], expected, "{body}");
        for field in ["type", "title", "detail"] {
            assert!(body[field].is_string(), "problem lacks {field}: {body}");
        }
        body
    }
}

/// Sends `request` and asserts that the answer is an RFC 9457 problem with status
/// `expected`, served as `application/problem+json` (see [`Answer::expect_problem`]);
/// returns
/// its headers and body.
pub async fn expect_problem_response(
    request: reqwest::RequestBuilder,
    expected: u16,
) -> (reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    assert_eq!(status, expected, "{text}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{status}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (headers, (status, body).expect_problem(expected))
}

/// The elements of the JSON array `list`.
#[track_caller]
pub fn items(list: &Value) -> &[Value] {
    list.as_array()
        .unwrap_or_else(|| panic!("an array: {list}"))
}

/// The string `key` of every element of the JSON array `list`, in order.
#[track_caller]
pub fn strings<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    items(list)
        .iter()
        .map(|item| {
            item[key]
                .as_str()
                .unwrap_or_else(|| panic!("a string {key}: {item}"))
        })
        .collect()
}

/// The strings `first` and `second` of every element of the JSON array `list`, as pairs.
#[track_caller]
pub fn string_pairs(list: &Value, first: &str, second: &str) -> Vec<(String, String)> {
    strings(list, first)
        .into_iter()
        .zip(strings(list, second))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// Runs a test body against both stores: `both_stores!(name)` expects `async fn name(kind)`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::StoreKind::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::StoreKind::Postgres).await
                }
            }
        )*
    };
}

/// Like [`both_stores!`], for tests whose names already say the store:
/// `both_stores_as!(name => name_on_sqlite, name_on_postgres)` expects `async fn name(kind)`.
#[macro_export]
macro_rules! both_stores_as {
    ($($name:ident => $sqlite:ident, $postgres:ident);* $(;)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $sqlite() {
                $name($crate::support::StoreKind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $postgres() {
                $name($crate::support::StoreKind::Postgres).await
            }
        )*
    };
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, to lose the
/// database the way production does — open connections die, new ones are refused —
/// without touching the machine's shared PostgreSQL server.
pub struct CuttableProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    /// Starts forwarding `127.0.0.1:<port>` to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("addr");
        let (cut, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut listener = Some(listener);
            let mut watch = watch;
            loop {
                let Some(serving) = listener.take() else {
                    // Restored: listen on the same port again, so that the app's URL
                    // stays right (retrying while the port is still being released).
                    listener = Some(rebind(addr).await);
                    continue;
                };
                serve(serving, upstream, watch.clone()).await;
                // Cut: the listener is closed, so connecting is refused, until restored.
                if watch.wait_for(|cut| !*cut).await.is_err() {
                    return;
                }
            }
        });
        CuttableProxy { addr, cut, task }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    /// Accepts connections again, on the same address.
    pub fn restore(&self) {
        let _ = self.cut.send(false);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards each accepted connection to `upstream` until `cut` turns true, then closes
/// the listener and every connection.
async fn serve(
    listener: tokio::net::TcpListener,
    upstream: SocketAddr,
    mut cut: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else { continue };
                connections.spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
            // Finished connections are collected as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = cut.wait_for(|cut| *cut) => {
                // Dropping the set aborts every forwarding task, closing both sockets.
                connections.abort_all();
                return;
            }
        }
    }
}

/// Listens on `addr` again, waiting while the port is still held by the closing one.
async fn rebind(addr: SocketAddr) -> tokio::net::TcpListener {
    loop {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => return listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
