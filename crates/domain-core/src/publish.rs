//! The DNS records a domain should publish — and, after a DKIM selector is removed, the
//! one it should delete (docs/api.md, "Domains" and "Rotation").

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::model::Domain;
use crate::records::dkim::DkimKeyRecord;
use crate::records::dmarc::DmarcRecord;
use crate::records::spf::{DomainSpec, SpfRecord};
use crate::records::value_chunks;
use crate::rotation::KeyState;
use crate::verify::{CheckKind, Verdict};

/// What to do with a record at the DNS provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordAction {
    /// Publish (or keep) it.
    Publish,
    /// Delete it: its DKIM selector was removed.
    Remove,
}

impl RecordAction {
    /// Every action.
    pub const ALL: [RecordAction; 2] = [RecordAction::Publish, RecordAction::Remove];

    /// The snake_case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordAction::Publish => "publish",
            RecordAction::Remove => "remove",
        }
    }
}

/// The last known state of a record (docs/api.md, "Domains": `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Not checked yet.
    NotChecked,
    /// Seen and right.
    Verified,
    /// Not found.
    Missing,
    /// Found but different.
    Mismatch,
    /// Found but broken.
    Invalid,
    /// DNS could not answer.
    TemporaryFailure,
}

impl RecordStatus {
    /// Every status.
    pub const ALL: [RecordStatus; 6] = [
        RecordStatus::NotChecked,
        RecordStatus::Verified,
        RecordStatus::Missing,
        RecordStatus::Mismatch,
        RecordStatus::Invalid,
        RecordStatus::TemporaryFailure,
    ];

    /// The snake_case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::NotChecked => "not_checked",
            RecordStatus::Verified => "verified",
            RecordStatus::Missing => "missing",
            RecordStatus::Mismatch => "mismatch",
            RecordStatus::Invalid => "invalid",
            RecordStatus::TemporaryFailure => "temporary_failure",
        }
    }
}

/// One row of `dns_records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecordSpec {
    /// `dkim`, `spf` or `dmarc`.
    pub purpose: CheckKind,
    /// The name to publish at.
    pub host: String,
    /// The TXT value.
    pub value: String,
    /// Publish or remove.
    pub action: RecordAction,
    /// The last known state.
    pub status: RecordStatus,
    /// For DKIM rows: the selector and the key's state.
    pub key_state: Option<KeyState>,
}

impl DnsRecordSpec {
    /// The value split into character-strings of at most 255 octets, when it needs it.
    pub fn value_chunks(&self) -> Option<Vec<String>> {
        (self.value.len() > crate::records::MAX_CHARACTER_STRING).then(|| value_chunks(&self.value))
    }
}

/// How long a removed selector keeps showing with `action: remove`.
pub const REMOVED_RECORD_VISIBLE_FOR: Duration = Duration::days(30);

/// The records of a domain: its DKIM keys (active first, then pending and retiring), SPF,
/// DMARC, and recently removed selectors to delete.
///
/// The SPF value is the record the last check suggested: when the domain already has an
/// SPF record without our include, that record with our include merged in — never a
/// second SPF record.
pub fn dns_records(
    domain: &Domain,
    include_host: &DomainSpec,
    now: OffsetDateTime,
) -> Vec<DnsRecordSpec> {
    let keys = domain.keys.all();
    let dkim_row = |k: &crate::rotation::SelectorKey, action| DnsRecordSpec {
        purpose: CheckKind::Dkim,
        host: k.selector.record_host(&domain.name),
        value: DkimKeyRecord::for_key(&k.public_key).to_string(),
        action,
        status: match (domain.checks.get(CheckKind::Dkim), k.state) {
            (Some(v), KeyState::Active) if verdict_selector(v) == Some(k.selector.as_str()) => {
                status_of(Some(v))
            }
            _ => RecordStatus::NotChecked,
        },
        key_state: Some(k.state),
    };
    let mut rows = Vec::new();
    for state in [KeyState::Active, KeyState::Pending, KeyState::Retiring] {
        rows.extend(
            keys.iter()
                .filter(|k| k.state == state)
                .map(|k| dkim_row(k, RecordAction::Publish)),
        );
    }
    let spf_value = domain
        .checks
        .get(CheckKind::Spf)
        .and_then(|v| v.expected.clone())
        .unwrap_or_else(|| SpfRecord::ours(include_host).to_string());
    rows.push(DnsRecordSpec {
        purpose: CheckKind::Spf,
        host: domain.name.to_string(),
        value: spf_value,
        action: RecordAction::Publish,
        status: status_of(domain.checks.get(CheckKind::Spf)),
        key_state: None,
    });
    rows.push(DnsRecordSpec {
        purpose: CheckKind::Dmarc,
        host: DmarcRecord::host(&domain.name),
        value: DmarcRecord::ours(domain.dmarc_policy, domain.dmarc_rua.as_ref()).to_string(),
        action: RecordAction::Publish,
        status: status_of(domain.checks.get(CheckKind::Dmarc)),
        key_state: None,
    });
    rows.extend(
        keys.iter()
            .filter(|k| {
                k.state == KeyState::Removed
                    && k.removed_at
                        .is_some_and(|t| now - t < REMOVED_RECORD_VISIBLE_FOR)
            })
            .map(|k| dkim_row(k, RecordAction::Remove)),
    );
    rows
}

fn verdict_selector(v: &Verdict) -> Option<&str> {
    v.details.get("selector").and_then(|s| s.as_str())
}

fn status_of(v: Option<&Verdict>) -> RecordStatus {
    use crate::verify::CheckStatus as S;
    match v.map(|v| v.status) {
        None => RecordStatus::NotChecked,
        Some(S::Verified) => RecordStatus::Verified,
        Some(S::Missing) => RecordStatus::Missing,
        Some(S::Mismatch) => RecordStatus::Mismatch,
        Some(S::Invalid) => RecordStatus::Invalid,
        Some(S::TemporaryFailure) => RecordStatus::TemporaryFailure,
    }
}

#[cfg(test)]
mod tests;
