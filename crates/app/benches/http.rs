//! The hot paths over HTTP, each side by side with its reference in one run (issue
//! "Speed where it counts"): sender authorization and one domain's `GET` against
//! `/healthz`, signing against `openssl speed`, and create latency with the key pool.
//!
//! The release binary is started on loopback with a test DNS server in this process, once
//! on SQLite and once on PostgreSQL (`127.0.0.1:5432`, skipped with a note when absent);
//! the load comes from this process too: N tasks on one HTTP client, each keeping one
//! request in flight, for a fixed time. Prints markdown for `cargo xtask bench`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adapter_http::Claims;
use serde_json::{Value, json};
use test_dns::{Record, TestDns};

/// How long each side of a comparison runs.
const RUN: Duration = Duration::from_secs(3);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    println!(
        "Release binary on loopback, load from the bench process ({cores} cores shared by both); each figure is the mean of two alternating {}-second runs.\n",
        RUN.as_secs()
    );
    println!("| measurement | result | reference | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    let openssl = openssl_signs(cores);
    for store in ["sqlite", "postgres"] {
        let Some(server) = Server::start(store).await else {
            println!("| {store} | not measured: PostgreSQL at 127.0.0.1:5432 unreachable | | | |");
            continue;
        };
        server.measure(store, openssl).await;
    }
}

struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    dns: TestDns,
    admin: String,
    service: String,
    _dir: tempfile::TempDir,
    _db: Option<repo_contract::pg::TestDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(store: &str) -> Option<Server> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, db) = if store == "sqlite" {
            (
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                None,
            )
        } else {
            if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
                return None;
            }
            let db = repo_contract::pg::TestDatabase::create().await;
            (db.url(), Some(db))
        };
        let dns = TestDns::start().await.expect("test DNS");
        dns.publish(
            "scaisend.scailabs.ai",
            Record::txt("v=spf1 ip4:192.0.2.0/24 -all"),
        )
        .expect("include record");
        let secret = random_b64();
        let service_secret = random_b64();
        let addr = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_scaisend-domains"))
            .arg("serve")
            .env("SCAISEND_DATABASE_URL", &url)
            .env("SCAISEND_LISTEN", addr.to_string())
            .env("SCAISEND_JWT_SECRET", &secret)
            .env("SCAISEND_SERVICE_JWT_SECRET", &service_secret)
            .env("SCAISEND_MASTER_KEY", random_b64())
            .env("SCAISEND_DNS_SERVERS", dns.addr().to_string())
            .env("SCAISEND_MONITOR", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the release binary starts");
        let token = |secret: &str, role: &str, tenant: Option<&str>, partner: Option<&str>| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            adapter_http::issue_token(
                secret.as_bytes(),
                &Claims {
                    sub: format!("{role}-bench"),
                    role: role.to_owned(),
                    tenant_id: tenant.map(Into::into),
                    partner_id: partner.map(Into::into),
                    exp: now + 3600,
                    iat: Some(now),
                    iss: None,
                    aud: None,
                },
            )
            .expect("token")
        };
        let server = Server {
            child,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            admin: token(&secret, "tenant_admin", Some("t1"), Some("p1")),
            service: token(&service_secret, "service", None, None),
            dns,
            _dir: dir,
            _db: db,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server
            .client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "the server never came up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(server)
    }

    async fn measure(&self, store: &str, openssl: Option<f64>) {
        // A verified domain, so that authorization delivers and signing signs.
        let created = self.create("mail.example.com").await.1;
        let id = created["id"].as_str().expect("id").to_owned();
        self.publish(&created["dns_records"]);
        let verified = self
            .client
            .post(format!("{}/api/admin/domains/{id}/verify", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .expect("verify");
        assert!(verified.status().is_success());

        let health = Load::get(format!("{}/healthz", self.base), None);
        let authorize = Load::post(
            format!("{}/api/internal/sender-authorization", self.base),
            &self.service,
            json!({"tenant_id": "t1", "partner_id": "p1", "from": "alerts@mail.example.com", "key_mode": "live"}),
        );
        let get = Load::get(
            format!("{}/api/admin/domains/{id}", self.base),
            Some(&self.admin),
        );
        let sign = Load::post(
            format!("{}/api/internal/dkim/sign", self.base),
            &self.service,
            json!({"tenant_id": "t1", "partner_id": "p1", "message": "From: alerts@mail.example.com\r\nTo: a@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"}),
        );
        if store == "sqlite" {
            let (a, h) = self.side_by_side(&authorize, &health, 32).await;
            row(
                "`POST /api/internal/sender-authorization`, 32 connections (req/s) vs `/healthz`",
                a,
                h,
                "≥ 0.5",
            );
            let s = self.rate(&sign, 2).await;
            let s2 = self.rate(&sign, 2).await;
            match openssl {
                Some(o) => row(
                    &format!(
                        "`POST /api/internal/dkim/sign`, 2 connections, RSA-2048 short message (signed/s) vs `openssl speed -multi {} rsa2048`",
                        std::thread::available_parallelism().map_or(2, usize::from)
                    ),
                    (s + s2) / 2.0,
                    o,
                    "≥ 0.8",
                ),
                None => println!(
                    "| dkim/sign, 2 connections | {:.0} signed/s | openssl not found | | ≥ 0.8 |",
                    (s + s2) / 2.0
                ),
            }
        }
        let (g, h) = self.side_by_side(&get, &health, 32).await;
        row(
            &format!(
                "`GET /api/admin/domains/{{id}}` on {store}, 32 connections (req/s) vs `/healthz`"
            ),
            g,
            h,
            "≥ 0.3",
        );
        if store == "sqlite" {
            self.creates().await;
        }
    }

    /// Creates at 10/s once the pool had time to fill: latency p50 and p99.
    async fn creates(&self) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut latencies = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for i in 0..100 {
            tick.tick().await;
            let (took, _) = self.create(&format!("c{i}.example.com")).await;
            latencies.push(took);
        }
        latencies.sort();
        let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "| `POST /api/admin/domains` at 10/s, key pool 16 (100 creates) | p50 {:.1} ms, p99 {:.1} ms | | | p50 ≤ 5 ms, p99 ≤ 50 ms |",
            p(0.5).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3
        );
    }

    async fn create(&self, name: &str) -> (Duration, Value) {
        let start = Instant::now();
        let response = self
            .client
            .post(format!("{}/api/admin/domains", self.base))
            .bearer_auth(&self.admin)
            .json(&json!({"domain": name, "dmarc_policy": "none"}))
            .send()
            .await
            .expect("create");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        let took = start.elapsed();
        assert_eq!(status.as_u16(), 201, "{body}");
        (took, body)
    }

    fn publish(&self, dns_records: &Value) {
        for r in dns_records.as_array().expect("records") {
            if r["action"] != "publish" || r["type"] != "TXT" {
                continue;
            }
            let host = r["host"].as_str().expect("host");
            let record = match r.get("value_chunks") {
                Some(Value::Array(chunks)) => Record::txt_strings(
                    chunks
                        .iter()
                        .map(|c| c.as_str().expect("chunk").as_bytes().to_vec()),
                ),
                _ => Record::txt(r["value"].as_str().expect("value")),
            };
            self.dns
                .replace(host, test_dns::RecordKind::Txt, vec![record])
                .expect("publish");
        }
    }

    /// Two alternating runs of each side; the mean rate of each.
    async fn side_by_side(&self, a: &Load, b: &Load, conns: usize) -> (f64, f64) {
        let mut sums = (0.0, 0.0);
        for _ in 0..2 {
            sums.0 += self.rate(a, conns).await;
            sums.1 += self.rate(b, conns).await;
        }
        (sums.0 / 2.0, sums.1 / 2.0)
    }

    /// Successful (2xx) requests per second with `conns` requests in flight for [`RUN`].
    async fn rate(&self, load: &Load, conns: usize) -> f64 {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let request = load.request(&self.client);
                let (ok, failed) = (ok.clone(), failed.clone());
                tokio::spawn(async move {
                    while start.elapsed() < RUN {
                        let r = request.try_clone().expect("clonable").send().await;
                        match r {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("load task");
        }
        // Refusals (503 over SCAISEND_INTERNAL_CONCURRENCY, which the bench leaves at its
        // default) are not counted as served; how many there were is reported.
        let failed = failed.load(Ordering::Relaxed);
        if failed > 0 {
            eprintln!("{}: {failed} requests refused or failed", load.url);
        }
        ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
    }
}

/// One kind of request to repeat.
struct Load {
    url: String,
    token: Option<String>,
    body: Option<Value>,
}

impl Load {
    fn get(url: String, token: Option<&str>) -> Load {
        Load {
            url,
            token: token.map(Into::into),
            body: None,
        }
    }

    fn post(url: String, token: &str, body: Value) -> Load {
        Load {
            url,
            token: Some(token.to_owned()),
            body: Some(body),
        }
    }

    fn request(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut r = match &self.body {
            Some(body) => client.post(&self.url).json(body),
            None => client.get(&self.url),
        };
        if let Some(token) = &self.token {
            r = r.bearer_auth(token);
        }
        r
    }
}

fn row(what: &str, value: f64, reference: f64, goal: &str) {
    println!(
        "| {what} | {value:.0} | {reference:.0} | {:.2}× | {goal} |",
        value / reference
    );
}

/// `openssl speed -multi <cores> rsa2048`: RSA-2048 signs per second, all cores.
fn openssl_signs(cores: usize) -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            "3",
            "-multi",
            &cores.to_string(),
            "rsa2048",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The summary line: `rsa 2048 bits 0.000400s 0.000012s 2500.0 83333.3` (sign/s is the
    // third number), or with -multi `rsa  2048 bits ...` similarly.
    text.lines()
        .filter(|l| l.trim_start().starts_with("rsa") && l.contains("2048"))
        .filter_map(|l| {
            let numbers: Vec<f64> = l
                .split_whitespace()
                .filter_map(|w| w.trim_end_matches('s').parse().ok())
                .collect();
            // [2048, sign time, verify time, sign/s, verify/s] (openssl 3 adds encaps/decaps).
            numbers.get(3).copied()
        })
        .next_back()
}

/// 32 random bytes in base64: a master key, or a token secret of 44 bytes.
fn random_b64() -> String {
    let (_, b64) = domain_core::crypto::MasterKey::generate().expect("random");
    b64.to_string()
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}
