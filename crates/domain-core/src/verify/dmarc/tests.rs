//! One test per code of the DMARC check, against an in-memory DNS.

use futures::executor::block_on;

use super::*;
use crate::testing::{FakeDns, QueryType, assert_mentions, assert_status, warning_codes};

fn verify(dns: &FakeDns, domain: &str, policy: Option<DmarcPolicy>) -> Verdict {
    let domain = DomainName::parse(domain).unwrap();
    block_on(check_dmarc(
        dns,
        DmarcExpectation {
            domain: &domain,
            policy,
            rua: None,
        },
    ))
}

/// [`verify`] of `domain` configured with `p=quarantine`.
fn verify_quarantine(dns: &FakeDns, domain: &str) -> Verdict {
    verify(dns, domain, Some(DmarcPolicy::Quarantine))
}

/// A DNS that cannot answer for the TXT records of `name`.
fn failing_at(name: &str) -> FakeDns {
    let dns = FakeDns::new();
    dns.fail(name, QueryType::Txt);
    dns
}

/// The check could not conclude: DNS did not answer.
#[track_caller]
fn assert_temporary_failure(v: &Verdict) {
    let code = VerdictCode::DmarcTemporaryFailure;
    assert_status(v, CheckStatus::TemporaryFailure, code);
}

/// Publishes `records` (name, text), checks `domain` configured with `p=quarantine`, and
/// compares the status, code and warning codes.
#[track_caller]
fn check(
    domain: &str,
    records: &[(&str, &str)],
    expected: (CheckStatus, VerdictCode, &[VerdictCode]),
) -> Verdict {
    let dns = FakeDns::new();
    for (name, text) in records {
        dns.txt(name, text);
    }
    let v = verify_quarantine(&dns, domain);
    assert_eq!(
        (v.status, v.code, warning_codes(&v).as_slice()),
        expected,
        "{domain} with {records:?}: {}",
        v.message
    );
    v
}

const OWN: &str = "_dmarc.example.com";

/// [`check`] of mail.example.com, which has no record of its own and inherits `record`,
/// published at example.com, with no warning.
#[track_caller]
fn inherited(record: &str) -> Verdict {
    let expected = (CheckStatus::Verified, VerdictCode::DmarcInherited, &[][..]);
    check("mail.example.com", &[(OWN, record)], expected)
}

#[test]
fn a_valid_own_record_verifies() {
    let v = check(
        "example.com",
        &[(OWN, "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com")],
        (CheckStatus::Verified, VerdictCode::DmarcOk, &[]),
    );
    assert_eq!(v.host, OWN);
    assert_eq!(
        v.found,
        vec!["v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"]
    );
    assert_eq!(v.expected.as_deref(), Some("v=DMARC1; p=quarantine"));
    assert_eq!(
        v.details,
        serde_json::json!({ "adkim": "r", "aspf": "r" }),
        "the alignment modes in force"
    );
}

#[test]
fn strict_alignment_tags_are_kept_in_the_details() {
    let v = inherited("v=DMARC1; p=quarantine; adkim=s; aspf=s");
    assert_eq!(v.details["adkim"], "s");
    assert_eq!(v.details["aspf"], "s");
    assert_eq!(v.details["inherited_from"], "example.com");
}

#[test]
fn the_organizational_domains_record_is_inherited() {
    let v = inherited("v=DMARC1; p=reject; sp=quarantine");
    assert_eq!(v.details["inherited_from"], "example.com");
    // The verdict names the record that applies; the message names both.
    assert_eq!(v.host, OWN);
    assert_mentions(&v, "_dmarc.mail.example.com");
    assert_eq!(v.found, vec!["v=DMARC1; p=reject; sp=quarantine"]);
    // What applies to a subdomain is `sp=`, so `p=quarantine; sp=none` differs from the
    // configured quarantine…
    check(
        "mail.example.com",
        &[(OWN, "v=DMARC1; p=quarantine; sp=none")],
        (
            CheckStatus::Verified,
            VerdictCode::DmarcInherited,
            &[VerdictCode::DmarcPolicyDiffers],
        ),
    );
    // …and without `sp=`, `p=` applies.
    inherited("v=DMARC1; p=quarantine");
    // Deeper subdomains inherit from the organizational domain too, not the parent.
    check(
        "a.mail.example.co.uk",
        &[("_dmarc.example.co.uk", "v=DMARC1; p=quarantine")],
        (CheckStatus::Verified, VerdictCode::DmarcInherited, &[]),
    );
}

#[test]
fn an_own_record_wins_over_the_organizational_one() {
    let v = check(
        "mail.example.com",
        &[
            ("_dmarc.mail.example.com", "v=DMARC1; p=quarantine"),
            (OWN, "v=DMARC1; p=none"),
        ],
        (CheckStatus::Verified, VerdictCode::DmarcOk, &[]),
    );
    assert_eq!(v.host, "_dmarc.mail.example.com");
    // An invalid own record is not replaced by the organizational one (RFC 7489
    // §6.6.3: discovery stops at the first DMARC record found).
    check(
        "mail.example.com",
        &[
            ("_dmarc.mail.example.com", "v=DMARC1; p=block"),
            (OWN, "v=DMARC1; p=quarantine"),
        ],
        (CheckStatus::Invalid, VerdictCode::DmarcInvalid, &[]),
    );
}

#[test]
fn no_record_anywhere_is_missing() {
    let v = check(
        "mail.example.com",
        &[],
        (CheckStatus::Missing, VerdictCode::DmarcMissing, &[]),
    );
    assert_eq!(v.host, "_dmarc.mail.example.com");
    assert!(v.found.is_empty());
    assert_eq!(v.expected.as_deref(), Some("v=DMARC1; p=quarantine"));
    // Records that are not DMARC records do not count at either name.
    check(
        "mail.example.com",
        &[
            ("_dmarc.mail.example.com", "google-site-verification=abc"),
            (OWN, "v=spf1 -all"),
        ],
        (CheckStatus::Missing, VerdictCode::DmarcMissing, &[]),
    );
}

#[test]
fn an_organizational_domain_without_a_record_is_missing_after_one_lookup() {
    let dns = FakeDns::new();
    let v = verify_quarantine(&dns, "example.com");
    assert_status(&v, CheckStatus::Missing, VerdictCode::DmarcMissing);
    // It is its own organizational domain: there is nowhere else to look.
    assert_eq!(dns.query_count(), 1);
}

#[test]
fn several_dmarc_records_are_invalid() {
    let v = check(
        "example.com",
        &[(OWN, "v=DMARC1; p=none"), (OWN, "v=DMARC1; p=reject")],
        (CheckStatus::Invalid, VerdictCode::DmarcMultipleRecords, &[]),
    );
    assert_eq!(v.found, vec!["v=DMARC1; p=none", "v=DMARC1; p=reject"]);
    check(
        "mail.example.com",
        &[(OWN, "v=DMARC1; p=none"), (OWN, "v=DMARC1; p=reject")],
        (CheckStatus::Invalid, VerdictCode::DmarcMultipleRecords, &[]),
    );
}

#[test]
fn other_txt_records_at_dmarc_are_ignored() {
    let v = check(
        "example.com",
        &[
            (OWN, "google-site-verification=abc"),
            (OWN, "v=DMARC10; p=none"),
            (OWN, "v=DMARC1; p=quarantine"),
        ],
        (CheckStatus::Verified, VerdictCode::DmarcOk, &[]),
    );
    assert_eq!(v.found, vec!["v=DMARC1; p=quarantine"]);
}

#[test]
fn an_invalid_record_names_the_tag() {
    let cases = [
        ("v=DMARC1; p=block", "`p=block`"),
        ("v=DMARC1", "`p=`"),
        ("v=DMARC1; p=none; pct=150", "`pct=150`"),
        ("v=DMARC1; p=none; rua=not a uri", "`rua=`"),
    ];
    for (record, fragment) in cases {
        let v = check(
            "example.com",
            &[(OWN, record)],
            (CheckStatus::Invalid, VerdictCode::DmarcInvalid, &[]),
        );
        assert_mentions(&v, fragment);
        assert_eq!(v.found, vec![record]);
    }
    // A record whose `v=DMARC1` is not first is not a DMARC record at all: receivers
    // discard it, so the domain has none.
    check(
        "example.com",
        &[(OWN, "p=none; v=DMARC1")],
        (CheckStatus::Missing, VerdictCode::DmarcMissing, &[]),
    );
}

#[test]
fn a_dns_failure_on_the_own_name_is_temporary() {
    let dns = failing_at(OWN);
    let v = verify_quarantine(&dns, "example.com");
    assert_temporary_failure(&v);
    // A failed own lookup is never taken for "no record here": the organizational
    // domain's record must not be inherited in its place.
    let dns = failing_at("_dmarc.mail.example.com");
    dns.txt(OWN, "v=DMARC1; p=quarantine");
    let v = verify_quarantine(&dns, "mail.example.com");
    assert_eq!(v.code, VerdictCode::DmarcTemporaryFailure);
}

#[test]
fn a_dns_failure_on_the_organizational_name_is_temporary() {
    let dns = failing_at(OWN);
    let v = verify_quarantine(&dns, "mail.example.com");
    assert_temporary_failure(&v);
    assert_eq!(v.host, "_dmarc.mail.example.com");
    assert_mentions(&v, OWN);
}

#[test]
fn a_policy_other_than_the_configured_one_is_a_warning() {
    let v = check(
        "example.com",
        &[(OWN, "v=DMARC1; p=none")],
        (
            CheckStatus::Verified,
            VerdictCode::DmarcOk,
            &[VerdictCode::DmarcPolicyDiffers],
        ),
    );
    assert!(v.warnings[0].message.contains("`none`"));
    assert!(v.warnings[0].message.contains("`quarantine`"));
    // Without a configured policy, any policy is fine and nothing is expected.
    let dns = FakeDns::new();
    dns.txt(OWN, "v=DMARC1; p=none");
    let v = verify(&dns, "example.com", None);
    assert_eq!(v.code, VerdictCode::DmarcOk);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert_eq!(v.expected, None);
}

const EXTERNAL: &str = "v=DMARC1; p=quarantine; rua=mailto:dmarc@reports.example.net";
const AUTHORIZATION: &str = "example.com._report._dmarc.reports.example.net";

#[test]
fn reports_to_another_domain_need_its_authorization() {
    let v = check(
        "example.com",
        &[(OWN, EXTERNAL)],
        (
            CheckStatus::Verified,
            VerdictCode::DmarcOk,
            &[VerdictCode::DmarcExternalRuaUnauthorized],
        ),
    );
    assert!(v.warnings[0].message.contains(AUTHORIZATION));
    check(
        "example.com",
        &[(OWN, EXTERNAL), (AUTHORIZATION, "v=DMARC1")],
        (CheckStatus::Verified, VerdictCode::DmarcOk, &[]),
    );
    // Only a DMARC record authorizes.
    check(
        "example.com",
        &[(OWN, EXTERNAL), (AUTHORIZATION, "v=spf1 -all")],
        (
            CheckStatus::Verified,
            VerdictCode::DmarcOk,
            &[VerdictCode::DmarcExternalRuaUnauthorized],
        ),
    );
    // Each destination is checked on its own.
    check(
        "example.com",
        &[
            (
                OWN,
                "v=DMARC1; p=quarantine; rua=mailto:a@reports.example.net,mailto:b@other.example!10m",
            ),
            (AUTHORIZATION, "v=DMARC1"),
        ],
        (
            CheckStatus::Verified,
            VerdictCode::DmarcOk,
            &[VerdictCode::DmarcExternalRuaUnauthorized],
        ),
    );
}

#[test]
fn an_authorization_that_cannot_be_looked_up_is_a_warning() {
    let dns = FakeDns::new();
    dns.txt(OWN, EXTERNAL).fail(AUTHORIZATION, QueryType::Txt);
    let v = verify_quarantine(&dns, "example.com");
    assert_status(&v, CheckStatus::Verified, VerdictCode::DmarcOk);
    assert_eq!(
        warning_codes(&v),
        vec![VerdictCode::DmarcExternalRuaUnauthorized]
    );
    assert!(
        v.warnings[0].message.contains("could not be checked"),
        "{}",
        v.warnings[0].message
    );
}

#[test]
fn reports_within_the_organizational_domain_need_no_authorization() {
    let dns = FakeDns::new();
    dns.txt(
        OWN,
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@reports.example.com,mailto:x@EXAMPLE.COM",
    );
    let v = verify_quarantine(&dns, "example.com");
    assert_eq!(v.code, VerdictCode::DmarcOk);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    // No authorization record was looked up.
    assert_eq!(dns.query_count(), 1);
}

#[test]
fn an_inherited_record_is_authorized_for_the_domain_it_came_from() {
    // RFC 7489 §7.1: the authorization names "the domain name from which the policy was
    // retrieved", which for an inherited record is the organizational domain.
    check(
        "mail.example.com",
        &[(OWN, EXTERNAL), (AUTHORIZATION, "v=DMARC1")],
        (CheckStatus::Verified, VerdictCode::DmarcInherited, &[]),
    );
    check(
        "mail.example.com",
        &[
            (OWN, EXTERNAL),
            (
                "mail.example.com._report._dmarc.reports.example.net",
                "v=DMARC1",
            ),
        ],
        (
            CheckStatus::Verified,
            VerdictCode::DmarcInherited,
            &[VerdictCode::DmarcExternalRuaUnauthorized],
        ),
    );
}

#[test]
fn a_record_holding_bytes_no_record_may_hold_is_invalid_and_shown_escaped() {
    for (bytes, shown, named) in [
        (
            b"v=DMARC1; p=quarantine; x=\0".as_slice(),
            "v=DMARC1; p=quarantine; x=\\000",
            "a NUL byte",
        ),
        (
            b"v=DMARC1; p=quarantine\x07",
            "v=DMARC1; p=quarantine\\007",
            "a control character",
        ),
        (
            b"v=DMARC1; p=quarantine; x=\xc3",
            "v=DMARC1; p=quarantine; x=\\195",
            "not UTF-8",
        ),
    ] {
        let dns = FakeDns::new();
        dns.txt_bytes(OWN, bytes);
        let v = verify_quarantine(&dns, "example.com");
        assert_status(&v, CheckStatus::Invalid, VerdictCode::DmarcInvalid);
        assert_mentions(&v, named);
        assert_eq!(v.found, vec![shown.to_owned()]);
    }
}
