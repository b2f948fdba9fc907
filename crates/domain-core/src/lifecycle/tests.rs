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
    Verdict {
        record,
        host: "example.com".to_owned(),
        status,
        code,
        expected: None,
        found: Vec::new(),
        message: format!("{} {}", record.as_str(), code.as_str()),
        warnings: Vec::new(),
        answered_by: None,
        details: serde_json::Value::Null,
    }
}

fn dkim(selector: &str, status: CheckStatus, code: VerdictCode) -> Verdict {
    let mut v = verdict(CheckKind::Dkim, status, code);
    v.details = json!({ "selector": selector });
    v
}

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

/// One verification of a scenario and what it must leave behind.
struct Step {
    /// When, after `t0`.
    at: Duration,
    mode: CheckMode,
    dns: Dns,
    /// The kinds of the events written, in order.
    events: &'static [EventKind],
    verified: bool,
    /// When the domain started failing, after `t0`, if it is failing.
    failing_since: Option<Duration>,
}

use EventKind::{CheckChanged, Failing, Recovered, Unverified, Verified as BecameVerified};

/// Runs the steps in order on `d`, checking what each writes and leaves.
#[track_caller]
fn check(d: &mut Domain, steps: &[Step]) {
    let ids = IdGenerator::new();
    for (i, step) in steps.iter().enumerate() {
        let now = t0() + step.at;
        let events = d.apply_checks(outcome(step.dns), step.mode, now, Actor::System, &ids);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, step.events, "step {i} ({:?}): events", step.dns);
        assert!(events.iter().all(|e| e.at == now && e.domain_id == d.id));
        assert_eq!(
            d.verified, step.verified,
            "step {i} ({:?}): verified",
            step.dns
        );
        assert_eq!(
            d.failing_since,
            step.failing_since.map(|at| t0() + at),
            "step {i} ({:?}): failing_since",
            step.dns
        );
    }
}

fn step(
    at: Duration,
    mode: CheckMode,
    dns: Dns,
    events: &'static [EventKind],
    verified: bool,
) -> Step {
    Step {
        at,
        mode,
        dns,
        events,
        verified,
        failing_since: None,
    }
}

const H: Duration = Duration::hours(1);
const FIRST_PASS: &[EventKind] = &[CheckChanged, CheckChanged, CheckChanged, BecameVerified];

#[test]
fn an_explicit_verify_records_a_failure_at_once() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            step(
                H,
                EXPLICIT,
                Dns::DkimMissing,
                &[CheckChanged, Unverified],
                false,
            ),
            step(
                2 * H,
                EXPLICIT,
                Dns::Pass,
                &[CheckChanged, BecameVerified],
                true,
            ),
        ],
    );
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

#[test]
fn a_temporary_failure_never_replaces_a_conclusive_verdict() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            step(H, EXPLICIT, Dns::DkimTempFail, &[], true),
            step(2 * H, MONITOR, Dns::AllTempFail, &[], true),
        ],
    );
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().status,
        CheckStatus::Verified
    );
    assert_eq!(
        d.checks.get(CheckKind::Spf).unwrap().status,
        CheckStatus::Verified
    );
    // A conclusive failure is not replaced either: the domain stays unverified.
    let mut d = domain();
    check(
        &mut d,
        &[
            step(
                Duration::ZERO,
                EXPLICIT,
                Dns::DkimMissing,
                &[CheckChanged, CheckChanged, CheckChanged],
                false,
            ),
            step(H, EXPLICIT, Dns::DkimTempFail, &[], false),
        ],
    );
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().code,
        VerdictCode::DkimMissing
    );
}

#[test]
fn a_temporary_failure_with_nothing_stored_is_stored() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(
                Duration::ZERO,
                EXPLICIT,
                Dns::DkimTempFail,
                &[CheckChanged, CheckChanged, CheckChanged],
                false,
            ),
            step(
                H,
                EXPLICIT,
                Dns::Pass,
                &[CheckChanged, BecameVerified],
                true,
            ),
        ],
    );
    // The first step stored the temporary failure, so the second one changed it.
    let mut d = domain();
    d.apply_checks(
        outcome(Dns::DkimTempFail),
        EXPLICIT,
        t0(),
        Actor::System,
        &IdGenerator::new(),
    );
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().status,
        CheckStatus::TemporaryFailure
    );
}

#[test]
fn the_monitor_keeps_a_failing_domain_verified_for_the_grace_period() {
    let mut d = domain();
    let failing = |at, events, verified, since| Step {
        at,
        mode: MONITOR,
        dns: Dns::DkimMissing,
        events,
        verified,
        failing_since: since,
    };
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            failing(H, &[CheckChanged, Failing], true, Some(H)),
            failing(2 * H, &[], true, Some(H)),
            failing(H + GRACE - Duration::SECOND, &[], true, Some(H)),
            failing(H + GRACE, &[Unverified], false, None),
            failing(2 * H + GRACE, &[], false, None),
        ],
    );
}

#[test]
fn a_failing_domain_that_passes_again_recovers() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            Step {
                failing_since: Some(H),
                ..step(H, MONITOR, Dns::DkimMissing, &[CheckChanged, Failing], true)
            },
            step(2 * H, MONITOR, Dns::Pass, &[CheckChanged, Recovered], true),
            // A second failure starts a new grace period.
            Step {
                failing_since: Some(3 * H),
                ..step(
                    3 * H,
                    MONITOR,
                    Dns::DkimMissing,
                    &[CheckChanged, Failing],
                    true,
                )
            },
        ],
    );
}

#[test]
fn an_explicit_verify_ends_the_grace_period() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            Step {
                failing_since: Some(H),
                ..step(H, MONITOR, Dns::DkimMissing, &[CheckChanged, Failing], true)
            },
            // Nothing changed in DNS, so no check changed; the user asked, so the truth
            // is recorded at once.
            step(2 * H, EXPLICIT, Dns::DkimMissing, &[Unverified], false),
        ],
    );
}

#[test]
fn the_monitor_verifies_a_waiting_domain_but_never_marks_it_failing() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(
                Duration::ZERO,
                MONITOR,
                Dns::DkimMissing,
                &[CheckChanged, CheckChanged, CheckChanged],
                false,
            ),
            step(H, MONITOR, Dns::DkimMissing, &[], false),
            step(
                2 * H,
                MONITOR,
                Dns::Pass,
                &[CheckChanged, BecameVerified],
                true,
            ),
        ],
    );
}

#[test]
fn an_identical_verification_writes_nothing() {
    let mut d = domain();
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            step(H, EXPLICIT, Dns::Pass, &[], true),
            step(2 * H, MONITOR, Dns::Pass, &[], true),
            step(
                3 * H,
                EXPLICIT,
                Dns::DkimMissing,
                &[CheckChanged, Unverified],
                false,
            ),
            step(4 * H, EXPLICIT, Dns::DkimMissing, &[], false),
        ],
    );
    // Passing again moves `last_verified_at` without an event.
    let mut d = domain();
    check(
        &mut d,
        &[
            step(Duration::ZERO, EXPLICIT, Dns::Pass, FIRST_PASS, true),
            step(H, EXPLICIT, Dns::Pass, &[], true),
        ],
    );
    assert_eq!(d.last_verified_at, Some(t0() + H));
}

#[test]
fn a_check_whose_found_records_change_is_recorded() {
    let mut d = domain();
    let ids = IdGenerator::new();
    d.apply_checks(outcome(Dns::Pass), EXPLICIT, t0(), Actor::System, &ids);
    let mut changed = outcome(Dns::Pass);
    let mut spf = changed.verdicts.get(CheckKind::Spf).unwrap().clone();
    spf.found = vec!["v=spf1 include:scaisend.scailabs.ai -all".to_owned()];
    changed.verdicts.insert(spf);
    let events = d.apply_checks(changed, EXPLICIT, t0() + H, Actor::System, &ids);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, CheckChanged);
    assert_eq!(events[0].detail["check"], "spf");
    assert_eq!(events[0].detail["from_status"], "verified");
}

/// Applies an outcome whose pending selector's check has `status`, returning the kinds
/// of the events written.
fn apply_pending(
    d: &mut Domain,
    dns: Dns,
    status: CheckStatus,
    code: VerdictCode,
) -> Vec<EventKind> {
    let mut o = outcome(dns);
    o.pending = Some((2, dkim("scaisend2", status, code)));
    d.apply_checks(o, EXPLICIT, t0() + H, Actor::System, &IdGenerator::new())
        .iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_passing_pending_key_is_promoted() {
    let mut d = rotating();
    let events = apply_pending(
        &mut d,
        Dns::Pass,
        CheckStatus::Verified,
        VerdictCode::DkimOk,
    );
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
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().details["selector"],
        "scaisend2"
    );
    assert!(d.verified);
}

#[test]
fn a_pending_key_is_promoted_even_once_the_old_record_is_gone() {
    let mut d = rotating();
    let events = apply_pending(
        &mut d,
        Dns::DkimMissing,
        CheckStatus::Verified,
        VerdictCode::DkimOk,
    );
    assert_eq!(events[0], EventKind::SelectorPromoted);
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().code,
        VerdictCode::DkimOk
    );
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
        let events = apply_pending(&mut d, Dns::Pass, status, code);
        assert!(!events.contains(&EventKind::SelectorPromoted), "{code:?}");
        assert_eq!(d.keys.active().selector.as_str(), "scaisend", "{code:?}");
        assert_eq!(
            d.keys.pending().map(|k| k.selector.as_str()),
            Some("scaisend2")
        );
        assert_eq!(
            d.checks.get(CheckKind::Dkim).unwrap().details["selector"],
            "scaisend"
        );
    }
}

#[test]
fn the_standing_follows_activation_verification_and_the_grace_period() {
    let ids = IdGenerator::new();
    let mut d = domain();
    assert_eq!(d.standing(GRACE), Standing::NotVerified);
    d.apply_checks(outcome(Dns::Pass), EXPLICIT, t0(), Actor::System, &ids);
    assert_eq!(d.standing(GRACE), Standing::Verified);
    d.apply_checks(
        outcome(Dns::DkimMissing),
        MONITOR,
        t0() + H,
        Actor::System,
        &ids,
    );
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
    d.apply_checks(
        outcome(Dns::DkimMissing),
        MONITOR,
        t0() + H + GRACE,
        Actor::System,
        &ids,
    );
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

/// A verification where the product page's checks pass and the return-path check gives
/// `status` and `code`.
fn return_path_outcome(status: CheckStatus, code: VerdictCode) -> DomainReport {
    let mut report = outcome(Dns::Pass);
    let mut rp = verdict(CheckKind::ReturnPath, status, code);
    rp.host = "bounces.example.com".to_owned();
    report.verdicts.insert(rp);
    report
}

/// One verification of the return path and what it must leave: the events, the return
/// path's flag and grace, and `verified` untouched throughout.
struct ReturnPathStep {
    at: Duration,
    mode: CheckMode,
    result: (CheckStatus, VerdictCode),
    events: &'static [EventKind],
    verified: bool,
    failing_since: Option<Duration>,
}

#[track_caller]
fn check_return_path(d: &mut Domain, steps: &[ReturnPathStep]) {
    let ids = IdGenerator::new();
    for (i, step) in steps.iter().enumerate() {
        let now = t0() + step.at;
        let report = return_path_outcome(step.result.0, step.result.1);
        let events = d.apply_checks(report, step.mode, now, Actor::System, &ids);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, step.events, "step {i}: events");
        let rp = d.return_path.as_ref().unwrap();
        assert_eq!(rp.verified, step.verified, "step {i}: return_path_verified");
        assert_eq!(
            rp.failing_since,
            step.failing_since.map(|at| t0() + at),
            "step {i}: its failing_since"
        );
        assert!(
            d.verified,
            "step {i}: `verified` follows DKIM, SPF and DMARC only"
        );
        assert_eq!(
            d.failing_since, None,
            "step {i}: the domain itself never fails"
        );
    }
}

use EventKind::{ReturnPathFailing, ReturnPathRecovered, ReturnPathUnverified, ReturnPathVerified};

const RP_OK: (CheckStatus, VerdictCode) = (CheckStatus::Verified, VerdictCode::ReturnPathOk);
const RP_WRONG_MX: (CheckStatus, VerdictCode) =
    (CheckStatus::Mismatch, VerdictCode::ReturnPathMxMismatch);
const RP_TEMP: (CheckStatus, VerdictCode) = (
    CheckStatus::TemporaryFailure,
    VerdictCode::ReturnPathTemporaryFailure,
);

fn rp_step(
    at: Duration,
    mode: CheckMode,
    result: (CheckStatus, VerdictCode),
    events: &'static [EventKind],
    verified: bool,
    failing_since: Option<Duration>,
) -> ReturnPathStep {
    ReturnPathStep {
        at,
        mode,
        result,
        events,
        verified,
        failing_since,
    }
}

#[test]
fn the_return_path_has_its_own_flag_and_grace_under_the_monitor() {
    let mut d = with_return_path();
    let first: &[EventKind] = &[
        CheckChanged,
        CheckChanged,
        CheckChanged,
        CheckChanged,
        BecameVerified,
        ReturnPathVerified,
    ];
    check_return_path(
        &mut d,
        &[
            rp_step(Duration::ZERO, EXPLICIT, RP_OK, first, true, None),
            // The MX breaks: flagged at once, still in use through the grace.
            rp_step(
                H,
                MONITOR,
                RP_WRONG_MX,
                &[CheckChanged, ReturnPathFailing],
                true,
                Some(H),
            ),
            rp_step(72 * H, MONITOR, RP_WRONG_MX, &[], true, Some(H)),
            rp_step(72 * H, MONITOR, RP_TEMP, &[], true, Some(H)),
            rp_step(
                73 * H,
                MONITOR,
                RP_WRONG_MX,
                &[ReturnPathUnverified],
                false,
                None,
            ),
            // An outage of the return path changes nothing.
            rp_step(74 * H, MONITOR, RP_TEMP, &[], false, None),
            rp_step(
                75 * H,
                MONITOR,
                RP_OK,
                &[CheckChanged, ReturnPathVerified],
                true,
                None,
            ),
            // A failure and a recovery inside the grace.
            rp_step(
                76 * H,
                MONITOR,
                RP_WRONG_MX,
                &[CheckChanged, ReturnPathFailing],
                true,
                Some(76 * H),
            ),
            rp_step(
                77 * H,
                MONITOR,
                RP_OK,
                &[CheckChanged, ReturnPathRecovered],
                true,
                None,
            ),
            // An explicit verify records the truth at once.
            rp_step(
                78 * H,
                EXPLICIT,
                RP_WRONG_MX,
                &[CheckChanged, ReturnPathUnverified],
                false,
                None,
            ),
        ],
    );
}

#[test]
fn return_path_events_name_the_host_and_the_failing_check() {
    let mut d = with_return_path();
    let ids = IdGenerator::new();
    d.apply_checks(
        return_path_outcome(RP_OK.0, RP_OK.1),
        EXPLICIT,
        t0(),
        Actor::System,
        &ids,
    );
    let events = d.apply_checks(
        return_path_outcome(RP_WRONG_MX.0, RP_WRONG_MX.1),
        MONITOR,
        t0() + H,
        Actor::System,
        &ids,
    );
    let failing = events.iter().find(|e| e.kind == ReturnPathFailing).unwrap();
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
    let mut report = return_path_outcome(RP_WRONG_MX.0, RP_WRONG_MX.1);
    report.verdicts.insert(dkim(
        "scaisend",
        CheckStatus::Missing,
        VerdictCode::DkimMissing,
    ));
    let events = d.apply_checks(report, EXPLICIT, t0() + 2 * H, Actor::System, &ids);
    let unverified = events.iter().find(|e| e.kind == Unverified).unwrap();
    assert!(
        !unverified.message.contains("return_path"),
        "{}",
        unverified.message
    );
    let rp = events
        .iter()
        .find(|e| e.kind == ReturnPathUnverified)
        .unwrap();
    assert!(!rp.message.contains("dkim"), "{}", rp.message);
}

#[test]
fn a_new_return_path_starts_over_and_a_verdict_about_another_host_is_never_stored() {
    let mut d = with_return_path();
    let ids = IdGenerator::new();
    d.apply_checks(
        return_path_outcome(RP_OK.0, RP_OK.1),
        EXPLICIT,
        t0(),
        Actor::System,
        &ids,
    );
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
    let events = d.apply_checks(
        return_path_outcome(RP_OK.0, RP_OK.1),
        EXPLICIT,
        t0() + 2 * H,
        Actor::System,
        &ids,
    );
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
