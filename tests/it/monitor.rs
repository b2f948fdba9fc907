//! The background monitor with a controllable clock, over real parts: PostgreSQL, the
//! loopback DNS server, the production DNS adapter.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain_core::crypto::MasterKey;
use domain_core::ports::{Clock, DnsAnswer, DnsLookup, MxRecord, TxtRecordData};
use domain_core::service::NewDomain;
use domain_core::testing::{FixedKeys, ManualClock};
use domain_core::{Caller, DomainName, DomainService, Ports, Role, ServiceConfig};
use test_dns::{Failure, TestDns};
use time::{Duration, OffsetDateTime};

use crate::support::{StoreKind, TestApp, dns_client};

const LEASE: Duration = Duration::minutes(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_verifies_flags_and_unverifies_after_the_grace() {
    let (app, clock) = TestApp::spawn_on_manual_clock(StoreKind::Postgres).await;
    let admin = app.admin();
    let created = app.create_product_page_domain().await;
    let id = created["id"].as_str().unwrap().to_owned();
    let round = || async {
        app.service
            .monitor_round("instance-a", 50, LEASE)
            .await
            .unwrap()
    };
    let domain = || async { app.get_domain(&id, &admin).await.1 };
    let timeline = || async {
        let (_, events) = app
            .get(&format!("/api/admin/domains/{id}/events"), &admin)
            .await;
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // A pending domain is checked soon after it is added, and verified by the monitor once
    // its records appear — no explicit verify needed.
    assert_eq!(round().await.checked, 0, "not due the moment it is added");
    clock.advance(Duration::minutes(1));
    assert_eq!(round().await.checked, 1);
    assert_eq!(domain().await["verified"], false);
    app.publish(&created["dns_records"]);
    clock.advance(Duration::minutes(1));
    assert_eq!(round().await.checked, 1);
    let d = domain().await;
    assert_eq!(d["verified"], true, "{d}");
    assert_eq!(timeline().await[0], "verified");
    let events = app
        .get(&format!("/api/admin/domains/{id}/events"), &admin)
        .await
        .1;
    assert_eq!(events["data"][0]["actor"], "system");

    // A DNS outage changes nothing.
    app.dns
        .fail("scaisend._domainkey.mail.example.com", Failure::ServFail)
        .unwrap();
    app.dns.fail("mail.example.com", Failure::ServFail).unwrap();
    clock.advance(Duration::hours(25));
    assert_eq!(round().await.checked, 1);
    let d = domain().await;
    assert_eq!(d["verified"], true);
    assert!(d["failing_since"].is_null());
    assert_eq!(d["checks"]["dkim"]["status"], "verified");
    app.dns
        .recover("scaisend._domainkey.mail.example.com")
        .unwrap();
    app.dns.recover("mail.example.com").unwrap();

    // The DKIM record is deleted: flagged at once, still verified through the grace.
    app.dns
        .delete_name("scaisend._domainkey.mail.example.com")
        .unwrap();
    clock.advance(Duration::hours(25));
    round().await;
    let d = domain().await;
    assert_eq!(d["verified"], true);
    assert_eq!(d["checks"]["dkim"]["status"], "missing");
    assert!(d["failing_since"].is_string());
    assert_eq!(timeline().await[0], "failing");
    // The status light: failing, with the end of the grace period 72 hours on.
    let since = time::OffsetDateTime::parse(
        d["failing_since"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let until = time::OffsetDateTime::parse(
        d["grace_until"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        (d["status"].as_str(), until - since),
        (Some("failing"), Duration::hours(72))
    );
    clock.advance(Duration::hours(71));
    round().await;
    assert_eq!(
        domain().await["verified"],
        true,
        "71 hours into a 72-hour grace"
    );
    clock.advance(Duration::hours(2));
    round().await;
    let d = domain().await;
    assert_eq!(d["verified"], false);
    assert_eq!(
        (d["status"].as_str(), &d["grace_until"]),
        (Some("not_verified"), &serde_json::Value::Null)
    );
    assert_eq!(timeline().await[0], "unverified");

    // Publishing it again brings the domain back.
    app.publish(&created["dns_records"]);
    clock.advance(Duration::days(1));
    round().await;
    assert_eq!(domain().await["verified"], true);
}

/// Counts the DKIM TXT queries per name, over the real adapter.
struct Counting {
    inner: Arc<dyn DnsLookup>,
    dkim_queries: Mutex<HashMap<String, usize>>,
}

#[async_trait]
impl DnsLookup for Counting {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        if name.contains("._domainkey.") {
            *self
                .dkim_queries
                .lock()
                .unwrap()
                .entry(name.to_owned())
                .or_default() += 1;
        }
        self.inner.txt(name).await
    }
    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        self.inner.a(name).await
    }
    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        self.inner.aaaa(name).await
    }
    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        self.inner.mx(name).await
    }
    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        self.inner.ptr(ip).await
    }
    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        self.inner.cname(name).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_check_each_due_domain_exactly_once() {
    const DOMAINS: usize = 2_000;
    let dns = TestDns::start().await.unwrap();
    let counting = Arc::new(Counting {
        inner: dns_client(dns.addr()),
        dkim_queries: Mutex::new(HashMap::new()),
    });
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let db = repo_contract::pg::TestDatabase::create().await;
    let (master, master_b64) = MasterKey::generate().unwrap();
    let instance = |master: MasterKey| {
        let url = db.url();
        let counting = counting.clone();
        let clock = clock.clone();
        async move {
            let store = scaisend_domains::open_store(&url).await.unwrap();
            DomainService::new(
                Ports {
                    repo: store.repo,
                    keys: store.keys,
                    dns: counting,
                    clock: clock as Arc<dyn Clock>,
                    keygen: Arc::new(FixedKeys::default()),
                    cpu: Arc::new(domain_core::ports::InlinePool),
                    observer: Arc::new(domain_core::ports::NoObserver),
                },
                Arc::new(master),
                // More domains than one tenant's default quota, all under one tenant.
                ServiceConfig {
                    max_domains_per_owner: u64::MAX,
                    ..ServiceConfig::default()
                },
            )
        }
    };
    let a = instance(master).await;
    let b = instance(MasterKey::from_base64(&master_b64).unwrap()).await;
    let c = instance(MasterKey::from_base64(&master_b64).unwrap()).await;

    let admin = Caller::new(
        "loader",
        Role::TenantAdmin,
        Some("t1".into()),
        Some("p1".into()),
    )
    .unwrap();
    let creates = (0..DOMAINS).map(|n| {
        let a = &a;
        let admin = &admin;
        async move {
            a.create(
                admin,
                NewDomain::named(DomainName::parse(&format!("d{n}.example.com")).unwrap()),
            )
            .await
            .unwrap();
        }
    });
    // A few at a time: the pool, not the test, should be the limit.
    use futures::StreamExt as _;
    futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;

    clock.advance(Duration::minutes(2));
    let (ra, rb, rc) = tokio::join!(
        a.monitor_round("instance-a", 50, LEASE),
        b.monitor_round("instance-b", 50, LEASE),
        c.monitor_round("instance-c", 50, LEASE),
    );
    let (ra, rb, rc) = (ra.unwrap(), rb.unwrap(), rc.unwrap());
    assert_eq!(
        ra.checked + rb.checked + rc.checked,
        DOMAINS,
        "{ra:?} {rb:?} {rc:?}"
    );
    assert_eq!(ra.released + rb.released + rc.released, 0);
    let counts = counting.dkim_queries.lock().unwrap().clone();
    assert_eq!(counts.len(), DOMAINS, "every domain was checked");
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "checked more than once: {twice:?}");
    // Work was shared, not done by one instance alone.
    assert!(
        [ra.checked, rb.checked, rc.checked]
            .iter()
            .filter(|n| **n > 0)
            .count()
            >= 2,
        "{ra:?} {rb:?} {rc:?}"
    );

    // A second round at the same moment finds nothing due.
    let again = a.monitor_round("instance-a", 50, LEASE).await.unwrap();
    assert_eq!(again.checked, 0);
    drop(dns);
}
