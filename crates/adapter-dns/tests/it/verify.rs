//! The core's DKIM and DMARC checks end to end: a real server, the adapter, the rules.

use domain_core::records::dkim::DkimKeyRecord;
use domain_core::records::value_chunks;
use domain_core::testing;
use domain_core::verify::{
    CheckStatus, DkimExpectation, DmarcExpectation, VerdictCode, check_dkim, check_dmarc,
};
use domain_core::{DmarcPolicy, DomainName, Selector};
use test_dns::{Failure, Record, RecordKind, TestDns};

use crate::{RESOLVER, TestResult, adapter, impatient_adapter};

const DKIM_HOST: &str = "scaisend._domainkey.example.test";

/// Our published DKIM record for `testing::key(0)`, split as a DNS host would split it.
fn dkim_record() -> String {
    DkimKeyRecord::for_key(&testing::key(0).public).to_string()
}

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).expect("a valid test domain")
}

fn selector() -> Selector {
    Selector::parse("scaisend").expect("a valid selector")
}

#[tokio::test]
async fn a_2048_bit_key_split_into_255_octet_strings_verifies() -> TestResult {
    let dns = TestDns::start().await?;
    let chunks = value_chunks(&dkim_record());
    assert!(chunks.len() > 1, "a 2048-bit record needs several strings");
    dns.publish(DKIM_HOST, Record::txt_strings(&chunks))?;
    let lookup = adapter(&dns);
    let (domain, selector) = (domain("example.test"), selector());

    let verdict = check_dkim(
        &lookup,
        DkimExpectation {
            domain: &domain,
            selector: &selector,
            key: Some(&testing::key(0).public),
        },
    )
    .await;
    assert_eq!(verdict.status, CheckStatus::Verified, "{verdict:?}");
    assert_eq!(verdict.code, VerdictCode::DkimOk);
    assert_eq!(verdict.found, [dkim_record()]);
    assert_eq!(verdict.answered_by, Some(RESOLVER.to_owned()));
    Ok(())
}

#[tokio::test]
async fn one_changed_base64_character_in_the_key_is_a_key_mismatch() -> TestResult {
    let dns = TestDns::start().await?;
    // A character in the middle of `p=` falls inside the modulus: the DER stays a valid
    // RSA key (same length, same structure, low bits untouched), just another one.
    let record = dkim_record();
    let p = record.find("p=").expect("p= tag") + 2;
    let at = p + (record.len() - p) / 2;
    let original = record.as_bytes()[at];
    let replacement = if original == b'A' { "B" } else { "A" };
    let mut changed = record.clone();
    changed.replace_range(at..=at, replacement);
    dns.publish(DKIM_HOST, Record::txt(&changed))?;
    let lookup = adapter(&dns);
    let (domain, selector) = (domain("example.test"), selector());

    let verdict = check_dkim(
        &lookup,
        DkimExpectation {
            domain: &domain,
            selector: &selector,
            key: Some(&testing::key(0).public),
        },
    )
    .await;
    assert_eq!(verdict.status, CheckStatus::Mismatch, "{verdict:?}");
    assert_eq!(verdict.code, VerdictCode::DkimKeyMismatch);
    assert_eq!(verdict.found, [changed]);
    Ok(())
}

#[tokio::test]
async fn a_dkim_server_that_times_out_is_a_temporary_failure_never_missing() -> TestResult {
    let dns = TestDns::start().await?;
    dns.publish(DKIM_HOST, Record::txt(dkim_record()))?;
    dns.fail(DKIM_HOST, Failure::Timeout)?;
    let lookup = impatient_adapter(&dns);
    let (domain, selector) = (domain("example.test"), selector());

    let verdict = check_dkim(
        &lookup,
        DkimExpectation {
            domain: &domain,
            selector: &selector,
            key: Some(&testing::key(0).public),
        },
    )
    .await;
    assert_eq!(verdict.status, CheckStatus::TemporaryFailure, "{verdict:?}");
    assert_eq!(verdict.code, VerdictCode::DkimTemporaryFailure);
    Ok(())
}

#[tokio::test]
async fn a_dkim_record_published_after_a_failed_check_is_found_by_the_next() -> TestResult {
    let dns = TestDns::start().await?;
    dns.publish(
        "example.test",
        Record::soa("ns1.example.test", "hostmaster.example.test"),
    )?;
    let lookup = adapter(&dns);
    let (domain, selector) = (domain("example.test"), selector());
    let key = &testing::key(1).public;
    let expectation = DkimExpectation {
        domain: &domain,
        selector: &selector,
        key: Some(key),
    };

    let before = check_dkim(&lookup, expectation).await;
    assert_eq!(before.status, CheckStatus::Missing, "{before:?}");
    dns.publish(
        DKIM_HOST,
        Record::txt(DkimKeyRecord::for_key(key).to_string()),
    )?;
    let after = check_dkim(&lookup, expectation).await;
    assert_eq!(after.status, CheckStatus::Verified, "{after:?}");
    Ok(())
}

#[tokio::test]
async fn a_domains_own_dmarc_record_verifies() -> TestResult {
    let dns = TestDns::start().await?;
    dns.publish("_dmarc.example.test", Record::txt("v=DMARC1; p=reject"))?;
    let lookup = adapter(&dns);
    let domain = domain("example.test");

    let verdict = check_dmarc(
        &lookup,
        DmarcExpectation {
            domain: &domain,
            policy: Some(DmarcPolicy::Reject),
            rua: None,
        },
    )
    .await;
    assert_eq!(verdict.status, CheckStatus::Verified, "{verdict:?}");
    assert_eq!(verdict.code, VerdictCode::DmarcOk);
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);
    Ok(())
}

#[tokio::test]
async fn dmarc_only_at_the_organizational_domain_is_inherited() -> TestResult {
    let dns = TestDns::start().await?;
    dns.publish(
        "_dmarc.example.test",
        Record::txt("v=DMARC1; p=none; sp=quarantine"),
    )?;
    let lookup = adapter(&dns);
    let domain = domain("mail.example.test");
    assert_eq!(domain.organizational_domain().as_str(), "example.test");

    let verdict = check_dmarc(
        &lookup,
        DmarcExpectation {
            domain: &domain,
            policy: Some(DmarcPolicy::Quarantine),
            rua: None,
        },
    )
    .await;
    assert_eq!(verdict.status, CheckStatus::Verified, "{verdict:?}");
    assert_eq!(verdict.code, VerdictCode::DmarcInherited);
    assert_eq!(verdict.host, "_dmarc.example.test");
    assert!(
        verdict.warnings.is_empty(),
        "sp= applies: {:?}",
        verdict.warnings
    );
    Ok(())
}

#[tokio::test]
async fn an_external_rua_needs_its_authorization_record() -> TestResult {
    let dns = TestDns::start().await?;
    dns.publish(
        "_dmarc.example.test",
        Record::txt("v=DMARC1; p=none; rua=mailto:dmarc@reports.elsewhere.test"),
    )?;
    let lookup = adapter(&dns);
    let domain = domain("example.test");
    let expectation = DmarcExpectation {
        domain: &domain,
        policy: Some(DmarcPolicy::None),
        rua: None,
    };
    let warning_codes = |v: &domain_core::verify::Verdict| -> Vec<VerdictCode> {
        v.warnings.iter().map(|w| w.code).collect()
    };

    let unauthorized = check_dmarc(&lookup, expectation).await;
    assert_eq!(
        unauthorized.status,
        CheckStatus::Verified,
        "{unauthorized:?}"
    );
    assert_eq!(
        warning_codes(&unauthorized),
        [VerdictCode::DmarcExternalRuaUnauthorized]
    );

    let authorization = "example.test._report._dmarc.reports.elsewhere.test";
    dns.publish(authorization, Record::txt("v=DMARC1"))?;
    let authorized = check_dmarc(&lookup, expectation).await;
    assert_eq!(authorized.status, CheckStatus::Verified, "{authorized:?}");
    assert!(
        warning_codes(&authorized).is_empty(),
        "{:?}",
        authorized.warnings
    );

    // A failing authorization lookup is still a warning, never a failed check.
    dns.delete(authorization, RecordKind::Txt)?;
    dns.fail(authorization, Failure::ServFail)?;
    let unknown = check_dmarc(&lookup, expectation).await;
    assert_eq!(unknown.status, CheckStatus::Verified, "{unknown:?}");
    assert_eq!(
        warning_codes(&unknown),
        [VerdictCode::DmarcExternalRuaUnauthorized]
    );
    Ok(())
}
