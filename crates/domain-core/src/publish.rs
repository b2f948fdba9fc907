//! The DNS records a domain should publish — and, after a DKIM selector is removed, the
//! one it should delete (docs/api.md, "Domains" and "Rotation") — each placed in the zone
//! its owner most likely edits, and written out as a BIND zone-file fragment
//! ([`zone_file`]). Most are TXT records; a domain in CNAME mode has CNAME slots, and a
//! return path adds an MX record.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::macros::named_enum;
use crate::model::{Domain, ReturnPath};
use crate::name::{DomainName, Selector};
use crate::records::dkim::Algorithm;
use crate::records::dkim::DkimKeyRecord;
use crate::records::dmarc::DmarcRecord;
use crate::records::spf::{DomainSpec, SpfRecord};
use crate::records::value_chunks;
use crate::rotation::{DkimMode, KeyState, SelectorKey, cname_slots};
use crate::verify::{BOUNCE_MX_PREFERENCE, CheckKind, CheckStatus, CnameSlot, Verdict};
use crate::zone::ZoneConfig;

mod zone_file;

pub use zone_file::{ZONE_FILE_TTL, zone_file};

named_enum! {
    /// What to do with a record at the DNS provider.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RecordAction {
        /// Publish (or keep) it.
        Publish => "publish",
        /// Delete it: its DKIM selector was removed.
        Remove => "remove",
    }
}

named_enum! {
    /// The last known state of a record (docs/api.md, "Domains": `status`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RecordStatus {
        /// Not checked yet.
        NotChecked => "not_checked",
        /// Seen and right.
        Verified => "verified",
        /// Not found.
        Missing => "missing",
        /// Found but different.
        Mismatch => "mismatch",
        /// Found but broken.
        Invalid => "invalid",
        /// DNS could not answer.
        TemporaryFailure => "temporary_failure",
    }
}

named_enum! {
    /// The DNS type of a record to publish.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub enum RecordType {
        /// A TXT record.
        Txt => "TXT",
        /// A CNAME record: the host is an alias of the value.
        Cname => "CNAME",
        /// An MX record: where the return-path host's mail (bounces) goes.
        Mx => "MX",
    }
}

/// One row of `dns_records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecordSpec {
    /// The check the record is for: `dkim`, `spf`, `dmarc` or `return_path`.
    pub purpose: CheckKind,
    /// The record's type.
    pub record_type: RecordType,
    /// The name to publish at, in full.
    pub host: String,
    /// The zone the owner most likely edits at their DNS provider: the organizational
    /// domain of the host (RFC 7489 §3.2, by the public suffix list).
    pub zone: DomainName,
    /// `host` relative to `zone`, as a DNS provider's panel wants it (`@` for the zone's
    /// apex); pasting the full host there is how `host.example.com.example.com` happens.
    pub name: String,
    /// The value: the TXT text, the CNAME's target or the MX exchange.
    pub value: String,
    /// The MX preference; `None` for other records.
    pub priority: Option<u16>,
    /// Publish or remove.
    pub action: RecordAction,
    /// The last known state.
    pub status: RecordStatus,
    /// For DKIM rows: the key's state (in CNAME mode, the state of the key the slot
    /// holds).
    pub key_state: Option<KeyState>,
}

/// What a domain's records depend on besides the domain itself.
#[derive(Debug, Clone, Copy)]
pub struct Publishing<'a> {
    /// Our SPF include.
    pub include_host: &'a DomainSpec,
    /// The DKIM selector base, which names the CNAME slots.
    pub selector_base: &'a Selector,
    /// Our DKIM zone.
    pub zone: &'a ZoneConfig,
    /// Our bounce mail exchanger (`SCAISEND_BOUNCE_MX`), for return paths.
    pub bounce_mx: &'a DomainName,
}

impl<'a> Publishing<'a> {
    /// The part of these settings that places CNAME slots in our zone.
    pub fn delegation(&self) -> Delegation<'a> {
        Delegation {
            selector_base: self.selector_base,
            zone: self.zone,
        }
    }

    /// Where a slot of `domain` points in our zone: `<selector>.<label>.<zone>`.
    pub fn slot_target(&self, domain: &Domain, selector: &Selector) -> String {
        self.delegation().slot_target(domain, selector)
    }

    /// The CNAME slots `domain` publishes, with their targets: two per algorithm of its
    /// keys served by our zone (none when it uses TXT mode only).
    pub fn cname_slots(&self, domain: &Domain) -> Vec<CnameSlot> {
        self.delegation().cname_slots(domain)
    }
}

/// What places a CNAME-mode domain's slots in our zone: the selector base, which names
/// the slots, and the zone, which holds their targets. The zone server needs only this.
#[derive(Debug, Clone, Copy)]
pub struct Delegation<'a> {
    /// The DKIM selector base, which names the CNAME slots.
    pub selector_base: &'a Selector,
    /// Our DKIM zone.
    pub zone: &'a ZoneConfig,
}

impl Delegation<'_> {
    /// Where a slot of `domain` points in our zone: `<selector>.<label>.<zone>`.
    pub fn slot_target(&self, domain: &Domain, selector: &Selector) -> String {
        format!("{selector}.{}.{}", domain.zone_label, self.zone.apex)
    }

    /// The CNAME slots `domain` publishes, with their targets: two per algorithm of its
    /// keys served by our zone (none when it uses TXT mode only).
    pub fn cname_slots(&self, domain: &Domain) -> Vec<CnameSlot> {
        zone_algorithms(domain)
            .map(|algorithms| {
                cname_slots(self.selector_base, &algorithms)
                    .into_iter()
                    .map(|selector| CnameSlot {
                        target: self.slot_target(domain, &selector),
                        selector,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The algorithms whose keys our zone serves for `domain`: those of its CNAME-mode
/// generations that are not removed and, when the domain is in CNAME mode, its current
/// ones. `None` when it uses TXT mode only.
fn zone_algorithms(domain: &Domain) -> Option<Vec<Algorithm>> {
    let mut algorithms: Vec<Algorithm> = domain
        .keys
        .live()
        .filter(|k| k.mode == DkimMode::Cname)
        .map(SelectorKey::algorithm)
        .collect();
    if domain.dkim_mode() == DkimMode::Cname {
        algorithms.extend(domain.dkim_algorithms());
    }
    algorithms.sort();
    algorithms.dedup();
    (!algorithms.is_empty()).then_some(algorithms)
}

impl DnsRecordSpec {
    /// A record to publish at `host`, placed in `zone`, not checked yet.
    fn publish(
        zone: &DomainName,
        purpose: CheckKind,
        record_type: RecordType,
        host: String,
        value: String,
    ) -> Self {
        DnsRecordSpec {
            purpose,
            record_type,
            name: relative_name(&host, zone),
            zone: zone.clone(),
            host,
            value,
            priority: None,
            action: RecordAction::Publish,
            status: RecordStatus::NotChecked,
            key_state: None,
        }
    }

    /// The value split into character-strings of at most 255 octets, when a TXT value
    /// needs it.
    pub fn value_chunks(&self) -> Option<Vec<String>> {
        (self.record_type == RecordType::Txt
            && self.value.len() > crate::records::MAX_CHARACTER_STRING)
            .then(|| value_chunks(&self.value))
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

/// The records of a domain: its DKIM records — in TXT mode one per key (active first,
/// then pending and retiring), in CNAME mode one CNAME per slot — SPF, DMARC, the return
/// path's MX and SPF records when it has one, and recently removed selectors to delete.
///
/// The SPF value is the record the last check suggested: when the domain already has an
/// SPF record without our include, that record with our include merged in — never a
/// second SPF record.
pub fn dns_records(
    domain: &Domain,
    publishing: &Publishing<'_>,
    now: OffsetDateTime,
) -> Vec<DnsRecordSpec> {
    let dkim = domain.checks.get(CheckKind::Dkim);
    let zone = domain.name.organizational_domain();
    let row = |purpose, record_type, host: String, value: String| {
        DnsRecordSpec::publish(&zone, purpose, record_type, host, value)
    };
    let slots = publishing.cname_slots(domain);
    let in_zone = |s: &Selector| slots.iter().any(|slot| slot.selector == *s);
    let mut rows = Vec::new();
    rows.extend(slots.iter().map(|slot| {
        DnsRecordSpec {
            status: dkim
                .filter(|v| v.details["mode"] == "cname")
                .map_or(RecordStatus::NotChecked, |v| {
                    status_of_part(v, "slots", slot.selector.as_str())
                }),
            key_state: domain
                .keys
                .get(&slot.selector)
                .filter(|k| k.is_live())
                .map(|k| k.state),
            ..row(
                CheckKind::Dkim,
                RecordType::Cname,
                slot.selector.record_host(&domain.name),
                slot.target.clone(),
            )
        }
    }));
    let txt_row = |k: &SelectorKey, action| DnsRecordSpec {
        action,
        status: match dkim {
            Some(v) if k.state == KeyState::Active && v.details["mode"] != "cname" => {
                if v.details.get("keys").is_some() {
                    status_of_part(v, "keys", k.selector.as_str())
                } else if verdict_selector(v) == Some(k.selector.as_str()) {
                    status_of(Some(v))
                } else {
                    RecordStatus::NotChecked
                }
            }
            _ => RecordStatus::NotChecked,
        },
        key_state: Some(k.state),
        ..row(
            CheckKind::Dkim,
            RecordType::Txt,
            k.selector.record_host(&domain.name),
            DkimKeyRecord::for_key(&k.public_key).to_string(),
        )
    };
    let keys = domain.keys.all();
    for state in [KeyState::Active, KeyState::Pending, KeyState::Retiring] {
        rows.extend(
            keys.iter()
                .filter(|k| k.state == state && !in_zone(&k.selector))
                .map(|k| txt_row(k, RecordAction::Publish)),
        );
    }
    let spf_value = domain
        .checks
        .get(CheckKind::Spf)
        .and_then(|v| v.expected.clone())
        .unwrap_or_else(|| SpfRecord::ours(publishing.include_host).to_string());
    rows.push(DnsRecordSpec {
        status: status_of(domain.checks.get(CheckKind::Spf)),
        ..row(
            CheckKind::Spf,
            RecordType::Txt,
            domain.name.to_string(),
            spf_value,
        )
    });
    rows.push(DnsRecordSpec {
        status: status_of(domain.checks.get(CheckKind::Dmarc)),
        ..row(
            CheckKind::Dmarc,
            RecordType::Txt,
            DmarcRecord::host(&domain.name),
            DmarcRecord::ours(domain.dmarc_policy, domain.dmarc_rua.as_ref()).to_string(),
        )
    });
    if let Some(return_path) = &domain.return_path {
        rows.extend(return_path_rows(
            &zone,
            return_path,
            domain.checks.get(CheckKind::ReturnPath),
            publishing,
        ));
    }
    rows.extend(
        keys.iter()
            .filter(|k| {
                k.state == KeyState::Removed
                    && k.mode == DkimMode::Txt
                    && !in_zone(&k.selector)
                    && domain
                        .keys
                        .get(&k.selector)
                        .is_some_and(|newest| !newest.is_live())
                    && k.removed_at
                        .is_some_and(|t| now - t < REMOVED_RECORD_VISIBLE_FOR)
            })
            .map(|k| txt_row(k, RecordAction::Remove)),
    );
    rows
}

/// The return path's two records: our bounce MX, and an SPF record at the same host — the
/// one the last check suggested (its record with our include merged in), or ours with
/// `-all` — each with the status of its half of the check.
fn return_path_rows(
    zone: &DomainName,
    return_path: &ReturnPath,
    verdict: Option<&Verdict>,
    publishing: &Publishing<'_>,
) -> [DnsRecordSpec; 2] {
    let host = return_path.host.to_string();
    let half = |name: &str| verdict.map(|v| (v, &v.details[name]));
    let spf_value = half("spf")
        .and_then(|(_, d)| d["expected"].as_str().map(str::to_owned))
        .unwrap_or_else(|| SpfRecord::ours_only(publishing.include_host).to_string());
    let mx = DnsRecordSpec {
        priority: Some(BOUNCE_MX_PREFERENCE),
        status: half_status(half("mx")),
        ..DnsRecordSpec::publish(
            zone,
            CheckKind::ReturnPath,
            RecordType::Mx,
            host.clone(),
            publishing.bounce_mx.to_string(),
        )
    };
    let spf = DnsRecordSpec {
        status: half_status(half("spf")),
        ..DnsRecordSpec::publish(
            zone,
            CheckKind::ReturnPath,
            RecordType::Txt,
            host,
            spf_value,
        )
    };
    [mx, spf]
}

/// The status of one half of the return-path verdict (its `details.mx` or
/// `details.spf`); the verdict's own status when the half is not recorded (a temporary
/// failure before any conclusive verdict).
fn half_status(half: Option<(&Verdict, &serde_json::Value)>) -> RecordStatus {
    let Some((verdict, details)) = half else {
        return RecordStatus::NotChecked;
    };
    let status =
        serde_json::from_value::<CheckStatus>(details["status"].clone()).unwrap_or(verdict.status);
    record_status(status)
}

/// The status of one part (a key or a slot) of a DKIM verdict over several.
fn status_of_part(v: &Verdict, list: &str, selector: &str) -> RecordStatus {
    let part = v.details[list]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["selector"] == selector));
    match part.and_then(|p| serde_json::from_value(p["status"].clone()).ok()) {
        Some(status) => record_status(status),
        None => RecordStatus::NotChecked,
    }
}

fn verdict_selector(v: &Verdict) -> Option<&str> {
    v.details.get("selector").and_then(|s| s.as_str())
}

fn status_of(v: Option<&Verdict>) -> RecordStatus {
    v.map_or(RecordStatus::NotChecked, |v| record_status(v.status))
}

fn record_status(status: CheckStatus) -> RecordStatus {
    match status {
        CheckStatus::Verified => RecordStatus::Verified,
        CheckStatus::Missing => RecordStatus::Missing,
        CheckStatus::Mismatch => RecordStatus::Mismatch,
        CheckStatus::Invalid => RecordStatus::Invalid,
        CheckStatus::TemporaryFailure => RecordStatus::TemporaryFailure,
    }
}

#[cfg(test)]
mod tests;
