//! The hot paths over HTTP, each side by side with its reference in one run (issue
//! "Speed where it counts"): sender authorization and one domain's `GET` against
//! `/healthz`, signing against `openssl speed`, and create latency with the key pool.
//!
//! The release binary is started on loopback with a test DNS server in this process, once
//! on SQLite and once on PostgreSQL (`127.0.0.1:5432`, skipped with a note when absent);
//! the load comes from this process too, and shares the two cores with the server: N
//! threads, each with one keep-alive HTTP/1.1 connection of its own written by hand on a
//! `TcpStream` (a request prepared once, written; the answer's head read and its
//! `Content-Length` body skipped), keeping one request in flight for a fixed time. That
//! client costs a few microseconds of CPU a request, where a general client (reqwest)
//! cost tens, which the server then lacked; every figure and its reference use it.
//! Besides rates it reports the server's CPU time per request (`/proc/<pid>/stat`), which
//! holds up when other work shares the machine. Prints markdown for `cargo xtask bench`.
//!
//! Disks differ more between machines of one kind than CPUs do (an `fsync` took 0.1 ms on
//! one, 1.5 ms on another), so the create figure is measured twice: on this machine's
//! disk, and on a server whose every `fsync` first waits 1.5 ms (`slowfsync.c`, built
//! with the machine's `cc` and loaded with `LD_PRELOAD`).
//!
//! `SCAISEND_BENCH_PROFILE=sign` (or `sign-rfc822`, `sign-batch`, `authorize`, `get`,
//! `healthz`) only starts the server on SQLite and keeps that one load on it for
//! `SCAISEND_BENCH_SECONDS` (default 30), printing the server's pid first: for `perf
//! record -p <pid>` (docs/benchmarks.md, "Profiles").
//! `SCAISEND_BENCH_CONNECTIONS` changes its number of connections. `signing` prints the
//! table's signing rows alone (their runs are fixed, whatever `SCAISEND_BENCH_SECONDS`
//! says). `create` runs the create figure (100 creates at 10/s once the key pool is full)
//! once per 10 seconds asked for, printing each round's p50 and p99; `create-slow-disk`
//! does the same on a new server each round, with `slowfsync.c` loaded. Every figure
//! reports the share of the machine's CPU the hypervisor stole meanwhile (`/proc/stat`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adapter_http::Claims;
use serde_json::{Value, json};
use test_dns::{Record, TestDns};

/// How long each side of a comparison runs.
const RUN: Duration = Duration::from_secs(3);

/// How many times each signing form is measured between two references.
const SIGNING_PAIRS: usize = 4;

/// How many messages a request of the batch signing form carries.
const SIGNING_BATCH: usize = 32;

/// How long each signing run lasts: short, so that its references are close in time.
const SIGNING_RUN: Duration = Duration::from_secs(2);

/// The short message of the signing figure.
const SHORT_MESSAGE: &str =
    "From: alerts@mail.example.com\r\nTo: a@example.org\r\nSubject: hi\r\n\r\nHello.\r\n";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match std::env::var("SCAISEND_BENCH_PROFILE") {
        Ok(what) => runtime.block_on(profile(&what)),
        Err(_) => runtime.block_on(run()),
    }
}

async fn run() {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    println!(
        "Release binary on loopback, load from the bench process ({cores} cores shared by both, \
         one hand-written keep-alive HTTP/1.1 client per connection); each figure is the mean of \
         two {}-second runs alternating with its reference's, except signing: {} runs of {} \
         seconds per form, each between two `openssl speed` runs, its ratio the median of the \
         ratios to the mean of the two around each run (their range in brackets). \"Server \
         CPU\" is the server process's CPU time (user + system, all threads) per answered \
         request: the figure, then its reference's. \"Stolen\" is the share of the machine's \
         CPU time the hypervisor gave to other guests meanwhile (`/proc/stat`): where it is \
         high, the figure says more about the neighbours than about the code.\n",
        RUN.as_secs(),
        SIGNING_PAIRS,
        SIGNING_RUN.as_secs()
    );
    println!(
        "| measurement | result | reference | ratio | goal | server CPU per request | stolen |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|");
    for store in ["sqlite", "postgres"] {
        let Some(server) = Server::start(store).await else {
            println!(
                "| {store} | not measured: PostgreSQL at 127.0.0.1:5432 unreachable | | | | | |"
            );
            continue;
        };
        server.measure(store, cores).await;
        if store == "sqlite" {
            drop(server);
            Server::creates_on_a_slow_disk().await;
        }
    }
}

/// `slowfsync.c` built into a shared library in a temporary directory, or `None` without
/// a C compiler.
fn slow_fsync_shim() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().ok()?;
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/slowfsync.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(dir.path().join("slowfsync.so"))
        .arg(source)
        .arg("-ldl")
        .status()
        .ok()?;
    built.success().then_some(dir)
}

/// Keeps one load on a SQLite server for a profiler (see the crate's documentation).
async fn profile(what: &str) {
    let seconds: u64 = std::env::var("SCAISEND_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    if what == "create-slow-disk" {
        for _ in 0..seconds.div_ceil(10) {
            Server::creates_on_a_slow_disk().await;
        }
        return;
    }
    let server = Server::start("sqlite").await.expect("SQLite");
    if what == "create" {
        println!("pid {}", server.child.id());
        for _ in 0..seconds.div_ceil(10) {
            server.creates().await;
        }
        return;
    }
    let id = server.verified_domain().await;
    if what == "signing" {
        server.settle().await;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        server.signing(cores);
        return;
    }
    let (load, conns) = match what {
        "sign" => (server.sign_json(SHORT_MESSAGE), 2),
        "sign-rfc822" => (server.sign_rfc822(SHORT_MESSAGE), 2),
        "sign-batch" => (server.sign_batch(SHORT_MESSAGE, SIGNING_BATCH), 2),
        "authorize" => (server.authorize(), 32),
        "get" => (server.get_domain(&id), 32),
        "healthz" => (server.health(), 32),
        other => panic!("SCAISEND_BENCH_PROFILE: unknown load {other}"),
    };
    let conns = std::env::var("SCAISEND_BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(conns);
    server.settle().await;
    println!("pid {}", server.child.id());
    let m = server.rate(&load, conns, Duration::from_secs(seconds));
    println!(
        "{what}: {:.0} req/s, server CPU {:.0} µs per request, client CPU {:.0} µs per request, \
         {:.0} % of the machine's CPU time stolen",
        m.rate,
        m.server_cpu_us,
        m.client_cpu_us,
        m.stolen * 100.0
    );
}

struct Server {
    child: Child,
    addr: SocketAddr,
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
        Self::start_with(store, &[]).await
    }

    /// [`start`](Server::start), the server's environment having `env` besides.
    async fn start_with(store: &str, env: &[(&str, &str)]) -> Option<Server> {
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
            .envs(env.iter().copied())
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
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
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

    /// Waits until the server has nothing left to do in the background (at most 60 s):
    /// until it used about 2 % of a core over half a second. A new server fills its key
    /// pool first, and a load that keeps both cores busy starves that refill (it runs in
    /// the idle scheduling class), which then runs under the next figure's load instead;
    /// every figure is measured on a settled server, as one runs between bursts.
    /// `cpu_time` counts in 10 ms clock ticks, so "settled" is at most one tick in 500 ms.
    async fn settle(&self) {
        let pid = self.child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let before = cpu_time(&pid);
            tokio::time::sleep(Duration::from_millis(500)).await;
            if cpu_time(&pid) - before <= Duration::from_millis(10) || Instant::now() > deadline {
                return;
            }
        }
    }

    /// A verified domain, so that authorization delivers and signing signs: its id.
    async fn verified_domain(&self) -> String {
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
        id
    }

    fn health(&self) -> Load {
        Load::new(self.addr, "GET /healthz", None, None)
    }

    fn authorize(&self) -> Load {
        Load::new(
            self.addr,
            "POST /api/internal/sender-authorization",
            Some(&self.service),
            Some((
                "application/json",
                json!({"tenant_id": "t1", "partner_id": "p1", "from": "alerts@mail.example.com", "key_mode": "live"})
                    .to_string()
                    .into_bytes(),
            )),
        )
    }

    fn get_domain(&self, id: &str) -> Load {
        Load::new(
            self.addr,
            &format!("GET /api/admin/domains/{id}"),
            Some(&self.admin),
            None,
        )
    }

    fn sign_json(&self, message: &str) -> Load {
        Load::new(
            self.addr,
            "POST /api/internal/dkim/sign",
            Some(&self.service),
            Some((
                "application/json",
                json!({"tenant_id": "t1", "partner_id": "p1", "message": message})
                    .to_string()
                    .into_bytes(),
            )),
        )
    }

    /// `messages` copies of `message` in one `dkim/sign-batch` request.
    fn sign_batch(&self, message: &str, messages: usize) -> Load {
        let one = json!({"tenant_id": "t1", "partner_id": "p1", "message": message});
        Load::new(
            self.addr,
            "POST /api/internal/dkim/sign-batch",
            Some(&self.service),
            Some((
                "application/json",
                json!({"messages": vec![one; messages]})
                    .to_string()
                    .into_bytes(),
            )),
        )
    }

    fn sign_rfc822(&self, message: &str) -> Load {
        Load::new(
            self.addr,
            "POST /api/internal/dkim/sign?tenant_id=t1&partner_id=p1",
            Some(&self.service),
            Some(("message/rfc822", message.as_bytes().to_vec())),
        )
    }

    async fn measure(&self, store: &str, cores: usize) {
        let id = self.verified_domain().await;
        let health = self.health();
        let get = self.get_domain(&id);
        if store == "sqlite" {
            self.settle().await;
            let (a, h) = self.side_by_side(&self.authorize(), &health, 32);
            row(
                "`POST /api/internal/sender-authorization`, 32 connections (req/s) vs `/healthz`",
                &a,
                &h,
                "≥ 0.5",
            );
            self.settle().await;
            self.signing(cores);
        }
        self.settle().await;
        let (g, h) = self.side_by_side(&get, &health, 32);
        row(
            &format!(
                "`GET /api/admin/domains/{{id}}` on {store}, 32 connections (req/s) vs `/healthz`"
            ),
            &g,
            &h,
            "≥ 0.3",
        );
        if store == "sqlite" {
            self.creates().await;
        }
    }

    /// The create figure again, on a server whose every `fsync` first waits 1.5 ms (what
    /// one machine of this kind took; `slowfsync.c`), so that the figure does not depend
    /// on how fast this machine's disk happens to be. Skipped with a note without a C
    /// compiler.
    async fn creates_on_a_slow_disk() {
        let Some(shim) = slow_fsync_shim() else {
            println!(
                "| the same, `fsync` slowed to 1.5 ms | not measured: no C compiler (`cc`) | | | | | |"
            );
            return;
        };
        let preload = shim.path().join("slowfsync.so");
        let env = [
            ("LD_PRELOAD", preload.to_str().expect("a UTF-8 path")),
            ("SLOW_FSYNC_US", "1500"),
        ];
        let server = Server::start_with("sqlite", &env).await.expect("SQLite");
        server
            .creates_labelled("the same, every `fsync` slowed by 1.5 ms (`benches/slowfsync.c`)")
            .await;
    }

    /// Signing over HTTP, JSON and `message/rfc822`, each run between two runs of
    /// `openssl speed`: `O J O R O J O R O`. A VM's speed drifts by a tenth within
    /// minutes, so each run is compared with the references just before and after it,
    /// and the ratio reported is the median of those [`SIGNING_PAIRS`] ratios, with
    /// their range.
    fn signing(&self, cores: usize) {
        let openssl_command = format!("`openssl speed -multi {cores} rsa2048`");
        let loads = [
            (
                self.sign_json(SHORT_MESSAGE),
                "`POST /api/internal/dkim/sign`, JSON".to_owned(),
                1,
            ),
            (
                self.sign_rfc822(SHORT_MESSAGE),
                "`POST /api/internal/dkim/sign`, `message/rfc822`".to_owned(),
                1,
            ),
            (
                self.sign_batch(SHORT_MESSAGE, SIGNING_BATCH),
                format!("`POST /api/internal/dkim/sign-batch`, {SIGNING_BATCH} messages a request"),
                SIGNING_BATCH,
            ),
        ];
        let mut sums = vec![Measured::default(); loads.len()];
        let mut references = vec![Measured::default(); loads.len()];
        let mut ratios = vec![Vec::new(); loads.len()];
        let mut before = openssl_run(cores);
        for _ in 0..SIGNING_PAIRS {
            for (i, (load, _, messages)) in loads.iter().enumerate() {
                let measured = self.rate(load, 2, SIGNING_RUN).per_message(*messages);
                let after = openssl_run(cores);
                if let (Some(b), Some(a)) = (before, after) {
                    let mut reference = b;
                    reference.add(&a);
                    let reference = reference.halved();
                    ratios[i].push(measured.rate / reference.rate);
                    references[i].add(&reference);
                }
                sums[i].add(&measured);
                before = after;
            }
        }
        let mean = |m: &Measured| m.scaled(1.0 / SIGNING_PAIRS as f64);
        for (((_, form, _), sum), (reference, ratios)) in loads
            .iter()
            .zip(&sums)
            .zip(references.iter().zip(&mut ratios))
        {
            let what = format!(
                "{form}, 2 connections, RSA-2048 short message \
                 (signed/s) vs {openssl_command}"
            );
            let value = mean(sum);
            if ratios.is_empty() {
                println!(
                    "| {what} | {:.0} | openssl not found | | ≥ 0.8 | {:.0} µs | {:.0} % |",
                    value.rate,
                    value.server_cpu_us,
                    value.stolen * 100.0
                );
                continue;
            }
            ratios.sort_by(f64::total_cmp);
            let median = (ratios[(ratios.len() - 1) / 2] + ratios[ratios.len() / 2]) / 2.0;
            let ratio = format!(
                "{median:.2}× ({:.2}–{:.2})",
                ratios[0],
                ratios[ratios.len() - 1]
            );
            row_with_ratio(
                &what,
                &value,
                &reference.scaled(1.0 / ratios.len() as f64),
                &ratio,
                "≥ 0.8",
            );
        }
    }

    /// Creates at 10/s once the pool had time to fill: latency p50 and p99.
    async fn creates(&self) {
        self.creates_labelled("`POST /api/admin/domains` at 10/s, key pool 16 (100 creates)")
            .await;
    }

    /// [`creates`](Server::creates), its row named `what`.
    async fn creates_labelled(&self, what: &str) {
        self.settle().await;
        let clock = HostClock::read();
        let mut latencies = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let round = ulid::Ulid::generate().to_string().to_lowercase();
        for i in 0..100 {
            tick.tick().await;
            let (took, _) = self.create(&format!("c{i}-{round}.example.com")).await;
            latencies.push(took);
        }
        latencies.sort();
        let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "| {what} | p50 {:.1} ms, p99 {:.1} ms | | | p50 ≤ 5 ms, p99 ≤ 50 ms | | {:.0} % |",
            p(0.5).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            clock.stolen() * 100.0
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

    /// Two alternating runs of each side; the mean of each.
    fn side_by_side(&self, a: &Load, b: &Load, conns: usize) -> (Measured, Measured) {
        let (mut sum_a, mut sum_b) = (Measured::default(), Measured::default());
        for _ in 0..2 {
            sum_a.add(&self.rate(a, conns, RUN));
            sum_b.add(&self.rate(b, conns, RUN));
        }
        (sum_a.halved(), sum_b.halved())
    }

    /// Successful (2xx) requests per second with `conns` connections, each keeping one
    /// request in flight for `run`, and the CPU time spent per request.
    fn rate(&self, load: &Load, conns: usize, run: Duration) -> Measured {
        let pid = self.child.id();
        let (server_before, client_before) = (cpu_time(&pid.to_string()), cpu_time("self"));
        let clock = HostClock::read();
        let start = Instant::now();
        // Blocking threads: the runtime's workers stay free for the test DNS server.
        let (ok, failed) = tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let threads: Vec<_> = (0..conns)
                    .map(|_| scope.spawn(|| load.repeat(start, run)))
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("load thread"))
                    .fold((0u64, 0u64), |(ok, failed), (o, f)| (ok + o, failed + f))
            })
        });
        let elapsed = start.elapsed().as_secs_f64();
        let server_cpu = cpu_time(&pid.to_string()) - server_before;
        let client_cpu = cpu_time("self") - client_before;
        // Refusals (503 over SCAISEND_INTERNAL_CONCURRENCY, which the bench leaves at its
        // default) are not counted as served; how many there were is reported.
        if failed > 0 {
            eprintln!("{}: {failed} requests refused or failed", load.what);
        }
        let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / ok.max(1) as f64;
        Measured {
            rate: ok as f64 / elapsed,
            server_cpu_us: per_request(server_cpu),
            client_cpu_us: per_request(client_cpu),
            stolen: clock.stolen(),
        }
    }
}

/// A rate and the CPU time each request cost.
#[derive(Clone, Copy, Debug, Default)]
struct Measured {
    /// Successful requests per second.
    rate: f64,
    /// The server's CPU time per successful request, µs.
    server_cpu_us: f64,
    /// The bench process's (the load generator's) CPU time per successful request, µs.
    client_cpu_us: f64,
    /// The share of the machine's CPU time stolen by the hypervisor during the run.
    stolen: f64,
}

impl Measured {
    fn add(&mut self, other: &Measured) {
        self.rate += other.rate;
        self.server_cpu_us += other.server_cpu_us;
        self.client_cpu_us += other.client_cpu_us;
        self.stolen += other.stolen;
    }

    /// A run of requests that carried `messages` messages each, per message.
    fn per_message(&self, messages: usize) -> Measured {
        let n = messages as f64;
        Measured {
            rate: self.rate * n,
            server_cpu_us: self.server_cpu_us / n,
            client_cpu_us: self.client_cpu_us / n,
            stolen: self.stolen,
        }
    }

    fn halved(&self) -> Measured {
        self.scaled(0.5)
    }

    /// Every field times `factor`: a sum of runs into their mean.
    fn scaled(&self, factor: f64) -> Measured {
        Measured {
            rate: self.rate * factor,
            server_cpu_us: self.server_cpu_us * factor,
            client_cpu_us: self.client_cpu_us * factor,
            stolen: self.stolen * factor,
        }
    }
}

/// One kind of request to repeat: its bytes on the wire, prepared once.
struct Load {
    what: String,
    addr: SocketAddr,
    request: Vec<u8>,
}

impl Load {
    /// `line` is the method and the target (`POST /path?query`); `body` its content type
    /// and bytes.
    fn new(
        addr: SocketAddr,
        line: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Load {
        let mut request = format!("{line} HTTP/1.1\r\nHost: {addr}\r\n");
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let mut request = request.into_bytes();
        match body {
            Some((content_type, bytes)) => {
                request.extend_from_slice(
                    format!(
                        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                        bytes.len()
                    )
                    .as_bytes(),
                );
                request.extend_from_slice(&bytes);
            }
            None => request.extend_from_slice(b"\r\n"),
        }
        Load {
            what: line.to_owned(),
            addr,
            request,
        }
    }

    /// Sends the request over one connection until `run` has passed since `start`:
    /// (answered 2xx, anything else). A connection that fails is opened again.
    fn repeat(&self, start: Instant, run: Duration) -> (u64, u64) {
        let (mut ok, mut failed) = (0, 0);
        let mut connection = None;
        while start.elapsed() < run {
            if connection.is_none() {
                connection = Connection::open(self.addr).ok();
            }
            let answer = match connection.as_mut() {
                Some(c) => c.exchange(&self.request),
                None => Err(std::io::ErrorKind::ConnectionRefused.into()),
            };
            match answer {
                Ok(status) if (200..300).contains(&status) => ok += 1,
                Ok(_) => failed += 1,
                Err(_) => {
                    failed += 1;
                    connection = None;
                }
            }
        }
        (ok, failed)
    }
}

/// A keep-alive HTTP/1.1 connection that sends one request at a time and reads answers
/// with a `Content-Length` (what the server sends).
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Writes `request` and reads the whole answer: its status.
    fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use std::io::{Error, ErrorKind};
        self.stream.write_all(request)?;
        let mut filled = 0;
        let head_end = loop {
            if let Some(i) = self.buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if filled == self.buf.len() {
                return Err(Error::new(ErrorKind::InvalidData, "answer head too long"));
            }
            match self.stream.read(&mut self.buf[filled..])? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no status"))?;
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no Content-Length"))?;
        let mut remaining = length.saturating_sub(filled - head_end);
        while remaining > 0 {
            let chunk = remaining.min(self.buf.len());
            match self.stream.read(&mut self.buf[..chunk])? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                n => remaining -= n,
            }
        }
        Ok(status)
    }
}

/// User + system CPU time of every thread of a process (`self` or a pid).
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15, in clock ticks of 1/100 s on Linux.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

fn row(what: &str, value: &Measured, reference: &Measured, goal: &str) {
    let ratio = format!("{:.2}×", value.rate / reference.rate);
    row_with_ratio(what, value, reference, &ratio, goal);
}

/// A table row whose ratio column is written by the caller.
fn row_with_ratio(what: &str, value: &Measured, reference: &Measured, ratio: &str, goal: &str) {
    let cpu = |m: &Measured| {
        if m.server_cpu_us > 0.0 {
            format!("{:.0} µs", m.server_cpu_us)
        } else {
            "—".to_owned()
        }
    };
    println!(
        "| {what} | {:.0} | {:.0} | {ratio} | {goal} | {}; {} | {:.0} %; {:.0} % |",
        value.rate,
        reference.rate,
        cpu(value),
        cpu(reference),
        value.stolen * 100.0,
        reference.stolen * 100.0
    );
}

/// The machine's CPU clock at one moment (`/proc/stat`'s `cpu` line, in ticks): all of
/// it, and what the hypervisor gave to other guests ("steal").
#[derive(Clone, Copy, Debug, Default)]
struct HostClock {
    total: u64,
    steal: u64,
}

impl HostClock {
    /// Now; all zero where `/proc/stat` cannot be read.
    fn read() -> HostClock {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // `cpu  user nice system idle iowait irq softirq steal guest guest_nice`; guest
        // time is already counted in user.
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|t| t.parse().ok())
            .collect();
        HostClock {
            total: ticks.iter().sum(),
            steal: ticks.get(7).copied().unwrap_or(0),
        }
    }

    /// The share of the machine's CPU time stolen since `self`.
    fn stolen(&self) -> f64 {
        let now = HostClock::read();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        now.steal.saturating_sub(self.steal) as f64 / total as f64
    }
}

/// One [`openssl_signs`] run with the CPU time stolen meanwhile, or `None` without
/// openssl.
fn openssl_run(cores: usize) -> Option<Measured> {
    let clock = HostClock::read();
    let rate = openssl_signs(cores)?;
    Some(Measured {
        rate,
        stolen: clock.stolen(),
        ..Measured::default()
    })
}

/// `openssl speed -seconds 2 -multi <cores> rsa2048`: RSA-2048 signs per second, all
/// cores (two seconds of signing, then two of verifying).
fn openssl_signs(cores: usize) -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed",
            "-seconds",
            "2",
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
