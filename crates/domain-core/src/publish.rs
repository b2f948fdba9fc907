//! The DNS records a domain should publish — and, after a DKIM selector is removed, the
//! one it should delete (contract §2 `dns_records`, §4) — each placed in the zone its
//! owner most likely edits, and written out as a BIND zone-file fragment ([`zone_file`]).

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::model::Domain;
use crate::name::DomainName;
use crate::records::dkim::DkimKeyRecord;
use crate::records::dmarc::DmarcRecord;
use crate::records::spf::{DomainSpec, SpfRecord};
use crate::records::value_chunks;
use crate::rotation::KeyState;
use crate::verify::{CheckKind, Verdict};

mod zone_file;

pub use zone_file::{ZONE_FILE_TTL, zone_file};

/// What to do with a record at the DNS provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordAction {
    /// Publish (or keep) it.
    Publish,
    /// Delete it: its DKIM selector was removed.
    Remove,
}

/// The last known state of a record (contract §2 `status`).
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

/// One row of `dns_records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecordSpec {
    /// `dkim`, `spf` or `dmarc`.
    pub purpose: CheckKind,
    /// The name to publish at, in full.
    pub host: String,
    /// The zone the owner most likely edits at their DNS provider: the organizational
    /// domain of the host (RFC 7489 §3.2, by the public suffix list).
    pub zone: DomainName,
    /// `host` relative to `zone`, as a DNS provider's panel wants it (`@` for the zone's
    /// apex); pasting the full host there is how `host.example.com.example.com` happens.
    pub name: String,
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

/// `host` relative to `zone`: the labels before the zone, or `@` for the zone itself (the
/// zone-file spelling every DNS provider's panel accepts). A host outside the zone — which
/// the records of a domain never are, since the zone is their organizational domain — is
/// given absolute, with a trailing dot, so it can never be read as relative by mistake.
pub fn relative_name(host: &str, zone: &DomainName) -> String {
    let zone = zone.as_str();
    if host.eq_ignore_ascii_case(zone) {
        return "@".to_owned();
    }
    match host.len().checked_sub(zone.len() + 1) {
        Some(cut)
            if host.is_char_boundary(cut)
                && host[cut..].starts_with('.')
                && host[cut + 1..].eq_ignore_ascii_case(zone)
                && cut > 0 =>
        {
            host[..cut].to_owned()
        }
        _ => format!("{host}."),
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
    let zone = domain.name.organizational_domain();
    let placed = |host: String| {
        let name = relative_name(&host, &zone);
        (host, zone.clone(), name)
    };
    let dkim_row = |k: &crate::rotation::SelectorKey, action| {
        let (host, zone, name) = placed(k.selector.record_host(&domain.name));
        DnsRecordSpec {
            purpose: CheckKind::Dkim,
            host,
            zone,
            name,
            value: DkimKeyRecord::for_key(&k.public_key).to_string(),
            action,
            status: match (domain.checks.get(CheckKind::Dkim), k.state) {
                (Some(v), KeyState::Active) if verdict_selector(v) == Some(k.selector.as_str()) => {
                    status_of(Some(v))
                }
                _ => RecordStatus::NotChecked,
            },
            key_state: Some(k.state),
        }
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
    let (host, zone, name) = placed(domain.name.to_string());
    rows.push(DnsRecordSpec {
        purpose: CheckKind::Spf,
        host,
        zone,
        name,
        value: spf_value,
        action: RecordAction::Publish,
        status: status_of(domain.checks.get(CheckKind::Spf)),
        key_state: None,
    });
    let (host, zone, name) = placed(DmarcRecord::host(&domain.name));
    rows.push(DnsRecordSpec {
        purpose: CheckKind::Dmarc,
        host,
        zone,
        name,
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
