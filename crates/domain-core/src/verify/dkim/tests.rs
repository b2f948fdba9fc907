//! One test per code of the DKIM check, against an in-memory DNS.

use base64::Engine as _;
use futures::executor::block_on;

use super::*;
use crate::records::value_chunks;
use crate::testing::{self, FakeDns, QueryType, assert_mentions, assert_status, warning_codes};

const HOST: &str = "scaisend._domainkey.example.com";

fn ours() -> &'static DkimPublicKey {
    &testing::key(0).public
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Our record as we ask for it: `v=DKIM1; k=rsa; p=<our key>`.
fn our_record() -> String {
    DkimKeyRecord::for_key(ours()).to_string()
}

fn verify(dns: &FakeDns, key: Option<&DkimPublicKey>) -> Verdict {
    let domain = DomainName::parse("example.com").unwrap();
    let selector = Selector::parse("scaisend").unwrap();
    block_on(check_dkim(
        dns,
        DkimExpectation {
            domain: &domain,
            selector: &selector,
            key,
        },
    ))
}

/// A DNS with `record` at the selector.
fn publishing(record: &str) -> FakeDns {
    let dns = FakeDns::new();
    dns.txt(HOST, record);
    dns
}

/// Publishes `records` at the selector, checks them against our key, and compares the
/// status, code and warning codes.
#[track_caller]
fn check(records: &[&str], expected: (CheckStatus, VerdictCode, &[VerdictCode])) -> Verdict {
    let dns = FakeDns::new();
    for r in records {
        dns.txt(HOST, r);
    }
    let v = verify(&dns, Some(ours()));
    let warnings = warning_codes(&v);
    assert_eq!(
        (v.status, v.code, warnings.as_slice()),
        expected,
        "records {records:?}: {}",
        v.message
    );
    v
}

#[test]
fn our_key_verifies() {
    let v = check(
        &[&our_record()],
        (CheckStatus::Verified, VerdictCode::DkimOk, &[]),
    );
    assert_eq!(v.host, HOST);
    assert_eq!(v.expected.as_deref(), Some(our_record().as_str()));
    assert_eq!(v.found, vec![our_record()]);
    assert_eq!(v.details["selector"], "scaisend");
    // Optional tags that still allow our signatures change nothing.
    let p = ours().to_base64();
    check(
        &[&format!(
            "v=DKIM1; h=sha1:sha256; k=rsa; s=email; t=s; p={p}"
        )],
        (CheckStatus::Verified, VerdictCode::DkimOk, &[]),
    );
    check(
        &[&format!("p={p}")],
        (CheckStatus::Verified, VerdictCode::DkimOk, &[]),
    );
}

#[test]
fn every_failure_has_its_code_and_status() {
    let p = ours().to_base64();
    let other = testing::key(1).public.to_base64();
    let cases: &[(String, CheckStatus, VerdictCode)] = &[
        (
            "v=DKIM1; k=rsa; MIIBIjAN".to_owned(),
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
        ),
        (
            format!("k=rsa; v=DKIM1; p={p}"),
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
        ),
        (
            format!("v=DKIM2; p={p}"),
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
        ),
        (
            "v=DKIM1; k=rsa; p=not*base64".to_owned(),
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
        ),
        // Valid base64 that is not a key.
        (
            "v=DKIM1; k=rsa; p=AAAA".to_owned(),
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
        ),
        (
            "v=DKIM1; k=rsa; p=".to_owned(),
            CheckStatus::Invalid,
            VerdictCode::DkimRevoked,
        ),
        // A valid Ed25519 key where our RSA key belongs is judged as a key (RFC 8463 §4):
        // another key, not a key type we cannot read.
        (
            "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".to_owned(),
            CheckStatus::Mismatch,
            VerdictCode::DkimKeyMismatch,
        ),
        // An Ed25519 `p=` must be the 32-byte key.
        (
            "v=DKIM1; k=ed25519; p=AAAA".to_owned(),
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
        ),
        (
            format!("v=DKIM1; k=dsa; p={p}"),
            CheckStatus::Invalid,
            VerdictCode::DkimUnknownKeyType,
        ),
        (
            format!("v=DKIM1; k=rsa; s=tlsrpt; p={p}"),
            CheckStatus::Invalid,
            VerdictCode::DkimNotForEmail,
        ),
        (
            format!("v=DKIM1; k=rsa; h=sha1; p={p}"),
            CheckStatus::Invalid,
            VerdictCode::DkimHashNotAllowed,
        ),
        (
            format!("v=DKIM1; k=rsa; p={other}"),
            CheckStatus::Mismatch,
            VerdictCode::DkimKeyMismatch,
        ),
    ];
    for (record, status, code) in cases {
        let v = check(&[record], (*status, *code, &[]));
        // A failing verdict shows what is there and what belongs there.
        assert_eq!(v.found, vec![record.clone()]);
        assert_eq!(v.expected.as_deref(), Some(our_record().as_str()));
        assert_mentions(&v, HOST);
    }
}

#[test]
fn a_record_that_does_not_parse_says_why() {
    let v = check(
        &["v=DKIM2; p=AQAB"],
        (CheckStatus::Invalid, VerdictCode::DkimInvalid, &[]),
    );
    assert_mentions(&v, "`v=DKIM2`");
}

#[test]
fn several_records_at_the_selector_are_invalid() {
    let other = DkimKeyRecord::for_key(&testing::key(1).public).to_string();
    let v = check(
        &[&our_record(), &other],
        (CheckStatus::Invalid, VerdictCode::DkimMultipleRecords, &[]),
    );
    assert_eq!(v.found, vec![our_record(), other]);
    // Even two copies of our own record: receivers may pick either, and one is enough.
    check(
        &[&our_record(), &our_record()],
        (CheckStatus::Invalid, VerdictCode::DkimMultipleRecords, &[]),
    );
}

#[test]
fn no_record_is_missing_whether_the_name_exists_or_not() {
    // NXDOMAIN: nothing at all at the name.
    let dns = FakeDns::new();
    let v = verify(&dns, Some(ours()));
    assert_status(&v, CheckStatus::Missing, VerdictCode::DkimMissing);
    assert!(v.found.is_empty());
    assert_eq!(v.expected.as_deref(), Some(our_record().as_str()));
    // No data: the name exists without a TXT record.
    let dns = FakeDns::new();
    dns.exists(HOST);
    let v = verify(&dns, Some(ours()));
    assert_status(&v, CheckStatus::Missing, VerdictCode::DkimMissing);
}

#[test]
fn a_dns_failure_is_temporary_never_missing() {
    let dns = FakeDns::new();
    dns.fail(HOST, QueryType::Txt).answered_by("resolver");
    let v = verify(&dns, Some(ours()));
    assert_status(
        &v,
        CheckStatus::TemporaryFailure,
        VerdictCode::DkimTemporaryFailure,
    );
    assert!(v.found.is_empty());
    assert_eq!(v.answered_by.as_deref(), Some("resolver"));
    // The record being there does not matter while DNS cannot answer.
    dns.txt(HOST, &our_record());
    let v = verify(&dns, Some(ours()));
    assert_eq!(v.status, CheckStatus::TemporaryFailure);
}

#[test]
fn testing_flag_is_a_warning() {
    let p = ours().to_base64();
    check(
        &[&format!("v=DKIM1; k=rsa; t=y; p={p}")],
        (
            CheckStatus::Verified,
            VerdictCode::DkimOk,
            &[VerdictCode::DkimTesting],
        ),
    );
    check(
        &[&format!("v=DKIM1; k=rsa; t=s:y; p={p}")],
        (
            CheckStatus::Verified,
            VerdictCode::DkimOk,
            &[VerdictCode::DkimTesting],
        ),
    );
}

#[test]
fn a_1024_bit_key_verifies_with_a_warning() {
    let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
    let private = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
    let weak = DkimPublicKey::from_rsa(private.as_public_key()).unwrap();
    assert_eq!(weak.bits(), 1024);
    let dns = publishing(&DkimKeyRecord::for_key(&weak).to_string());
    let v = verify(&dns, Some(&weak));
    assert_status(&v, CheckStatus::Verified, VerdictCode::DkimOk);
    let warnings = warning_codes(&v);
    assert_eq!(warnings, vec![VerdictCode::DkimWeakKey]);
    assert!(v.warnings[0].message.contains("1024 bits"));
}

#[test]
fn a_key_published_as_bare_pkcs1_verifies() {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::DecodePublicKey as _;
    let key = rsa::PublicKey::from_public_key_der(ours().p_bytes()).unwrap();
    let pkcs1 = key.to_pkcs1_der().unwrap();
    check(
        &[&format!("v=DKIM1; k=rsa; p={}", b64(pkcs1.as_bytes()))],
        (CheckStatus::Verified, VerdictCode::DkimOk, &[]),
    );
}

#[test]
fn a_cnamed_selector_verifies() {
    let dns = FakeDns::new();
    dns.cname(HOST, "s1.dkim.provider.example")
        .txt("s1.dkim.provider.example", &our_record());
    let v = verify(&dns, Some(ours()));
    assert_status(&v, CheckStatus::Verified, VerdictCode::DkimOk);
    // The verdict is about the name we asked for, not the alias's target.
    assert_eq!(v.host, HOST);
    // An alias to nothing is missing.
    let dns = FakeDns::new();
    dns.cname(HOST, "gone.provider.example");
    assert_eq!(verify(&dns, Some(ours())).code, VerdictCode::DkimMissing);
}

#[test]
fn a_record_in_several_character_strings_is_joined() {
    let chunks = value_chunks(&our_record());
    assert!(chunks.len() > 1);
    let strings: Vec<&str> = chunks.iter().map(String::as_str).collect();
    let dns = FakeDns::new();
    dns.txt_strings(HOST, &strings);
    let v = verify(&dns, Some(ours()));
    assert_status(&v, CheckStatus::Verified, VerdictCode::DkimOk);
    assert_eq!(v.found, vec![our_record()]);
}

#[test]
fn without_a_key_any_valid_record_verifies() {
    // The `check` command has no store: it only asks for a usable record.
    let dns = publishing(&DkimKeyRecord::for_key(&testing::key(1).public).to_string());
    let v = verify(&dns, None);
    assert_status(&v, CheckStatus::Verified, VerdictCode::DkimOk);
    assert_eq!(v.expected, None);
    let dns = publishing("v=DKIM1; p=");
    assert_eq!(verify(&dns, None).code, VerdictCode::DkimRevoked);
}

#[test]
fn a_record_holding_bytes_no_record_may_hold_is_invalid_and_shown_escaped() {
    for (bytes, shown, named) in [
        (b"\0".as_slice(), "\\000", "a NUL byte"),
        (b"\x1b", "\\027", "a control character"),
        (b"\xff\xfe", "\\255\\254", "not UTF-8"),
    ] {
        // Our own record with the bytes in a notes tag, which the tag-list grammar
        // would otherwise let through.
        let mut record = format!("{}; n=", our_record()).into_bytes();
        record.extend_from_slice(bytes);
        let dns = FakeDns::new();
        dns.txt_bytes(HOST, &record);
        let v = verify(&dns, Some(ours()));
        assert_status(&v, CheckStatus::Invalid, VerdictCode::DkimInvalid);
        assert_mentions(&v, named);
        assert_eq!(v.found, vec![format!("{}; n={shown}", our_record())]);
    }
}

#[test]
fn an_ed25519_record_holding_our_key_verifies_and_another_key_does_not() {
    let ed = crate::crypto::generate(crate::crypto::KeyAlgorithm::Ed25519).unwrap();
    let theirs = crate::crypto::generate(crate::crypto::KeyAlgorithm::Ed25519).unwrap();
    let dns = FakeDns::new();
    let record = DkimKeyRecord::for_key(&ed.public).to_string();
    assert!(record.starts_with("v=DKIM1; k=ed25519; p="), "{record}");
    dns.txt(HOST, &record);
    let v = verify(&dns, Some(&ed.public));
    assert_status(&v, CheckStatus::Verified, VerdictCode::DkimOk);
    assert!(
        v.warnings.is_empty(),
        "a 256-bit Ed25519 key is not weak: {:?}",
        v.warnings
    );
    let v = verify(&dns, Some(&theirs.public));
    assert_status(&v, CheckStatus::Mismatch, VerdictCode::DkimKeyMismatch);
    // Our RSA key expected, an Ed25519 key found: named as such.
    let v = verify(&dns, Some(ours()));
    assert_mentions(&v, "ed25519-sha256");
}
