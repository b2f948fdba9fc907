//! Integration tests of `adapter-dns` against real DNS servers on loopback (`test-dns`),
//! and the core's checks end to end through the adapter. Nothing here reads
//! `/etc/resolv.conf` or leaves the machine: every adapter is given loopback servers.

mod adapter;
mod authoritative;
mod spf;
mod verify;

use std::net::SocketAddr;
use std::time::Duration;

use adapter_dns::{DnsConfig, HickoryDns};
use domain_core::verify::{CheckStatus, Verdict, VerdictCode};
use test_dns::{Failure, Record, TestDns};

/// The test functions' result: `?` on publishing and starting servers.
type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What starting and filling a test server gives.
type Started = Result<TestDns, Box<dyn std::error::Error>>;

/// Publishes each of `records` at its name.
fn publish_all<N: AsRef<str>>(
    dns: &TestDns,
    records: impl IntoIterator<Item = (N, Record)>,
) -> Result<(), test_dns::Error> {
    records
        .into_iter()
        .try_for_each(|(name, record)| dns.publish(name.as_ref(), record))
}

/// A server that holds `records`.
async fn serving<N: AsRef<str>>(records: impl IntoIterator<Item = (N, Record)>) -> Started {
    let dns = TestDns::start().await?;
    publish_all(&dns, records)?;
    Ok(dns)
}

/// A server where `name` holds an SPF record but every query of it fails with `failure`.
async fn failing(name: &str, failure: Failure) -> Started {
    let dns = serving([(name, Record::txt("v=spf1 -all"))]).await?;
    dns.fail(name, failure)?;
    Ok(dns)
}

/// The SOA that makes `apex` a zone: `ns1.<apex>` and `hostmaster.<apex>`.
fn soa_of(apex: &str) -> Record {
    Record::soa(format!("ns1.{apex}"), format!("hostmaster.{apex}"))
}

/// `verdict` has `status` and `code`.
#[track_caller]
fn assert_verdict(verdict: &Verdict, status: CheckStatus, code: VerdictCode) {
    assert_eq!(
        (verdict.status, verdict.code),
        (status, code),
        "{verdict:?}"
    );
}

/// Generous enough for a loaded two-core machine; only tests of timeouts use less.
const TIMEOUT: Duration = Duration::from_secs(5);

/// An adapter that asks exactly `servers`.
fn adapter_for(servers: &[SocketAddr]) -> HickoryDns {
    HickoryDns::new(DnsConfig {
        timeout: TIMEOUT,
        attempts: 2,
        ..DnsConfig::with_servers(servers.to_vec())
    })
    .expect("adapter with loopback servers")
}

/// An adapter that asks only `dns`.
fn adapter(dns: &TestDns) -> HickoryDns {
    adapter_for(&[dns.addr()])
}

/// An adapter whose queries time out quickly, for tests of a server that never answers.
fn impatient_adapter(dns: &TestDns) -> HickoryDns {
    HickoryDns::new(DnsConfig {
        timeout: Duration::from_millis(300),
        attempts: 2,
        ..DnsConfig::with_servers(vec![dns.addr()])
    })
    .expect("adapter with a loopback server")
}

/// How the adapter names the one resolver it was configured with: every test server
/// listens on loopback, an internal address, which answers never show.
const RESOLVER: &str = "resolver";
