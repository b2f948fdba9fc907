//! When the monitor checks a domain next and when its key is due for rotation, as
//! tables of (state, now) → answer.

use time::{Duration, OffsetDateTime};

use super::*;
use crate::rotation::RotationPeriod;
use crate::testing;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

const MIN: Duration = Duration::MINUTE;
const H: Duration = Duration::HOUR;
const DAY: Duration = Duration::DAY;

/// A domain created at `t0`, still waiting for DNS.
fn waiting() -> Domain {
    testing::domain("example.com", t0())
}

/// A domain created at `t0` and verified then.
fn verified() -> Domain {
    let mut d = waiting();
    d.verified = true;
    d.last_verified_at = Some(t0());
    d
}

/// Checks that at `t0 + at`, with `jitter`, the next check of `d` is `delay` later.
#[track_caller]
fn check(d: &Domain, at: Duration, jitter: f64, delay: Duration) {
    let now = t0() + at;
    assert_eq!(
        next_check(d, now, jitter) - now,
        delay,
        "at t0 + {at}, jitter {jitter}"
    );
}

#[test]
fn a_waiting_domain_backs_off_from_when_it_was_added() {
    let d = waiting();
    check(&d, Duration::ZERO, 0.5, MIN);
    check(&d, 5 * MIN - Duration::SECOND, 0.5, MIN);
    check(&d, 5 * MIN, 0.5, 5 * MIN);
    check(&d, 30 * MIN - Duration::SECOND, 0.5, 5 * MIN);
    check(&d, 30 * MIN, 0.5, 15 * MIN);
    check(&d, 2 * H - Duration::SECOND, 0.5, 15 * MIN);
    check(&d, 2 * H, 0.5, H);
    check(&d, 72 * H - Duration::SECOND, 0.5, H);
    check(&d, 72 * H, 0.5, DAY);
    check(&d, 400 * DAY, 0.5, DAY);
    // Jitter only spreads verified domains.
    check(&d, Duration::ZERO, 0.0, MIN);
    check(&d, 72 * H, 0.99, DAY);
}

#[test]
fn a_domain_that_was_verified_before_backs_off_from_when_it_last_passed() {
    let mut d = waiting();
    d.last_verified_at = Some(t0() + 100 * DAY);
    check(&d, 100 * DAY + 2 * MIN, 0.5, MIN);
    check(&d, 100 * DAY + 3 * H, 0.5, H);
}

#[test]
fn a_verified_domain_is_checked_20_to_24_hours_later() {
    let d = verified();
    check(&d, 5 * DAY, 0.0, 20 * H);
    check(&d, 5 * DAY, 0.5, 22 * H);
    check(&d, 5 * DAY, 0.25, 21 * H);
    let now = t0() + 5 * DAY;
    let latest = next_check(&d, now, 0.9999) - now;
    assert!(
        latest > 24 * H - 2 * Duration::SECOND && latest < 24 * H,
        "{latest}"
    );
    // Out-of-range jitter is held to the range.
    check(&d, 5 * DAY, -3.0, 20 * H);
    check(&d, 5 * DAY, 7.0, 24 * H);
    check(&d, 5 * DAY, f64::INFINITY, 24 * H);
}

#[test]
fn a_jitter_that_is_not_a_number_does_not_panic() {
    // `Duration * NaN` panics in `time`; the schedule must not take the monitor down
    // for a bad jitter.
    let d = verified();
    check(&d, 5 * DAY, f64::NAN, 20 * H);
}

#[test]
fn a_failing_verified_domain_is_watched_every_15_minutes() {
    let mut d = verified();
    d.failing_since = Some(t0() + DAY);
    check(&d, DAY, 0.0, 15 * MIN);
    check(&d, 3 * DAY, 0.9, 15 * MIN);
}

#[test]
fn a_pending_rotation_backs_off_from_its_start() {
    let mut d = verified();
    let started = 10 * DAY;
    testing::start_rotation(&mut d, t0() + started);
    check(&d, started, 0.5, MIN);
    check(&d, started + 10 * MIN, 0.5, 5 * MIN);
    check(&d, started + H, 0.5, 15 * MIN);
    check(&d, started + 3 * H, 0.5, H);
    check(&d, started + 4 * DAY, 0.5, DAY);
}

#[test]
fn a_failing_domain_with_a_pending_rotation_is_still_watched_closely() {
    // The grace period ends 72 hours after the failure started; checking only hourly
    // or daily because an old rotation is pending would unverify the domain (or notice
    // its recovery) up to a day late.
    let mut d = verified();
    testing::start_rotation(&mut d, t0());
    d.failing_since = Some(t0() + 5 * DAY);
    check(&d, 5 * DAY, 0.5, 15 * MIN);
    check(&d, 7 * DAY, 0.5, 15 * MIN);
    // A rotation started a moment ago is checked sooner still.
    let mut d = verified();
    d.failing_since = Some(t0() + 5 * DAY);
    testing::start_rotation(&mut d, t0() + 5 * DAY);
    check(&d, 5 * DAY, 0.5, MIN);
}

/// [`verified`], with its key rotated automatically every 90 days.
fn rotated_every_90_days() -> Domain {
    Domain {
        dkim_rotation_days: Some(RotationPeriod::from_days(90).unwrap()),
        ..verified()
    }
}

/// Checks whether the key of `d` is due for rotation at each `t0 + at` of `(at, due)`.
#[track_caller]
fn check_due(d: &Domain, expected: &[(Duration, bool)]) {
    for &(at, due) in expected {
        assert_eq!(rotation_due(d, t0() + at), due, "at t0 + {at}");
    }
}

#[test]
fn automatic_rotation_is_off_by_default() {
    let d = verified();
    assert_eq!(d.dkim_rotation_days, None);
    check_due(&d, &[(Duration::ZERO, false), (1000 * DAY, false)]);
}

#[test]
fn a_key_is_due_after_the_configured_days_of_signing() {
    let d = rotated_every_90_days();
    check_due(
        &d,
        &[
            (90 * DAY - Duration::SECOND, false),
            (90 * DAY, true),
            (200 * DAY, true),
        ],
    );
}

#[test]
fn a_key_is_never_due_while_a_rotation_is_pending() {
    let mut d = rotated_every_90_days();
    testing::start_rotation(&mut d, t0() + 90 * DAY);
    check_due(&d, &[(91 * DAY, false), (1000 * DAY, false)]);
}

#[test]
fn a_promoted_key_counts_from_when_it_started_signing() {
    let mut d = rotated_every_90_days();
    testing::start_rotation(&mut d, t0() + 10 * DAY);
    let pending = d.keys.pending().unwrap().index;
    d.keys.promote(pending, t0() + 20 * DAY).unwrap();
    // Created 100 days ago but signing for only 90 days less one second.
    check_due(
        &d,
        &[(110 * DAY - Duration::SECOND, false), (110 * DAY, true)],
    );
}

#[test]
fn random_jitter_is_spread_over_zero_to_one() {
    let samples: Vec<f64> = (0..10_000).map(|_| random_jitter()).collect();
    assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
    // Not a constant (such as the fallback): a fleet must not stay in lock-step.
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    assert!((0.45..0.55).contains(&mean), "mean {mean}");
    assert!(samples.iter().any(|j| *j < 0.1) && samples.iter().any(|j| *j > 0.9));
}

#[test]
fn a_return_path_waiting_for_dns_backs_off_from_when_it_was_set_and_a_failing_one_is_watched() {
    let mut d = verified();
    let label = crate::name::ReturnPathLabel::parse("bounces").unwrap();
    d.set_return_path(Some(label), t0() + 10 * DAY).unwrap();
    // Set ten days after the domain was verified: checked every minute at first, as a
    // new domain would be, however long ago the domain itself was verified.
    check(&d, 10 * DAY, 0.5, MIN);
    check(&d, 10 * DAY + 30 * MIN, 0.5, 15 * MIN);
    check(&d, 13 * DAY, 0.5, DAY);
    // Verified: back to the daily rhythm of a verified domain.
    let rp = d.return_path.as_mut().unwrap();
    rp.verified = true;
    check(&d, 11 * DAY, 0.0, 20 * H);
    // Failing inside its grace period: every quarter of an hour, like a failing domain.
    d.return_path.as_mut().unwrap().failing_since = Some(t0() + 11 * DAY);
    check(&d, 11 * DAY, 0.5, 15 * MIN);
}
