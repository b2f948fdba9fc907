//! Standard Webhooks signing: the `whsec_` secret, and the `webhook-signature` header
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one entry per signing key
//! separated by spaces (two while a rotated-out secret overlaps the new one).

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// The prefix of a secret as the API shows it.
pub const SECRET_PREFIX: &str = "whsec_";
/// How many random bytes a new secret has.
pub const SECRET_LEN: usize = 32;

/// A signing secret: the key bytes. Its `Debug` never shows them, and they are wiped on
/// drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

/// A secret or a signature header that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `whsec_<base64>`.
    #[error("a secret is `whsec_` and base64")]
    BadSecret,
    /// The header has no `v1,<base64>` entry.
    #[error("the signature header has no `v1` signature")]
    NoSignature,
    /// The random source failed.
    #[error("the random source failed")]
    Random,
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Result<Self, SignatureError> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SignatureError::Random)?;
        Ok(Secret(bytes))
    }

    /// A secret from its key bytes (as opened from the store).
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Secret(bytes)
    }

    /// Parses `whsec_<base64>`.
    pub fn parse(s: &str) -> Result<Self, SignatureError> {
        let b64 = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SignatureError::BadSecret)?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| SignatureError::BadSecret)?;
        if bytes.is_empty() {
            return Err(SignatureError::BadSecret);
        }
        Ok(Secret(Zeroizing::new(bytes)))
    }

    /// `whsec_<base64>`, as shown once to the tenant.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The base64 signature of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        STANDARD.encode(ctx.sign().as_ref())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// The `webhook-signature` header: one `v1,<signature>` per secret, space-separated.
pub fn header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| format!("v1,{}", s.sign(id, timestamp, body)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `v1` signatures of a `webhook-signature` header, decoded; entries of other
/// versions and undecodable ones are skipped.
pub fn parse_header(header: &str) -> Result<Vec<Vec<u8>>, SignatureError> {
    let signatures: Vec<Vec<u8>> = header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    if signatures.is_empty() {
        Err(SignatureError::NoSignature)
    } else {
        Ok(signatures)
    }
}

/// Whether one of the header's `v1` signatures is `secret`'s, compared in constant time.
pub fn verify(secret: &Secret, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(signatures) = parse_header(header) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut message = Vec::with_capacity(body.len() + id.len() + 24);
    message.extend_from_slice(id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    signatures
        .iter()
        .any(|sig| hmac::verify(&key, &message, sig).is_ok())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn the_specifications_example_signs_alike() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            header(&[&secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_redacted_and_round_trip() {
        let secret = Secret::generate().unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(redacted)");
        let shown = secret.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(Secret::parse(&shown).unwrap(), secret);
        assert!(Secret::parse("whsec_").is_err());
        assert!(Secret::parse("sk_abc").is_err());
        assert!(Secret::parse("whsec_!!!").is_err());
    }

    proptest! {
        #[test]
        fn every_secret_of_a_header_verifies_and_others_do_not(
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..4),
            other in prop::collection::vec(any::<u8>(), 1..64),
            id in "msg_[0-9A-Z]{26}",
            timestamp in 0i64..4_000_000_000,
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let secrets: Vec<Secret> = keys.into_iter().map(|k| Secret::from_bytes(Zeroizing::new(k))).collect();
            let refs: Vec<&Secret> = secrets.iter().collect();
            let h = header(&refs, &id, timestamp, &body);
            prop_assert_eq!(parse_header(&h).unwrap().len(), secrets.len());
            for s in &secrets {
                prop_assert!(verify(s, &id, timestamp, &body, &h));
                prop_assert!(!verify(s, &id, timestamp + 1, &body, &h));
            }
            let stranger = Secret::from_bytes(Zeroizing::new(other));
            if !secrets.contains(&stranger) {
                prop_assert!(!verify(&stranger, &id, timestamp, &body, &h));
            }
        }

        #[test]
        fn exposed_secrets_parse_back(bytes in prop::collection::vec(any::<u8>(), 1..64)) {
            let secret = Secret::from_bytes(Zeroizing::new(bytes));
            prop_assert_eq!(Secret::parse(&secret.expose()).unwrap(), secret);
        }

        #[test]
        fn the_header_parser_never_panics(s in ".{0,200}") {
            let _ = parse_header(&s);
        }
    }
}
