//! The `scaisend-domains` binary as an operator and a tenant admin meet it: started with
//! no configuration, driven by the product page's curl, Python and TypeScript examples as
//! written (only the base URL and the id replaced), its `token`, `check` and `migrate`
//! commands, and a graceful shutdown.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_dns::{Failure, Record, TestDns};

mod openapi;
mod webhooks;
mod zone;

const BIN: &str = env!("CARGO_BIN_EXE_scaisend-domains");
const SEED_BASE: &str = "https://scaisend.scailabs.ai";

/// A running `scaisend-domains serve` in a scratch directory.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` in `dir` on `port` with `env` besides the defaults; its stderr is
/// collected in the returned buffer.
fn spawn_serve(
    dir: &Path,
    port: u16,
    env: &[(String, String)],
) -> (Child, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCAISEND_LISTEN", format!("127.0.0.1:{port}"))
        .env("SCAISEND_MONITOR", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = stderr.clone();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&line);
            sink.lock().unwrap().push('\n');
        }
    });
    (child, stderr)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the binary with only a listen address, the loopback DNS and the given
    /// extra environment: everything else is the zero-configuration default.
    fn start(dns: Option<&TestDns>, extra: &[(&str, &str)]) -> Server {
        let mut env: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(dns) = dns {
            env.push(("SCAISEND_DNS_SERVERS".to_owned(), dns.addr().to_string()));
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (child, stderr) = spawn_serve(dir.path(), port, &env);
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            stderr,
        };
        server.wait_until_up();
        server
    }

    /// Kills the process with SIGKILL — no shutdown at all, as a crash — and starts it
    /// again in the same directory, on the same port, with `env`.
    fn crash_and_restart(&mut self, env: &[(String, String)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port: u16 = self.base.rsplit(':').next().unwrap().parse().unwrap();
        (self.child, self.stderr) = spawn_serve(self.dir.path(), port, env);
        self.wait_until_up();
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(out) = Command::new("curl")
                .args(["-sf", &format!("{}/healthz", self.base)])
                .output()
                && out.status.success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the server did not come up:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `scaisend-domains token …` in the server's directory (so it uses the same
    /// development secret).
    fn token(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("token")
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Sends SIGTERM, as an orchestrator stopping the service does.
    fn terminate(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits for the process to exit, failing if it still runs after `limit`.
    fn wait_for_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after SIGTERM:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `tenant_admin` token of tenant t1 under partner p1.
    fn admin(&self) -> String {
        self.token(&[
            "--role",
            "tenant_admin",
            "--tenant",
            "t1",
            "--partner",
            "p1",
        ])
    }

    /// Creates `domain` with curl as `admin`; its id.
    fn create(&self, admin: &str, domain: &str) -> String {
        self.create_with(admin, &serde_json::json!({ "domain": domain }))["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id for {domain}"))
            .to_owned()
    }

    /// Creates a domain from `body` with curl as `admin`; the answer.
    fn create_with(&self, admin: &str, body: &Value) -> Value {
        let created = run(
            "curl",
            &[
                "-s",
                "-X",
                "POST",
                &format!("{}/api/admin/domains", self.base),
                "-H",
                &format!("Authorization: Bearer {admin}"),
                "-H",
                "Content-Type: application/json",
                "-d",
                &body.to_string(),
            ],
            admin,
            self.path(),
        );
        serde_json::from_str(&created).unwrap_or_else(|_| panic!("not JSON: {created}"))
    }
}

/// Runs a shell snippet with `SCAISEND_JWT` set, returning stdout.
fn run(program: &str, args: &[&str], jwt: &str, cwd: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("SCAISEND_JWT", jwt)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// The product page's examples, verbatim.
const CURL_CREATE: &str = r#"curl -X POST https://scaisend.scailabs.ai/api/admin/domains \
  -H "Authorization: Bearer $SCAISEND_JWT" \
  -H "Content-Type: application/json" \
  -d '{
    "domain": "mail.example.com",
    "dmarc_policy": "quarantine",
    "dmarc_rua_email": "dmarc-reports@example.com"
  }'"#;
const CURL_RECORDS: &str = r#"curl https://scaisend.scailabs.ai/api/admin/domains/dom_01HXYZ/dns-records \
  -H "Authorization: Bearer $SCAISEND_JWT""#;
const CURL_VERIFY: &str = r#"curl -X POST https://scaisend.scailabs.ai/api/admin/domains/dom_01HXYZ/verify \
  -H "Authorization: Bearer $SCAISEND_JWT""#;
const CURL_ROTATE: &str = r#"curl -X POST https://scaisend.scailabs.ai/api/admin/domains/dom_01HXYZ/rotate-dkim \
  -H "Authorization: Bearer $SCAISEND_JWT""#;
const CURL_SHARED: &str = r#"curl -X POST https://scaisend.scailabs.ai/api/admin/domains \
  -H "Authorization: Bearer $SCAISEND_JWT" \
  -H "Content-Type: application/json" \
  -d '{"domain": "noreply.platform.example", "is_shared": true}'"#;
const CURL_DEACTIVATE: &str = r#"curl -X PATCH https://scaisend.scailabs.ai/api/admin/domains/dom_01HXYZ \
  -H "Authorization: Bearer $SCAISEND_JWT" \
  -H "Content-Type: application/json" \
  -d '{"is_active": false}'"#;
const PYTHON_CREATE: &str = r#"import os
import httpx

resp = httpx.post(
    "https://scaisend.scailabs.ai/api/admin/domains",
    headers={"Authorization": f"Bearer {os.environ['SCAISEND_JWT']}"},
    json={
        "domain": "mail.example.com",
        "dmarc_policy": "quarantine",
        "dmarc_rua_email": "dmarc-reports@example.com",
    },
)
domain = resp.json()
print(domain["dns_records"])"#;
const PYTHON_ROTATE: &str = r#"import os, httpx

resp = httpx.post(
    f"https://scaisend.scailabs.ai/api/admin/domains/{domain_id}/rotate-dkim",
    headers={"Authorization": f"Bearer {os.environ['SCAISEND_JWT']}"},
)
print(resp.json()["new_selector"])"#;
const TYPESCRIPT_CREATE: &str = r#"const resp = await fetch("https://scaisend.scailabs.ai/api/admin/domains", {
  method: "POST",
  headers: {
    "Authorization": `Bearer ${process.env.SCAISEND_JWT}`,
    "Content-Type": "application/json",
  },
  body: JSON.stringify({
    domain: "mail.example.com",
    dmarc_policy: "quarantine",
    dmarc_rua_email: "dmarc-reports@example.com",
  }),
});
const domain = await resp.json();
console.log(domain.dns_records);"#;

fn curl(server: &Server, jwt: &str, snippet: &str, id: &str) -> Value {
    let script = snippet
        .replace(SEED_BASE, &server.base)
        .replace("dom_01HXYZ", id);
    let out = run("bash", &["-c", &format!("{script} -s")], jwt, server.path());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Publishes a domain's `dns_records` in the loopback DNS as their character-strings.
fn publish(dns: &TestDns, records: &Value) {
    for r in records.as_array().unwrap() {
        if r["action"] != "publish" {
            continue;
        }
        let value = r["value"].as_str().unwrap();
        dns.replace(
            r["host"].as_str().unwrap(),
            test_dns::RecordKind::Txt,
            vec![Record::txt(value)],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_pages_examples_work_verbatim_against_the_binary() {
    let dns = TestDns::start().await.unwrap();
    dns.publish(
        "scaisend.scailabs.ai",
        Record::txt("v=spf1 ip4:192.0.2.0/24 -all"),
    )
    .unwrap();
    let server = Server::start(Some(&dns), &[]);
    let admin = server.admin();

    // Zero configuration: SQLite file and development secrets (0600) in place, and said.
    assert!(server.path().join("scaisend.db").exists());
    for secret in ["jwt-secret", "service-jwt-secret", "master-key"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(server.path().join(".scaisend").join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    assert!(
        server
            .stderr
            .lock()
            .unwrap()
            .contains("WARNING: generated a development")
    );

    let created = curl(&server, &admin, CURL_CREATE, "");
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["dkim_selector"], "scaisend");
    let records = curl(&server, &admin, CURL_RECORDS, &id);
    assert_eq!(records["dns_records"], created["dns_records"]);

    publish(&dns, &records["dns_records"]);
    let report = curl(&server, &admin, CURL_VERIFY, &id);
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]));

    let rotation = curl(&server, &admin, CURL_ROTATE, &id);
    assert_eq!(rotation["new_selector"], "scaisend2");
    let deactivated = curl(&server, &admin, CURL_DEACTIVATE, &id);
    assert_eq!(deactivated["is_active"], false);

    let operator = server.token(&["--role", "partner_operator", "--partner", "p1"]);
    let shared = curl(&server, &operator, CURL_SHARED, "");
    assert_eq!(shared["is_shared"], true);

    // The sending pipeline's token, signed with the development service key, is taken
    // by the internal endpoints on the one listener.
    let service = server.token(&["--role", "service"]);
    let decision = internal_decision(&server.base, &service);
    assert_eq!(decision.0, 200, "{}", decision.1);

    // The Python example (httpx), as written, for another tenant.
    let t2 = server.token(&[
        "--role",
        "tenant_admin",
        "--tenant",
        "t2",
        "--partner",
        "p1",
    ]);
    let python = PYTHON_CREATE.replace(SEED_BASE, &server.base);
    let out = run("python3", &["-c", &python], &t2, server.path());
    assert!(
        out.contains("scaisend._domainkey.mail.example.com"),
        "{out}"
    );
    let t2_domains = run(
        "curl",
        &[
            "-s",
            &format!("{}/api/admin/domains?is_shared=false", server.base),
            "-H",
            &format!("Authorization: Bearer {t2}"),
        ],
        &t2,
        server.path(),
    );
    let t2_id = serde_json::from_str::<Value>(&t2_domains).unwrap()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The rotation example expects `domain_id` from the reader's own code.
    let python = format!(
        "domain_id = {t2_id:?}\n{}",
        PYTHON_ROTATE.replace(SEED_BASE, &server.base)
    );
    let out = run("python3", &["-c", &python], &t2, server.path());
    assert_eq!(out.trim(), "scaisend2");

    // The TypeScript example, run by Node as a module, for a third tenant.
    let t3 = server.token(&[
        "--role",
        "tenant_admin",
        "--tenant",
        "t3",
        "--partner",
        "p1",
    ]);
    let script = server.path().join("create.mjs");
    std::fs::write(&script, TYPESCRIPT_CREATE.replace(SEED_BASE, &server.base)).unwrap();
    let out = run("node", &[script.to_str().unwrap()], &t3, server.path());
    assert!(
        out.contains("scaisend._domainkey.mail.example.com"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_every_verdict_with_the_fix() {
    let dns = TestDns::start().await.unwrap();
    dns.publish(
        "scaisend.scailabs.ai",
        Record::txt("v=spf1 ip4:192.0.2.0/24 -all"),
    )
    .unwrap();
    dns.publish(
        "example.test",
        Record::txt("v=spf1 include:_spf.google.com -all"),
    )
    .unwrap();
    dns.publish(
        "_spf.google.com",
        Record::txt("v=spf1 ip4:172.217.0.0/19 ~all"),
    )
    .unwrap();
    dns.publish("_dmarc.example.test", Record::txt("v=DMARC1; p=none"))
        .unwrap();
    let check = |args: &[&str]| {
        Command::new(BIN)
            .arg("check")
            .args(args)
            .env_clear()
            .env("SCAISEND_DNS_SERVERS", dns.addr().to_string())
            .output()
            .unwrap()
    };
    let out = check(&["example.test"]);
    assert_eq!(out.status.code(), Some(1), "not all checks pass");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAIL DKIM scaisend._domainkey.example.test (dkim_missing)"),
        "{text}"
    );
    assert!(
        text.contains("expected: v=spf1 include:_spf.google.com include:scaisend.scailabs.ai -all"),
        "{text}"
    );
    assert!(
        text.contains("ok   DMARC _dmarc.example.test (dmarc_ok)"),
        "{text}"
    );

    let out = check(&["example.test", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verified"], false);
    assert_eq!(json["checks"][1]["code"], "spf_include_not_reached");

    // A DNS outage is reported as such, never as missing.
    dns.fail("_dmarc.example.test", Failure::ServFail).unwrap();
    let out = check(&["example.test", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["checks"][2]["status"], "temporary_failure");

    let out = check(&["not a domain"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("a space"));

    // `--return-path` checks the return-path host too: a CNAME there fails it.
    dns.publish(
        "bounces.example.test",
        Record::Cname("rp.example.net".into()),
    )
    .unwrap();
    let out = check(&["example.test", "--return-path", "bounces", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["return_path_verified"], false);
    assert_eq!(json["checks"][3]["record"], "return_path");
    assert_eq!(json["checks"][3]["code"], "return_path_cname");
    let out = check(&["example.test", "--return-path", "_dmarc"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--return-path"));
}

/// `POST /api/internal/sender-authorization` with curl: the status and the body.
fn internal_decision(base: &str, token: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            &format!("{base}/api/internal/sender-authorization"),
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"tenant_id": "t1", "partner_id": "p1", "from": "a@mail.example.com", "key_mode": "live"}"#,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

#[test]
fn production_refuses_to_start_without_real_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve"])
        .current_dir(dir.path())
        .env_clear()
        .env("SCAISEND_PRODUCTION", "true")
        .env("SCAISEND_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SCAISEND_JWT_SECRET"), "{stderr}");
    assert!(
        !dir.path().join(".scaisend").exists(),
        "no development secret was written"
    );
}

#[test]
fn migrate_applies_and_token_refuses_incomplete_claims() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = Command::new(BIN)
        .args([
            "migrate",
            "--database-url",
            &format!("sqlite://{}", db.display()),
        ])
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
    let out = Command::new(BIN)
        .args(["token", "--role", "tenant_admin", "--partner", "p1"])
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let dns = TestDns::start().await.unwrap();
    // The DMARC lookup never answers, so a verify takes the DNS timeout (2 × 1.5 s).
    dns.fail("_dmarc.slow.example.com", Failure::Timeout)
        .unwrap();
    let server = Server::start(
        Some(&dns),
        &[
            ("SCAISEND_DNS_TIMEOUT_MS", "1500"),
            ("SCAISEND_DNS_ATTEMPTS", "2"),
        ],
    );
    let admin = server.admin();
    let id = server.create(&admin, "slow.example.com");
    let verify = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/stdout",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            &format!("{}/api/admin/domains/{id}/verify", server.base),
            "-H",
            &format!("Authorization: Bearer {admin}"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    server.terminate();
    let out = verify.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.trim_end().ends_with("200"),
        "the in-flight verify finished: {text}"
    );
    let mut server = server;
    let status = server.wait_for_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}");
    assert!(server.stderr.lock().unwrap().contains("shutting down"));
}

/// Runs `serve` with exactly this environment and expects it to refuse to start.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").current_dir(dir.path()).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that does start would serve forever: give it a bounded time to refuse.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("it started and kept running: {env:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "it started: {env:?}");
    assert!(
        !dir.path().join(".scaisend").exists(),
        "no development secret was written: {env:?}"
    );
    stderr
}

#[test]
fn production_looking_settings_without_every_secret_refuse_to_start() {
    const EVERY: [&str; 5] = [
        "SCAISEND_JWT_SECRET",
        "SCAISEND_JWT_PUBLIC_KEY",
        "SCAISEND_SERVICE_JWT_SECRET",
        "SCAISEND_SERVICE_JWT_PUBLIC_KEY",
        "SCAISEND_MASTER_KEY",
    ];
    let loopback = format!("127.0.0.1:{}", free_port());
    // Listening on every interface, as in a container: each missing secret is named, in
    // one message.
    let stderr = refused_start(&[("SCAISEND_LISTEN", &format!("0.0.0.0:{}", free_port()))]);
    for name in EVERY {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    // A PostgreSQL URL; its password is not printed.
    let stderr = refused_start(&[
        ("SCAISEND_LISTEN", &loopback),
        (
            "SCAISEND_DATABASE_URL",
            "postgres://scaisend:hunter2-secret@127.0.0.1:1/db",
        ),
    ]);
    for name in EVERY {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    // The issue's case: a real JWT secret and a PostgreSQL URL, but no master key.
    let jwt = "j".repeat(40);
    let stderr = refused_start(&[
        ("SCAISEND_LISTEN", &loopback),
        ("SCAISEND_DATABASE_URL", "postgres://127.0.0.1:1/db"),
        ("SCAISEND_JWT_SECRET", &jwt),
    ]);
    assert!(
        stderr.contains("SCAISEND_MASTER_KEY") && stderr.contains("SCAISEND_SERVICE_JWT_SECRET"),
        "{stderr}"
    );
    assert!(!stderr.contains(&jwt), "{stderr}");
    // A non-loopback internal listener alone is enough.
    let stderr = refused_start(&[
        ("SCAISEND_LISTEN", &loopback),
        (
            "SCAISEND_INTERNAL_LISTEN",
            &format!("0.0.0.0:{}", free_port()),
        ),
    ]);
    assert!(stderr.contains("SCAISEND_INTERNAL_LISTEN"), "{stderr}");
    assert!(stderr.contains("SCAISEND_MASTER_KEY"), "{stderr}");
}

#[test]
fn the_internal_endpoints_can_have_a_listener_of_their_own() {
    let internal_port = free_port();
    let server = Server::start(
        None,
        &[(
            "SCAISEND_INTERNAL_LISTEN",
            &format!("127.0.0.1:{internal_port}"),
        )],
    );
    let internal = format!("http://127.0.0.1:{internal_port}");
    let service = server.token(&["--role", "service"]);
    // Served on the internal listener…
    let (status, body) = internal_decision(&internal, &service);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("accept_then_fail"), "{body}");
    // …and not on the public one, where the path does not exist.
    let (status, body) = internal_decision(&server.base, &service);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"status\":404"), "{body}");
    // The admin API stays on the public listener only.
    let admin = server.admin();
    let status_of = |base: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{base}/api/admin/domains"),
                "-H",
                &format!("Authorization: Bearer {admin}"),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(status_of(&server.base), "200");
    assert_eq!(status_of(&internal), "404");
    // An admin token is no credential for the internal endpoints.
    let (status, _) = internal_decision(&internal, &admin);
    assert_eq!(status, 403);
}

/// Reads from `stream` until the server closes it; fails if it is still open after
/// `limit`. Returns what was read.
fn read_until_closed(stream: &mut std::net::TcpStream, limit: Duration) -> Vec<u8> {
    use std::io::Read as _;
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the connection is still open after {limit:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return seen,
            Err(e) => panic!("the connection is still open after {limit:?} ({e})"),
        }
    }
}

#[test]
fn slow_and_idle_connections_are_cut_off() {
    use std::io::Write as _;
    let server = Server::start(None, &[("SCAISEND_HEADER_TIMEOUT", "1s")]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Headers that never end.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    read_until_closed(&mut slow, Duration::from_secs(10));
    // A keep-alive connection left idle after its request.
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answered = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answered)
    );
    // The server still serves.
    server.wait_until_up();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_client_and_a_busy_monitor_exits_within_the_grace() {
    use std::io::Write as _;
    let dns = TestDns::start().await.unwrap();
    // Every lookup of the domain's records hangs for the whole DNS deadline (20 s).
    for name in [
        "hang.example.com",
        "_dmarc.hang.example.com",
        "scaisend._domainkey.hang.example.com",
    ] {
        dns.fail(name, Failure::Timeout).unwrap();
    }
    let server = Server::start(
        Some(&dns),
        &[
            ("SCAISEND_MONITOR", "true"),
            ("SCAISEND_MONITOR_INTERVAL", "1s"),
            ("SCAISEND_DNS_TIMEOUT_MS", "20000"),
            ("SCAISEND_DNS_ATTEMPTS", "1"),
            ("SCAISEND_SHUTDOWN_GRACE", "2s"),
        ],
    );
    let admin = server.admin();
    server.create(&admin, "hang.example.com");
    // Make the domain due now, and wait until the monitor has claimed it: its check now
    // hangs on DNS.
    let db = server.path().join("scaisend.db");
    let sql = |statement: &str| {
        let args = ["-cmd", ".timeout 5000", db.to_str().unwrap(), statement];
        run("sqlite3", &args, &admin, server.path())
    };
    sql("UPDATE domains SET next_check_at = 0;");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sql("SELECT count(*) FROM domains WHERE lease_owner IS NOT NULL;").trim() != "1" {
        assert!(
            Instant::now() < deadline,
            "the monitor never claimed the domain"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A client whose request body never arrives.
    let mut hanging =
        std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    write!(
        hanging,
        "POST /api/admin/domains HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"domain\""
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    server.terminate();
    let mut server = server;
    // The grace (2 s) plus a margin for a loaded machine; without the bound the process
    // waits for the client and the monitor's 20-second lookups.
    let status = server.wait_for_exit(Duration::from_secs(12));
    assert!(status.success(), "{status}");
    let log = server.stderr.lock().unwrap().clone();
    assert!(log.contains("shutdown grace over"), "{log}");
    drop(hanging);
}
