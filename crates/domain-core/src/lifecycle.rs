//! How a domain's state follows its checks over time: promotion of a pending DKIM key,
//! verified/unverified transitions, the grace period of the monitor, and the timeline
//! events each change writes.

use time::{Duration, OffsetDateTime};

use crate::events::{Actor, Change, DomainEvent, EventWriter, Unverification};
use crate::model::{Domain, IdGenerator};
use crate::verify::{CheckStatus, DomainReport, Verdict};

/// Who is verifying, which decides how failures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// An explicit `verify` request: the truth is recorded at once (docs/verification.md),
    /// except that a temporary failure keeps the previous state.
    Explicit,
    /// The background monitor: a verified domain whose checks start failing stays
    /// verified for `grace`, so one bad DNS edit does not stop a tenant's mail.
    Monitor {
        /// How long a verified domain may fail before it is unverified.
        grace: Duration,
    },
}

/// The generations a verification was computed for: the active one, and the pending one
/// if a rotation was under way. Generation numbers are never reused, so they name the
/// keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKeys {
    /// The generation that signed.
    pub active: u32,
    /// The generation pending promotion.
    pub pending: Option<u32>,
}

impl CheckedKeys {
    /// The keys of `domain` as they are now.
    pub fn of(domain: &Domain) -> Self {
        CheckedKeys {
            active: domain.keys.active().index,
            pending: domain.keys.pending().map(|k| k.index),
        }
    }
}

/// Where a domain stands, as one word: what a status light shows (docs/api.md
/// `status`). Deactivation wins over everything, since an inactive domain is rejected at
/// queue time whatever its records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Deactivated: its sends are rejected.
    Inactive,
    /// Verified, and its checks pass.
    Verified,
    /// Verified, but the monitor has seen its checks fail: it keeps sending until
    /// `grace_until`, then is unverified unless the records are fixed.
    Failing {
        /// When the grace period ends.
        grace_until: OffsetDateTime,
    },
    /// Not verified (yet, or any more).
    NotVerified,
}

impl Standing {
    /// Every standing's name, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["inactive", "verified", "failing", "not_verified"];

    /// The API's spelling: `inactive`, `verified`, `failing`, `not_verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Inactive => Self::NAMES[0],
            Standing::Verified => Self::NAMES[1],
            Standing::Failing { .. } => Self::NAMES[2],
            Standing::NotVerified => Self::NAMES[3],
        }
    }

    /// When the grace period of a failing domain ends.
    pub fn grace_until(self) -> Option<OffsetDateTime> {
        match self {
            Standing::Failing { grace_until } => Some(grace_until),
            _ => None,
        }
    }
}

impl Domain {
    /// Where the domain stands under a monitor whose grace period is `grace`.
    pub fn standing(&self, grace: Duration) -> Standing {
        match (self.is_active, self.verified, self.failing_since) {
            (false, _, _) => Standing::Inactive,
            (true, true, Some(since)) => Standing::Failing {
                grace_until: since + grace,
            },
            (true, true, None) => Standing::Verified,
            (true, false, _) => Standing::NotVerified,
        }
    }
}

impl Domain {
    /// Applies the verdicts of a verification: promotes a pending key whose record was
    /// seen, stores the verdicts, updates `verified`, and returns the timeline events.
    ///
    /// The report must have been computed for the domain's current keys
    /// ([`CheckedKeys::of`]); callers recompute it when the keys changed meanwhile, so a
    /// verdict about one selector is never stored as another's.
    ///
    /// A temporary failure never replaces the last conclusive verdict of a check, so an
    /// outage changes nothing.
    pub fn apply_checks(
        &mut self,
        mut report: DomainReport,
        mode: CheckMode,
        now: OffsetDateTime,
        actor: Actor,
        ids: &IdGenerator,
    ) -> Vec<DomainEvent> {
        let mut events = EventWriter::new(ids, &self.id, actor, now);
        if let Some((generation, verdict)) = report.pending.take() {
            self.promote_if_seen(generation, verdict, &mut report, now, &mut events);
        }
        for verdict in report.verdicts.iter() {
            self.record_verdict(verdict.clone(), &mut events);
        }
        self.follow_verdicts(mode, now, &mut events);
        events.finish()
    }

    /// Promotes the pending generation once its records were seen in DNS (TXT mode) or
    /// its slots confirmed (CNAME mode, checked only once the propagation time passed);
    /// its verdict is then the DKIM one.
    fn promote_if_seen(
        &mut self,
        generation: u32,
        verdict: Verdict,
        report: &mut DomainReport,
        now: OffsetDateTime,
        events: &mut EventWriter<'_>,
    ) {
        if !verdict.passed() {
            return;
        }
        let old = self.keys.active().selector.clone();
        if self.keys.promote(generation, now).is_ok() {
            events.push(Change::SelectorPromoted {
                old,
                new: self.keys.active().selector.clone(),
            });
            report.verdicts.insert(verdict);
        }
    }

    /// Keeps a check's new verdict, unless it is a temporary failure after a conclusive
    /// one; notes a change in the timeline.
    fn record_verdict(&mut self, new: Verdict, events: &mut EventWriter<'_>) {
        let old = self.checks.get(new.record);
        if new.status == CheckStatus::TemporaryFailure && old.is_some() {
            return;
        }
        if old.is_none_or(|old| new.differs_from(old)) {
            events.push(Change::CheckChanged {
                before: old.map(|v| (v.status, v.code)),
                after: new.clone(),
            });
        }
        self.checks.insert(new);
    }

    /// Moves `verified` (and the grace period) to follow the stored verdicts.
    fn follow_verdicts(
        &mut self,
        mode: CheckMode,
        now: OffsetDateTime,
        events: &mut EventWriter<'_>,
    ) {
        let passing = self.checks.verified();
        if passing {
            self.last_verified_at = Some(now);
        }
        match (mode, self.verified, passing) {
            (_, false, true) => {
                self.verified = true;
                self.failing_since = None;
                events.push(Change::Verified);
            }
            (_, true, true) => {
                if let Some(failing_since) = self.failing_since.take() {
                    events.push(Change::Recovered { failing_since });
                }
            }
            (CheckMode::Explicit, true, false) => {
                self.unverify(Unverification::Failed, events);
            }
            (CheckMode::Monitor { grace }, true, false) => match self.failing_since {
                None => {
                    self.failing_since = Some(now);
                    events.push(Change::Failing {
                        grace,
                        failing: self.failing_checks(),
                    });
                }
                Some(since) if now - since >= grace => {
                    self.unverify(Unverification::GraceOver { grace }, events);
                }
                Some(_) => {}
            },
            (_, false, false) => {}
        }
    }

    fn unverify(&mut self, why: Unverification, events: &mut EventWriter<'_>) {
        self.verified = false;
        self.failing_since = None;
        events.push(Change::Unverified {
            why,
            failing: self.failing_checks(),
        });
    }

    /// The failing checks that the verified rule requires, as `check code` pairs.
    fn failing_checks(&self) -> String {
        self.checks
            .failing()
            .filter(|v| v.record.required_for_verified())
            .map(|v| format!("{} {}", v.record.as_str(), v.code.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests;
