//! How the adapter finds and asks DNS servers.

use std::net::SocketAddr;
use std::time::Duration;

/// The default of [`DnsConfig::max_in_flight`]: enough for dozens of verifications at
/// once (one takes about ten queries), few enough that a burst of them cannot flood the
/// resolver or exhaust the process's sockets.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Configuration of [`HickoryDns`](crate::HickoryDns).
///
/// The default reads the system resolver (`/etc/resolv.conf`) and asks each zone's
/// authoritative nameservers first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Servers to ask instead of anything else (`SCAISEND_DNS_SERVERS`), in order. When
    /// set, only these are asked: no authoritative-first and no system resolver.
    pub servers: Option<Vec<SocketAddr>>,
    /// The recursive resolvers to use when `servers` is not set, instead of the system
    /// configuration. Tests set it so that nothing reads `/etc/resolv.conf`.
    pub recursive: Option<Vec<SocketAddr>>,
    /// The longest one query to one server may take.
    pub timeout: Duration,
    /// How many times the resolvers (`servers`, or `recursive`, each in turn) are asked
    /// about one name before the lookup gives up. It also bounds the lookup as a whole:
    /// whatever it asks (nameservers, zone discovery, CNAME targets), a lookup never
    /// takes longer than `timeout × attempts`.
    pub attempts: usize,
    /// Ask the zone's authoritative nameservers first (found through the recursive
    /// resolver), falling back to the recursive resolver when they fail. Their answers
    /// are fresh: no resolver cache can make a record published a moment ago look
    /// missing. Together they get one `timeout`, and at most half the lookup's time, so
    /// that where direct queries to port 53 are blocked the resolver still answers.
    /// Ignored when `servers` is set.
    pub authoritative_first: bool,
    /// The port authoritative nameservers listen on (53; tests use a loopback port).
    pub nameserver_port: u16,
    /// How long the nameservers found for a zone are remembered. Only successful
    /// discoveries are remembered.
    pub zone_cache_ttl: Duration,
    /// Also query nameserver addresses learned from DNS that are internal (loopback,
    /// private, link-local, CGNAT, …; see the crate's egress rule). Off by default: a
    /// zone must not be able to point our queries into the service's own network. Test
    /// setups whose nameservers listen on loopback turn it on. The servers configured
    /// in `servers`, `recursive` or the system configuration are always asked.
    pub allow_private: bool,
    /// The most queries this adapter has outstanding at once, across every lookup
    /// (at least 1). A lookup waits for a free slot within its own time bound; one that
    /// gets none in time is a temporary failure.
    pub max_in_flight: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: None,
            recursive: None,
            timeout: Duration::from_secs(3),
            attempts: 3,
            authoritative_first: true,
            nameserver_port: 53,
            zone_cache_ttl: Duration::from_secs(60),
            allow_private: false,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl DnsConfig {
    /// A configuration that asks exactly these servers, in order, and nothing else.
    pub fn with_servers(servers: Vec<SocketAddr>) -> Self {
        DnsConfig {
            servers: Some(servers),
            ..DnsConfig::default()
        }
    }

    /// The bound on one lookup: `timeout × attempts`.
    pub fn lookup_deadline(&self) -> Duration {
        let attempts = u32::try_from(self.attempts.max(1)).unwrap_or(u32::MAX);
        self.timeout.saturating_mul(attempts)
    }
}
