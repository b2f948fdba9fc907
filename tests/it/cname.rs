//! DKIM by CNAME, end to end: the tenant's zone holds two CNAMEs (plus SPF and DMARC)
//! once, our zone server serves the keys behind them, and rotation needs no DNS edit.
//! Mail is verified by mail-auth through the test DNS server, which follows the CNAME
//! into the running zone server over UDP as a resolver on the internet would.

use std::time::Duration as StdDuration;

use domain_core::ports::DnsResult;
use serde_json::{Value, json};
use time::Duration;

use crate::both_stores;
use crate::support::{StoreKind, TestApp, dns_client, domain_path, serve_zone, strings};

const MESSAGE: &str = "From: Alerts <alerts@mail.example.com>\r\nTo: user@example.org\r\nSubject: Your code\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@mail.example.com>\r\n\r\nYour code is 123456.\r\n";

/// The rows a tenant publishes, as (type, host, value).
fn to_publish(domain: &Value) -> Vec<(String, String, String)> {
    domain["dns_records"]
        .as_array()
        .expect("dns_records")
        .iter()
        .filter(|r| r["action"] == "publish")
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["host"].as_str().unwrap().to_owned(),
                r["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Signs [`MESSAGE`] through the internal endpoint: the signed message and the selectors
/// of its signatures, joined with spaces.
async fn sign(app: &TestApp) -> (Vec<u8>, String) {
    let body = app.sign(MESSAGE).await;
    (
        body["signed_message"].as_str().unwrap().as_bytes().to_vec(),
        strings(&body["signatures"], "selector").join(" "),
    )
}

/// Whether mail-auth, resolving through the test DNS server, passes every signature.
async fn verifies(app: &TestApp, signed: &[u8]) -> bool {
    // A new resolver each time: nothing cached from an earlier answer.
    let verifier = dkim_interop::authenticator_for_server(app.dns.addr());
    let verdicts = dkim_interop::verify(&verifier, None, signed)
        .await
        .expect("mail-auth parses it");
    !verdicts.is_empty() && verdicts.iter().all(dkim_interop::Verdict::is_pass)
}

/// The TXT record `zone` (a zone server's address) serves at `name`, asked with the
/// production DNS adapter; `None` when it serves none.
async fn served(zone: std::net::SocketAddr, name: &str) -> Option<String> {
    match dns_client(zone).txt(name).await.result {
        DnsResult::Records(records) => Some(records[0].joined()),
        _ => None,
    }
}

/// Waits until what `zone` serves at `name` is `accepted` (the zone is read every
/// 100 ms), and returns it; fails after ten seconds.
async fn until(
    zone: std::net::SocketAddr,
    name: &str,
    accepted: impl Fn(Option<&str>) -> bool,
) -> Option<String> {
    for _ in 0..100 {
        let now = served(zone, name).await;
        if accepted(now.as_deref()) {
            return now;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!(
        "{zone} still serves {:?} at {name}",
        served(zone, name).await
    );
}

async fn a_cname_domain_verifies_signs_and_rotates_with_no_dns_edit(kind: StoreKind) {
    cname_walk(kind, &["rsa-sha256"]).await;
}

async fn a_dual_algorithm_cname_domain_rotates_both_keys_with_no_dns_edit(kind: StoreKind) {
    cname_walk(kind, &["rsa-sha256", "ed25519-sha256"]).await;
}

/// The selectors of the `n`-th slot (1 or 2) of each algorithm, joined with spaces.
fn slot_selectors(algorithms: &[&str], n: u32) -> String {
    let number = if n == 1 { String::new() } else { n.to_string() };
    algorithms
        .iter()
        .map(|a| match *a {
            "ed25519-sha256" => format!("scaisend{number}-ed25519"),
            _ => format!("scaisend{number}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Create, verify with two CNAMEs per algorithm plus SPF and DMARC, sign, rotate with the
/// monitor and no DNS edit, retire: for a domain signing with `algorithms`.
async fn cname_walk(kind: StoreKind, algorithms: &[&str]) {
    let (app, clock) = TestApp::spawn_on_manual_clock(kind).await;
    let zone = app.serve_zone().await;
    let admin = app.admin();
    let created = app
        .create_domain(
            &admin,
            json!({"domain": "mail.example.com", "dmarc_policy": "quarantine",
                   "dkim_mode": "cname", "dkim_algorithms": algorithms}),
        )
        .await;
    assert_eq!(created["dkim_mode"], "cname");
    assert_eq!(created["dkim_algorithms"], json!(algorithms));
    let id = created["id"].as_str().unwrap().to_owned();

    // Two CNAMEs per algorithm into our zone, SPF and DMARC: all the tenant ever
    // publishes.
    let rows = to_publish(&created);
    let cnames: Vec<_> = rows.iter().filter(|r| r.0 == "CNAME").collect();
    assert_eq!(rows.len(), 2 + 2 * algorithms.len(), "{rows:?}");
    let (first_selectors, second_selectors) =
        (slot_selectors(algorithms, 1), slot_selectors(algorithms, 2));
    let mut slots: Vec<&str> = first_selectors.split(' ').collect();
    slots.extend(second_selectors.split(' '));
    let target_of = |selector: &str| {
        let host = format!("{selector}._domainkey.mail.example.com");
        cnames
            .iter()
            .find(|r| r.1 == host)
            .unwrap_or_else(|| panic!("no CNAME at {host}: {rows:?}"))
            .2
            .clone()
    };
    assert_eq!(cnames.len(), slots.len(), "{rows:?}");
    for slot in &slots {
        let target = target_of(slot);
        let label = target
            .strip_prefix(&format!("{slot}."))
            .and_then(|t| t.strip_suffix(".dkim.scaisend.scailabs.ai"))
            .unwrap_or_else(|| panic!("{target} is not in our zone"));
        assert!(
            !label.contains('.') && !label.contains("example") && !label.contains("t1"),
            "the label says nothing about the tenant: {label}"
        );
    }
    let first_slots: Vec<String> = first_selectors.split(' ').map(target_of).collect();
    let second_slots: Vec<String> = second_selectors.split(' ').map(target_of).collect();

    let report = app.publish_and_verify(&id, &created["dns_records"]).await;
    assert_eq!(report["dkim_verified"], true, "{report}");

    // Our zone serves the key behind the first slot; mail signed with it verifies by
    // following the tenant's CNAME into the zone server.
    for (first, second) in first_slots.iter().zip(&second_slots) {
        until(zone.local_addr(), first, |r| r.is_some()).await;
        assert_eq!(served(zone.local_addr(), second).await, None);
    }
    let (signed_before, selectors) = sign(&app).await;
    assert_eq!(selectors, first_selectors);
    assert!(verifies(&app, &signed_before).await);

    // Rotate: the new key goes into the standby slot and is served at once ...
    let (status, rotation) = app.rotate_dkim(&id, &admin).await;
    assert!(status == 200 || status == 202, "{status} {rotation}");
    let (_, domain) = app.get_domain(&id, &admin).await;
    assert_eq!(
        to_publish(&domain),
        rows,
        "the tenant's records never change"
    );
    for second in &second_slots {
        let new_key = until(zone.local_addr(), second, |r| r.is_some())
            .await
            .expect("the standby slot serves the new key");
        assert!(new_key.starts_with("v=DKIM1;"), "{new_key}");
    }
    // ... but signs only after the propagation time, once the monitor has confirmed that
    // the CNAMEs still point at us. Nobody touches the tenant's DNS.
    assert_eq!(sign(&app).await.1, first_selectors);
    clock.advance(Duration::minutes(11));
    app.service
        .monitor_round("instance-a", 50, Duration::minutes(5))
        .await
        .expect("a monitor round");
    let (signed_after, selectors) = sign(&app).await;
    assert_eq!(selectors, second_selectors, "the new keys sign");
    assert!(verifies(&app, &signed_after).await);
    assert!(
        verifies(&app, &signed_before).await,
        "mail signed before the rotation still verifies while the old key retires"
    );
    let (_, domain) = app.get_domain(&id, &admin).await;
    assert_eq!(
        to_publish(&domain),
        rows,
        "the tenant's records never change"
    );
    assert_eq!(domain["verified"], true);

    // After the retirement time the old private key is destroyed and its slot serves a
    // revoked record (empty p=) until the next rotation takes it again.
    clock.advance(Duration::days(8));
    app.service
        .monitor_round("instance-a", 50, Duration::minutes(5))
        .await
        .expect("a monitor round");
    for first in &first_slots {
        until(zone.local_addr(), first, |r| {
            r.is_some_and(|r| r.trim_end().ends_with("p="))
        })
        .await;
    }
    assert!(
        !verifies(&app, &signed_before).await,
        "a revoked key verifies nothing"
    );
    assert!(verifies(&app, &signed_after).await);
    let events = app.event_types(&domain_path(&id), &admin).await;
    for step in ["rotation_started", "selector_promoted", "selector_removed"] {
        assert!(events.iter().any(|e| e == step), "{step} in {events:?}");
    }
}

both_stores!(
    a_cname_domain_verifies_signs_and_rotates_with_no_dns_edit,
    a_dual_algorithm_cname_domain_rotates_both_keys_with_no_dns_edit
);

/// Two instances on one PostgreSQL serve a rotation's new key within a refresh of each
/// other, and a zone whose store goes away keeps serving what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_postgres_serve_the_same_zone_and_survive_an_outage() {
    let app = TestApp::spawn_behind_proxy().await;
    let first = app.serve_zone().await;
    // The second instance: its own store connection to the same database, directly.
    let url = app.database_url().expect("a Postgres app");
    let store = scaisend_domains::open_store(&url).await.expect("opens");
    let second = serve_zone(domain_core::ZoneSource::new(
        store.repo,
        domain_core::ServiceConfig::default().zone,
        domain_core::ServiceConfig::default().selector_base,
    ))
    .await;
    let admin = app.admin();
    let created = app
        .create_domain(
            &admin,
            json!({"domain": "mail.example.com", "dkim_mode": "cname"}),
        )
        .await;
    let standby = to_publish(&created)
        .into_iter()
        .filter(|r| r.0 == "CNAME")
        .nth(1)
        .expect("a standby slot")
        .2;
    let id = created["id"].as_str().unwrap();
    let (status, body) = app.rotate_dkim(id, &admin).await;
    assert!(status == 200 || status == 202, "{status} {body}");
    let started = std::time::Instant::now();
    let key = until(first.local_addr(), &standby, |r| r.is_some())
        .await
        .expect("the first instance serves the new key");
    until(second.local_addr(), &standby, |r| r == Some(key.as_str())).await;
    println!(
        "both instances served the new key {} ms after the rotation",
        started.elapsed().as_millis()
    );

    // The app's store goes away: its zone keeps answering from its last snapshot.
    app.proxy.as_ref().expect("behind a proxy").cut();
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(served(first.local_addr(), &standby).await, Some(key));
}
