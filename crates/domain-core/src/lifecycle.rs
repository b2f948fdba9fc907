//! How a domain's state follows its checks over time: promotion of a pending DKIM key,
//! the transitions of its flags — `verified`, and `return_path_verified` — with the
//! grace period of the monitor, and the timeline events each change writes.
//!
//! A key design decision: both flags follow their checks by one rule (`GatedFlag`),
//! parameterized by which checks decide which flag ([`Gate`]); only the events they
//! write differ.

use time::{Duration, OffsetDateTime};

use crate::error::InputError;
use crate::events::{Actor, Change, DomainEvent, EventWriter, Unverification};
use crate::model::{Domain, IdGenerator, ReturnPath};
use crate::name::{DomainName, ReturnPathLabel};
use crate::verify::{CheckKind, CheckStatus, DomainReport, Gate, Verdict};

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

/// What a verification was computed for: the active generation, the pending one if a
/// rotation was under way (generation numbers are never reused, so they name the keys),
/// and the return-path host if one was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedKeys {
    /// The generation that signed.
    pub active: u32,
    /// The generation pending promotion.
    pub pending: Option<u32>,
    /// The return-path host checked.
    pub return_path: Option<DomainName>,
}

impl CheckedKeys {
    /// The keys and the return path of `domain` as they are now.
    pub fn of(domain: &Domain) -> Self {
        CheckedKeys {
            active: domain.keys.active().index,
            pending: domain.keys.pending().map(|k| k.index),
            return_path: domain.return_path.as_ref().map(|r| r.host.clone()),
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
            if verdict.record == CheckKind::ReturnPath
                && self.return_path.as_ref().map(|r| r.host.as_str()) != Some(&verdict.host)
            {
                // About a return path the domain no longer has: never stored as its own.
                continue;
            }
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

    /// Moves each flag (and its grace period) to follow the stored verdicts.
    fn follow_verdicts(
        &mut self,
        mode: CheckMode,
        now: OffsetDateTime,
        events: &mut EventWriter<'_>,
    ) {
        if self.checks.verified() {
            self.last_verified_at = Some(now);
        }
        for gate in Gate::ALL {
            let passing = self.checks.passes(gate);
            let failing = self.failing_checks(gate);
            let Some(mut flag) = self.gated_flag(gate) else {
                continue;
            };
            if let Some(transition) = flag.follow(passing, mode, now) {
                events.push(flag.change(transition, failing));
            }
        }
    }

    /// The flag `gate` decides, if the domain has it (a return path may not be set).
    fn gated_flag(&mut self, gate: Gate) -> Option<GatedFlag<'_>> {
        match gate {
            Gate::Verified => Some(GatedFlag {
                flag: Flag::Verified,
                verified: &mut self.verified,
                failing_since: &mut self.failing_since,
            }),
            Gate::ReturnPath => self.return_path.as_mut().map(|r| GatedFlag {
                flag: Flag::ReturnPath(&r.host),
                verified: &mut r.verified,
                failing_since: &mut r.failing_since,
            }),
        }
    }

    /// The failing checks that decide `gate`, as `check code` pairs.
    fn failing_checks(&self, gate: Gate) -> String {
        self.checks
            .failing()
            .filter(|v| v.record.gate() == gate)
            .map(|v| format!("{} {}", v.record.as_str(), v.code.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Sets, changes (`Some`) or removes (`None`) the return path, returning the change
    /// when there is one. A new host starts unverified and without a verdict: the last
    /// one was about another name. `Err` when the host would be too long a name.
    pub fn set_return_path(
        &mut self,
        label: Option<ReturnPathLabel>,
        now: OffsetDateTime,
    ) -> Result<Option<Change>, InputError> {
        let next = label
            .map(|label| ReturnPath::new(label, &self.name, now))
            .transpose()?;
        let before = self.return_path.as_ref().map(|r| r.host.clone());
        let after = next.as_ref().map(|r| r.host.clone());
        if before == after {
            return Ok(None);
        }
        self.return_path = next;
        self.checks.remove(CheckKind::ReturnPath);
        Ok(Some(Change::ReturnPathChanged { before, after }))
    }
}

/// A flag and the start of its grace period, borrowed from the domain.
struct GatedFlag<'a> {
    flag: Flag<'a>,
    verified: &'a mut bool,
    failing_since: &'a mut Option<OffsetDateTime>,
}

/// Which flag, with what its events name.
enum Flag<'a> {
    Verified,
    ReturnPath(&'a DomainName),
}

/// How a flag moved.
enum Transition {
    Verified,
    Recovered { failing_since: OffsetDateTime },
    Failing { grace: Duration },
    Unverified(Unverification),
}

impl GatedFlag<'_> {
    /// The one rule for every flag: it rises as soon as its checks pass; an explicit
    /// verification lowers it at once; under the monitor it stays raised for `grace`
    /// after its checks start failing.
    fn follow(
        &mut self,
        passing: bool,
        mode: CheckMode,
        now: OffsetDateTime,
    ) -> Option<Transition> {
        match (mode, *self.verified, passing) {
            (_, false, true) => {
                *self.verified = true;
                *self.failing_since = None;
                Some(Transition::Verified)
            }
            (_, true, true) => self
                .failing_since
                .take()
                .map(|failing_since| Transition::Recovered { failing_since }),
            (CheckMode::Explicit, true, false) => Some(self.lower(Unverification::Failed)),
            (CheckMode::Monitor { grace }, true, false) => match *self.failing_since {
                None => {
                    *self.failing_since = Some(now);
                    Some(Transition::Failing { grace })
                }
                Some(since) if now - since >= grace => {
                    Some(self.lower(Unverification::GraceOver { grace }))
                }
                Some(_) => None,
            },
            (_, false, false) => None,
        }
    }

    fn lower(&mut self, why: Unverification) -> Transition {
        *self.verified = false;
        *self.failing_since = None;
        Transition::Unverified(why)
    }

    /// The timeline change of a transition of this flag; `failing` names the failing
    /// checks.
    fn change(&self, transition: Transition, failing: String) -> Change {
        match (&self.flag, transition) {
            (Flag::Verified, Transition::Verified) => Change::Verified,
            (Flag::Verified, Transition::Recovered { failing_since }) => {
                Change::Recovered { failing_since }
            }
            (Flag::Verified, Transition::Failing { grace }) => Change::Failing { grace, failing },
            (Flag::Verified, Transition::Unverified(why)) => Change::Unverified { why, failing },
            (Flag::ReturnPath(host), Transition::Verified) => Change::ReturnPathVerified {
                host: (*host).clone(),
            },
            (Flag::ReturnPath(host), Transition::Recovered { failing_since }) => {
                Change::ReturnPathRecovered {
                    host: (*host).clone(),
                    failing_since,
                }
            }
            (Flag::ReturnPath(host), Transition::Failing { grace }) => Change::ReturnPathFailing {
                host: (*host).clone(),
                grace,
                failing,
            },
            (Flag::ReturnPath(host), Transition::Unverified(why)) => Change::ReturnPathUnverified {
                host: (*host).clone(),
                why,
                failing,
            },
        }
    }
}

#[cfg(test)]
mod tests;
