//! Ids of domains and timeline events: a prefix and a ULID, so that they sort by creation
//! time and name their kind when they turn up in a log.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::InputError;

/// A domain id: `dom_` and a ULID (docs/api.md, "Domains").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DomainId(String);

/// A timeline event id: `evt_` and a ULID, which orders events by time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl DomainId {
    /// Parses `dom_<ULID>`.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        parse_prefixed(s, "dom_").map(DomainId)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_ulid(u: ulid::Ulid) -> Self {
        DomainId(format!("dom_{u}"))
    }
}

impl EventId {
    /// Parses `evt_<ULID>`.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        parse_prefixed(s, "evt_").map(EventId)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_ulid(u: ulid::Ulid) -> Self {
        EventId(format!("evt_{u}"))
    }
}

pub(crate) fn parse_prefixed(s: &str, prefix: &str) -> Result<String, InputError> {
    let ulid = s
        .strip_prefix(prefix)
        .and_then(|rest| ulid::Ulid::from_string(rest).ok())
        .ok_or_else(|| {
            InputError::new(format!("`{s}` is not an id of the form `{prefix}<ULID>`"))
        })?;
    Ok(format!("{prefix}{ulid}"))
}

impl fmt::Display for DomainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Generates ids whose order follows the clock, strictly increasing within a process,
/// so that events written in one transaction keep their order.
#[derive(Debug, Default)]
pub struct IdGenerator {
    inner: std::sync::Mutex<ulid::Generator>,
}

impl IdGenerator {
    /// A generator.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn next(&self, now: OffsetDateTime) -> ulid::Ulid {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match g.generate_from_datetime(now.into()) {
            Ok(u) => u,
            // More than 2^80 ids in one millisecond: move into the next one.
            Err(overflow) => overflow.commit_overflow_increment(),
        }
    }

    /// A new domain id.
    pub fn domain_id(&self, now: OffsetDateTime) -> DomainId {
        DomainId::from_ulid(self.next(now))
    }

    /// A new id of a key-pool slot: pooled keys are taken oldest first.
    pub fn pool_id(&self, now: OffsetDateTime) -> String {
        self.next(now).to_string()
    }

    /// A new event id.
    pub fn event_id(&self, now: OffsetDateTime) -> EventId {
        EventId::from_ulid(self.next(now))
    }
}

/// A domain's label in our DKIM zone: `<selector>.<label>.<zone>` is where its CNAMEs
/// point. Random, so that it says nothing about the tenant or the domain, and fixed for
/// the life of the domain: sixteen lower-case hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ZoneLabel(String);

impl ZoneLabel {
    const LEN: usize = 16;

    /// A new random label.
    pub fn generate() -> Result<Self, InputError> {
        let mut bytes = [0u8; Self::LEN / 2];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| InputError::new("the random source failed"))?;
        Ok(ZoneLabel(
            bytes.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    }

    /// Reads a stored label: lower-case hexadecimal digits, as [`generate`](Self::generate)
    /// makes them (migrated domains got theirs the same way).
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let valid = s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(ZoneLabel(s.to_owned()))
        } else {
            Err(InputError::new(format!("`{s}` is not a zone label")))
        }
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ZoneLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod zone_label_tests {
    use super::ZoneLabel;

    #[test]
    fn labels_are_random_hex_and_read_back() {
        let a = ZoneLabel::generate().unwrap();
        let b = ZoneLabel::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 16);
        assert_eq!(ZoneLabel::parse(a.as_str()).unwrap(), a);
        for bad in [
            "",
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdeg",
            "-123456789abcdef",
        ] {
            assert!(ZoneLabel::parse(bad).is_err(), "{bad}");
        }
    }
}
