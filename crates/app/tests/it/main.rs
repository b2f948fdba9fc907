//! The `scaisend-domains` binary as an operator and a tenant admin meet it: started with
//! no configuration, driven by the seed page's curl, Python and TypeScript examples as
//! written (only the base URL and the id replaced), its `token`, `check` and `migrate`
//! commands, and a graceful shutdown.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_dns::{Failure, Record, TestDns};

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
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCAISEND_LISTEN", format!("127.0.0.1:{port}"))
            .env("SCAISEND_MONITOR", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dns) = dns {
            cmd.env("SCAISEND_DNS_SERVERS", dns.addr().to_string());
        }
        for (k, v) in extra {
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
        let base = format!("http://127.0.0.1:{port}");
        let server = Server {
            child,
            base,
            dir,
            stderr,
        };
        server.wait_until_up();
        server
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

// The seed page's examples, verbatim.
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
async fn the_seed_pages_examples_work_verbatim_against_the_binary() {
    let dns = TestDns::start().await.unwrap();
    dns.publish(
        "scaisend.scailabs.ai",
        Record::txt("v=spf1 ip4:192.0.2.0/24 -all"),
    )
    .unwrap();
    let server = Server::start(Some(&dns), &[]);
    let admin = server.token(&[
        "--role",
        "tenant_admin",
        "--tenant",
        "t1",
        "--partner",
        "p1",
    ]);

    // Zero configuration: SQLite file and development secrets (0600) in place, and said.
    assert!(server.path().join("scaisend.db").exists());
    for secret in ["jwt-secret", "master-key"] {
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
    let admin = server.token(&[
        "--role",
        "tenant_admin",
        "--tenant",
        "t1",
        "--partner",
        "p1",
    ]);
    let created = run(
        "curl",
        &[
            "-s",
            "-X",
            "POST",
            &format!("{}/api/admin/domains", server.base),
            "-H",
            &format!("Authorization: Bearer {admin}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"domain": "slow.example.com"}"#,
        ],
        &admin,
        server.path(),
    );
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = verify.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.trim_end().ends_with("200"),
        "the in-flight verify finished: {text}"
    );
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.stderr.lock().unwrap().contains("shutting down"));
}
