//! Signing keys: a private key parsed once for its algorithm, then used for every message.

use std::fmt;

use aws_lc_rs::digest::Digest;

use super::PrivateKey;
use super::ed25519::Ed25519SigningKey;
use super::rsa::RsaSigningKey;
use crate::records::dkim::Algorithm;

/// A private key ready to sign, in the spirit of mail-auth's `SigningKey`: the signer
/// asks it for a signature over the SHA-256 digest of the canonicalized header and never
/// looks at which algorithm it is. Its `Debug` names the algorithm and size only.
pub struct SigningKey(Inner);

enum Inner {
    Rsa(RsaSigningKey),
    Ed25519(Ed25519SigningKey),
}

/// The private key cannot sign: not PKCS#8, of an algorithm we do not issue, or (RSA)
/// outside 2048–8192 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the private key is not a usable signing key")]
pub struct UnusableKey;

impl SigningKey {
    /// Parses `key` for the algorithm its PKCS#8 names.
    pub fn new(key: &PrivateKey) -> Result<Self, UnusableKey> {
        match key.algorithm().ok_or(UnusableKey)? {
            Algorithm::RsaSha256 => RsaSigningKey::new(key)
                .map(|k| SigningKey(Inner::Rsa(k)))
                .ok_or(UnusableKey),
            Algorithm::Ed25519Sha256 => Ed25519SigningKey::new(key)
                .map(|k| SigningKey(Inner::Ed25519(k)))
                .ok_or(UnusableKey),
        }
    }

    /// The algorithm of the signatures this key makes (the `a=` tag).
    pub fn algorithm(&self) -> Algorithm {
        match &self.0 {
            Inner::Rsa(_) => Algorithm::RsaSha256,
            Inner::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// Whether one signature costs at most about a quarter of a millisecond of CPU (RSA up
    /// to 2048 bits, Ed25519), little enough to make on a thread that serves requests.
    pub fn is_cheap(&self) -> bool {
        match &self.0 {
            Inner::Rsa(k) => k.bits() <= 2048,
            Inner::Ed25519(_) => true,
        }
    }

    /// Signs the SHA-256 digest of the data to sign, the way the key's DKIM algorithm
    /// prescribes; `None` if the cryptographic library refuses (it does not say why).
    pub fn sign_sha256(&self, digest: &Digest) -> Option<Vec<u8>> {
        match &self.0 {
            Inner::Rsa(k) => k.sign_sha256(digest),
            Inner::Ed25519(k) => Some(k.sign_sha256(digest)),
        }
    }
}

/// The algorithm and size, `rsa-2048`: what logs may say about a key.
impl fmt::Display for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Rsa(k) => write!(f, "rsa-{}", k.bits()),
            Inner::Ed25519(_) => f.write_str("ed25519"),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({self})")
    }
}
