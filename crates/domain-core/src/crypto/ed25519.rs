//! The Ed25519 arm (RFC 8463): generation and the signing key.

use aws_lc_rs::digest::Digest;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use zeroize::Zeroizing;

use super::{GeneratedKey, KeyError, PrivateKey};
use crate::records::dkim::{Algorithm, DkimPublicKey};

/// The PKCS#8 algorithm identifier of Ed25519 keys (RFC 8410 §3): 1.3.101.112.
const OID: ::rsa::pkcs8::ObjectIdentifier =
    ::rsa::pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");

/// Generates an Ed25519 key pair from the operating system's random source (AWS-LC).
/// The PKCS#8 document wipes itself when dropped; its bytes are copied into a wiped
/// buffer.
pub(super) fn generate() -> Result<GeneratedKey, KeyError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| KeyError::Generation("Ed25519 key generation failed".to_owned()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let public = DkimPublicKey::from_stored(Algorithm::Ed25519Sha256, pair.public_key().as_ref())
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    Ok(GeneratedKey {
        public,
        private: PrivateKey::from_pkcs8(Zeroizing::new(pkcs8.as_ref().to_vec())),
    })
}

/// Whether a PKCS#8 algorithm identifier is Ed25519's.
pub(super) fn owns_oid(oid: ::rsa::pkcs8::ObjectIdentifier) -> bool {
    oid == OID
}

/// An Ed25519 signing key parsed for AWS-LC.
pub(super) struct Ed25519SigningKey(Ed25519KeyPair);

impl Ed25519SigningKey {
    pub(super) fn new(key: &PrivateKey) -> Option<Self> {
        Ed25519KeyPair::from_pkcs8(key.pkcs8_der())
            .ok()
            .map(Ed25519SigningKey)
    }

    /// RFC 8463 §3: PureEdDSA over the SHA-256 hash itself (the hash is the message).
    pub(super) fn sign_sha256(&self, digest: &Digest) -> Vec<u8> {
        self.0.sign(digest.as_ref()).as_ref().to_vec()
    }
}
