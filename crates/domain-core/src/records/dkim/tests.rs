//! Properties of the DKIM key record model: what we build parses back to itself, records
//! seen in the wild parse to what they mean, and keys compare as keys, not as text.

use base64::Engine as _;
use proptest::prelude::*;

use super::*;
use crate::records::tag_list::is_fws;
use crate::records::{MAX_CHARACTER_STRING, TxtRecord, join_character_strings, value_chunks};
use crate::testing;

/// A tag value the builder can write and the parser gives back unchanged: no `;` (the
/// tag separator), no control characters other than folding whitespace, and no folding
/// whitespace at either end (the parser trims it).
fn tag_value() -> impl Strategy<Value = String> {
    "[^;\\p{Cc}]{0,16}".prop_map(|s| s.trim_matches(is_fws).to_owned())
}

/// One item of a colon-separated list (`h=`, `s=`, `t=`): like a tag value, without `:`
/// and never empty (the parser drops empty items).
fn list_item() -> impl Strategy<Value = String> {
    "[^;:\\p{Cc}]{1,8}"
        .prop_map(|s| s.trim_matches(is_fws).to_owned())
        .prop_filter("an item is not empty once trimmed", |s| !s.is_empty())
}

fn list() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(list_item(), 0..4))
}

fn key_type() -> impl Strategy<Value = KeyType> {
    prop_oneof![
        Just(KeyType::Rsa),
        Just(KeyType::Ed25519),
        // The parser reads `rsa` and `ed25519` in any case as the known types, so an
        // `Other` with one of those names could not come back as itself.
        tag_value()
            .prop_filter("known key types are not `Other`", |k| {
                !k.eq_ignore_ascii_case("rsa") && !k.eq_ignore_ascii_case("ed25519")
            })
            .prop_map(KeyType::Other),
    ]
}

/// Valid records: every tag present or not, `p` any bytes (empty: revoked).
fn record() -> impl Strategy<Value = DkimKeyRecord> {
    (
        any::<bool>(),
        list(),
        prop::option::of(key_type()),
        prop::option::of(tag_value()),
        prop::collection::vec(any::<u8>(), 0..300),
        list(),
        list(),
    )
        .prop_map(|(v, h, k, n, p, s, t)| DkimKeyRecord {
            v,
            h,
            k,
            n,
            p,
            s,
            t,
        })
}

proptest! {
    #[test]
    fn built_records_parse_back(r in record()) {
        crate::testing::parses_back(r)?;
    }
}

/// The `p=` of a real 2048-bit record (`arcselector9901._domainkey.microsoft.com`),
/// published as two character-strings split inside the base64.
const MICROSOFT_P1: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAohCECx8ACVIj42taMc8G2ljiDmsboUW4mgasOg3/2Ay1D37DwK0CE1aok6x0x6dQ4FC/NGdeksPjT/ZLYH+zwwUvElJwd8adtZK4E7AT9Rzr6WPtTiFHi87em6n12HTvp8plpGHXnm8vdFrTxcCUguwUBzbe6MB12Dc3vSURcOUqfa6Dlj/6cNehl+PMonql";
const MICROSOFT_P2: &str = "LxOl2KmpTJ/Vy9jhdFOu50xEhXIT5ocOa4tX12hfoMpZfBW6iU5QIyvnEFkJuF8Ibs7Hhr7Ec1GZc6tgOd5uNTAnnvh+xiYs8e722H5iDecMsBzj+I9U+CBY1ACwY9hTC1UDNu3xS+WKQNgvnifdIQIDAQAB";

crate::testing::record_parse_checks!(DkimKeyRecord);

#[test]
fn a_2048_bit_record_in_two_character_strings_parses_once_joined() {
    let first = format!("v=DKIM1; k=rsa; p={MICROSOFT_P1}");
    let text = join_character_strings(&[first.as_str(), MICROSOFT_P2]);
    let p = format!("{MICROSOFT_P1}{MICROSOFT_P2}");
    check(&text, Ok(&format!("v=DKIM1; k=rsa; p={p}")));
    let record = DkimKeyRecord::parse(&text).unwrap();
    let key = DkimPublicKey::from_der(&record.p).unwrap();
    assert_eq!(key.bits(), 2048);
    // Joining with a space, as some tools do, does no harm: whitespace inside `p=` is
    // folding whitespace.
    check(
        &format!("{first} {MICROSOFT_P2}"),
        Ok(&format!("v=DKIM1; k=rsa; p={p}")),
    );
}

#[test]
fn folding_whitespace_inside_p_is_ignored() {
    let p = format!("{MICROSOFT_P1}{MICROSOFT_P2}");
    let want = format!("v=DKIM1; k=rsa; p={p}");
    // A zone file's multi-line record, pasted with its line breaks.
    check(
        &format!("v=DKIM1; k=rsa; p={MICROSOFT_P1}\r\n\t{MICROSOFT_P2}"),
        Ok(&want),
    );
    check(
        &format!("v=DKIM1;\r\n k=rsa;\r\n p= {MICROSOFT_P1} {MICROSOFT_P2} ;"),
        Ok(&want),
    );
    check(&format!("v = DKIM1 ; k = rsa ; p = {p}"), Ok(&want));
}

#[test]
fn real_world_tags_parse() {
    canonical("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    canonical("v=DKIM1; k=rsa; t=y:s; p=AQAB");
    check("v=DKIM1; t = y : s ; p=AQAB", Ok("v=DKIM1; t=y:s; p=AQAB"));
    canonical("v=DKIM1; h=sha1:sha256; k=rsa; p=AQAB");
    canonical("v=DKIM1; h=sha256; k=rsa; s=email; p=AQAB");
    canonical("v=DKIM1; n=rotated 2024-01; p=AQAB");
    // `v=` is optional; `k=` keeps what was written (its case included).
    check("k=RSA; p=AQAB", Ok("k=rsa; p=AQAB"));
    canonical("p=AQAB");
    // An empty `p=` is a revoked key, not an error.
    canonical("v=DKIM1; p=");
    check("v=DKIM1; k=rsa; p= ;", Ok("v=DKIM1; k=rsa; p="));
}

#[test]
fn unknown_tags_are_ignored() {
    check(
        "v=DKIM1; k=rsa; g=*; x=anything; p=AQAB",
        Ok("v=DKIM1; k=rsa; p=AQAB"),
    );
}

#[test]
fn broken_records_are_refused_with_a_reason() {
    refused("k=rsa; v=DKIM1; p=AQAB", "must be the first tag");
    refused("v=DKIM2; p=AQAB", "`v=DKIM2`");
    refused("v=dkim1; p=AQAB", "must be `v=DKIM1`");
    refused("v=DKIM1; k=rsa", "no `p=` tag");
    refused("", "no `p=` tag");
    refused("v=DKIM1; p=AQAB; p=AQAB", "more than once");
    refused("v=DKIM1; k=rsa; k=rsa; p=AQAB", "more than once");
    refused("v=DKIM1; p=not*base64!", "not valid base64");
    refused("v=DKIM1; p=AQA", "not valid base64");
    refused("v=DKIM1; k=rsa; MIIBIjAN", "tag=value");
}

/// What a parsed record means to a verifier.
#[derive(Debug, PartialEq, Eq)]
struct Meaning {
    key_type: KeyType,
    revoked: bool,
    testing: bool,
    email: bool,
    sha256: bool,
}

#[track_caller]
fn check_meaning(input: &str, expected: Meaning) {
    let r = DkimKeyRecord::parse(input).unwrap();
    let got = Meaning {
        key_type: r.key_type(),
        revoked: r.is_revoked(),
        testing: r.is_testing(),
        email: r.allows_email(),
        sha256: r.allows_sha256(),
    };
    assert_eq!(got, expected, "input {input:?}");
}

#[test]
fn records_mean_what_their_tags_say() {
    let plain = || Meaning {
        key_type: KeyType::Rsa,
        revoked: false,
        testing: false,
        email: true,
        sha256: true,
    };
    check_meaning("v=DKIM1; p=AQAB", plain());
    check_meaning("v=DKIM1; k=rsa; s=email; h=sha256; p=AQAB", plain());
    check_meaning("v=DKIM1; s=*; t=s; p=AQAB", plain());
    check_meaning("v=DKIM1; s=EMAIL; h=SHA256; p=AQAB", plain());
    check_meaning(
        "v=DKIM1; p=",
        Meaning {
            revoked: true,
            ..plain()
        },
    );
    check_meaning(
        "v=DKIM1; t=y:s; p=AQAB",
        Meaning {
            testing: true,
            ..plain()
        },
    );
    check_meaning(
        "v=DKIM1; s=tlsrpt; p=AQAB",
        Meaning {
            email: false,
            ..plain()
        },
    );
    check_meaning("v=DKIM1; h=sha1:sha256; p=AQAB", plain());
    check_meaning(
        "v=DKIM1; h=sha1; p=AQAB",
        Meaning {
            sha256: false,
            ..plain()
        },
    );
    check_meaning(
        "v=DKIM1; k=ed25519; p=AQAB",
        Meaning {
            key_type: KeyType::Ed25519,
            ..plain()
        },
    );
    check_meaning(
        "v=DKIM1; k=dsa; p=AQAB",
        Meaning {
            key_type: KeyType::Other("dsa".to_owned()),
            ..plain()
        },
    );
}

/// The bare PKCS#1 RSAPublicKey DER of one of the test keys.
fn pkcs1_der(n: usize) -> Vec<u8> {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::DecodePublicKey as _;
    let key = rsa::PublicKey::from_public_key_der(testing::key(n).public.p_bytes()).unwrap();
    key.to_pkcs1_der().unwrap().as_bytes().to_vec()
}

#[test]
fn spki_and_pkcs1_of_the_same_key_are_equal() {
    let ours = &testing::key(0).public;
    let spki = DkimPublicKey::from_der(ours.p_bytes()).unwrap();
    let pkcs1 = DkimPublicKey::from_der(&pkcs1_der(0)).unwrap();
    assert_ne!(ours.p_bytes(), pkcs1_der(0).as_slice());
    assert_eq!(spki, pkcs1);
    assert_eq!(&spki, ours);
    // A bare key is wrapped into the SubjectPublicKeyInfo we would publish.
    assert_eq!(pkcs1.p_bytes(), ours.p_bytes());
    assert_eq!(pkcs1.to_base64(), ours.to_base64());
}

#[test]
fn different_keys_differ() {
    let a = DkimPublicKey::from_der(testing::key(0).public.p_bytes()).unwrap();
    let b = DkimPublicKey::from_der(testing::key(1).public.p_bytes()).unwrap();
    let b_pkcs1 = DkimPublicKey::from_der(&pkcs1_der(1)).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, b_pkcs1);
}

#[test]
fn keys_read_from_base64_compare_as_keys() {
    let ours = &testing::key(0).public;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs1_der(0));
    assert_eq!(DkimPublicKey::from_base64(&b64).unwrap(), *ours);
    assert_eq!(
        DkimPublicKey::from_base64(&ours.to_base64()).unwrap(),
        *ours
    );
}

#[test]
fn the_key_size_is_the_modulus_length() {
    assert_eq!(testing::key(0).public.bits(), 2048);
    let der = DkimPublicKey::from_der(testing::key(0).public.p_bytes()).unwrap();
    assert_eq!(der.bits(), 2048);
    let pkcs1 = DkimPublicKey::from_der(&pkcs1_der(0)).unwrap();
    assert_eq!(pkcs1.bits(), 2048);
    let microsoft = DkimPublicKey::from_base64(&format!("{MICROSOFT_P1}{MICROSOFT_P2}")).unwrap();
    assert_eq!(microsoft.bits(), 2048);
}

/// Tries one byte string as a key: Ok(bits) or the parse error.
#[track_caller]
fn check_key(der: &[u8], expected: Result<usize, KeyParseError>) {
    assert_eq!(
        DkimPublicKey::from_der(der).map(|k| k.bits()),
        expected,
        "{der:02x?}"
    );
}

#[test]
fn what_is_not_an_rsa_key_is_refused() {
    let spki = testing::key(0).public.p_bytes().to_vec();
    check_key(&spki, Ok(2048));
    check_key(b"", Err(KeyParseError::NotRsa));
    check_key(b"garbage", Err(KeyParseError::NotRsa));
    check_key(&spki[..spki.len() - 1], Err(KeyParseError::NotRsa));
    // The SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): the wrong algorithm.
    let mut ed25519 = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    ed25519.extend([7u8; 32]);
    check_key(&ed25519, Err(KeyParseError::NotRsa));
    // Both DER forms end with the modulus's last byte and then the exponent
    // `02 03 01 00 01`; an RSA modulus is odd (a product of two odd primes), and so is
    // the public exponent.
    let mut even_modulus = spki.clone();
    let at = even_modulus.len() - 6;
    even_modulus[at] ^= 1;
    check_key(&even_modulus, Err(KeyParseError::NotRsa));
    let mut even_pkcs1 = pkcs1_der(0);
    let at = even_pkcs1.len() - 6;
    even_pkcs1[at] ^= 1;
    check_key(&even_pkcs1, Err(KeyParseError::NotRsa));
    let mut even_exponent = spki;
    let last = even_exponent.len() - 1;
    even_exponent[last] ^= 1;
    check_key(&even_exponent, Err(KeyParseError::NotRsa));
    assert_eq!(
        DkimPublicKey::from_base64("not base64!"),
        Err(KeyParseError::NotRsa)
    );
}

#[test]
fn a_real_dkim_value_splits_into_character_strings_that_join_back() {
    let value = DkimKeyRecord::for_key(&testing::key(0).public).to_string();
    assert!(value.len() > MAX_CHARACTER_STRING, "{}", value.len());
    let chunks = value_chunks(&value);
    assert_eq!(chunks.len(), 2);
    assert!(chunks.iter().all(|c| c.len() <= MAX_CHARACTER_STRING));
    assert_eq!(chunks[0].len(), MAX_CHARACTER_STRING);
    assert_eq!(join_character_strings(&chunks), value);
    // And the joined value is still our record.
    let parsed = DkimKeyRecord::parse(&join_character_strings(&chunks)).unwrap();
    assert_eq!(parsed, DkimKeyRecord::for_key(&testing::key(0).public));
}

#[test]
fn our_record_is_v_k_p() {
    let key = &testing::key(0).public;
    let value = DkimKeyRecord::for_key(key).to_string();
    assert_eq!(value, format!("v=DKIM1; k=rsa; p={}", key.to_base64()));
}

proptest! {
    /// RFC 8463: the record we publish for any Ed25519 key parses back to the same record
    /// and the same key.
    #[test]
    fn ed25519_records_round_trip(key in prop::array::uniform32(any::<u8>())) {
        let public = DkimPublicKey::from_stored(Algorithm::Ed25519Sha256, &key).unwrap();
        let record = DkimKeyRecord::for_key(&public);
        let text = record.to_string();
        prop_assert!(text.starts_with("v=DKIM1; k=ed25519; p="), "{}", text);
        let parsed = DkimKeyRecord::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &record);
        let back = DkimPublicKey::from_record(&parsed.key_type(), &parsed.p).unwrap();
        prop_assert_eq!(back, public);
    }

    /// An Ed25519 `p=` of any other length than 32 bytes is refused, naming the length.
    #[test]
    fn ed25519_keys_of_the_wrong_length_are_refused(
        key in prop::collection::vec(any::<u8>(), 0..100)
            .prop_filter("not 32 bytes", |k| k.len() != ED25519_KEY_LEN)
    ) {
        let err = DkimPublicKey::from_record(&KeyType::Ed25519, &key).unwrap_err();
        prop_assert_eq!(err, KeyParseError::Ed25519Length(key.len()));
    }
}

#[test]
fn algorithms_are_named_alike_everywhere() {
    for algorithm in Algorithm::ALL {
        assert_eq!(
            serde_json::to_value(algorithm).unwrap(),
            serde_json::json!(algorithm.as_str())
        );
        assert_eq!(Algorithm::parse(algorithm.as_str()), Some(algorithm));
        assert_eq!(
            Algorithm::for_key_type(&algorithm.key_type()),
            Some(algorithm)
        );
    }
}
