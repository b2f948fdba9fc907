//! `adapter-dns`: the [`DnsLookup`](domain_core::ports::DnsLookup) port on
//! hickory-resolver, for checking DKIM, SPF and DMARC records in live DNS.
//!
//! A key design decision made in this crate is that it does not use hickory's
//! `Resolver`, whose response cache (negative answers included) could make a record
//! published a moment ago look missing and which cannot say which server answered.
//! Instead each server is a hickory `NameServerPool` of exactly one nameserver (still
//! UDP with TCP on truncation, connection reuse and retransmission), and this crate owns
//! the rest: the zone's authoritative nameservers are asked first, found through the
//! recursive resolver and remembered briefly (positive discoveries only), the resolver
//! is the fall-back, CNAMEs into other zones are chased here, every answer names its
//! server, and one lookup never takes longer than `timeout × attempts`. Nothing else is
//! cached.
//!
//! Egress rule: nameserver addresses learned from DNS that are internal (loopback,
//! private, link-local, CGNAT, multicast, …) are never queried unless
//! [`DnsConfig::allow_private`] says so; the lookup falls back to the resolvers as it
//! does for any unusable nameserver. Answers name internal servers without their
//! address. All lookups share [`DnsConfig::max_in_flight`] slots for outstanding
//! queries, and waiting for one counts against the lookup's time bound.
//!
//! Answers are classified strictly: NXDOMAIN, NOERROR without records (no-data), and
//! everything else — SERVFAIL, REFUSED, a referral, a timeout, a network error, a name
//! DNS cannot carry — is a temporary failure, never "missing".

mod config;
mod lookup;
mod upstream;
mod zones;

pub use config::{DEFAULT_MAX_IN_FLIGHT, DnsConfig};
pub use lookup::HickoryDns;

/// Why the adapter could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No server to ask: `servers` or `recursive` is an empty list, or the system
    /// configuration names none.
    #[error("no DNS servers configured")]
    NoServers,
    /// The system resolver configuration (`/etc/resolv.conf`) could not be read.
    #[error("reading the system resolver configuration: {0}")]
    SystemConfig(String),
    /// hickory could not set up its connection context.
    #[error("setting up the DNS client: {0}")]
    Setup(String),
}
