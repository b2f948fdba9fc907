//! One test per status of the SPF check, against an in-memory DNS.

use std::net::IpAddr;

use futures::executor::block_on;

use super::*;
use crate::testing::{FakeDns, QueryType, assert_mentions, assert_status, warning_codes};

const OURS: &str = "scaisend.scailabs.ai";

/// A DNS where our include host lists two ranges.
fn dns() -> FakeDns {
    dns_with(&[])
}

/// [`dns`] with these TXT records too, `(name, text)`.
fn dns_with(records: &[(&str, &str)]) -> FakeDns {
    let dns = FakeDns::with_txt(records);
    dns.txt(OURS, "v=spf1 ip4:198.51.100.0/30 ip6:2001:db8:5::/126 -all");
    dns
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn check(dns: &FakeDns, domain: &str, sending_ips: &[IpAddr]) -> Verdict {
    let domain = DomainName::parse(domain).unwrap();
    let include_host = DomainName::parse(OURS).unwrap();
    block_on(check_spf(
        dns,
        SpfExpectation {
            domain: &domain,
            include_host: &include_host,
            sending_ips,
        },
    ))
}

/// The check of example.com, whose SPF record is `record`, for our addresses.
fn check_example(record: &str) -> Verdict {
    let dns = dns();
    dns.txt("example.com", record);
    check(&dns, "example.com", &ours())
}

/// The check could not conclude: DNS did not answer.
#[track_caller]
fn assert_temporary_failure(v: &Verdict) {
    assert_status(
        v,
        CheckStatus::TemporaryFailure,
        VerdictCode::SpfTemporaryFailure,
    );
}

fn ours() -> [IpAddr; 2] {
    [ip("198.51.100.1"), ip("2001:db8:5::1")]
}

#[test]
fn no_record_is_missing_and_suggests_ours() {
    let v = check_example("google-site-verification=xyz");
    assert_status(&v, CheckStatus::Missing, VerdictCode::SpfMissing);
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 include:scaisend.scailabs.ai ~all")
    );
    assert!(v.found.is_empty());
}

#[test]
fn an_include_chain_three_levels_deep_that_reaches_ours_verifies() {
    let dns = dns_with(&[
        ("example.com", "v=spf1 include:_spf.example.com -all"),
        (
            "_spf.example.com",
            "v=spf1 ip4:203.0.113.0/24 include:_out.example.com ~all",
        ),
        (
            "_out.example.com",
            "v=spf1 include:scaisend.scailabs.ai ?all",
        ),
    ]);
    dns.answered_by("ns1.example.com");
    let v = check(&dns, "example.com", &ours());
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert_eq!(v.found, vec!["v=spf1 include:_spf.example.com -all"]);
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 include:_spf.example.com -all")
    );
    assert_eq!(v.answered_by.as_deref(), Some("ns1.example.com"));
    assert_eq!(
        v.details,
        serde_json::json!({
            "include_reached": true,
            "dns_lookups": 3,
            "void_lookups": 0,
            "results": [
                {"ip": "198.51.100.1", "result": "pass"},
                {"ip": "2001:db8:5::1", "result": "pass"},
            ],
        })
    );
}

#[test]
fn without_configured_addresses_those_of_our_record_are_checked() {
    let dns = dns();
    dns.txt("example.com", "v=spf1 include:scaisend.scailabs.ai -all");
    let v = check(&dns, "example.com", &[]);
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    let ips: Vec<&str> = v.details["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        ips,
        [
            "198.51.100.0",
            "198.51.100.3",
            "2001:db8:5::",
            "2001:db8:5::3"
        ]
    );

    // A record that lists only part of our range does not authorize all of it.
    dns.remove("example.com")
        .txt("example.com", "v=spf1 ip4:198.51.100.0/31 ~all");
    let v = check(&dns, "example.com", &[]);
    assert_status(&v, CheckStatus::Mismatch, VerdictCode::SpfIncludeNotReached);
    assert_mentions(&v, "198.51.100.3 (check_host gives `softfail`)");
}

#[test]
fn without_any_addresses_our_include_must_be_reached() {
    let dns = FakeDns::new();
    dns.txt(OURS, "v=spf1 include:_relays.scailabs.ai -all");
    dns.txt("_relays.scailabs.ai", "v=spf1 a:relay.scailabs.ai -all");
    dns.txt(
        "good.example.com",
        "v=spf1 include:scaisend.scailabs.ai -all",
    );
    dns.txt(
        "late.example.com",
        "v=spf1 ~all include:scaisend.scailabs.ai",
    );
    dns.txt(
        "minus.example.com",
        "v=spf1 -include:scaisend.scailabs.ai ~all",
    );
    let v = check(&dns, "good.example.com", &[]);
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert_eq!(v.details["include_reached"], true);
    assert_eq!(v.details["results"], serde_json::json!([]));
    for domain in ["late.example.com", "minus.example.com"] {
        let v = check(&dns, domain, &[]);
        assert_status(&v, CheckStatus::Mismatch, VerdictCode::SpfIncludeNotReached);
        assert_eq!(v.details["include_reached"], false, "{domain}");
        assert_eq!(
            v.expected.as_deref(),
            Some("v=spf1 include:scaisend.scailabs.ai ~all"),
            "{domain}"
        );
    }
}

#[test]
fn a_record_without_us_gets_our_include_merged_in_expected() {
    let dns = dns_with(&[
        ("example.com", "v=spf1 include:_spf.google.com ~all"),
        ("_spf.google.com", "v=spf1 ip4:64.233.160.0/19 ~all"),
    ]);
    let v = check(&dns, "example.com", &ours());
    assert_status(&v, CheckStatus::Mismatch, VerdictCode::SpfIncludeNotReached);
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 include:_spf.google.com include:scaisend.scailabs.ai ~all")
    );
    assert_mentions(&v, "198.51.100.1 (check_host gives `softfail`)");
    assert_eq!(v.details["include_reached"], false);
}

#[test]
fn an_address_decided_before_our_include_is_not_authorized() {
    let v = check_example("v=spf1 -ip4:198.51.100.1 include:scaisend.scailabs.ai -all");
    assert_status(&v, CheckStatus::Mismatch, VerdictCode::SpfNotAuthorized);
    assert_mentions(&v, "198.51.100.1 (check_host gives `fail`)");
    assert!(!v.message.contains("2001:db8:5::1"), "{}", v.message);
}

#[test]
fn two_records_are_invalid_and_expected_merges_them() {
    let dns = dns();
    dns.txt("example.com", "v=spf1 mx -all")
        .txt("example.com", "v=spf1 include:scaisend.scailabs.ai ~all");
    let v = check(&dns, "example.com", &ours());
    assert_status(&v, CheckStatus::Invalid, VerdictCode::SpfMultipleRecords);
    assert_eq!(v.found.len(), 2);
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 mx include:scaisend.scailabs.ai -all")
    );
    // Two records of someone else's: no single record can be suggested.
    dns.remove("example.com")
        .txt("example.com", "v=spf1 mx -all")
        .txt("example.com", "v=spf1 a -all");
    let v = check(&dns, "example.com", &ours());
    assert_status(&v, CheckStatus::Invalid, VerdictCode::SpfMultipleRecords);
    assert_eq!(v.expected, None);
}

#[test]
fn a_syntax_error_is_invalid() {
    let v = check_example("v=spf1 include:scaisend.scailabs.ai ip4:192.0.2.1/33 -all");
    assert_status(&v, CheckStatus::Invalid, VerdictCode::SpfSyntaxError);
    assert_mentions(&v, "ip4:192.0.2.1/33");
    assert_eq!(v.expected, None);
}

#[test]
fn eleven_lookups_name_the_include_that_crossed_the_limit() {
    let dns = dns();
    let mut record = String::from("v=spf1");
    for n in 1..=10 {
        record.push_str(&format!(" include:s{n}.example.net"));
        dns.txt(&format!("s{n}.example.net"), "v=spf1 ip4:203.0.113.1 -all");
    }
    record.push_str(" include:scaisend.scailabs.ai -all");
    dns.txt("example.com", &record);
    let v = check(&dns, "example.com", &ours());
    assert_status(&v, CheckStatus::Invalid, VerdictCode::SpfTooManyLookups);
    assert_mentions(
        &v,
        "`include:scaisend.scailabs.ai` in the SPF record at example.com is number 11",
    );
    assert_eq!(v.details["dns_lookups"], 10);
    assert_eq!(v.details["include_reached"], false);
}

#[test]
fn redirect_is_followed() {
    let dns = dns_with(&[
        ("example.com", "v=spf1 redirect=_spf.example.net"),
        (
            "_spf.example.net",
            "v=spf1 include:scaisend.scailabs.ai -all",
        ),
    ]);
    let v = check(&dns, "example.com", &ours());
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert_eq!(v.details["dns_lookups"], 2);
    assert_eq!(v.details["include_reached"], true);
}

#[test]
fn two_void_lookups_pass_and_three_fail() {
    let dns = dns_with(&[
        (
            "two.example.com",
            "v=spf1 a:gone1.example.com mx:gone2.example.com include:scaisend.scailabs.ai -all",
        ),
        (
            "three.example.com",
            "v=spf1 a:gone1.example.com mx:gone2.example.com exists:gone3.example.com include:scaisend.scailabs.ai -all",
        ),
    ]);
    let v = check(&dns, "two.example.com", &ours());
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert_eq!(v.details["void_lookups"], 2);
    let v = check(&dns, "three.example.com", &ours());
    assert_status(&v, CheckStatus::Invalid, VerdictCode::SpfVoidLookupLimit);
    assert_mentions(&v, "`exists:gone3.example.com`");
}

#[test]
fn dns_failures_are_temporary_never_missing() {
    let dns = dns();
    dns.fail("example.com", QueryType::Txt);
    let v = check(&dns, "example.com", &ours());
    assert_temporary_failure(&v);
    assert_eq!(v.expected, None);

    dns.txt(
        "deep.example.com",
        "v=spf1 include:down.example.net include:scaisend.scailabs.ai -all",
    )
    .fail("down.example.net", QueryType::Txt);
    let v = check(&dns, "deep.example.com", &ours());
    assert_temporary_failure(&v);
    assert_mentions(&v, "down.example.net");

    // Our own record cannot be read to learn the addresses.
    let down = FakeDns::new();
    down.txt("example.com", "v=spf1 include:scaisend.scailabs.ai -all")
        .fail(OURS, QueryType::Txt);
    let v = check(&down, "example.com", &[]);
    assert_temporary_failure(&v);
}

#[test]
fn plus_all_passes_with_a_warning() {
    let v = check_example("v=spf1 mx +all");
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert_eq!(warning_codes(&v), [VerdictCode::SpfAllowsEveryone]);
    assert!(
        v.warnings[0]
            .message
            .contains("`all` in the SPF record at example.com")
    );
    // Verified as found: nothing to merge in.
    assert_eq!(v.expected.as_deref(), Some("v=spf1 mx +all"));
}

#[test]
fn an_error_after_our_include_warns_when_only_the_include_is_checked() {
    let dns = FakeDns::new();
    dns.txt(OURS, "v=spf1 a:relay.scailabs.ai -all").txt(
        "example.com",
        "v=spf1 include:scaisend.scailabs.ai include:nowhere.example.net -all",
    );
    let v = check(&dns, "example.com", &[]);
    assert_status(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert_eq!(warning_codes(&v), [VerdictCode::SpfSyntaxError]);
    assert!(v.warnings[0].message.contains("nowhere.example.net"));
}

#[test]
fn a_record_holding_bytes_no_record_may_hold_is_invalid_and_shown_escaped() {
    for (bytes, shown, named) in [
        (
            b"v=spf1 include:scaisend.scailabs.ai x=\0 ~all".as_slice(),
            "v=spf1 include:scaisend.scailabs.ai x=\\000 ~all",
            "a NUL byte",
        ),
        (
            b"v=spf1 include:scaisend.scailabs.ai ~all\x7f",
            "v=spf1 include:scaisend.scailabs.ai ~all\\127",
            "a control character",
        ),
        (
            b"v=spf1 include:scaisend.scailabs.ai x=\x80 ~all",
            "v=spf1 include:scaisend.scailabs.ai x=\\128 ~all",
            "not UTF-8",
        ),
    ] {
        let dns = dns();
        dns.txt_bytes("example.com", bytes);
        let v = check(&dns, "example.com", &ours());
        assert_status(&v, CheckStatus::Invalid, VerdictCode::SpfSyntaxError);
        assert_mentions(&v, named);
        assert_eq!(v.found, vec![shown.to_owned()]);
    }
}
