//! The core's DKIM and DMARC checks end to end: a real server, the adapter, the rules.

use adapter_dns::HickoryDns;
use domain_core::records::dkim::{DkimKeyRecord, DkimPublicKey};
use domain_core::records::value_chunks;
use domain_core::testing;
use domain_core::verify::{
    CheckStatus, DkimExpectation, DmarcExpectation, Verdict, VerdictCode, check_dkim, check_dmarc,
};
use domain_core::{DmarcPolicy, DomainName, Selector};
use test_dns::{Failure, Record, RecordKind};

use crate::{RESOLVER, TestResult, adapter, assert_verdict, impatient_adapter, serving, soa_of};

const DKIM_HOST: &str = "scaisend._domainkey.example.test";

/// Our published DKIM record for `testing::key(0)`, split as a DNS host would split it.
fn dkim_record() -> String {
    DkimKeyRecord::for_key(&testing::key(0).public).to_string()
}

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).expect("a valid test domain")
}

/// The DKIM check of `example.test`'s `scaisend` selector, expecting `key`.
async fn check_dkim_for(lookup: &HickoryDns, key: &DkimPublicKey) -> Verdict {
    let domain = domain("example.test");
    let selector = Selector::parse("scaisend").expect("a valid selector");
    check_dkim(
        lookup,
        DkimExpectation {
            domain: &domain,
            selector: &selector,
            key: Some(key),
        },
    )
    .await
}

/// The DKIM check expecting our record, that of `testing::key(0)`.
async fn check_our_dkim(lookup: &HickoryDns) -> Verdict {
    check_dkim_for(lookup, &testing::key(0).public).await
}

/// The DMARC check of `domain` expecting `policy` and no report address of ours.
async fn check_dmarc_of(lookup: &HickoryDns, domain: &DomainName, policy: DmarcPolicy) -> Verdict {
    check_dmarc(
        lookup,
        DmarcExpectation {
            domain,
            policy: Some(policy),
            rua: None,
        },
    )
    .await
}

#[tokio::test]
async fn a_2048_bit_key_split_into_255_octet_strings_verifies() -> TestResult {
    let chunks = value_chunks(&dkim_record());
    assert!(chunks.len() > 1, "a 2048-bit record needs several strings");
    let dns = serving([(DKIM_HOST, Record::txt_strings(&chunks))]).await?;

    let verdict = check_our_dkim(&adapter(&dns)).await;
    assert_verdict(&verdict, CheckStatus::Verified, VerdictCode::DkimOk);
    assert_eq!(verdict.found, [dkim_record()]);
    assert_eq!(verdict.answered_by, Some(RESOLVER.to_owned()));
    Ok(())
}

#[tokio::test]
async fn one_changed_base64_character_in_the_key_is_a_key_mismatch() -> TestResult {
    // A character in the middle of `p=` falls inside the modulus: the DER stays a valid
    // RSA key (same length, same structure, low bits untouched), just another one.
    let record = dkim_record();
    let p = record.find("p=").expect("p= tag") + 2;
    let at = p + (record.len() - p) / 2;
    let original = record.as_bytes()[at];
    let replacement = if original == b'A' { "B" } else { "A" };
    let mut changed = record.clone();
    changed.replace_range(at..=at, replacement);
    let dns = serving([(DKIM_HOST, Record::txt(&changed))]).await?;

    let verdict = check_our_dkim(&adapter(&dns)).await;
    assert_verdict(
        &verdict,
        CheckStatus::Mismatch,
        VerdictCode::DkimKeyMismatch,
    );
    assert_eq!(verdict.found, [changed]);
    Ok(())
}

#[tokio::test]
async fn a_dkim_server_that_times_out_is_a_temporary_failure_never_missing() -> TestResult {
    let dns = serving([(DKIM_HOST, Record::txt(dkim_record()))]).await?;
    dns.fail(DKIM_HOST, Failure::Timeout)?;

    let verdict = check_our_dkim(&impatient_adapter(&dns)).await;
    assert_verdict(
        &verdict,
        CheckStatus::TemporaryFailure,
        VerdictCode::DkimTemporaryFailure,
    );
    Ok(())
}

#[tokio::test]
async fn a_dkim_record_published_after_a_failed_check_is_found_by_the_next() -> TestResult {
    let dns = serving([("example.test", soa_of("example.test"))]).await?;
    let lookup = adapter(&dns);
    let key = &testing::key(1).public;

    let before = check_dkim_for(&lookup, key).await;
    assert_eq!(before.status, CheckStatus::Missing, "{before:?}");
    dns.publish(
        DKIM_HOST,
        Record::txt(DkimKeyRecord::for_key(key).to_string()),
    )?;
    let after = check_dkim_for(&lookup, key).await;
    assert_eq!(after.status, CheckStatus::Verified, "{after:?}");
    Ok(())
}

#[tokio::test]
async fn a_domains_own_dmarc_record_verifies() -> TestResult {
    let dns = serving([("_dmarc.example.test", Record::txt("v=DMARC1; p=reject"))]).await?;

    let verdict =
        check_dmarc_of(&adapter(&dns), &domain("example.test"), DmarcPolicy::Reject).await;
    assert_verdict(&verdict, CheckStatus::Verified, VerdictCode::DmarcOk);
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);
    Ok(())
}

#[tokio::test]
async fn dmarc_only_at_the_organizational_domain_is_inherited() -> TestResult {
    let dns = serving([(
        "_dmarc.example.test",
        Record::txt("v=DMARC1; p=none; sp=quarantine"),
    )])
    .await?;
    let domain = domain("mail.example.test");
    assert_eq!(domain.organizational_domain().as_str(), "example.test");

    let verdict = check_dmarc_of(&adapter(&dns), &domain, DmarcPolicy::Quarantine).await;
    assert_verdict(&verdict, CheckStatus::Verified, VerdictCode::DmarcInherited);
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
    let dns = serving([(
        "_dmarc.example.test",
        Record::txt("v=DMARC1; p=none; rua=mailto:dmarc@reports.elsewhere.test"),
    )])
    .await?;
    let lookup = adapter(&dns);
    let domain = domain("example.test");
    let check = || check_dmarc_of(&lookup, &domain, DmarcPolicy::None);
    let warning_codes =
        |v: &Verdict| -> Vec<VerdictCode> { v.warnings.iter().map(|w| w.code).collect() };

    let unauthorized = check().await;
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
    let authorized = check().await;
    assert_eq!(authorized.status, CheckStatus::Verified, "{authorized:?}");
    assert!(
        warning_codes(&authorized).is_empty(),
        "{:?}",
        authorized.warnings
    );

    // A failing authorization lookup is still a warning, never a failed check.
    dns.delete(authorization, RecordKind::Txt)?;
    dns.fail(authorization, Failure::ServFail)?;
    let unknown = check().await;
    assert_eq!(unknown.status, CheckStatus::Verified, "{unknown:?}");
    assert_eq!(
        warning_codes(&unknown),
        [VerdictCode::DmarcExternalRuaUnauthorized]
    );
    Ok(())
}
