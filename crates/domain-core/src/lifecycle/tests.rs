//! How a domain follows its checks: each scenario is a table of verifications (when, by
//! whom, what DNS said) and what each one must write and leave.

use serde_json::json;

use super::*;
use crate::events::EventKind;
use crate::rotation::KeyState;
use crate::testing;
use crate::verify::{CheckKind, VerdictCode};

const GRACE: Duration = Duration::hours(72);
const EXPLICIT: CheckMode = CheckMode::Explicit;
const MONITOR: CheckMode = CheckMode::Monitor { grace: GRACE };

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn domain() -> Domain {
    testing::domain("example.com", t0())
}

/// The same domain with a rotation to `scaisend2` pending.
fn rotating() -> Domain {
    let mut d = domain();
    testing::start_rotation(&mut d, t0());
    d
}

fn verdict(record: CheckKind, status: CheckStatus, code: VerdictCode) -> Verdict {
    testing::verdict(record, "example.com", status, code)
}

use testing::dkim_verdict as dkim;

/// What DNS says in one verification.
#[derive(Debug, Clone, Copy)]
enum Dns {
    /// Every record is right.
    Pass,
    /// The DKIM record is gone; the others are right.
    DkimMissing,
    /// The DKIM lookup failed; the others are right.
    DkimTempFail,
    /// Every lookup failed.
    AllTempFail,
}

fn outcome(dns: Dns) -> DomainReport {
    use CheckStatus as S;
    use VerdictCode as C;
    let (dkim_status, spf_dmarc_fail) = match dns {
        Dns::Pass => ((S::Verified, C::DkimOk), false),
        Dns::DkimMissing => ((S::Missing, C::DkimMissing), false),
        Dns::DkimTempFail => ((S::TemporaryFailure, C::DkimTemporaryFailure), false),
        Dns::AllTempFail => ((S::TemporaryFailure, C::DkimTemporaryFailure), true),
    };
    let (spf, dmarc) = if spf_dmarc_fail {
        (
            verdict(CheckKind::Spf, S::TemporaryFailure, C::SpfTemporaryFailure),
            verdict(
                CheckKind::Dmarc,
                S::TemporaryFailure,
                C::DmarcTemporaryFailure,
            ),
        )
    } else {
        (
            verdict(CheckKind::Spf, S::Verified, C::SpfOk),
            verdict(CheckKind::Dmarc, S::Verified, C::DmarcOk),
        )
    };
    DomainReport {
        verdicts: [dkim("scaisend", dkim_status.0, dkim_status.1), spf, dmarc]
            .into_iter()
            .collect(),
        pending: None,
    }
}

/// One verification of a scenario and what it must leave behind. `I` is what the
/// verification found: `Dns` for the product page's checks, a `(status, code)` pair for
/// the return path's.
struct Step<I> {
    /// When, after `t0`.
    at: Duration,
    mode: CheckMode,
    found: I,
    /// The kinds of the events written, in order.
    events: &'static [EventKind],
    /// The flag under test (`verified`, or the return path's) after the step.
    verified: bool,
    /// When that flag started failing, after `t0`, if it is failing.
    failing_since: Option<Duration>,
}

/// A verification the user asked for, at `at`.
fn explicit<I>(at: Duration, found: I, events: &'static [EventKind], verified: bool) -> Step<I> {
    Step {
        at,
        mode: EXPLICIT,
        found,
        events,
        verified,
        failing_since: None,
    }
}

/// A verification by the monitor, at `at`.
fn monitor<I>(at: Duration, found: I, events: &'static [EventKind], verified: bool) -> Step<I> {
    Step {
        mode: MONITOR,
        ..explicit(at, found, events, verified)
    }
}

impl<I> Step<I> {
    /// The step leaves the flag failing since `since` (after `t0`).
    fn failing_since(self, since: Duration) -> Self {
        Step {
            failing_since: Some(since),
            ..self
        }
    }
}

use EventKind::{CheckChanged, Failing, Recovered, Unverified, Verified as BecameVerified};

/// Applies `report` to `d` as the system, at `at` after `t0`.
fn apply_at(
    d: &mut Domain,
    report: DomainReport,
    mode: CheckMode,
    at: Duration,
    ids: &IdGenerator,
) -> Vec<DomainEvent> {
    d.apply_checks(report, mode, t0() + at, Actor::System, ids)
}

/// Runs the steps in order on `d`, turning what each found into a report with `report`,
/// and checks the events each writes, the flag `flag` reads (whether it is set and since
/// when it is failing), and what `invariant` holds after every step.
#[track_caller]
fn run_steps<I: Copy + std::fmt::Debug>(
    d: &mut Domain,
    steps: &[Step<I>],
    report: fn(I) -> DomainReport,
    flag: fn(&Domain) -> (bool, Option<OffsetDateTime>),
    invariant: fn(usize, &Domain),
) {
    let ids = IdGenerator::new();
    for (i, step) in steps.iter().enumerate() {
        let events = apply_at(d, report(step.found), step.mode, step.at, &ids);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        let found = step.found;
        assert_eq!(kinds, step.events, "step {i} ({found:?}): events");
        assert!(
            events
                .iter()
                .all(|e| e.at == t0() + step.at && e.domain_id == d.id)
        );
        let (verified, failing_since) = flag(d);
        assert_eq!(verified, step.verified, "step {i} ({found:?}): verified");
        assert_eq!(
            failing_since,
            step.failing_since.map(|at| t0() + at),
            "step {i} ({found:?}): failing_since"
        );
        invariant(i, d);
    }
}

/// Runs the steps in order on a new [`domain`], checking what each writes and leaves of
/// `verified`; the domain they leave.
#[track_caller]
fn check(steps: &[Step<Dns>]) -> Domain {
    let mut d = domain();
    let verified = |d: &Domain| (d.verified, d.failing_since);
    run_steps(&mut d, steps, outcome, verified, |_, _| {});
    d
}

const H: Duration = Duration::hours(1);
const FIRST_PASS: &[EventKind] = &[CheckChanged, CheckChanged, CheckChanged, BecameVerified];
/// What a first verification that does not pass writes: each check, nothing else.
const FIRST_FAIL: &[EventKind] = &[CheckChanged, CheckChanged, CheckChanged];
/// The first verification of a domain whose records are all right.
const PASSED: Step<Dns> = Step {
    at: Duration::ZERO,
    mode: EXPLICIT,
    found: Dns::Pass,
    events: FIRST_PASS,
    verified: true,
    failing_since: None,
};

#[test]
fn an_explicit_verify_records_a_failure_at_once() {
    let d = check(&[
        PASSED,
        explicit(H, Dns::DkimMissing, &[CheckChanged, Unverified], false),
        explicit(2 * H, Dns::Pass, &[CheckChanged, BecameVerified], true),
    ]);
    assert_eq!(d.last_verified_at, Some(t0() + 2 * H));
}

#[test]
fn the_first_verification_records_each_check_and_then_verified() {
    let mut d = domain();
    let events = d.apply_checks(
        outcome(Dns::Pass),
        EXPLICIT,
        t0(),
        Actor::User("u1".to_owned()),
        &IdGenerator::new(),
    );
    let checks: Vec<&serde_json::Value> = events.iter().map(|e| &e.detail["check"]).collect();
    assert_eq!(
        checks[..3],
        [&json!("dkim"), &json!("spf"), &json!("dmarc")]
    );
    assert!(events[..3].iter().all(|e| e.detail["before"].is_null()));
    assert!(
        events
            .iter()
            .all(|e| e.actor == Actor::User("u1".to_owned()))
    );
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "ids keep order"
    );
    assert_eq!(d.last_verified_at, Some(t0()));
}

/// The stored verdict of `d`'s `kind` check.
fn stored(d: &Domain, kind: CheckKind) -> &Verdict {
    d.checks.get(kind).unwrap()
}

#[test]
fn a_temporary_failure_never_replaces_a_conclusive_verdict() {
    let d = check(&[
        PASSED,
        explicit(H, Dns::DkimTempFail, &[], true),
        monitor(2 * H, Dns::AllTempFail, &[], true),
    ]);
    assert_eq!(stored(&d, CheckKind::Dkim).status, CheckStatus::Verified);
    assert_eq!(stored(&d, CheckKind::Spf).status, CheckStatus::Verified);
    // A conclusive failure is not replaced either: the domain stays unverified.
    let d = check(&[
        explicit(Duration::ZERO, Dns::DkimMissing, FIRST_FAIL, false),
        explicit(H, Dns::DkimTempFail, &[], false),
    ]);
    assert_eq!(stored(&d, CheckKind::Dkim).code, VerdictCode::DkimMissing);
}

#[test]
fn a_temporary_failure_with_nothing_stored_is_stored() {
    check(&[
        explicit(Duration::ZERO, Dns::DkimTempFail, FIRST_FAIL, false),
        explicit(H, Dns::Pass, &[CheckChanged, BecameVerified], true),
    ]);
    // The first step stored the temporary failure, so the second one changed it.
    let mut d = domain();
    let report = outcome(Dns::DkimTempFail);
    apply_at(
        &mut d,
        report,
        EXPLICIT,
        Duration::ZERO,
        &IdGenerator::new(),
    );
    assert_eq!(
        stored(&d, CheckKind::Dkim).status,
        CheckStatus::TemporaryFailure
    );
}

#[test]
fn the_monitor_keeps_a_failing_domain_verified_for_the_grace_period() {
    let missing = |at, events, verified| monitor(at, Dns::DkimMissing, events, verified);
    check(&[
        PASSED,
        missing(H, &[CheckChanged, Failing], true).failing_since(H),
        missing(2 * H, &[], true).failing_since(H),
        missing(H + GRACE - Duration::SECOND, &[], true).failing_since(H),
        missing(H + GRACE, &[Unverified], false),
        missing(2 * H + GRACE, &[], false),
    ]);
}

/// The monitor finds the DKIM record gone at `at`: the domain starts failing.
fn starts_failing(at: Duration) -> Step<Dns> {
    monitor(at, Dns::DkimMissing, &[CheckChanged, Failing], true).failing_since(at)
}

#[test]
fn a_failing_domain_that_passes_again_recovers() {
    check(&[
        PASSED,
        starts_failing(H),
        monitor(2 * H, Dns::Pass, &[CheckChanged, Recovered], true),
        // A second failure starts a new grace period.
        starts_failing(3 * H),
    ]);
}

#[test]
fn an_explicit_verify_ends_the_grace_period() {
    check(&[
        PASSED,
        starts_failing(H),
        // Nothing changed in DNS, so no check changed; the user asked, so the truth
        // is recorded at once.
        explicit(2 * H, Dns::DkimMissing, &[Unverified], false),
    ]);
}

#[test]
fn the_monitor_verifies_a_waiting_domain_but_never_marks_it_failing() {
    check(&[
        monitor(Duration::ZERO, Dns::DkimMissing, FIRST_FAIL, false),
        monitor(H, Dns::DkimMissing, &[], false),
        monitor(2 * H, Dns::Pass, &[CheckChanged, BecameVerified], true),
    ]);
}

#[test]
fn an_identical_verification_writes_nothing() {
    check(&[
        PASSED,
        explicit(H, Dns::Pass, &[], true),
        monitor(2 * H, Dns::Pass, &[], true),
        explicit(3 * H, Dns::DkimMissing, &[CheckChanged, Unverified], false),
        explicit(4 * H, Dns::DkimMissing, &[], false),
    ]);
    // Passing again moves `last_verified_at` without an event.
    let d = check(&[PASSED, explicit(H, Dns::Pass, &[], true)]);
    assert_eq!(d.last_verified_at, Some(t0() + H));
}

#[test]
fn a_check_whose_found_records_change_is_recorded() {
    let mut d = domain();
    let ids = IdGenerator::new();
    apply_at(&mut d, outcome(Dns::Pass), EXPLICIT, Duration::ZERO, &ids);
    let mut changed = outcome(Dns::Pass);
    let mut spf = changed.verdicts.get(CheckKind::Spf).unwrap().clone();
    spf.found = vec!["v=spf1 include:scaisend.scailabs.ai -all".to_owned()];
    changed.verdicts.insert(spf);
    let events = apply_at(&mut d, changed, EXPLICIT, H, &ids);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, CheckChanged);
    assert_eq!(events[0].detail["check"], "spf");
    assert_eq!(events[0].detail["from_status"], "verified");
}

/// A check's status and the code that says why.
type Found = (CheckStatus, VerdictCode);

const DKIM_OK: Found = (CheckStatus::Verified, VerdictCode::DkimOk);

/// Applies an outcome whose pending selector's check found `pending`, returning the kinds
/// of the events written.
fn apply_pending(d: &mut Domain, dns: Dns, pending: Found) -> Vec<EventKind> {
    let mut o = outcome(dns);
    o.pending = Some((2, dkim("scaisend2", pending.0, pending.1)));
    apply_at(d, o, EXPLICIT, H, &IdGenerator::new())
        .iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_passing_pending_key_is_promoted() {
    let mut d = rotating();
    let events = apply_pending(&mut d, Dns::Pass, DKIM_OK);
    assert_eq!(events[0], EventKind::SelectorPromoted);
    assert_eq!(d.keys.active().selector.as_str(), "scaisend2");
    assert_eq!(d.keys.active().activated_at, Some(t0() + H));
    assert_eq!(
        d.keys
            .get(&crate::name::Selector::parse("scaisend").unwrap())
            .unwrap()
            .state,
        KeyState::Retiring
    );
    assert!(d.keys.pending().is_none());
    // From now on the DKIM check is the promoted selector's.
    assert_eq!(stored(&d, CheckKind::Dkim).details["selector"], "scaisend2");
    assert!(d.verified);
}

#[test]
fn a_pending_key_is_promoted_even_once_the_old_record_is_gone() {
    let mut d = rotating();
    let events = apply_pending(&mut d, Dns::DkimMissing, DKIM_OK);
    assert_eq!(events[0], EventKind::SelectorPromoted);
    assert_eq!(stored(&d, CheckKind::Dkim).code, VerdictCode::DkimOk);
    assert!(d.verified);
}

#[test]
fn a_pending_key_that_does_not_pass_stays_pending() {
    for (status, code) in [
        (CheckStatus::Missing, VerdictCode::DkimMissing),
        (CheckStatus::Mismatch, VerdictCode::DkimKeyMismatch),
        (
            CheckStatus::TemporaryFailure,
            VerdictCode::DkimTemporaryFailure,
        ),
    ] {
        let mut d = rotating();
        let events = apply_pending(&mut d, Dns::Pass, (status, code));
        assert!(!events.contains(&EventKind::SelectorPromoted), "{code:?}");
        assert_eq!(d.keys.active().selector.as_str(), "scaisend", "{code:?}");
        assert_eq!(
            d.keys.pending().map(|k| k.selector.as_str()),
            Some("scaisend2")
        );
        assert_eq!(stored(&d, CheckKind::Dkim).details["selector"], "scaisend");
    }
}

#[test]
fn the_standing_follows_activation_verification_and_the_grace_period() {
    let ids = IdGenerator::new();
    let mut d = domain();
    assert_eq!(d.standing(GRACE), Standing::NotVerified);
    apply_at(&mut d, outcome(Dns::Pass), EXPLICIT, Duration::ZERO, &ids);
    assert_eq!(d.standing(GRACE), Standing::Verified);
    apply_at(&mut d, outcome(Dns::DkimMissing), MONITOR, H, &ids);
    let failing = d.standing(GRACE);
    assert_eq!(
        failing,
        Standing::Failing {
            grace_until: t0() + H + GRACE
        }
    );
    assert_eq!(failing.grace_until(), Some(t0() + H + GRACE));
    assert_eq!(failing.as_str(), "failing");
    // Deactivation wins: an inactive domain is rejected whatever its records say.
    d.is_active = false;
    assert_eq!(d.standing(GRACE), Standing::Inactive);
    assert_eq!(Standing::Inactive.grace_until(), None);
    d.is_active = true;
    apply_at(&mut d, outcome(Dns::DkimMissing), MONITOR, H + GRACE, &ids);
    assert_eq!(d.standing(GRACE), Standing::NotVerified);
    assert_eq!(
        [
            Standing::Inactive,
            Standing::Verified,
            Standing::NotVerified
        ]
        .map(Standing::as_str),
        ["inactive", "verified", "not_verified"]
    );
}

/// The domain with the return path `bounces.example.com` set at `t0`.
fn with_return_path() -> Domain {
    let mut d = domain();
    let label = crate::name::ReturnPathLabel::parse("bounces").unwrap();
    let change = d.set_return_path(Some(label), t0()).unwrap();
    assert!(matches!(
        change,
        Some(Change::ReturnPathChanged { before: None, .. })
    ));
    d
}

/// A verification where the product page's checks pass and the return-path check found
/// `found`.
fn return_path_outcome(found: Found) -> DomainReport {
    let mut report = outcome(Dns::Pass);
    let mut rp = verdict(CheckKind::ReturnPath, found.0, found.1);
    rp.host = "bounces.example.com".to_owned();
    report.verdicts.insert(rp);
    report
}

/// Runs the return path's steps in order on a new [`with_return_path`], checking the events, the return path's
/// flag and grace, and `verified` untouched throughout.
#[track_caller]
fn check_return_path(steps: &[Step<Found>]) {
    run_steps(
        &mut with_return_path(),
        steps,
        return_path_outcome,
        |d| {
            let rp = d.return_path.as_ref().unwrap();
            (rp.verified, rp.failing_since)
        },
        |i, d| {
            assert!(
                d.verified,
                "step {i}: `verified` follows DKIM, SPF and DMARC only"
            );
            assert_eq!(
                d.failing_since, None,
                "step {i}: the domain itself never fails"
            );
        },
    );
}

use EventKind::{ReturnPathFailing, ReturnPathRecovered, ReturnPathUnverified, ReturnPathVerified};

const RP_OK: Found = (CheckStatus::Verified, VerdictCode::ReturnPathOk);
const RP_WRONG_MX: Found = (CheckStatus::Mismatch, VerdictCode::ReturnPathMxMismatch);
const RP_TEMP: Found = (
    CheckStatus::TemporaryFailure,
    VerdictCode::ReturnPathTemporaryFailure,
);

#[test]
fn the_return_path_has_its_own_flag_and_grace_under_the_monitor() {
    let first: &[EventKind] = &[
        CheckChanged,
        CheckChanged,
        CheckChanged,
        CheckChanged,
        BecameVerified,
        ReturnPathVerified,
    ];
    let breaks = &[CheckChanged, ReturnPathFailing];
    let unverifies = &[CheckChanged, ReturnPathUnverified];
    check_return_path(&[
        explicit(Duration::ZERO, RP_OK, first, true),
        // The MX breaks: flagged at once, still in use through the grace.
        monitor(H, RP_WRONG_MX, breaks, true).failing_since(H),
        monitor(72 * H, RP_WRONG_MX, &[], true).failing_since(H),
        monitor(72 * H, RP_TEMP, &[], true).failing_since(H),
        monitor(73 * H, RP_WRONG_MX, &[ReturnPathUnverified], false),
        // An outage of the return path changes nothing.
        monitor(74 * H, RP_TEMP, &[], false),
        monitor(75 * H, RP_OK, &[CheckChanged, ReturnPathVerified], true),
        // A failure and a recovery inside the grace.
        monitor(76 * H, RP_WRONG_MX, breaks, true).failing_since(76 * H),
        monitor(77 * H, RP_OK, &[CheckChanged, ReturnPathRecovered], true),
        // An explicit verify records the truth at once.
        explicit(78 * H, RP_WRONG_MX, unverifies, false),
    ]);
}

/// [`with_return_path`] after a first verification at `t0` where everything passed; and
/// the id generator to go on with.
fn return_path_verified() -> (Domain, IdGenerator) {
    let mut d = with_return_path();
    let ids = IdGenerator::new();
    let report = return_path_outcome(RP_OK);
    apply_at(&mut d, report, EXPLICIT, Duration::ZERO, &ids);
    (d, ids)
}

/// The event of `kind` among `events`.
#[track_caller]
fn event(events: &[DomainEvent], kind: EventKind) -> &DomainEvent {
    events.iter().find(|e| e.kind == kind).unwrap()
}

#[test]
fn return_path_events_name_the_host_and_the_failing_check() {
    let (mut d, ids) = return_path_verified();
    let events = apply_at(&mut d, return_path_outcome(RP_WRONG_MX), MONITOR, H, &ids);
    let failing = event(&events, ReturnPathFailing);
    assert_eq!(failing.detail["return_path_host"], "bounces.example.com");
    assert_eq!(failing.detail["grace_hours"], 72);
    assert!(
        failing
            .message
            .contains("return_path return_path_mx_mismatch"),
        "{}",
        failing.message
    );
    // DKIM failing too does not show up in the return path's event, nor the other way.
    let mut report = return_path_outcome(RP_WRONG_MX);
    let dkim_missing = dkim("scaisend", CheckStatus::Missing, VerdictCode::DkimMissing);
    report.verdicts.insert(dkim_missing);
    let events = apply_at(&mut d, report, EXPLICIT, 2 * H, &ids);
    let unverified = event(&events, Unverified);
    assert!(
        !unverified.message.contains("return_path"),
        "{}",
        unverified.message
    );
    let rp = event(&events, ReturnPathUnverified);
    assert!(!rp.message.contains("dkim"), "{}", rp.message);
}

#[test]
fn a_new_return_path_starts_over_and_a_verdict_about_another_host_is_never_stored() {
    let (mut d, ids) = return_path_verified();
    assert!(d.return_path.as_ref().unwrap().verified);
    let label = crate::name::ReturnPathLabel::parse("rp").unwrap();
    let change = d.set_return_path(Some(label.clone()), t0() + H).unwrap();
    assert_eq!(
        change.map(|c| c.detail()),
        Some(json!({
            "before": { "return_path_host": "bounces.example.com" },
            "after": { "return_path_host": "rp.example.com" },
        }))
    );
    let rp = d.return_path.clone().unwrap();
    assert_eq!(
        (rp.host.as_str(), rp.verified, rp.set_at),
        ("rp.example.com", false, t0() + H)
    );
    assert!(
        d.checks.get(CheckKind::ReturnPath).is_none(),
        "about the old host"
    );
    assert_eq!(
        d.set_return_path(Some(label), t0() + 2 * H).unwrap(),
        None,
        "unchanged"
    );
    // A report computed for the old host is not taken as the new one's.
    let events = apply_at(&mut d, return_path_outcome(RP_OK), EXPLICIT, 2 * H, &ids);
    assert!(events.iter().all(|e| e.kind != ReturnPathVerified));
    assert!(d.checks.get(CheckKind::ReturnPath).is_none());
    assert!(!d.return_path.as_ref().unwrap().verified);
    // Removed: no flag, no verdict left.
    let change = d.set_return_path(None, t0() + 3 * H).unwrap();
    assert!(matches!(
        change,
        Some(Change::ReturnPathChanged { after: None, .. })
    ));
    assert!(d.return_path.is_none());
    assert_eq!(d.set_return_path(None, t0() + 3 * H).unwrap(), None);
}
