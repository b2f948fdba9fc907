//! Our DKIM zone as an operator runs it: inside `serve` with `SCAISEND_DNS_LISTEN`, and
//! alone with `scaisend-domains dns` on the same store, which needs no secret.

use std::process::{Command, Stdio};
use std::time::Duration;

use domain_core::ports::DnsResult;
use scaisend_domains::config::DnsArgs;

use super::{BIN, Server, free_port, run};

/// What the zone server at `addr` answers for TXT at `name`, asked with the production
/// DNS adapter; `None` for an answer without records.
fn txt_at(addr: &str, name: &str) -> Option<String> {
    let dns = scaisend_domains::dns_lookup(&DnsArgs {
        dns_servers: Some(addr.to_owned()),
        dns_timeout_ms: 1000,
        dns_attempts: 1,
        dns_authoritative_first: false,
        dns_allow_private: false,
        dns_max_inflight: 8,
    })
    .expect("DNS configures");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(dns.txt(name)).result {
        DnsResult::Records(records) => Some(records[0].joined()),
        _ => None,
    }
}

/// Asks until the answer is there (the zone is read every 200 ms here).
fn eventually_txt(addr: &str, name: &str) -> String {
    for _ in 0..50 {
        if let Some(text) = txt_at(addr, name) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{addr} never served {name}");
}

#[test]
fn serve_and_dns_answer_for_cname_domains_from_one_store() {
    let zone_port = free_port();
    let zone_addr = format!("127.0.0.1:{zone_port}");
    let server = Server::start(
        None,
        &[
            ("SCAISEND_DNS_LISTEN", &zone_addr),
            ("SCAISEND_DKIM_ZONE_REFRESH", "200ms"),
        ],
    );
    let admin = server.admin();
    let created = server.create_with(
        &admin,
        &serde_json::json!({"domain": "mail.example.com", "dkim_mode": "cname"}),
    );
    let slot = created["dns_records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["type"] == "CNAME")
        .expect("a CNAME slot")["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = eventually_txt(&zone_addr, &slot);
    assert!(key.starts_with("v=DKIM1;"), "{key}");

    // `dns` alone, on the same SQLite file, with no secret in its environment.
    let dns_port = free_port();
    let dns_addr = format!("127.0.0.1:{dns_port}");
    let metrics_port = free_port();
    let mut dns = Command::new(BIN)
        .arg("dns")
        .current_dir(server.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCAISEND_DNS_LISTEN", &dns_addr)
        .env(
            "SCAISEND_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("SCAISEND_DATA_DIR", "no-secrets-here")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dns starts");
    let answer = eventually_txt(&dns_addr, &slot);
    assert_eq!(answer, key, "both serve the same key");
    assert_eq!(txt_at(&dns_addr, "nothing.dkim.scaisend.scailabs.ai"), None);
    assert!(
        !server.path().join("no-secrets-here").exists(),
        "`dns` generated no secret"
    );
    let metrics = run(
        "curl",
        &["-s", &format!("http://127.0.0.1:{metrics_port}/metrics")],
        "",
        server.path(),
    );
    assert!(
        metrics.contains("scaisend_zone_queries_total{rcode=\"NOERROR\"}")
            && metrics.contains("scaisend_zone_queries_total{rcode=\"NXDOMAIN\"}"),
        "{metrics}"
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &dns.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    for _ in 0..100 {
        if let Some(status) = dns.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = dns.kill();
    panic!("`dns` still runs 5 s after SIGTERM");
}
