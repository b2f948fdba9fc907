//! When the monitor checks a domain next (docs/operations.md, "The monitor"), and when a key is due for
//! automatic rotation.
//!
//! Domains waiting for DNS are checked soon and then less and less often — people
//! publish records minutes to hours after adding a domain — while verified domains are
//! re-checked at least daily, spread out with jitter so that a fleet added at once does
//! not stay in lock-step.

use time::{Duration, OffsetDateTime};

use crate::model::Domain;
use crate::name::Selector;
use crate::rotation::{DkimMode, KeyState};

/// How often a domain waiting for DNS is checked, by how long it has been waiting:
/// (waiting less than, check every).
const WAITING_BACKOFF: [(Duration, Duration); 4] = [
    (Duration::minutes(5), Duration::minutes(1)),
    (Duration::minutes(30), Duration::minutes(5)),
    (Duration::hours(2), Duration::minutes(15)),
    (Duration::hours(72), Duration::hours(1)),
];

/// After three days of waiting, once a day.
const WAITING_LONG: Duration = Duration::days(1);

/// A verified domain is re-checked at most this long after its last check…
const VERIFIED_MAX: Duration = Duration::hours(24);
/// …and at least this long after, the jitter spreading checks over the difference.
const VERIFIED_MIN: Duration = Duration::hours(20);

/// A verified domain that is failing (inside its grace period) is watched closely, so
/// that recovery — or the end of the grace — is noticed promptly.
const FAILING: Duration = Duration::minutes(15);

/// When to check `domain` next. `jitter` in `[0, 1)` spreads verified domains' checks.
pub fn next_check(domain: &Domain, now: OffsetDateTime, jitter: f64) -> OffsetDateTime {
    // A domain waiting for DNS backs off from when it was added, or from when it last
    // passed if it was verified before; a pending rotation backs off from its start, and
    // a return path not verified yet from when it was set (the later of the two).
    let waiting_since = if !domain.verified {
        Some(domain.last_verified_at.unwrap_or(domain.created_at))
    } else {
        let rotation = domain.keys.pending().map(|k| k.created_at);
        let return_path = domain
            .return_path
            .as_ref()
            .filter(|r| !r.verified)
            .map(|r| r.set_at);
        rotation.max(return_path)
    };
    let failing = domain.failing_since.is_some()
        || domain
            .return_path
            .as_ref()
            .is_some_and(|r| r.failing_since.is_some());
    if let Some(since) = waiting_since {
        let waited = now - since;
        let every = WAITING_BACKOFF
            .iter()
            .find(|(limit, _)| waited < *limit)
            .map_or(WAITING_LONG, |(_, every)| *every);
        // A failing domain with a rotation pending is still watched closely, or the end
        // of its grace period would be noticed up to a day late.
        let every = if failing { every.min(FAILING) } else { every };
        return now + every;
    }
    if failing {
        return now + FAILING;
    }
    // `clamp` lets NaN through, and `Duration * NaN` panics.
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    now + VERIFIED_MIN + (VERIFIED_MAX - VERIFIED_MIN) * jitter
}

/// Whether the domain's active key is due for automatic rotation: rotation is enabled,
/// no rotation is pending, and the active key has signed for the configured days.
pub fn rotation_due(domain: &Domain, now: OffsetDateTime) -> bool {
    let Some(period) = domain.dkim_rotation_days else {
        return false;
    };
    if domain.keys.pending().is_some() {
        return false;
    }
    let active = domain.keys.active();
    let since = active.activated_at.unwrap_or(active.created_at);
    now - since >= period.duration()
}

/// In CNAME mode, the retiring generation whose time to serve mail in flight is over:
/// its keys are to be destroyed, and its slot serves a revoked record. `None` in TXT
/// mode, where the tenant removes a retiring selector when they delete its record.
pub fn retirement_due(
    domain: &Domain,
    now: OffsetDateTime,
    retire_after: Duration,
) -> Option<Selector> {
    if domain.dkim_mode() != DkimMode::Cname {
        return None;
    }
    domain
        .keys
        .all()
        .iter()
        .find(|k| {
            k.state == KeyState::Retiring && k.retired_at.is_some_and(|at| now - at >= retire_after)
        })
        .map(|k| k.selector.clone())
}

/// When the next step of a CNAME-mode rotation falls due, if one is waiting: a pending
/// generation may sign once the propagation time has passed, and a retiring one is
/// destroyed after `retire_after`. The monitor checks the domain then at the latest.
pub fn next_key_step(
    domain: &Domain,
    propagation: Duration,
    retire_after: Duration,
) -> Option<OffsetDateTime> {
    let promotion = domain
        .keys
        .pending()
        .filter(|k| k.mode == DkimMode::Cname)
        .map(|k| k.created_at + propagation);
    let retirement = (domain.dkim_mode() == DkimMode::Cname)
        .then(|| {
            domain
                .keys
                .all()
                .iter()
                .filter(|k| k.state == KeyState::Retiring)
                .filter_map(|k| k.retired_at.map(|at| at + retire_after))
                .min()
        })
        .flatten();
    promotion.into_iter().chain(retirement).min()
}

/// A random number in `[0, 1)` from the operating system, for jitter.
pub fn random_jitter() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests;
