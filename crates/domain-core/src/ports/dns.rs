//! The DNS port: the queries the verification rules need, and how their outcomes are
//! classified.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;

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
    /// The mail exchanger's name, without the trailing dot; the root, which a null MX
    /// (RFC 7505) names, is `.`.
    pub exchange: String,
}

impl MxRecord {
    /// Whether this is a null MX (RFC 7505: `0 .`), the record of a domain that accepts
    /// no mail. A record naming the root is taken as one whatever its preference.
    pub fn is_null(&self) -> bool {
        matches!(self.exchange.as_str(), "." | "")
    }
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
/// * MUST follow CNAMEs and return the records at the end of the chain (except `cname`).
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
    /// The target of the CNAME record at exactly `name`, without the trailing dot: the one
    /// query that does not follow aliases. A name that exists without a CNAME is
    /// [`DnsResult::NoData`].
    async fn cname(&self, name: &str) -> DnsAnswer<String>;
}
