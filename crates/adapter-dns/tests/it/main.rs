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
use test_dns::TestDns;

/// The test functions' result: `?` on publishing and starting servers.
type TestResult = Result<(), Box<dyn std::error::Error>>;

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
