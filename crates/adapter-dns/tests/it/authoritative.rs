//! Authoritative-first: the zone's nameservers, found through the recursive resolver,
//! answer before it; when they fail, the resolver does.
//!
//! Two loopback servers play the parts: the "resolver" holds stale data plus the zone's
//! SOA, NS and glue (pointing at 127.0.0.1); the "nameserver" holds the fresh data and
//! is reached through `nameserver_port`. The glue is a loopback address learned from
//! DNS, which the egress rule refuses: these adapters allow it, as test setups do,
//! except where a test shows the refusal.

use std::net::Ipv4Addr;
use std::time::Duration;

use adapter_dns::{DnsConfig, HickoryDns};
use domain_core::ports::{DnsLookup, DnsResult, TxtRecordData};
use test_dns::{Failure, Record, RecordKind, TestDns};

use crate::{RESOLVER, TIMEOUT, TestResult, publish_all, soa_of};

const NAME: &str = "_dmarc.example.test";

/// The resolver and the nameserver of `example.test`.
async fn setup() -> Result<(TestDns, TestDns), Box<dyn std::error::Error>> {
    let resolver = TestDns::start().await?;
    let nameserver = TestDns::start().await?;
    for dns in [&resolver, &nameserver] {
        publish_all(
            dns,
            [
                ("example.test", soa_of("example.test")),
                ("example.test", Record::Ns("ns1.example.test".into())),
                ("ns1.example.test", Record::A(Ipv4Addr::LOCALHOST)),
            ],
        )?;
    }
    resolver.publish(NAME, Record::txt("v=DMARC1; p=none"))?;
    nameserver.publish(NAME, Record::txt("v=DMARC1; p=reject"))?;
    Ok((resolver, nameserver))
}

fn adapter(resolver: &TestDns, nameserver: &TestDns, timeout: Duration) -> HickoryDns {
    adapter_with_attempts(resolver, nameserver, timeout, 3)
}

fn adapter_with_attempts(
    resolver: &TestDns,
    nameserver: &TestDns,
    timeout: Duration,
    attempts: usize,
) -> HickoryDns {
    HickoryDns::new(DnsConfig {
        allow_private: true,
        ..config(resolver, nameserver, timeout, attempts)
    })
    .expect("adapter with loopback servers")
}

/// Authoritative-first through `resolver`, with learned nameservers on `nameserver`'s
/// port, under the production egress rule.
fn config(
    resolver: &TestDns,
    nameserver: &TestDns,
    timeout: Duration,
    attempts: usize,
) -> DnsConfig {
    DnsConfig {
        recursive: Some(vec![resolver.addr()]),
        authoritative_first: true,
        nameserver_port: nameserver.addr().port(),
        timeout,
        attempts,
        ..DnsConfig::default()
    }
}

fn txt(value: &str) -> DnsResult<TxtRecordData> {
    DnsResult::Records(vec![TxtRecordData::single(value)])
}

/// The nameserver's glue is loopback, an internal address: answers name it alone.
fn nameserver_label(_nameserver: &TestDns) -> String {
    "ns1.example.test".to_owned()
}

/// Asks `lookup` for [`NAME`]'s TXT records: the answer is `expected`, from `server`.
async fn assert_answer(lookup: &HickoryDns, expected: DnsResult<TxtRecordData>, server: &str) {
    let answer = lookup.txt(NAME).await;
    assert_eq!(answer.result, expected);
    assert_eq!(answer.server.as_deref(), Some(server));
}

#[tokio::test]
async fn the_zones_nameserver_answers_instead_of_the_stale_resolver() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    let lookup = adapter(&resolver, &nameserver, TIMEOUT);

    assert_answer(
        &lookup,
        txt("v=DMARC1; p=reject"),
        &nameserver_label(&nameserver),
    )
    .await;
    // The resolver was only asked where the zone is, never for the record itself.
    assert!(
        !resolver
            .queries()
            .iter()
            .any(|q| q.name == NAME && q.record_type == "TXT"),
        "{:?}",
        resolver.queries()
    );
    Ok(())
}

#[tokio::test]
async fn the_nameserver_is_authoritative_about_absence_too() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    nameserver.delete_name(NAME)?;
    let lookup = adapter(&resolver, &nameserver, TIMEOUT);

    assert_answer(&lookup, DnsResult::NxDomain, &nameserver_label(&nameserver)).await;
    Ok(())
}

#[tokio::test]
async fn zone_discovery_is_remembered_and_records_are_not() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    let lookup = adapter(&resolver, &nameserver, TIMEOUT);

    assert_eq!(lookup.txt(NAME).await.result, txt("v=DMARC1; p=reject"));
    let discovery = resolver.queries().len();
    assert!(
        discovery >= 2,
        "SOA and NS at least: {:?}",
        resolver.queries()
    );

    nameserver.publish(NAME, Record::txt("v=DMARC1; p=quarantine"))?;
    let answer = lookup.txt(NAME).await;
    assert_eq!(
        answer.result.records().len(),
        2,
        "the fresh record is seen: {:?}",
        answer.result
    );
    // A second name in the same zone needs one question to find its zone, no more.
    assert_eq!(lookup.txt("example.test").await.result, DnsResult::NoData);
    assert_eq!(
        resolver.queries().len(),
        discovery + 1,
        "{:?}",
        resolver.queries()
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_nameserver_falls_back_to_the_resolver() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    nameserver.fail(NAME, Failure::ServFail)?;
    let lookup = adapter(&resolver, &nameserver, TIMEOUT);

    assert_answer(&lookup, txt("v=DMARC1; p=none"), RESOLVER).await;
    assert_eq!(nameserver.queries().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_silent_nameserver_leaves_the_resolver_time_to_answer() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    nameserver.fail(NAME, Failure::Timeout)?;
    // One attempt of 4 s: the nameservers may use half of it, the resolver has the rest.
    // (Where a firewall drops direct queries to port 53, this is every lookup.)
    let lookup = adapter_with_attempts(&resolver, &nameserver, Duration::from_secs(4), 1);

    assert_answer(&lookup, txt("v=DMARC1; p=none"), RESOLVER).await;
    assert!(
        !nameserver.queries().is_empty(),
        "the nameserver was asked first"
    );
    Ok(())
}

#[tokio::test]
async fn without_a_reachable_zone_the_resolver_answers() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    // The resolver cannot say where the zone is: nothing to ask but itself.
    resolver.fail("example.test", Failure::Refused)?;
    let lookup = adapter(&resolver, &nameserver, TIMEOUT);

    assert_answer(&lookup, txt("v=DMARC1; p=none"), RESOLVER).await;
    assert!(nameserver.queries().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_nameserver_at_an_internal_address_learned_from_dns_is_never_asked() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    // The production rule: the zone's glue says 127.0.0.1, which a zone must not be able
    // to point us at.
    let lookup = HickoryDns::new(config(&resolver, &nameserver, TIMEOUT, 3))?;

    // The resolver answers instead, as it does for any nameserver that cannot be used.
    assert_answer(&lookup, txt("v=DMARC1; p=none"), RESOLVER).await;
    // Another name of the zone: the refusal was remembered, still nothing is sent there.
    assert_eq!(lookup.txt("example.test").await.result, DnsResult::NoData);
    assert!(
        nameserver.queries().is_empty(),
        "{:?}",
        nameserver.queries()
    );
    Ok(())
}

#[tokio::test]
async fn an_internal_address_behind_an_ipv6_form_is_refused_too() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    // The same loopback nameserver, published only as an IPv4-mapped AAAA record.
    for dns in [&resolver, &nameserver] {
        dns.delete("ns1.example.test", RecordKind::A)?;
        dns.publish(
            "ns1.example.test",
            Record::Aaaa(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        )?;
    }
    let lookup = HickoryDns::new(config(&resolver, &nameserver, TIMEOUT, 3))?;

    assert_eq!(lookup.txt(NAME).await.result, txt("v=DMARC1; p=none"));
    assert!(nameserver.queries().is_empty());
    Ok(())
}

#[tokio::test]
async fn allowing_private_addresses_sends_the_same_query_to_the_nameserver() -> TestResult {
    let (resolver, nameserver) = setup().await?;
    let lookup = HickoryDns::new(DnsConfig {
        allow_private: true,
        ..config(&resolver, &nameserver, TIMEOUT, 3)
    })?;

    assert_answer(
        &lookup,
        txt("v=DMARC1; p=reject"),
        &nameserver_label(&nameserver),
    )
    .await;
    assert!(
        nameserver
            .queries()
            .iter()
            .any(|q| q.name == NAME && q.record_type == "TXT"),
        "{:?}",
        nameserver.queries()
    );
    Ok(())
}
