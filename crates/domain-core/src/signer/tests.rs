//! Tests of the signer as a whole.
//!
//! The self-check here verifies every signature with code that shares nothing with the
//! signer: a naive parser and canonicalizer written over whole lines, SHA-256 from the
//! `sha2` crate and RSA from the `rsa` crate (the signer uses AWS-LC for both). It is
//! still our own reading of RFC 6376; the independent proof is mail-auth, in
//! `crates/dkim-interop`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use proptest::prelude::*;
use rsa::pkcs8::{DecodePublicKey as _, EncodePrivateKey as _};
use rsa::signature::Verifier as _;
use sha2::Digest as _;
use time::macros::datetime;

use super::*;
use crate::records::dkim::DkimPublicKey;
use crate::testing;

const NOW: OffsetDateTime = datetime!(2026-11-02 10:00:00 UTC);
const EMPTY_BODY_HASH: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn domain(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn signer(key: usize) -> DkimSigner {
    DkimSigner::new(
        &testing::key(key).private,
        &domain("example.com"),
        &selector("scaisend"),
    )
    .unwrap()
}

fn public(key: usize) -> &'static DkimPublicKey {
    &testing::key(key).public
}

fn sign(message: &[u8]) -> DkimSignature {
    signer(0).sign(message, NOW).unwrap()
}

/// The tags of a DKIM-Signature field as a verifier reads them: unfolded, split at `;`,
/// whitespace removed from values.
fn tags(field: &str) -> HashMap<String, String> {
    let value = field.split_once(':').unwrap().1.replace("\r\n", "");
    value
        .split(';')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (k, v) = t.split_once('=').unwrap();
            (
                k.trim().to_owned(),
                v.split_whitespace().collect::<String>(),
            )
        })
        .collect()
}

fn signed_names(signature: &DkimSignature) -> String {
    tags(signature.header_field())["h"].clone()
}

// ---- The naive verifier --------------------------------------------------------------

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Header fields (folding kept) and body of a CRLF message.
fn naive_split(message: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    let mut rest = message;
    loop {
        let (line, next) = match find(rest, b"\r\n") {
            Some(0) => return (fields, rest[2..].to_vec()),
            Some(n) => (&rest[..n], &rest[n + 2..]),
            None if rest.is_empty() => return (fields, Vec::new()),
            None => (rest, &rest[rest.len()..]),
        };
        if is_wsp(line[0]) {
            let last = fields.last_mut().unwrap();
            last.extend_from_slice(b"\r\n");
            last.extend_from_slice(line);
        } else {
            fields.push(line.to_vec());
        }
        rest = next;
    }
}

fn naive_name(field: &[u8]) -> Vec<u8> {
    let colon = field.iter().position(|&b| b == b':').unwrap();
    field[..colon].trim_ascii().to_ascii_lowercase()
}

/// Whitespace runs become one SP, except at the end of the input, where they go.
fn collapse(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_wsp = false;
    for &b in bytes {
        if is_wsp(b) {
            in_wsp = true;
        } else {
            if in_wsp {
                out.push(b' ');
            }
            in_wsp = false;
            out.push(b);
        }
    }
    out
}

fn naive_canon_header(field: &[u8]) -> Vec<u8> {
    let colon = field.iter().position(|&b| b == b':').unwrap();
    let unfolded: Vec<u8> = field[colon + 1..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let mut out = naive_name(field);
    out.push(b':');
    let value = collapse(&unfolded);
    out.extend_from_slice(value.strip_prefix(b" ").unwrap_or(&value));
    out
}

fn naive_canon_body(body: &[u8]) -> Vec<u8> {
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    let mut lines: Vec<Vec<u8>> = if body.is_empty() {
        Vec::new()
    } else {
        body.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .map(collapse)
            .collect()
    };
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .iter()
        .flat_map(|l| [l.as_slice(), b"\r\n"].concat())
        .collect()
}

/// The DKIM-Signature field with the value of its `b=` tag removed.
fn without_b_value(field: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(field.to_vec()).unwrap();
    let (name, value) = text.split_once(':').unwrap();
    let segments: Vec<String> = value
        .split(';')
        .map(|segment| {
            let trimmed = segment.trim_start_matches([' ', '\t', '\r', '\n']);
            if trimmed.starts_with("b=") {
                segment[..segment.len() - trimmed.len() + 2].to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect();
    format!("{name}:{}", segments.join(";")).into_bytes()
}

/// Verifies the first DKIM-Signature of a signed message with the given public key.
fn naive_verify(signed: &[u8], key: &DkimPublicKey) -> Result<(), String> {
    let (fields, body) = naive_split(signed);
    let signature_field = &fields[0];
    if naive_name(signature_field) != b"dkim-signature" {
        return Err("no DKIM-Signature on top".into());
    }
    let tags = tags(std::str::from_utf8(signature_field).unwrap());
    for (tag, expected) in [("v", "1"), ("a", "rsa-sha256"), ("c", "relaxed/relaxed")] {
        if tags[tag] != expected {
            return Err(format!("{tag}={}", tags[tag]));
        }
    }
    let body_hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(naive_canon_body(&body)));
    if body_hash != tags["bh"] {
        return Err(format!("body hash {body_hash} != bh={}", tags["bh"]));
    }
    let mut data = Vec::new();
    let mut used: HashMap<Vec<u8>, usize> = HashMap::new();
    for name in tags["h"].split(':') {
        let name = name.to_ascii_lowercase().into_bytes();
        let skip = used.entry(name.clone()).or_default();
        if let Some(field) = fields[1..]
            .iter()
            .rev()
            .filter(|f| naive_name(f) == name)
            .nth(*skip)
        {
            data.extend(naive_canon_header(field));
            data.extend_from_slice(b"\r\n");
        }
        *skip += 1;
    }
    data.extend(naive_canon_header(&without_b_value(signature_field)));
    let b = base64::engine::general_purpose::STANDARD
        .decode(&tags["b"])
        .map_err(|e| e.to_string())?;
    let verifying_key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(
        rsa::PublicKey::from_public_key_der(key.p_bytes()).unwrap(),
    );
    let b = rsa::pkcs1v15::Signature::try_from(b.as_slice()).map_err(|e| e.to_string())?;
    verifying_key
        .verify(&data, &b)
        .map_err(|_| "the RSA signature does not verify".to_owned())
}

// ---- Messages ------------------------------------------------------------------------

const PLAIN: &str = "From: Alerts <alerts@example.com>\r\n\
To: user@example.org\r\n\
Subject: Your invoice\r\n\
Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello,\r\n\
\r\n\
your invoice is attached.\r\n";

fn messages() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("plain", PLAIN.as_bytes().to_vec()),
        ("lf only", PLAIN.replace("\r\n", "\n").into_bytes()),
        ("bare cr", PLAIN.replace("\r\n", "\r").into_bytes()),
        (
            "folded headers",
            b"From: Alerts\r\n <alerts@example.com>\r\nSubject: a long subject\r\n\t folded  \r\n  twice \r\nTo: a@example.org,\r\n b@example.org\r\n\r\nbody\r\n".to_vec(),
        ),
        (
            "8-bit body",
            "From: a@example.com\r\nSubject: caf\u{e9}\r\n\r\nGr\u{fc}\u{df}e \u{1f600}  \r\n".as_bytes().to_vec(),
        ),
        (
            "latin-1 body",
            b"From: a@example.com\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 \xff\xfe\r\n".to_vec(),
        ),
        ("empty body", b"From: a@example.com\r\nSubject: x\r\n\r\n".to_vec()),
        ("no separator", b"From: a@example.com\r\nSubject: x\r\n".to_vec()),
        ("no final crlf", b"From: a@example.com".to_vec()),
        ("body without final crlf", b"From: a@example.com\r\n\r\nlast line".to_vec()),
        (
            "trailing blank lines",
            b"From: a@example.com\r\n\r\nbody\r\n\r\n\r\n \r\n\t\r\n\r\n".to_vec(),
        ),
        (
            "long header values",
            format!(
                "From: a@example.com\r\nSubject: {}\r\nReferences: {}\r\n\r\nx\r\n",
                "word ".repeat(200),
                "<id@example.com> ".repeat(50)
            )
            .into_bytes(),
        ),
        (
            "multiple to",
            b"From: a@example.com\r\nTo: b@example.org\r\nTo: c@example.org\r\nTo: d@example.org\r\n\r\nx\r\n".to_vec(),
        ),
        (
            "case and spacing of names",
            b"FROM : a@example.com\r\nsubject:x\r\nTO:\t b@example.org \r\n\r\nx\r\n".to_vec(),
        ),
        (
            "existing signature",
            b"DKIM-Signature: v=1; a=rsa-sha256; d=other.example; s=x; bh=; b=\r\nFrom: a@example.com\r\n\r\nx\r\n".to_vec(),
        ),
    ]
}

// ---- Tests -----------------------------------------------------------------------------

#[test]
fn signatures_verify_with_an_independent_rsa_and_hash() {
    for (name, message) in messages() {
        let signature = sign(&message);
        naive_verify(signature.signed_message(), public(0))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", signature.header_field()));
    }
}

#[test]
fn a_different_key_does_not_verify() {
    let signature = sign(PLAIN.as_bytes());
    assert_eq!(
        naive_verify(signature.signed_message(), public(1)),
        Err("the RSA signature does not verify".to_owned())
    );
}

#[test]
fn the_header_field_has_the_expected_tags_in_order() {
    let signature = sign(PLAIN.as_bytes());
    let field = signature.header_field();
    let unfolded = field.replace("\r\n", "");
    assert!(
        unfolded.starts_with(
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; \
             s=scaisend; t=1793613600; h=from:from:"
        ),
        "{field}"
    );
    let tags = tags(field);
    let mut names: Vec<&str> = tags.keys().map(String::as_str).collect();
    names.sort_unstable();
    // No `l=` (body length), `x=` (expiry), `i=` or `q=` (defaults).
    assert_eq!(names, ["a", "b", "bh", "c", "d", "h", "s", "t", "v"]);
    let order: Vec<usize> = ["v=", "a=", "c=", "d=", "s=", "t=", "h=", "bh=", "b="]
        .iter()
        .map(|t| unfolded.find(&format!(" {t}")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{unfolded}");
    assert_eq!(tags["b"].len(), 344, "2048-bit signature in base64");
    assert_eq!(signature.selector().as_str(), "scaisend");
    assert_eq!(signature.domain().as_str(), "example.com");
    assert!(!field.ends_with('\n'));
}

#[test]
fn signed_header_list_and_over_signing() {
    let check = |message: &str, expected: &str| {
        assert_eq!(
            signed_names(&sign(message.as_bytes())),
            expected,
            "{message}"
        );
    };
    // The five displayed fields are listed even when absent; the others only when
    // present, each once more than it occurs.
    check(
        "From: a@example.com\r\n\r\n",
        "from:from:reply-to:subject:to:cc",
    );
    check(
        PLAIN,
        "from:from:reply-to:subject:subject:to:to:cc:date:date:message-id:message-id:\
         mime-version:mime-version:content-type:content-type",
    );
    check(
        "From: a@example.com\r\nTo: b@example.org\r\nTo: c@example.org\r\nReceived: x\r\n\
         Return-Path: <b@example.com>\r\nX-Mailer: y\r\nList-Unsubscribe: <https://u>\r\n\
         List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nSender: s@example.com\r\n\r\n",
        "from:from:reply-to:subject:to:to:to:cc:sender:sender:\
         list-unsubscribe:list-unsubscribe:list-unsubscribe-post:list-unsubscribe-post",
    );
}

#[test]
fn over_signing_detects_added_fields() {
    let signature = sign(PLAIN.as_bytes());
    naive_verify(signature.signed_message(), public(0)).unwrap();
    let (field, rest) = signature
        .signed_message()
        .split_at(signature.header_field().len() + 2);
    for added in [
        "From: ceo@bank.example\r\n",
        "Subject: urgent: wire money\r\n",
        "Reply-To: attacker@evil.example\r\n",
        "Cc: victim@example.org\r\n",
        "Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n",
        "Content-Type: text/html\r\n",
    ] {
        let tampered = [field, added.as_bytes(), rest].concat();
        assert!(naive_verify(&tampered, public(0)).is_err(), "{added}");
    }
    // An unsigned field may be added: that is what lets relays add trace fields.
    let tampered = [field, b"Received: from relay\r\n", rest].concat();
    naive_verify(&tampered, public(0)).unwrap();
}

#[test]
fn exactly_one_from_is_required() {
    let s = signer(0);
    assert_eq!(
        s.sign(b"To: a@example.com\r\n\r\nx", NOW).unwrap_err(),
        SignError::NoFrom
    );
    assert_eq!(s.sign(b"", NOW).unwrap_err(), SignError::NoFrom);
    assert_eq!(
        s.sign(b"From: a@example.com\r\nfrom : b@example.com\r\n\r\n", NOW)
            .unwrap_err(),
        SignError::SeveralFrom(2)
    );
    // A From in the body is not a header field.
    s.sign(b"From: a@example.com\r\n\r\nFrom: b@example.com\r\n", NOW)
        .unwrap();
    let err = s
        .sign(b"To: a\r\nFrom: a\r\nFrom: b\r\nFrom: c\r\n", NOW)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the message has 3 From header fields; RFC 5322 §3.6 allows exactly one, and \
         receivers cannot tell which one a signature vouches for"
    );
}

#[test]
fn malformed_messages_are_refused() {
    let err = signer(0)
        .sign(b"From: a@example.com\nthis is the body\n", NOW)
        .unwrap_err();
    assert!(
        matches!(err, SignError::MalformedHeader { line: 2, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("header line 2 is malformed"),
        "{err}"
    );
}

#[test]
fn the_signed_message_uses_crlf_throughout() {
    for (name, message) in messages() {
        let signed = sign(&message).into_signed_message();
        for (i, &b) in signed.iter().enumerate() {
            match b {
                b'\n' => assert!(i > 0 && signed[i - 1] == b'\r', "{name}: bare LF at {i}"),
                b'\r' => assert_eq!(signed.get(i + 1), Some(&b'\n'), "{name}: bare CR at {i}"),
                _ => {}
            }
        }
    }
}

#[test]
fn crlf_messages_are_returned_byte_for_byte_after_the_field() {
    let signature = sign(PLAIN.as_bytes());
    let expected = [
        signature.header_field().as_bytes(),
        b"\r\n",
        PLAIN.as_bytes(),
    ]
    .concat();
    assert_eq!(signature.signed_message(), expected.as_slice());
}

#[test]
fn lf_and_crlf_inputs_sign_the_same_message() {
    let crlf = sign(PLAIN.as_bytes());
    let lf = sign(PLAIN.replace("\r\n", "\n").as_bytes());
    // RSASSA-PKCS1-v1_5 is deterministic, so the same input gives the same signature.
    assert_eq!(crlf, lf);
}

#[test]
fn a_missing_final_crlf_in_the_header_section_is_added() {
    let signature = sign(b"From: a@example.com");
    assert!(
        signature
            .signed_message()
            .ends_with(b"\r\nFrom: a@example.com\r\n")
    );
}

#[test]
fn whitespace_only_lines_at_the_end_are_emptied_without_changing_the_hash() {
    let message = b"From: a@example.com\r\n\r\nbody  \r\n \r\n\t\r\n\r\n";
    let signature = sign(message);
    assert!(
        signature
            .signed_message()
            .ends_with(b"\r\n\r\nbody  \r\n\r\n\r\n\r\n")
    );
    assert_eq!(
        tags(signature.header_field())["bh"],
        tags(sign(b"From: a@example.com\r\n\r\nbody\r\n").header_field())["bh"]
    );
    naive_verify(signature.signed_message(), public(0)).unwrap();
}

#[test]
fn whitespace_before_a_colon_is_removed() {
    let signature = sign(b"FROM : a@example.com\r\nSubject\t:  x \r\nX-Other :y\r\n\r\nbody\r\n");
    let (_, message) = signature
        .signed_message()
        .split_at(signature.header_field().len() + 2);
    assert_eq!(
        message,
        b"FROM: a@example.com\r\nSubject:  x \r\nX-Other:y\r\n\r\nbody\r\n"
    );
    naive_verify(signature.signed_message(), public(0)).unwrap();
}

#[test]
fn body_hashes() {
    let bh = |message: &[u8]| tags(sign(message).header_field())["bh"].clone();
    // RFC 4871 errata 1376: the relaxed canonical empty body is the empty string.
    assert_eq!(bh(b"From: a@example.com\r\n\r\n"), EMPTY_BODY_HASH);
    assert_eq!(bh(b"From: a@example.com\r\n"), EMPTY_BODY_HASH);
    assert_eq!(
        bh(b"From: a@example.com\r\n\r\n\r\n \r\n\t\r\n"),
        EMPTY_BODY_HASH
    );
    // Trailing blank lines and whitespace do not count; inner whitespace runs are one.
    let reference = bh(b"From: a@example.com\r\n\r\na b\r\n");
    assert_eq!(bh(b"From: a@example.com\r\n\r\na b"), reference);
    assert_eq!(
        bh(b"From: a@example.com\r\n\r\na \t b \r\n\r\n\r\n"),
        reference
    );
    assert_eq!(bh(b"From: a@example.com\n\na b\n\n"), reference);
    assert_ne!(bh(b"From: a@example.com\r\n\r\nab\r\n"), reference);
    assert_eq!(
        reference,
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"a b\r\n"))
    );
}

#[test]
fn header_lines_stay_within_78_characters() {
    for (name, message) in messages() {
        let signature = sign(&message);
        for line in signature.header_field().split("\r\n") {
            assert!(line.len() <= 78, "{name}: {line:?}");
            assert!(!line.trim().is_empty(), "{name}: a blank continuation line");
        }
    }
}

#[test]
fn only_a_very_long_domain_can_pass_78_characters() {
    let long = format!(
        "{}.{}.{}.example.com",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(50)
    );
    let signer = DkimSigner::new(&testing::key(0).private, &domain(&long), &selector("s")).unwrap();
    let signature = signer.sign(PLAIN.as_bytes(), NOW).unwrap();
    let long_lines: Vec<&str> = signature
        .header_field()
        .split("\r\n")
        .filter(|l| l.len() > 78)
        .collect();
    assert_eq!(long_lines, [format!(" d={long};")]);
    naive_verify(signature.signed_message(), public(0)).unwrap();
}

#[test]
fn t_is_the_signing_time() {
    let signature = signer(0)
        .sign(PLAIN.as_bytes(), datetime!(1970-01-01 00:00:07 UTC))
        .unwrap();
    assert_eq!(tags(signature.header_field())["t"], "7");
    assert_eq!(
        signer(0)
            .sign(PLAIN.as_bytes(), datetime!(1969-12-31 23:59:59 UTC))
            .unwrap_err(),
        SignError::TimeBeforeEpoch
    );
}

#[test]
fn unusable_keys_are_refused() {
    let d = domain("example.com");
    let s = selector("s");
    let garbage = PrivateKey::from_pkcs8_der_for_tests(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    assert_eq!(
        DkimSigner::new(&garbage, &d, &s).unwrap_err(),
        SignError::InvalidKey
    );
    // RFC 8301 §3.2: keys under 2048 bits are not for signing; AWS-LC refuses them.
    let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
    let weak = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
    let weak =
        PrivateKey::from_pkcs8_der_for_tests(weak.to_pkcs8_der().unwrap().as_bytes().to_vec());
    assert_eq!(
        DkimSigner::new(&weak, &d, &s).unwrap_err(),
        SignError::InvalidKey
    );
}

#[test]
fn debug_shows_no_key_material() {
    let signer = signer(0);
    let debug = format!("{signer:?}");
    assert_eq!(
        debug,
        "DkimSigner { domain: \"example.com\", selector: \"scaisend\", key: rsa-2048 }"
    );
    let signature = signer.sign(PLAIN.as_bytes(), NOW).unwrap();
    let debug = format!("{signature:?}");
    assert!(debug.contains("DKIM-Signature: v=1;"), "{debug}");
    assert!(debug.contains("bytes>"), "{debug}");
    assert!(!debug.contains("your invoice"), "{debug}");
}

#[test]
fn one_signer_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DkimSigner>();
    assert_send_sync::<DkimSignature>();
    let shared = Arc::new(signer(0));
    let expected = shared.sign(PLAIN.as_bytes(), NOW).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.sign(PLAIN.as_bytes(), NOW).unwrap())
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), expected);
    }
}

// ---- Properties ----------------------------------------------------------------------

/// Header field names the generator picks from: signed and unsigned, in mixed case.
const NAMES: &[&str] = &[
    "To",
    "to",
    "CC",
    "Subject",
    "SUBJECT",
    "Reply-To",
    "Date",
    "Message-ID",
    "X-Custom",
    "Received",
    "Content-Type",
    "List-Unsubscribe",
];

/// A header value: printable text with SP, HTAB, 8-bit bytes and folds.
fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            8 => (0x21u8..0x7f).prop_map(|b| vec![b]),
            2 => Just(vec![b' ']),
            1 => Just(vec![b'\t']),
            1 => (0x80u8..=0xff).prop_map(|b| vec![b]),
            1 => Just(b"\r\n ".to_vec()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// A body line: any bytes but CR and LF.
fn body_line() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no line breaks", |b| *b != b'\r' && *b != b'\n'),
        0..60,
    )
}

prop_compose! {
    fn well_formed_message()(
        before in proptest::collection::vec((proptest::sample::select(NAMES), value()), 0..6),
        from in value(),
        after in proptest::collection::vec((proptest::sample::select(NAMES), value()), 0..6),
        body in proptest::collection::vec(body_line(), 0..8),
        blank_lines in 0usize..4,
        lf_only in any::<bool>(),
    ) -> Vec<u8> {
        let mut message = Vec::new();
        let mut push_field = |name: &str, value: &[u8]| {
            message.extend_from_slice(name.as_bytes());
            message.push(b':');
            message.extend_from_slice(value);
            message.extend_from_slice(b"\r\n");
        };
        for (name, value) in &before {
            push_field(name, value);
        }
        push_field("From", &from);
        for (name, value) in &after {
            push_field(name, value);
        }
        message.extend_from_slice(b"\r\n");
        for line in &body {
            message.extend_from_slice(line);
            message.extend_from_slice(b"\r\n");
        }
        message.extend(b"\r\n".repeat(blank_lines));
        if lf_only {
            message = message.iter().copied().filter(|&b| b != b'\r').collect();
        }
        message
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn signing_never_panics(message in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = signer(0).sign(&message, NOW);
        let _ = from_domain(&message);
    }

    #[test]
    fn signing_never_panics_on_header_like_input(
        lines in proptest::collection::vec(
            prop_oneof![
                Just(b"From: a@example.com".to_vec()),
                Just(b"From:".to_vec()),
                Just(b" ".to_vec()),
                Just(Vec::new()),
                value(),
                body_line(),
            ],
            0..12,
        ),
        ending in proptest::sample::select(vec![&b"\r\n"[..], &b"\n"[..], &b"\r"[..]]),
    ) {
        let message = lines.join(ending);
        if let Ok(signature) = signer(0).sign(&message, NOW) {
            prop_assert!(naive_verify(signature.signed_message(), public(0)).is_ok());
        }
        let _ = from_domain(&message);
    }

    #[test]
    fn well_formed_messages_sign_and_verify(message in well_formed_message()) {
        let signature = signer(0).sign(&message, NOW).unwrap();
        prop_assert!(
            naive_verify(signature.signed_message(), public(0)).is_ok(),
            "{}", signature.header_field()
        );
        for line in signature.header_field().split("\r\n") {
            prop_assert!(line.len() <= 78, "{:?}", line);
        }
    }

    #[test]
    fn lines_fit_for_every_ordinary_domain_and_selector(
        labels in proptest::collection::vec("[a-z0-9]{1,20}", 1..3),
        sel in "[a-z][a-z0-9]{0,30}",
    ) {
        let name = format!("{}.example.com", labels.join("."));
        let signer = DkimSigner::new(&testing::key(0).private, &domain(&name), &selector(&sel)).unwrap();
        let signature = signer.sign(PLAIN.as_bytes(), NOW).unwrap();
        for line in signature.header_field().split("\r\n") {
            prop_assert!(line.len() <= 78, "{:?}", line);
        }
    }
}
