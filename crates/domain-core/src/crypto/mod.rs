//! DKIM key material: which algorithms we issue, key generation, the private keys that
//! sign, and the sealing that keeps them safe at rest.
//!
//! A key design decision: private key material exists in clear only in this module and
//! in the signer. Stores receive a [`SealedKey`] — AES-256-GCM under the master
//! (key-encryption) key, with the domain id and selector as associated data, so a
//! sealed key copied to another row does not open. [`PrivateKey`] has no `Debug` or
//! `Display` that shows its bytes and no public accessor for them, and every buffer that
//! holds them is wiped when it is dropped.
//!
//! Everything specific to one algorithm lives in its own arm ([`rsa`] for RSA): adding an
//! algorithm is a variant of [`KeyAlgorithm`] and of
//! [`Algorithm`](crate::records::dkim::Algorithm), and one module here.

mod ed25519;
mod rsa;
mod seal;
mod signing;

use std::fmt;

use zeroize::Zeroizing;

use crate::records::dkim::{Algorithm, DkimPublicKey};

pub use self::rsa::RsaBits;
pub use seal::{KeyRow, MasterKey, PoolSlot, SealedKey};
pub use signing::SigningKey;

/// What kind of key to generate: an algorithm and, where it has one, a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with the given modulus size, signing with `rsa-sha256`.
    Rsa(RsaBits),
    /// Ed25519, signing with `ed25519-sha256` (RFC 8463).
    Ed25519,
}

impl Default for KeyAlgorithm {
    /// RSA-2048: what every receiver verifies and every DNS provider can hold.
    fn default() -> Self {
        KeyAlgorithm::Rsa(RsaBits::default())
    }
}

impl KeyAlgorithm {
    /// The DKIM signing algorithm of keys of this kind (the `a=` tag).
    pub fn dkim_algorithm(self) -> Algorithm {
        match self {
            KeyAlgorithm::Rsa(_) => Algorithm::RsaSha256,
            KeyAlgorithm::Ed25519 => Algorithm::Ed25519Sha256,
        }
    }

    /// The kind of `key`, so that a rotation issues a key like the one it replaces.
    pub fn of(key: &DkimPublicKey) -> Self {
        match key.algorithm() {
            Algorithm::RsaSha256 => KeyAlgorithm::Rsa(RsaBits::closest(key.bits())),
            Algorithm::Ed25519Sha256 => KeyAlgorithm::Ed25519,
        }
    }

    /// The name of this kind in the key pool: `rsa-2048`, `ed25519`.
    pub fn pool_kind(self) -> String {
        match self {
            KeyAlgorithm::Rsa(bits) => format!("rsa-{}", bits.bits()),
            KeyAlgorithm::Ed25519 => "ed25519".to_owned(),
        }
    }

    /// The key size in bits, as the API and the timeline show it.
    pub fn bits(self) -> u32 {
        match self {
            KeyAlgorithm::Rsa(bits) => bits.bits(),
            KeyAlgorithm::Ed25519 => 256,
        }
    }
}

/// What went wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The random source or the key generator failed.
    #[error("key generation failed: {0}")]
    Generation(String),
    /// Key generation is saturated; the caller may retry shortly.
    #[error("key generation is busy; retry shortly")]
    Busy,
    /// The master key given is not 32 bytes of base64.
    #[error("the master key must be 32 bytes, base64-encoded: {0}")]
    BadMasterKey(String),
    /// The sealed key was sealed under another master key.
    #[error("the key was sealed under a different master key")]
    WrongMasterKey,
    /// The sealed key does not open: it was altered, or belongs to another domain or
    /// selector.
    #[error("the sealed key does not open for this domain and selector")]
    DoesNotOpen,
    /// The bytes are not a sealed key of a format we know.
    #[error("the sealed key is malformed")]
    Malformed,
}

/// A private key in PKCS#8 DER, wiped from memory when dropped. PKCS#8 names its own
/// algorithm, so a key read back from a store needs nothing beside it to be used.
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
}

impl PrivateKey {
    pub(crate) fn from_pkcs8(pkcs8: Zeroizing<Vec<u8>>) -> Self {
        PrivateKey { pkcs8 }
    }

    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The DKIM algorithm this key signs with, read from its PKCS#8 algorithm identifier;
    /// `None` for a key of an algorithm we do not issue.
    pub fn algorithm(&self) -> Option<Algorithm> {
        use ::rsa::pkcs8::der::Decode as _;
        let info = ::rsa::pkcs8::PrivateKeyInfoRef::from_der(&self.pkcs8).ok()?;
        let oid = info.algorithm.oid;
        if rsa::owns_oid(oid) {
            Some(Algorithm::RsaSha256)
        } else if ed25519::owns_oid(oid) {
            Some(Algorithm::Ed25519Sha256)
        } else {
            None
        }
    }

    /// Wraps arbitrary bytes, so tests can hand the signer keys it must refuse.
    #[cfg(test)]
    pub(crate) fn from_pkcs8_der_for_tests(der: Vec<u8>) -> Self {
        PrivateKey {
            pkcs8: Zeroizing::new(der),
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// A freshly generated key pair.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The public half, for the DNS record.
    pub public: DkimPublicKey,
    /// The private half, to be sealed at once.
    pub private: PrivateKey,
}

impl GeneratedKey {
    /// A copy, for tests that hand out pre-generated keys.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn duplicate(&self) -> GeneratedKey {
        GeneratedKey {
            public: self.public.clone(),
            private: PrivateKey {
                pkcs8: self.private.pkcs8.clone(),
            },
        }
    }
}

/// Generates a key pair of the given kind with the operating system's random source.
/// Slow for RSA: tens of milliseconds for 2048 bits and up to seconds for 4096.
pub fn generate(algorithm: KeyAlgorithm) -> Result<GeneratedKey, KeyError> {
    match algorithm {
        KeyAlgorithm::Rsa(bits) => rsa::generate(bits),
        KeyAlgorithm::Ed25519 => ed25519::generate(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn a_private_key_knows_its_algorithm() {
        assert_eq!(
            testing::key(0).private.algorithm(),
            Some(Algorithm::RsaSha256)
        );
        let garbage = PrivateKey::from_pkcs8_der_for_tests(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert_eq!(garbage.algorithm(), None);
    }

    #[test]
    fn ed25519_keys_are_generated_sealed_and_know_their_algorithm() {
        let key = generate(KeyAlgorithm::Ed25519).unwrap();
        assert_eq!(key.public.algorithm(), Algorithm::Ed25519Sha256);
        assert_eq!(key.public.p_bytes().len(), 32);
        assert_eq!(key.private.algorithm(), Some(Algorithm::Ed25519Sha256));
        assert_eq!(KeyAlgorithm::of(&key.public), KeyAlgorithm::Ed25519);
        let signing = SigningKey::new(&key.private).unwrap();
        assert_eq!(signing.algorithm(), Algorithm::Ed25519Sha256);
        assert_eq!(format!("{signing}"), "ed25519");
    }

    #[test]
    fn a_rotation_issues_a_key_like_the_one_it_replaces() {
        let key = &testing::key(0).public;
        assert_eq!(KeyAlgorithm::of(key), KeyAlgorithm::Rsa(RsaBits::Rsa2048));
        assert_eq!(KeyAlgorithm::of(key).bits(), 2048);
        assert_eq!(
            KeyAlgorithm::default().dkim_algorithm(),
            Algorithm::RsaSha256
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let key = testing::key(0);
        assert_eq!(format!("{:?}", key.private), "PrivateKey(<redacted>)");
        let (kek, b64) = MasterKey::generate().unwrap();
        assert!(!format!("{kek:?}").contains(b64.as_str()));
    }
}
