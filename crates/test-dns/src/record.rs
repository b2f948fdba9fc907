//! What a test publishes: records, the failures it can inject, and what the server saw.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, TXT};
use hickory_server::proto::rr::{Name, RData};

use crate::Error;

/// Longest character-string in a TXT record (RFC 1035 §3.3).
const MAX_CHARACTER_STRING: usize = 255;

/// One record to publish at a name. Ordered, so that tests can compare sets of records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Record {
    /// A TXT record: its character-strings, in order, each at most 255 octets.
    Txt(Vec<Vec<u8>>),
    /// An A record.
    A(Ipv4Addr),
    /// An AAAA record.
    Aaaa(Ipv6Addr),
    /// An MX record.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The mail exchanger's name.
        exchange: String,
    },
    /// A CNAME record: the name is an alias of this target.
    Cname(String),
    /// A PTR record.
    Ptr(String),
    /// An NS record: a nameserver of the zone at this name.
    Ns(String),
    /// An SOA record: it makes its name the apex of a zone, whose negative answers then
    /// carry it in the authority section.
    Soa(Soa),
}

/// The data of an SOA record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Soa {
    /// The primary nameserver.
    pub mname: String,
    /// The mailbox of the person responsible, as a name (`hostmaster.example.test`).
    pub rname: String,
    /// The zone's serial number.
    pub serial: u32,
    /// The negative-caching TTL (RFC 2308), in seconds.
    pub minimum: u32,
}

impl Record {
    /// A TXT record holding `value`, split into as many 255-octet character-strings as
    /// it needs, as zone tools publish long values such as DKIM keys.
    pub fn txt(value: impl AsRef<[u8]>) -> Self {
        let value = value.as_ref();
        if value.is_empty() {
            return Record::Txt(vec![Vec::new()]);
        }
        Record::Txt(
            value
                .chunks(MAX_CHARACTER_STRING)
                .map(<[u8]>::to_vec)
                .collect(),
        )
    }

    /// A TXT record of exactly these character-strings (publishing fails if one is
    /// longer than 255 octets).
    pub fn txt_strings<I, S>(strings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Record::Txt(strings.into_iter().map(|s| s.as_ref().to_vec()).collect())
    }

    /// An MX record.
    pub fn mx(preference: u16, exchange: impl Into<String>) -> Self {
        Record::Mx {
            preference,
            exchange: exchange.into(),
        }
    }

    /// An SOA record naming `mname` as the primary nameserver, with serial 1 and a
    /// negative-caching TTL of 300 seconds (long enough that a resolver that cached
    /// negative answers would visibly serve stale ones in a test).
    pub fn soa(mname: impl Into<String>, rname: impl Into<String>) -> Self {
        Record::Soa(Soa {
            mname: mname.into(),
            rname: rname.into(),
            serial: 1,
            minimum: 300,
        })
    }

    /// The type of the record.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Txt(_) => RecordKind::Txt,
            Record::A(_) => RecordKind::A,
            Record::Aaaa(_) => RecordKind::Aaaa,
            Record::Mx { .. } => RecordKind::Mx,
            Record::Cname(_) => RecordKind::Cname,
            Record::Ptr(_) => RecordKind::Ptr,
            Record::Ns(_) => RecordKind::Ns,
            Record::Soa(_) => RecordKind::Soa,
        }
    }

    /// The wire form, checked once at publication so that answering cannot fail.
    pub(crate) fn to_rdata(&self) -> Result<RData, Error> {
        Ok(match self {
            Record::Txt(strings) => {
                if let Some(long) = strings.iter().find(|s| s.len() > MAX_CHARACTER_STRING) {
                    return Err(Error::CharacterStringTooLong(long.len()));
                }
                RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
            }
            Record::A(ip) => RData::A(A(*ip)),
            Record::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
            Record::Mx {
                preference,
                exchange,
            } => RData::MX(MX::new(*preference, fqdn(exchange)?)),
            Record::Cname(target) => RData::CNAME(CNAME(fqdn(target)?)),
            Record::Ptr(target) => RData::PTR(PTR(fqdn(target)?)),
            Record::Ns(target) => RData::NS(NS(fqdn(target)?)),
            Record::Soa(soa) => RData::SOA(SOA::new(
                fqdn(&soa.mname)?,
                fqdn(&soa.rname)?,
                soa.serial,
                3600,
                600,
                86400,
                soa.minimum,
            )),
        })
    }
}

/// A record type, for replacing or deleting the records of one type at a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// TXT
    Txt,
    /// A
    A,
    /// AAAA
    Aaaa,
    /// MX
    Mx,
    /// CNAME
    Cname,
    /// PTR
    Ptr,
    /// NS
    Ns,
    /// SOA
    Soa,
}

/// A failure the server simulates for every query about one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// Answer with RCODE SERVFAIL.
    ServFail,
    /// Answer with RCODE REFUSED.
    Refused,
    /// Never answer, over UDP or TCP, so that the client times out.
    Timeout,
}

/// The transport a query arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// One query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedQuery {
    /// The name asked about, lower-case, without the trailing dot.
    pub name: String,
    /// The type asked for, as DNS spells it (`TXT`, `SOA`, …).
    pub record_type: String,
    /// The transport it arrived on.
    pub transport: Transport,
}

/// `name` as an absolute DNS name.
pub(crate) fn fqdn(name: &str) -> Result<Name, Error> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let mut parsed = Name::from_ascii(bare).map_err(|_| Error::InvalidName(name.to_owned()))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// The key a name is stored under, compared with the names of questions: lower-case,
/// in the presentation form hickory writes (so escapes match), without the trailing dot.
pub(crate) fn key_of(name: &Name) -> String {
    let text = name.to_lowercase().to_ascii();
    text.strip_suffix('.').unwrap_or(&text).to_owned()
}
