//! The timeline: what happened to a domain, as typed changes.
//!
//! A key design decision: every change is a [`Change`] value, and this module is the one
//! place that turns it into what the store keeps and the API shows — its [`EventKind`],
//! its sentence and its `detail` JSON. Use cases say *what* changed; they never write
//! JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::crypto::KeyAlgorithm;
use crate::ids::{DomainId, EventId, IdGenerator};
use crate::macros::named_enum;
use crate::name::{DmarcPolicy, DomainName, ReturnPathLabel, RuaAddress, Selector};
use crate::rotation::{DkimMode, RotationPeriod};
use crate::verify::{CheckKind, CheckStatus, Verdict, VerdictCode};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A user, by the `sub` claim of their token.
    User(String),
    /// The service itself (the monitor, automatic rotation).
    System,
}

impl Actor {
    /// `system`, or the user's `sub`.
    pub fn as_str(&self) -> &str {
        match self {
            Actor::User(sub) => sub,
            Actor::System => "system",
        }
    }

    /// Reads what [`Actor::as_str`] wrote.
    pub fn from_stored(s: &str) -> Self {
        if s == "system" {
            Actor::System
        } else {
            Actor::User(s.to_owned())
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

named_enum! {
    /// What happened to a domain: the names the store and the API use.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EventKind {
        /// The domain was added.
        Created => "created",
        /// A check's verdict changed.
        CheckChanged => "check_changed",
        /// The domain became verified.
        Verified => "verified",
        /// The domain stopped being verified.
        Unverified => "unverified",
        /// A verified domain started failing; it stays verified for the grace period.
        Failing => "failing",
        /// A failing verified domain passes again.
        Recovered => "recovered",
        /// A new DKIM key was created as pending.
        RotationStarted => "rotation_started",
        /// The pending key's record was seen; it signs now, the old key is retiring.
        SelectorPromoted => "selector_promoted",
        /// A pending key was cancelled before it was promoted.
        RotationCancelled => "rotation_cancelled",
        /// A retiring selector was removed; its private key is destroyed.
        SelectorRemoved => "selector_removed",
        /// The DMARC policy or report address changed.
        PolicyChanged => "policy_changed",
        /// The domain was deactivated.
        Deactivated => "deactivated",
        /// The domain was reactivated.
        Reactivated => "reactivated",
        /// The return path was set, changed or removed.
        ReturnPathChanged => "return_path_changed",
        /// The return path passes its check: mail uses it as MAIL FROM.
        ReturnPathVerified => "return_path_verified",
        /// The return path stopped being verified: mail falls back to the platform's.
        ReturnPathUnverified => "return_path_unverified",
        /// A verified return path started failing; it stays in use for the grace period.
        ReturnPathFailing => "return_path_failing",
        /// A failing verified return path passes again.
        ReturnPathRecovered => "return_path_recovered",
    }
}

impl EventKind {
    /// Reads what [`EventKind::as_str`] wrote.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::from_name(s)
    }
}

/// One entry of a domain's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainEvent {
    /// `evt_<ULID>`; orders events in time.
    pub id: EventId,
    /// The domain.
    pub domain_id: DomainId,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub kind: EventKind,
    /// A readable sentence.
    pub message: String,
    /// What changed: `{"before": …, "after": …}` and anything else worth keeping.
    pub detail: serde_json::Value,
}

/// The settings a tenant changes with `PATCH` that are not activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The DMARC policy.
    pub dmarc_policy: DmarcPolicy,
    /// The report address.
    pub dmarc_rua: Option<RuaAddress>,
    /// Automatic rotation.
    pub dkim_rotation_days: Option<RotationPeriod>,
}

/// Why a domain stopped being verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverification {
    /// An explicit verification found failing checks.
    Failed,
    /// The monitor saw the checks fail for the whole grace period.
    GraceOver {
        /// The grace period.
        grace: Duration,
    },
}

/// What changed about a domain. Each variant is one [`EventKind`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The domain was added.
    Created {
        /// Its name.
        name: DomainName,
        /// Shared by its partner.
        is_shared: bool,
        /// The first settings.
        settings: Settings,
        /// The first (RSA) selector.
        selector: Selector,
        /// The kinds of its first keys, RSA first.
        keys: Vec<KeyAlgorithm>,
        /// How its keys are published.
        mode: DkimMode,
        /// Its return path, if one was set.
        return_path: Option<ReturnPathLabel>,
    },
    /// A check's verdict changed (or was given for the first time).
    CheckChanged {
        /// The previous status and code, if the check had run before.
        before: Option<(CheckStatus, VerdictCode)>,
        /// The new verdict.
        after: Verdict,
    },
    /// The domain became verified.
    Verified,
    /// The domain stopped being verified.
    Unverified {
        /// Why.
        why: Unverification,
        /// The failing checks, as `check code` pairs.
        failing: String,
    },
    /// A verified domain started failing; it stays verified for `grace`.
    Failing {
        /// The grace period.
        grace: Duration,
        /// The failing checks, as `check code` pairs.
        failing: String,
    },
    /// A failing verified domain passes again.
    Recovered {
        /// When it started failing.
        failing_since: OffsetDateTime,
    },
    /// A rotation started: a new key is pending.
    RotationStarted {
        /// Started by the schedule rather than a user.
        automatic: bool,
        /// The (RSA) selector that keeps signing.
        active: Selector,
        /// The new (RSA) selector.
        pending: Selector,
        /// Where its record goes.
        host: String,
        /// How the new keys are published.
        mode: DkimMode,
        /// Every new selector, one per algorithm.
        selectors: Vec<Selector>,
    },
    /// The pending key's record was seen; it signs now.
    SelectorPromoted {
        /// The selector that retires.
        old: Selector,
        /// The selector that signs.
        new: Selector,
    },
    /// A pending rotation was cancelled.
    RotationCancelled {
        /// The cancelled selector.
        selector: Selector,
        /// Where its record was to go.
        host: String,
    },
    /// A retiring generation was removed; its private keys are destroyed.
    SelectorRemoved {
        /// The removed (RSA) selector.
        selector: Selector,
        /// Where its record is to be deleted.
        host: String,
        /// How it was published: in CNAME mode our zone now serves a revoked record at
        /// its slot and nothing is to be deleted; it was removed by the monitor.
        mode: DkimMode,
    },
    /// The DMARC settings or the rotation schedule changed.
    SettingsChanged {
        /// Before.
        before: Settings,
        /// After.
        after: Settings,
    },
    /// The domain was deactivated.
    Deactivated,
    /// The domain was reactivated.
    Reactivated,
    /// The return path was set, changed or removed (hosts; `None`: no return path).
    ReturnPathChanged {
        /// The host before.
        before: Option<DomainName>,
        /// The host after.
        after: Option<DomainName>,
    },
    /// The return path passes its check; mail uses it as MAIL FROM.
    ReturnPathVerified {
        /// The return-path host.
        host: DomainName,
    },
    /// The return path stopped being verified; mail falls back to the platform's.
    ReturnPathUnverified {
        /// The return-path host.
        host: DomainName,
        /// Why.
        why: Unverification,
        /// The failing check, as `check code`.
        failing: String,
    },
    /// A verified return path started failing; it stays in use for `grace`.
    ReturnPathFailing {
        /// The return-path host.
        host: DomainName,
        /// The grace period.
        grace: Duration,
        /// The failing check, as `check code`.
        failing: String,
    },
    /// A failing verified return path passes again.
    ReturnPathRecovered {
        /// The return-path host.
        host: DomainName,
        /// When it started failing.
        failing_since: OffsetDateTime,
    },
}

impl Change {
    /// The kind of event.
    pub fn kind(&self) -> EventKind {
        match self {
            Change::Created { .. } => EventKind::Created,
            Change::CheckChanged { .. } => EventKind::CheckChanged,
            Change::Verified => EventKind::Verified,
            Change::Unverified { .. } => EventKind::Unverified,
            Change::Failing { .. } => EventKind::Failing,
            Change::Recovered { .. } => EventKind::Recovered,
            Change::RotationStarted { .. } => EventKind::RotationStarted,
            Change::SelectorPromoted { .. } => EventKind::SelectorPromoted,
            Change::RotationCancelled { .. } => EventKind::RotationCancelled,
            Change::SelectorRemoved { .. } => EventKind::SelectorRemoved,
            Change::SettingsChanged { .. } => EventKind::PolicyChanged,
            Change::Deactivated => EventKind::Deactivated,
            Change::Reactivated => EventKind::Reactivated,
            Change::ReturnPathChanged { .. } => EventKind::ReturnPathChanged,
            Change::ReturnPathVerified { .. } => EventKind::ReturnPathVerified,
            Change::ReturnPathUnverified { .. } => EventKind::ReturnPathUnverified,
            Change::ReturnPathFailing { .. } => EventKind::ReturnPathFailing,
            Change::ReturnPathRecovered { .. } => EventKind::ReturnPathRecovered,
        }
    }

    /// The readable sentence the timeline shows.
    pub fn message(&self) -> String {
        match self {
            Change::Created {
                name,
                selector,
                mode,
                ..
            } => match mode {
                DkimMode::Txt => format!("{name} was added with DKIM selector `{selector}`"),
                DkimMode::Cname => format!(
                    "{name} was added with DKIM selector `{selector}`, its keys served by our zone (CNAME mode)"
                ),
            },
            Change::CheckChanged { after, .. } => format!(
                "{} check: {}",
                after.record.as_str().to_uppercase(),
                after.message
            ),
            Change::Verified => format!("{} all verified; the domain can send", required_checks()),
            Change::Unverified {
                why: Unverification::Failed,
                failing,
            } => format!("verification failed: {failing}"),
            Change::Unverified {
                why: Unverification::GraceOver { grace },
                failing,
            } => format!(
                "checks kept failing for {} hours ({failing}); the domain is no longer verified",
                grace.whole_hours()
            ),
            Change::Failing { grace, failing } => format!(
                "checks failing ({failing}); the domain stays verified for {} hours unless fixed",
                grace.whole_hours()
            ),
            Change::Recovered { .. } => "all checks pass again".to_owned(),
            Change::RotationStarted {
                automatic,
                active,
                pending,
                mode,
                ..
            } => {
                let scheduled = if *automatic { "scheduled " } else { "" };
                match mode {
                    DkimMode::Txt => format!(
                        "{scheduled}rotation to `{pending}` started; publish its record — `{active}` signs until it is seen"
                    ),
                    DkimMode::Cname => format!(
                        "{scheduled}rotation to `{pending}` started; our zone serves its key now, and it signs once the CNAMEs are confirmed after the propagation time — `{active}` signs until then"
                    ),
                }
            }
            Change::SelectorPromoted { old, new } => format!(
                "the record of `{new}` was seen in DNS; it signs now and `{old}` is retiring"
            ),
            Change::RotationCancelled { selector, host } => format!(
                "the pending rotation to `{selector}` was cancelled; delete the TXT record at {host} if you published it"
            ),
            Change::SelectorRemoved {
                selector,
                host,
                mode,
            } => match mode {
                DkimMode::Txt => {
                    format!("selector `{selector}` was removed; delete the TXT record at {host}")
                }
                DkimMode::Cname => format!(
                    "the retired keys of `{selector}` were destroyed; our zone serves a revoked record in their slot until the next rotation reuses it — keep the CNAME at {host}"
                ),
            },
            Change::SettingsChanged { .. } => "the DMARC settings or the rotation schedule changed; publish the updated DMARC record from dns_records".to_owned(),
            Change::Deactivated => "the domain was deactivated; sends from it are rejected".to_owned(),
            Change::Reactivated => "the domain was reactivated".to_owned(),
            Change::ReturnPathChanged { before, after } => match (before, after) {
                (None, Some(host)) => format!(
                    "the return path is now {host}; publish its MX and SPF records from dns_records — mail uses the platform's return path until it verifies"
                ),
                (Some(old), Some(host)) => format!(
                    "the return path moved from {old} to {host}; publish the new records from dns_records — mail uses the platform's return path until it verifies"
                ),
                (Some(old), None) => format!(
                    "the return path {old} was removed; mail uses the platform's return path, and the records at {old} may be deleted"
                ),
                (None, None) => "the return path is unchanged".to_owned(),
            },
            Change::ReturnPathVerified { host } => format!(
                "the return path {host} is verified; bounces come back through it and SPF aligns with the domain"
            ),
            Change::ReturnPathUnverified {
                host,
                why: Unverification::Failed,
                failing,
            } => format!(
                "the return path {host} failed verification ({failing}); mail uses the platform's return path"
            ),
            Change::ReturnPathUnverified {
                host,
                why: Unverification::GraceOver { grace },
                failing,
            } => format!(
                "the return path {host} kept failing for {} hours ({failing}); mail uses the platform's return path",
                grace.whole_hours()
            ),
            Change::ReturnPathFailing {
                host,
                grace,
                failing,
            } => format!(
                "the return path {host} is failing ({failing}); it stays in use for {} hours unless fixed",
                grace.whole_hours()
            ),
            Change::ReturnPathRecovered { host, .. } => {
                format!("the return path {host} passes again")
            }
        }
    }

    /// What changed, as the `detail` JSON of the event: `{"before": …, "after": …}` and
    /// whatever else is worth keeping.
    pub fn detail(&self) -> Value {
        match self {
            Change::Created {
                name,
                is_shared,
                settings,
                selector,
                keys,
                mode,
                return_path,
            } => json!({
                "after": {
                    "domain": name,
                    "is_shared": is_shared,
                    "dmarc_policy": settings.dmarc_policy,
                    "dmarc_rua_email": settings.dmarc_rua,
                    "dkim_selector": selector,
                    "dkim_key_bits": keys.first().map(|k| k.bits()),
                    "dkim_algorithms": keys.iter().map(|k| k.dkim_algorithm().as_str()).collect::<Vec<_>>(),
                    "dkim_mode": mode,
                    "return_path": return_path,
                }
            }),
            Change::CheckChanged { before, after } => json!({
                "check": after.record.as_str(),
                "before": before.map(|(status, code)| json!({ "status": status, "code": code })),
                "after": { "status": after.status, "code": after.code },
                "from_status": before.map(|(status, _)| status.as_str()),
            }),
            Change::Verified => verified(false, true),
            Change::Unverified { .. } => verified(true, false),
            Change::Failing { grace, .. } => json!({ "grace_hours": grace.whole_hours() }),
            Change::Recovered { failing_since } => {
                json!({ "failing_since": failing_since.unix_timestamp() })
            }
            Change::RotationStarted {
                automatic,
                active,
                pending,
                host,
                mode,
                selectors,
            } => json!({
                "automatic": automatic,
                "before": { "active": active, "pending": null },
                "after": { "active": active, "pending": pending },
                "host": host,
                "mode": mode,
                "selectors": selectors,
            }),
            Change::SelectorPromoted { old, new } => json!({
                "before": { "active": old },
                "after": { "active": new, "retiring": old },
            }),
            Change::RotationCancelled { selector, .. } => removed(selector, "pending"),
            Change::SelectorRemoved { selector, mode, .. } => {
                let mut detail = removed(selector, "retiring");
                detail["mode"] = json!(mode);
                detail
            }
            Change::SettingsChanged { before, after } => json!({
                "before": settings(before),
                "after": settings(after),
            }),
            Change::Deactivated => active(true, false),
            Change::Reactivated => active(false, true),
            Change::ReturnPathChanged { before, after } => json!({
                "before": { "return_path_host": before },
                "after": { "return_path_host": after },
            }),
            Change::ReturnPathVerified { host } => return_path_verified(host, false, true),
            Change::ReturnPathUnverified { host, .. } => return_path_verified(host, true, false),
            Change::ReturnPathFailing { host, grace, .. } => {
                json!({ "return_path_host": host, "grace_hours": grace.whole_hours() })
            }
            Change::ReturnPathRecovered {
                host,
                failing_since,
            } => json!({
                "return_path_host": host,
                "failing_since": failing_since.unix_timestamp(),
            }),
        }
    }
}

/// The checks the verified rule requires, as a sentence: `DKIM, SPF and DMARC`.
fn required_checks() -> String {
    let names: Vec<String> = CheckKind::ALL
        .into_iter()
        .filter(|k| k.required_for_verified())
        .map(|k| k.as_str().to_uppercase())
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "every check".to_owned(),
    }
}

fn verified(before: bool, after: bool) -> Value {
    json!({ "before": { "verified": before }, "after": { "verified": after } })
}

fn return_path_verified(host: &DomainName, before: bool, after: bool) -> Value {
    json!({
        "return_path_host": host,
        "before": { "return_path_verified": before },
        "after": { "return_path_verified": after },
    })
}

fn active(before: bool, after: bool) -> Value {
    json!({ "before": { "is_active": before }, "after": { "is_active": after } })
}

fn removed(selector: &Selector, state: &str) -> Value {
    json!({ "selector": selector, "before": { "state": state }, "after": { "state": "removed" } })
}

fn settings(s: &Settings) -> Value {
    json!({
        "dmarc_policy": s.dmarc_policy,
        "dmarc_rua_email": s.dmarc_rua,
        "dkim_rotation_days": s.dkim_rotation_days,
    })
}

/// Writes the timeline events of one change of one domain.
#[derive(Debug)]
pub struct EventWriter<'a> {
    ids: &'a IdGenerator,
    domain: DomainId,
    actor: Actor,
    now: OffsetDateTime,
    events: Vec<DomainEvent>,
}

impl<'a> EventWriter<'a> {
    /// A writer for changes of `domain` made by `actor` at `now`.
    pub fn new(ids: &'a IdGenerator, domain: &DomainId, actor: Actor, now: OffsetDateTime) -> Self {
        EventWriter {
            ids,
            domain: domain.clone(),
            actor,
            now,
            events: Vec::new(),
        }
    }

    /// Records a change.
    pub fn push(&mut self, change: Change) {
        self.events.push(DomainEvent {
            id: self.ids.event_id(self.now),
            domain_id: self.domain.clone(),
            at: self.now,
            actor: self.actor.clone(),
            kind: change.kind(),
            message: change.message(),
            detail: change.detail(),
        });
    }

    /// Who the changes are recorded for.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events written.
    pub fn finish(self) -> Vec<DomainEvent> {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::from_stored("exploded"), None);
    }

    #[test]
    fn the_verified_sentence_names_the_required_checks() {
        assert_eq!(
            Change::Verified.message(),
            "DKIM, SPF and DMARC all verified; the domain can send"
        );
        assert_eq!(
            Change::Verified.detail(),
            json!({ "before": { "verified": false }, "after": { "verified": true } })
        );
    }
}
