//! Our authoritative DKIM zone (`SCAISEND_DKIM_ZONE`): what it holds at one moment.
//!
//! A domain in CNAME mode points `<selector>._domainkey.<domain>` at
//! `<selector>.<label>.<zone>` once, and never edits DKIM again: the service answers for
//! the zone and serves there the key that currently occupies each slot. The core decides
//! which TXT record each name holds ([`ZoneSnapshot`]); a DNS adapter serves the bytes.
//!
//! A key design decision: the snapshot is a plain, immutable value built from domains.
//! A server swaps a new snapshot in when the store changes and keeps the last one when
//! the store is unreachable, so the zone is never served empty by accident.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::model::Domain;
use crate::name::DomainName;
use crate::publish::Delegation;
use crate::records::dkim::DkimKeyRecord;

/// The zone's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The zone apex (`SCAISEND_DKIM_ZONE`, default `dkim.scaisend.scailabs.ai`).
    pub apex: DomainName,
    /// Its nameservers, for the NS and SOA records (`SCAISEND_DKIM_ZONE_NS`).
    pub nameservers: Vec<DomainName>,
    /// The TTL of every record served (`SCAISEND_DKIM_TTL`, default 300 s).
    pub ttl: Duration,
}

/// The default zone apex.
pub const DEFAULT_ZONE: &str = "dkim.scaisend.scailabs.ai";
/// The default TTL of the zone's records.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

impl ZoneConfig {
    /// The zone with its default nameserver, `ns1.<apex>`, and TTL.
    pub fn for_apex(apex: DomainName) -> Self {
        // `ns1.` before a valid name is a valid name; the apex itself is the fallback.
        let ns = DomainName::parse(&format!("ns1.{apex}")).unwrap_or_else(|_| apex.clone());
        ZoneConfig {
            apex,
            nameservers: vec![ns],
            ttl: DEFAULT_TTL,
        }
    }

    /// The SOA's responsible-person mailbox as a name: `hostmaster.<apex>`.
    pub fn hostmaster(&self) -> String {
        format!("hostmaster.{}", self.apex)
    }

    /// Whether `name` (any case, with or without the trailing dot) is the apex or below it.
    pub fn contains(&self, name: &str) -> bool {
        let name = normalize(name);
        let apex = self.apex.as_str();
        name == apex
            || name
                .strip_suffix(apex)
                .is_some_and(|rest| rest.ends_with('.'))
    }
}

/// What the zone answers for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneAnswer<'a> {
    /// The name is outside the zone: the server refuses (REFUSED), it never recurses.
    OutOfZone,
    /// The apex: SOA and NS records, no TXT.
    Apex,
    /// A name holding TXT records; each is one record's value, to be split into
    /// character-strings of at most 255 octets on the wire.
    Txt(&'a [String]),
    /// A name inside the zone that holds nothing itself but lies above names that do
    /// (`<label>.<zone>` above `<selector>.<label>.<zone>`): an empty non-terminal. It
    /// exists, so the answer is NOERROR with no data; NXDOMAIN would tell a resolver that
    /// nothing below it exists either (RFC 8020 §2), hiding the keys under it.
    EmptyNonTerminal,
    /// A name inside the zone that holds nothing and has nothing below it (NXDOMAIN).
    NxDomain,
}

/// The zone at one moment: TXT records by owner name, and a serial that grows with every
/// snapshot built from newer data.
#[derive(Debug, Clone)]
pub struct ZoneSnapshot {
    config: ZoneConfig,
    records: HashMap<String, Vec<String>>,
    /// The names between the apex and a name holding records, exclusive of both.
    empty_non_terminals: HashSet<String>,
    serial: u32,
}

impl ZoneSnapshot {
    /// A snapshot of `records` (owner name, TXT value); names outside the zone are left
    /// out, several values at one name are kept in order.
    pub fn new(
        config: ZoneConfig,
        serial: u32,
        records: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in records {
            if config.contains(&name) && normalize(&name) != config.apex.as_str() {
                by_name.entry(normalize(&name)).or_default().push(value);
            }
        }
        let apex_suffix = format!(".{}", config.apex);
        let mut empty_non_terminals = HashSet::new();
        for name in by_name.keys() {
            // Every name between this one and the apex, found by dropping one label at a
            // time until what is left is the apex.
            let mut rest = name.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if !parent.ends_with(&apex_suffix) {
                    break;
                }
                if !by_name.contains_key(parent) {
                    empty_non_terminals.insert(parent.to_owned());
                }
                rest = parent;
            }
        }
        ZoneSnapshot {
            config,
            records: by_name,
            empty_non_terminals,
            serial,
        }
    }

    /// An empty zone: only its apex.
    pub fn empty(config: ZoneConfig) -> Self {
        Self::new(config, 1, [])
    }

    /// The zone's settings.
    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The same zone under another serial.
    pub fn with_serial(self, serial: u32) -> Self {
        ZoneSnapshot { serial, ..self }
    }

    /// Whether `other` serves exactly what this one does, serial aside: a new snapshot
    /// that does is no change, and keeps the old serial.
    pub fn same_answers(&self, other: &ZoneSnapshot) -> bool {
        self.config == other.config && self.records == other.records
    }

    /// How many names hold records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no name holds records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// What the zone answers for `name` (any case, trailing dot or not).
    pub fn lookup(&self, name: &str) -> ZoneAnswer<'_> {
        if !self.config.contains(name) {
            return ZoneAnswer::OutOfZone;
        }
        let name = normalize(name);
        if name == self.config.apex.as_str() {
            return ZoneAnswer::Apex;
        }
        match self.records.get(&name) {
            Some(values) => ZoneAnswer::Txt(values),
            None if self.empty_non_terminals.contains(&name) => ZoneAnswer::EmptyNonTerminal,
            None => ZoneAnswer::NxDomain,
        }
    }
}

/// The records our zone serves for `domain`: for each CNAME slot it publishes, the key
/// that holds the slot now (pending, active or retiring), or — once that key was removed
/// — a revoked record (`p=` empty, RFC 6376 §3.6.1) until a rotation takes the slot again.
/// A slot never held by any key serves nothing.
pub fn records_of(domain: &Domain, delegation: &Delegation<'_>) -> Vec<(String, String)> {
    delegation
        .cname_slots(domain)
        .into_iter()
        .filter_map(|slot| {
            let key = domain.keys.get(&slot.selector)?;
            let record = if key.is_live() {
                DkimKeyRecord::for_key(&key.public_key)
            } else {
                DkimKeyRecord::revoked(key.algorithm())
            };
            Some((slot.target, record.to_string()))
        })
        .collect()
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ZoneConfig {
        ZoneConfig::for_apex(DomainName::from_trusted("dkim.example.net"))
    }

    #[test]
    fn names_are_answered_by_where_they_are() {
        let zone = ZoneSnapshot::new(
            config(),
            7,
            [
                (
                    "scaisend.abc.dkim.example.net".to_owned(),
                    "v=DKIM1; p=AAAA".to_owned(),
                ),
                (
                    "outside.example.org".to_owned(),
                    "v=DKIM1; p=BBBB".to_owned(),
                ),
            ],
        );
        assert_eq!(zone.serial(), 7);
        assert_eq!(zone.len(), 1, "names outside the zone are left out");
        assert_eq!(zone.lookup("DKIM.example.net."), ZoneAnswer::Apex);
        assert_eq!(
            zone.lookup("Scaisend.ABC.dkim.example.net."),
            ZoneAnswer::Txt(&["v=DKIM1; p=AAAA".to_owned()])
        );
        assert_eq!(
            zone.lookup("other.abc.dkim.example.net"),
            ZoneAnswer::NxDomain
        );
        assert_eq!(zone.lookup("outside.example.org"), ZoneAnswer::OutOfZone);
        // The label above a slot exists, with no records of its own.
        assert_eq!(
            zone.lookup("ABC.dkim.example.net."),
            ZoneAnswer::EmptyNonTerminal
        );
        assert_eq!(
            zone.lookup("x.scaisend.abc.dkim.example.net"),
            ZoneAnswer::NxDomain
        );
        // A name that merely ends with the apex's text is not inside the zone.
        assert_eq!(zone.lookup("xdkim.example.net"), ZoneAnswer::OutOfZone);
        assert_eq!(zone.lookup("example.net"), ZoneAnswer::OutOfZone);
        assert_eq!(config().hostmaster(), "hostmaster.dkim.example.net");
        assert_eq!(config().nameservers[0].as_str(), "ns1.dkim.example.net");
    }

    #[test]
    fn a_snapshot_with_the_same_records_is_the_same_zone_whatever_its_serial() {
        let record = |value: &str| ("s.abc.dkim.example.net".to_owned(), value.to_owned());
        let before = ZoneSnapshot::new(config(), 1, [record("v=DKIM1; p=AAAA")]);
        let same = ZoneSnapshot::new(config(), 2, [record("v=DKIM1; p=AAAA")]);
        let changed = ZoneSnapshot::new(config(), 1, [record("v=DKIM1; p=")]);
        assert!(before.same_answers(&same));
        assert!(!before.same_answers(&changed));
        assert!(!before.same_answers(&ZoneSnapshot::empty(config())));
        let renumbered = changed.with_serial(9);
        assert_eq!(renumbered.serial(), 9);
        assert_eq!(
            renumbered.lookup("s.abc.dkim.example.net"),
            ZoneAnswer::Txt(&["v=DKIM1; p=".to_owned()])
        );
    }
}
