//! Ports: what the core needs from the outside world, as `Send + Sync` async traits so
//! that `app` can choose adapters at run time behind `Arc<dyn …>`.
//!
//! Each method documents its error contract; adapters MUST honour it, and the contract
//! test suites in the adapter crates check that they do.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::RepoError;
use crate::keys::SealedKey;
use crate::model::{Domain, DomainEvent, DomainId, ListFilter, Page, PageRequest, Scope};
use crate::name::{DomainName, Selector};

/// One TXT record as received: its character-strings, in order, not yet joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecordData {
    /// The character-strings (each at most 255 octets on the wire).
    pub strings: Vec<Vec<u8>>,
}

impl TxtRecordData {
    /// A record of one character-string.
    pub fn single(text: impl Into<Vec<u8>>) -> Self {
        TxtRecordData {
            strings: vec![text.into()],
        }
    }

    /// The record's value as it is shown: its character-strings joined without
    /// separators, with control characters, bytes that are not UTF-8 and backslashes
    /// escaped ([`escape`](crate::records::text::escape)). For display and storage
    /// (`found`), never for parsing: use [`text`](Self::text) for that.
    pub fn joined(&self) -> String {
        crate::records::join_character_strings(&self.strings)
    }

    /// The record's value as text to parse: its character-strings joined, or an error
    /// naming the bytes that no DKIM, SPF or DMARC record may hold
    /// ([`record_text`](crate::records::text::record_text)).
    pub fn text(&self) -> Result<String, crate::records::RecordError> {
        crate::records::text::record_text(crate::records::join_bytes(&self.strings))
    }

    /// The record's [`text`](Self::text), or, when it holds bytes no record may hold,
    /// its value as [shown](Self::joined): what tells which kind of record it is
    /// (`v=spf1`, `v=DMARC1`), so that a broken record of a kind is still found as one,
    /// and then judged invalid by its parser.
    pub fn text_or_shown(&self) -> String {
        self.text().unwrap_or_else(|_| self.joined())
    }
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    /// Lower is preferred.
    pub preference: u16,
    /// The mail exchanger's name, without the trailing dot.
    pub exchange: String,
}

/// The outcome of one DNS query, classified the way the verification rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsResult<T> {
    /// NOERROR with at least one record of the type asked for.
    Records(Vec<T>),
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// NOERROR with an empty answer: the name exists, without records of this type.
    NoData,
    /// SERVFAIL, REFUSED, a timeout or a network error: nothing can be concluded.
    TempFail(String),
}

impl<T> DnsResult<T> {
    /// The records, or an empty slice for every other outcome.
    pub fn records(&self) -> &[T] {
        match self {
            DnsResult::Records(r) => r,
            _ => &[],
        }
    }

    /// Whether the outcome is a temporary failure.
    pub fn is_temp_fail(&self) -> bool {
        matches!(self, DnsResult::TempFail(_))
    }

    /// The same outcome with each record converted by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> DnsResult<U> {
        match self {
            DnsResult::Records(r) => DnsResult::Records(r.into_iter().map(f).collect()),
            DnsResult::NxDomain => DnsResult::NxDomain,
            DnsResult::NoData => DnsResult::NoData,
            DnsResult::TempFail(why) => DnsResult::TempFail(why),
        }
    }
}

/// A classified outcome plus the server that produced it, so each verdict can say who
/// answered (an authoritative nameserver, or the recursive resolver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer<T> {
    /// The outcome.
    pub result: DnsResult<T>,
    /// The server that answered (`ns1.example.com (192.0.2.53:53)`, `resolver`), if known.
    pub server: Option<String>,
}

impl<T> DnsAnswer<T> {
    /// An answer without server information, as fakes produce.
    pub fn new(result: DnsResult<T>) -> Self {
        DnsAnswer {
            result,
            server: None,
        }
    }
}

/// DNS queries the rules need.
///
/// Contract for every method:
/// * MUST follow CNAMEs and return the records at the end of the chain.
/// * MUST return [`DnsResult::NxDomain`] only for NXDOMAIN and [`DnsResult::NoData`] only
///   for an authoritative-or-recursive NOERROR with no records of the type asked;
///   everything else that is not an answer (SERVFAIL, REFUSED, timeout, network error)
///   MUST be [`DnsResult::TempFail`]. A temporary failure must never look like "missing".
/// * MUST NOT serve a cached negative answer: a record published a moment ago must be
///   seen on the next query.
/// * MUST bound each query with a timeout; the core has no timer of its own.
/// * Names are given without the trailing dot and may be any case.
#[async_trait]
pub trait DnsLookup: Send + Sync {
    /// TXT records, each with its character-strings as received.
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData>;
    /// A records.
    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr>;
    /// AAAA records.
    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr>;
    /// MX records.
    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord>;
    /// PTR names for an address (the adapter builds the `in-addr.arpa`/`ip6.arpa` name),
    /// without trailing dots.
    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String>;
}

/// The store of domains, their keys, checks, timeline and monitor schedule.
///
/// A [`Domain`] is stored as one aggregate: the domain row, its DKIM keys (public key,
/// state, sealed private key) and its last verdicts. Every write stores the aggregate and
/// the given timeline events in one transaction.
#[async_trait]
pub trait DomainRepo: Send + Sync {
    /// Stores a new domain with its keys and events.
    ///
    /// MUST return `Conflict` if the same owner (tenant, or partner for a shared domain)
    /// already has a domain with this name. MUST return `Unavailable` if the store cannot
    /// be reached.
    async fn insert(&self, domain: &Domain, events: &[DomainEvent]) -> Result<(), RepoError>;

    /// Fetches a domain visible to `scope` (see [`Scope`]).
    ///
    /// MUST return `NotFound` when it does not exist or is not visible to `scope`.
    async fn get(&self, scope: &Scope, id: &DomainId) -> Result<Domain, RepoError>;

    /// Lists domains visible to `scope` matching `filter`, ordered by id, starting after
    /// the page's cursor.
    async fn list(
        &self,
        scope: &Scope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Domain>, RepoError>;

    /// Stores `domain` if the stored version still equals `domain.version`, then bumps the
    /// version; appends `events`; clears any monitor lease on the domain. Keys present in
    /// `domain` are inserted or updated; keys are never deleted here (a removed key stays
    /// as a row in state `removed`, without its sealed private key).
    ///
    /// MUST return `Conflict` if the version changed since the domain was read (another
    /// writer won), and `NotFound` if the domain was deleted.
    async fn update(&self, domain: &Domain, events: &[DomainEvent]) -> Result<(), RepoError>;

    /// Deletes a domain visible to `scope`, its keys (so the private keys are destroyed),
    /// checks and events, in one transaction.
    ///
    /// MUST return `NotFound` when it does not exist or is not visible.
    async fn delete(&self, scope: &Scope, id: &DomainId) -> Result<(), RepoError>;

    /// The timeline of a domain visible to `scope`, newest first.
    ///
    /// MUST return `NotFound` when the domain does not exist or is not visible.
    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError>;

    /// The domains named `name` that a tenant may send from: its own and its partner's
    /// shared ones.
    async fn find_sendable(
        &self,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
    ) -> Result<Vec<Domain>, RepoError>;

    /// Claims up to `limit` domains whose next check is due at `now` and that no live
    /// lease holds, leasing them to `owner` until `lease_until`. Two concurrent callers
    /// never receive the same domain; a lease that expired is claimable again.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DomainId>, RepoError>;

    /// Gives up a lease without changing the domain (the check could not be completed),
    /// making the domain due again at `retry_at`.
    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError>;

    /// Whether the store is reachable (readiness probe).
    async fn ping(&self) -> Result<(), RepoError>;
}

/// The narrow port the signer uses: sealed private keys by domain and selector, without
/// loading whole domains.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The sealed private key of a domain's selector.
    ///
    /// MUST return `NotFound` when the domain or selector does not exist, or the key was
    /// removed (its private key destroyed).
    async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError>;
}

/// The time, injected so that schedules, graces and expiries are testable.
///
/// Stores keep times to the microsecond; clocks SHOULD return times with no finer part,
/// so that a domain read back equals the one written.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, to the microsecond.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

/// Key generation, behind a port because it is slow (tens of milliseconds for 2048 bits,
/// seconds for 4096): `app` runs it on a blocking thread pool, the core's tests run it
/// inline.
#[async_trait]
pub trait KeyGenerator: Send + Sync {
    /// Generates a new RSA key pair.
    async fn generate(
        &self,
        bits: crate::keys::KeyBits,
    ) -> Result<crate::keys::GeneratedKey, crate::keys::KeyError>;
}
