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

fn parse_prefixed(s: &str, prefix: &str) -> Result<String, InputError> {
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

    fn next(&self, now: OffsetDateTime) -> ulid::Ulid {
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

    /// A new event id.
    pub fn event_id(&self, now: OffsetDateTime) -> EventId {
        EventId::from_ulid(self.next(now))
    }
}
