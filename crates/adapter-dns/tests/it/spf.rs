//! The core's SPF check end to end: a real server, the adapter, RFC 7208 evaluation.

use std::net::IpAddr;

use domain_core::DomainName;
use domain_core::verify::Verdict;
use domain_core::verify::{CheckStatus, SpfExpectation, VerdictCode, check_spf};
use test_dns::{Record, TestDns};

use crate::{Started, TestResult, adapter, assert_verdict, serving};

const INCLUDE: &str = "scaisend.example.net";

fn name(n: &str) -> DomainName {
    DomainName::parse(n).expect("a valid test domain")
}

/// A server with our include host's record (our sending range 192.0.2.0/24) and the
/// SPF `records` of a test, each `(name, value)`.
async fn server<N: AsRef<str>, V: AsRef<str>>(
    records: impl IntoIterator<Item = (N, V)>,
) -> Started {
    let dns = serving(
        records
            .into_iter()
            .map(|(name, value)| (name, Record::txt(value.as_ref()))),
    )
    .await?;
    dns.publish(INCLUDE, Record::txt("v=spf1 ip4:192.0.2.0/24 -all"))?;
    Ok(dns)
}

async fn check(dns: &TestDns, domain: &str) -> Verdict {
    let lookup = adapter(dns);
    let (domain, include) = (name(domain), name(INCLUDE));
    check_spf(
        &lookup,
        SpfExpectation {
            domain: &domain,
            include_host: &include,
            sending_ips: &[] as &[IpAddr],
        },
    )
    .await
}

#[tokio::test]
async fn our_include_three_levels_deep_verifies() -> TestResult {
    let dns = server([
        ("example.test", "v=spf1 include:_spf.example.test -all"),
        ("_spf.example.test", "v=spf1 include:_esp.example.test ~all"),
        (
            "_esp.example.test",
            &format!("v=spf1 include:{INCLUDE} ?all"),
        ),
    ])
    .await?;
    let v = check(&dns, "example.test").await;
    assert_verdict(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    assert_eq!(v.details["include_reached"], true);
    Ok(())
}

#[tokio::test]
async fn two_spf_records_are_invalid() -> TestResult {
    let dns = server([
        (
            "example.test",
            &format!("v=spf1 include:{INCLUDE} ~all")[..],
        ),
        ("example.test", "v=spf1 include:_spf.google.com ~all"),
    ])
    .await?;
    let v = check(&dns, "example.test").await;
    assert_verdict(&v, CheckStatus::Invalid, VerdictCode::SpfMultipleRecords);
    assert_eq!(v.found.len(), 2);
    assert!(
        v.expected.as_deref().is_some_and(|e| !e.is_empty()),
        "one merged record is suggested: {v:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_chain_needing_eleven_lookups_names_the_include_that_crossed_the_limit() -> TestResult {
    // The domain's record chains ten includes before ours: ours is the eleventh lookup.
    let mut terms: Vec<String> = (1..=10)
        .map(|n| format!("include:l{n}.example.test"))
        .collect();
    terms.push(format!("include:{INCLUDE}"));
    let chain = (1..=10).map(|n| {
        (
            format!("l{n}.example.test"),
            "v=spf1 ip4:198.51.100.1 -all".to_owned(),
        )
    });
    let domain = (
        "example.test".to_owned(),
        format!("v=spf1 {} -all", terms.join(" ")),
    );
    let dns = server(std::iter::once(domain).chain(chain)).await?;
    let v = check(&dns, "example.test").await;
    assert_verdict(&v, CheckStatus::Invalid, VerdictCode::SpfTooManyLookups);
    assert!(
        v.message.contains(&format!("include:{INCLUDE}")),
        "{}",
        v.message
    );
    Ok(())
}

#[tokio::test]
async fn redirect_is_followed() -> TestResult {
    let dns = server([
        ("example.test", "v=spf1 redirect=_spf.example.test"),
        (
            "_spf.example.test",
            &format!("v=spf1 include:{INCLUDE} -all"),
        ),
    ])
    .await?;
    let v = check(&dns, "example.test").await;
    assert_verdict(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    Ok(())
}

#[tokio::test]
async fn two_void_lookups_pass_and_a_third_fails() -> TestResult {
    // Each `a:` of a name that does not exist is a void lookup (RFC 7208 §4.6.4).
    let voids = |names: &[&str]| {
        let terms: Vec<String> = names.iter().map(|n| format!("a:{n}")).collect();
        format!("v=spf1 {} include:{INCLUDE} -all", terms.join(" "))
    };
    let dns = server([
        (
            "two.example.test",
            voids(&["gone1.example.test", "gone2.example.test"]),
        ),
        (
            "three.example.test",
            voids(&[
                "gone1.example.test",
                "gone2.example.test",
                "gone3.example.test",
            ]),
        ),
    ])
    .await?;
    let v = check(&dns, "two.example.test").await;
    assert_verdict(&v, CheckStatus::Verified, VerdictCode::SpfOk);
    let v = check(&dns, "three.example.test").await;
    assert_verdict(&v, CheckStatus::Invalid, VerdictCode::SpfVoidLookupLimit);
    assert!(v.message.contains("gone3.example.test"), "{}", v.message);
    Ok(())
}

#[tokio::test]
async fn a_record_without_us_gets_our_include_merged_in() -> TestResult {
    let dns = server([
        ("example.test", "v=spf1 include:_spf.google.com -all"),
        ("_spf.google.com", "v=spf1 ip4:172.217.0.0/19 ~all"),
    ])
    .await?;
    let v = check(&dns, "example.test").await;
    assert_eq!(v.status, CheckStatus::Mismatch, "{v:?}");
    assert_eq!(
        v.expected.as_deref(),
        Some("v=spf1 include:_spf.google.com include:scaisend.example.net -all")
    );
    Ok(())
}
