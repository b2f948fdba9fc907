//! How a domain's state follows its checks over time: promotion of a pending DKIM key,
//! verified/unverified transitions, the grace period of the monitor, and the timeline
//! events each change writes.

use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::model::{Actor, Domain, DomainEvent, EventKind, IdGenerator};
use crate::name::Selector;
use crate::verify::{CheckKind, CheckStatus, Verdict};

/// The verdicts of one verification of a domain.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The active selector's DKIM check.
    pub dkim: Verdict,
    /// The SPF check.
    pub spf: Verdict,
    /// The DMARC check.
    pub dmarc: Verdict,
    /// The pending selector's DKIM check, if a rotation is pending.
    pub pending: Option<(Selector, Verdict)>,
}

/// Who is verifying, which decides how failures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// An explicit `verify` request: the truth is recorded at once (contract §3), except
    /// that a temporary failure keeps the previous state.
    Explicit,
    /// The background monitor: a verified domain whose checks start failing stays
    /// verified for `grace`, so one bad DNS edit does not stop a tenant's mail.
    Monitor {
        /// How long a verified domain may fail before it is unverified.
        grace: Duration,
    },
}

/// Writes timeline events for one change of one domain.
#[derive(Debug)]
pub struct EventWriter<'a> {
    ids: &'a IdGenerator,
    domain: &'a Domain,
    actor: Actor,
    now: OffsetDateTime,
    events: Vec<DomainEvent>,
}

impl<'a> EventWriter<'a> {
    /// A writer for changes made by `actor` at `now`.
    pub fn new(
        ids: &'a IdGenerator,
        domain: &'a Domain,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Self {
        EventWriter {
            ids,
            domain,
            actor,
            now,
            events: Vec::new(),
        }
    }

    /// Records an event.
    pub fn push(&mut self, kind: EventKind, message: String, detail: serde_json::Value) {
        self.events.push(DomainEvent {
            id: self.ids.event_id(self.now),
            domain_id: self.domain.id.clone(),
            at: self.now,
            actor: self.actor.clone(),
            kind,
            message,
            detail,
        });
    }

    /// The events written.
    pub fn finish(self) -> Vec<DomainEvent> {
        self.events
    }
}

impl Domain {
    /// Applies the verdicts of a verification: promotes a pending key whose record was
    /// seen, stores the verdicts, updates `verified`, and returns the timeline events.
    ///
    /// A temporary failure never replaces the last conclusive verdict of a check, so an
    /// outage changes nothing.
    pub fn apply_checks(
        &mut self,
        mut outcome: CheckOutcome,
        mode: CheckMode,
        now: OffsetDateTime,
        actor: Actor,
        ids: &IdGenerator,
    ) -> Vec<DomainEvent> {
        let before = self.clone();
        let mut events = EventWriter::new(ids, &before, actor, now);

        if let Some((selector, verdict)) = outcome.pending.take()
            && verdict.passed()
        {
            let old = self.keys.active().selector.clone();
            if self.keys.promote(&selector, now).is_ok() {
                events.push(
                    EventKind::SelectorPromoted,
                    format!("the record of `{selector}` was seen in DNS; it signs now and `{old}` is retiring"),
                    json!({ "before": { "active": old }, "after": { "active": selector, "retiring": old } }),
                );
                // The promoted key is the one the DKIM check is about from now on.
                outcome.dkim = verdict;
            }
        }

        for (kind, new) in [
            (CheckKind::Dkim, outcome.dkim),
            (CheckKind::Spf, outcome.spf),
            (CheckKind::Dmarc, outcome.dmarc),
        ] {
            let slot = match kind {
                CheckKind::Dkim => &mut self.checks.dkim,
                CheckKind::Spf => &mut self.checks.spf,
                CheckKind::Dmarc => &mut self.checks.dmarc,
            };
            if new.status == CheckStatus::TemporaryFailure && slot.is_some() {
                continue;
            }
            let changed = slot.as_ref().is_none_or(|old| new.differs_from(old));
            if changed {
                let old_status = slot.as_ref().map(|v| v.status.as_str());
                events.push(
                    EventKind::CheckChanged,
                    format!("{} check: {}", kind.as_str().to_uppercase(), new.message),
                    json!({
                        "check": kind.as_str(),
                        "before": slot.as_ref().map(|v| json!({ "status": v.status, "code": v.code })),
                        "after": { "status": new.status, "code": new.code },
                        "from_status": old_status,
                    }),
                );
            }
            *slot = Some(new);
        }

        let all_pass = self.checks.all_pass();
        if all_pass {
            self.last_verified_at = Some(now);
        }
        match (mode, self.verified, all_pass) {
            (_, false, true) => {
                self.verified = true;
                self.failing_since = None;
                events.push(
                    EventKind::Verified,
                    "DKIM, SPF and DMARC all verified; the domain can send".to_owned(),
                    json!({ "before": { "verified": false }, "after": { "verified": true } }),
                );
            }
            (_, true, true) => {
                if let Some(since) = self.failing_since.take() {
                    events.push(
                        EventKind::Recovered,
                        "all checks pass again".to_owned(),
                        json!({ "failing_since": since.unix_timestamp() }),
                    );
                }
            }
            (CheckMode::Explicit, true, false) => {
                self.verified = false;
                self.failing_since = None;
                events.push(
                    EventKind::Unverified,
                    format!("verification failed: {}", failing_checks(self)),
                    json!({ "before": { "verified": true }, "after": { "verified": false } }),
                );
            }
            (CheckMode::Monitor { grace }, true, false) => match self.failing_since {
                None => {
                    self.failing_since = Some(now);
                    events.push(
                        EventKind::Failing,
                        format!(
                            "checks failing ({}); the domain stays verified for {} hours unless fixed",
                            failing_checks(self),
                            grace.whole_hours()
                        ),
                        json!({ "grace_hours": grace.whole_hours() }),
                    );
                }
                Some(since) if now - since >= grace => {
                    self.verified = false;
                    self.failing_since = None;
                    events.push(
                        EventKind::Unverified,
                        format!(
                            "checks kept failing for {} hours ({}); the domain is no longer verified",
                            grace.whole_hours(),
                            failing_checks(self)
                        ),
                        json!({ "before": { "verified": true }, "after": { "verified": false } }),
                    );
                }
                Some(_) => {}
            },
            (_, false, false) => {}
        }
        events.finish()
    }
}

fn failing_checks(domain: &Domain) -> String {
    domain
        .checks
        .verdicts()
        .into_iter()
        .flatten()
        .filter(|v| !v.passed())
        .map(|v| format!("{} {}", v.record.as_str(), v.code.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
