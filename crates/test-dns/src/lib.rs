//! `test-dns`: a real authoritative DNS server, started inside a test on `127.0.0.1:0`,
//! whose records and failures the test changes while it runs.
//!
//! A key design decision made in this crate is that it answers through its own
//! `hickory-server` request handler over a plain in-memory map, not through hickory's
//! zone authorities: every answer is built at query time from what the test published
//! a moment before, so there is nothing to reload, and failures (SERVFAIL, REFUSED,
//! silence) and RFC behaviour that tests depend on — NXDOMAIN versus no-data, empty
//! non-terminals, the SOA in negative answers, the TC bit when an answer exceeds
//! 512 octets — are decided in one small, readable function ([`TestDns`] documents it).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use test_dns::{Record, TestDns};
//!
//! let dns = TestDns::start().await?;
//! dns.publish("_dmarc.example.test", Record::txt("v=DMARC1; p=none"))?;
//! let server = dns.addr(); // point the resolver under test here
//! # let _ = server; Ok(()) }
//! ```

mod record;
mod server;
mod store;
mod zone_file;

pub use record::{Failure, ReceivedQuery, Record, RecordKind, Soa, Transport};
pub use server::{Options, TestDns};
pub use zone_file::parse_zone_file;

/// Why a record could not be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The name (the owner, or one inside the record) is not a valid DNS name.
    #[error("invalid DNS name `{0}`")]
    InvalidName(String),
    /// A TXT character-string is longer than 255 octets.
    #[error("a TXT character-string of {0} octets is longer than 255")]
    CharacterStringTooLong(usize),
    /// `replace` was given a record of another type than the one it replaces.
    #[error("the records given are not all of the type being replaced")]
    KindMismatch,
    /// A delegation names a server that is not on loopback: the test DNS server only
    /// ever sends traffic to this machine.
    #[error("a delegated zone's server must be on loopback, not {0}")]
    NotLoopback(std::net::SocketAddr),
    /// A zone file could not be read.
    #[error("zone file: {0}")]
    ZoneFile(String),
}
