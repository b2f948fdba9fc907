//! Ids of domains and timeline events: a prefix and a ULID, so that they sort by creation
//! time and name their kind when they turn up in a log.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::InputError;
use crate::macros::{prefixed_id, text_newtype};

prefixed_id!(
    /// A domain id: `dom_` and a ULID (docs/api.md, "Domains").
    DomainId,
    "dom_"
);
prefixed_id!(
    /// A timeline event id: `evt_` and a ULID, which orders events by time.
    #[derive(Deserialize)]
    EventId,
    "evt_"
);

pub(crate) fn parse_prefixed(s: &str, prefix: &str) -> Result<String, InputError> {
    let ulid = s
        .strip_prefix(prefix)
        .and_then(|rest| ulid::Ulid::from_string(rest).ok())
        .ok_or_else(|| {
            InputError::new(format!("`{s}` is not an id of the form `{prefix}<ULID>`"))
        })?;
    Ok(format!("{prefix}{ulid}"))
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
        DomainId::generate(self, now)
    }

    /// A new id of a key-pool slot: pooled keys are taken oldest first.
    pub fn pool_id(&self, now: OffsetDateTime) -> String {
        self.next(now).to_string()
    }

    /// A new event id.
    pub fn event_id(&self, now: OffsetDateTime) -> EventId {
        EventId::generate(self, now)
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
}

text_newtype!(ZoneLabel, "The label as text.");

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
