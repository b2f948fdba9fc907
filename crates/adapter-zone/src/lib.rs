//! Our authoritative DKIM zone (`SCAISEND_DKIM_ZONE`) on the wire: UDP and TCP on one
//! port, answering from the [`ZoneSnapshot`](domain_core::zone::ZoneSnapshot) that is
//! current in a [`ZoneCell`] the application swaps whenever the store changes.
//!
//! A key design decision made in this crate is that it owns its sockets and passes every
//! message through one pure function, bytes in and bytes out, built on hickory-server's
//! request parser and response builder — but not on hickory-server's `Server`. That
//! server accepts any number of TCP connections and answers undecodable messages itself,
//! before a handler sees them, so neither the bound on connections nor the rate limit
//! nor the metrics could cover everything it sends. Here nothing leaves a socket that did
//! not pass the rate limiter (over UDP) and get counted.
//!
//! What it answers (docs/operations.md, "Our DKIM zone"): SOA and NS at the apex, each
//! key's TXT record at its slot name, NODATA or NXDOMAIN with the SOA inside the zone,
//! REFUSED outside it; authoritative, never recursive, minimal (no additional records but
//! OPT), EDNS with a 1232-octet UDP payload, TC over UDP when an answer does not fit, and
//! a per-subnet response rate limit that drops floods and lets some answers "slip" as
//! truncated replies so that genuine resolvers retry over TCP.

mod answer;
mod cell;
mod limits;
mod rate;
mod server;

pub use cell::ZoneCell;
pub use limits::{LimitsError, ZoneLimits};
pub use server::{ZoneError, ZoneServer};
