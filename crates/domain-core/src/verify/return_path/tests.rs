//! One test per outcome of the return-path check, against an in-memory DNS, and the MX
//! rule's properties.

use futures::executor::block_on;
use proptest::prelude::*;

use super::*;
use crate::testing::{FakeDns, QueryType, assert_mentions};

const HOST: &str = "bounces.mail.example.com";
const BOUNCE: &str = "feedback.scaisend.scailabs.ai";
const OURS: &str = "scaisend.scailabs.ai";

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

/// A DNS where our include host lists our sending range.
fn dns() -> FakeDns {
    let dns = FakeDns::new();
    dns.txt(OURS, "v=spf1 ip4:198.51.100.0/30 -all");
    dns
}

/// The SPF record we ask for at the return-path host.
const OUR_SPF: &str = "v=spf1 include:scaisend.scailabs.ai -all";

/// A DNS where the return-path host has our SPF record and one MX record.
fn with_mx(preference: u16, exchange: &str) -> FakeDns {
    let dns = dns();
    dns.mx(HOST, preference, exchange).txt(HOST, OUR_SPF);
    dns
}

/// A DNS where the return-path host is published as asked.
fn published() -> FakeDns {
    with_mx(10, BOUNCE)
}

fn verify(dns: &FakeDns) -> Verdict {
    let (host, bounce, include) = (name(HOST), name(BOUNCE), name(OURS));
    block_on(check_return_path(
        dns,
        ReturnPathExpectation {
            host: &host,
            bounce_mx: &bounce,
            include_host: &include,
            sending_ips: &[],
        },
    ))
}

/// [`verify`], checking that the verdict is the return path's, about its host, with
/// `status` and `code`.
#[track_caller]
fn check(dns: &FakeDns, status: CheckStatus, code: VerdictCode) -> Verdict {
    let v = verify(dns);
    assert_eq!(v.record, CheckKind::ReturnPath);
    assert_eq!(v.host, HOST);
    assert_eq!((v.status, v.code), (status, code), "{}", v.message);
    v
}

/// [`check`] for a [`CheckStatus::Mismatch`] with `code`.
#[track_caller]
fn mismatch(dns: &FakeDns, code: VerdictCode) -> Verdict {
    check(dns, CheckStatus::Mismatch, code)
}

#[test]
fn our_mx_and_an_spf_record_that_authorizes_us_verify() {
    let dns = published();
    dns.answered_by("ns1.example.com");
    let v = check(&dns, CheckStatus::Verified, VerdictCode::ReturnPathOk);
    assert_eq!(
        v.expected.as_deref(),
        Some("10 feedback.scaisend.scailabs.ai")
    );
    assert_eq!(v.found, ["10 feedback.scaisend.scailabs.ai"]);
    assert_eq!(v.answered_by.as_deref(), Some("ns1.example.com"));
    assert_eq!(v.details["mx"]["status"], "verified");
    assert_eq!(v.details["spf"]["status"], "verified");
    assert_eq!(v.details["spf"]["code"], "spf_ok");
    assert_eq!(
        v.details["spf"]["expected"],
        "v=spf1 include:scaisend.scailabs.ai -all"
    );
    assert_eq!(v.details["spf"]["include_reached"], true);
}

#[test]
fn names_compare_without_case_or_trailing_dot_and_any_preference_passes() {
    let dns = with_mx(5, "Feedback.ScaiSend.scailabs.ai.");
    dns.mx(HOST, 20, BOUNCE);
    check(&dns, CheckStatus::Verified, VerdictCode::ReturnPathOk);
}

#[test]
fn a_null_mx_is_its_own_code() {
    let v = mismatch(&with_mx(0, "."), VerdictCode::ReturnPathNullMx);
    assert_eq!(v.found, ["0 ."]);
    assert_mentions(&v, "null MX");
}

#[test]
fn several_mail_exchangers_fail_even_with_ours_among_them() {
    let dns = published();
    dns.mx(HOST, 20, "mx.example.net");
    let v = mismatch(&dns, VerdictCode::ReturnPathMultipleMx);
    assert_mentions(&v, "mx.example.net");
    assert_eq!(
        v.expected.as_deref(),
        Some("10 feedback.scaisend.scailabs.ai")
    );
}

#[test]
fn a_wrong_target_is_a_mismatch_naming_it() {
    let v = mismatch(
        &with_mx(10, "mx.example.net"),
        VerdictCode::ReturnPathMxMismatch,
    );
    assert_eq!(v.found, ["10 mx.example.net"]);
    assert_eq!(
        v.details["spf"]["status"], "verified",
        "the SPF half is fine"
    );
}

#[test]
fn a_cname_at_the_host_fails_even_when_its_target_has_the_right_records() {
    let dns = dns();
    dns.cname(HOST, "rp.provider.example")
        .mx("rp.provider.example", 10, BOUNCE)
        .txt("rp.provider.example", OUR_SPF);
    let v = check(&dns, CheckStatus::Invalid, VerdictCode::ReturnPathCname);
    assert_eq!(v.found, ["CNAME rp.provider.example"]);
    assert_mentions(&v, "delete the CNAME");
}

#[test]
fn no_mx_is_missing() {
    let dns = dns();
    dns.txt(HOST, OUR_SPF);
    check(&dns, CheckStatus::Missing, VerdictCode::ReturnPathMxMissing);
    // NXDOMAIN: nothing at all at the host.
    check(
        &self::dns(),
        CheckStatus::Missing,
        VerdictCode::ReturnPathMxMissing,
    );
}

#[test]
fn temporary_failures_stay_temporary_whatever_else_is_wrong() {
    for fail in [QueryType::Mx, QueryType::Cname, QueryType::Txt] {
        let dns = dns();
        // The MX is wrong too: a conclusive failure of one record does not hide that
        // DNS could not answer for the other.
        dns.mx(HOST, 10, "mx.example.net").fail(HOST, fail);
        check(
            &dns,
            CheckStatus::TemporaryFailure,
            VerdictCode::ReturnPathTemporaryFailure,
        );
    }
    let dns = published();
    dns.fail(OURS, QueryType::Txt);
    check(
        &dns,
        CheckStatus::TemporaryFailure,
        VerdictCode::ReturnPathTemporaryFailure,
    );
}

#[test]
fn no_spf_record_suggests_ours_with_a_hard_fail() {
    let dns = dns();
    dns.mx(HOST, 10, BOUNCE);
    let v = check(
        &dns,
        CheckStatus::Missing,
        VerdictCode::ReturnPathSpfMissing,
    );
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 include:scaisend.scailabs.ai -all")
    );
    assert_eq!(v.details["mx"]["status"], "verified");
    assert_eq!(v.details["spf"]["code"], "spf_missing");
}

#[test]
fn an_spf_record_without_us_gets_our_include_merged_in() {
    let dns = dns();
    dns.mx(HOST, 10, BOUNCE)
        .txt(HOST, "v=spf1 ip4:203.0.113.9 -all");
    let v = mismatch(&dns, VerdictCode::ReturnPathSpfNotAuthorized);
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 ip4:203.0.113.9 include:scaisend.scailabs.ai -all")
    );
    assert_eq!(v.found, ["v=spf1 ip4:203.0.113.9 -all"]);
}

#[test]
fn two_spf_records_are_invalid() {
    let dns = published();
    dns.txt(HOST, "v=spf1 -all");
    let v = check(
        &dns,
        CheckStatus::Invalid,
        VerdictCode::ReturnPathSpfInvalid,
    );
    assert_eq!(v.details["spf"]["code"], "spf_multiple_records");
}

fn exchange() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(BOUNCE.to_owned()),
        Just("FEEDBACK.scaisend.scailabs.ai.".to_owned()),
        Just(".".to_owned()),
        Just("mx.example.net".to_owned()),
        Just("feedback.scaisend.scailabs.ai.evil.example".to_owned()),
    ]
}

fn answer<T: std::fmt::Debug + Clone + 'static>(
    records: impl Strategy<Value = Vec<T>>,
) -> impl Strategy<Value = DnsResult<T>> {
    prop_oneof![
        4 => records.prop_map(|r| if r.is_empty() { DnsResult::NoData } else { DnsResult::Records(r) }),
        1 => Just(DnsResult::NxDomain),
        1 => Just(DnsResult::TempFail("timeout".to_owned())),
    ]
}

proptest! {
    /// The rule passes exactly when DNS answered, the host is no alias, and every MX
    /// record names our bounce host; a temporary failure always wins.
    #[test]
    fn the_mx_rule_passes_only_for_exactly_our_bounce_host(
        alias in answer(prop::collection::vec(Just("rp.provider.example".to_owned()), 0..2)),
        mx in answer(prop::collection::vec(
            (any::<u16>(), exchange()).prop_map(|(preference, exchange)| MxRecord { preference, exchange }),
            0..4,
        )),
    ) {
        let finding = mx_rule(&alias, &mx, &name(BOUNCE));
        let temp = alias.is_temp_fail() || mx.is_temp_fail();
        prop_assert_eq!(matches!(finding, MxFinding::TempFail(_)), temp);
        if !temp && !alias.records().is_empty() {
            prop_assert!(matches!(finding, MxFinding::Alias(_)));
        }
        let exactly_ours = !mx.records().is_empty()
            && mx.records().iter().all(|r| r.exchange.trim_end_matches('.').eq_ignore_ascii_case(BOUNCE));
        prop_assert_eq!(
            finding == MxFinding::Ours,
            !temp && alias.records().is_empty() && exactly_ours
        );
        let null = mx.records().iter().any(MxRecord::is_null);
        if finding == MxFinding::Null {
            prop_assert!(null);
        }
        let (status, _) = finding.outcome();
        prop_assert_eq!(status == CheckStatus::Verified, finding == MxFinding::Ours);
    }
}
