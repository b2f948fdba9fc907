//! Public keys as DKIM publishes them — the verifying half of a key pair — compared as
//! keys rather than as text.
//!
//! Each algorithm is one arm of [`DkimPublicKey`]: what its `p=` holds, how two keys
//! compare, and how big a key is.

use std::fmt;

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
use rsa::traits::PublicKeyParts as _;

use super::{Algorithm, KeyType};

/// A DKIM public key of one of the algorithms we sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimPublicKey(Material);

#[derive(Clone, PartialEq, Eq)]
enum Material {
    Rsa(RsaPublicKey),
    /// RFC 8463 §4.2: the `p=` of an Ed25519 record is the bare 32-byte public key, not a
    /// SubjectPublicKeyInfo.
    Ed25519([u8; ED25519_KEY_LEN]),
}

/// The length of an Ed25519 public key (RFC 8032 §5.1.5).
pub const ED25519_KEY_LEN: usize = 32;

/// Why the bytes of a `p=` tag are not a public key of the record's key type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The `p=` value of an RSA record is not an RSA public key.
    #[error("the `p=` value is neither a SubjectPublicKeyInfo nor a PKCS#1 RSAPublicKey")]
    NotRsa,
    /// The `p=` value of an Ed25519 record is not 32 bytes.
    #[error("an Ed25519 `p=` value must be the 32-byte public key, not {0} bytes (RFC 8463)")]
    Ed25519Length(usize),
    /// The record's key type is one we do not sign with.
    #[error("keys of type `{0}` are not one of ours")]
    UnsupportedKeyType(String),
}

impl DkimPublicKey {
    /// Reads the key of a key record: its `k=` type and the decoded bytes of its `p=`.
    pub fn from_record(key_type: &KeyType, p: &[u8]) -> Result<Self, KeyParseError> {
        match Algorithm::for_key_type(key_type) {
            Some(Algorithm::RsaSha256) => Self::from_der(p),
            Some(Algorithm::Ed25519Sha256) => <[u8; ED25519_KEY_LEN]>::try_from(p)
                .map(|key| DkimPublicKey(Material::Ed25519(key)))
                .map_err(|_| KeyParseError::Ed25519Length(p.len())),
            None => Err(KeyParseError::UnsupportedKeyType(
                key_type.as_str().to_owned(),
            )),
        }
    }

    /// Reads a key as a store keeps it: its algorithm and its `p=` bytes.
    pub fn from_stored(algorithm: Algorithm, p: &[u8]) -> Result<Self, KeyParseError> {
        Self::from_record(&algorithm.key_type(), p)
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match &self.0 {
            Material::Rsa(_) => Algorithm::RsaSha256,
            Material::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// What the `p=` tag publishes: for RSA, SubjectPublicKeyInfo DER; for Ed25519, the
    /// 32-byte key.
    pub fn p_bytes(&self) -> &[u8] {
        match &self.0 {
            Material::Rsa(k) => &k.spki_der,
            Material::Ed25519(k) => k,
        }
    }

    /// The `p=` value: [`p_bytes`](Self::p_bytes) in base64.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.p_bytes())
    }

    /// The key size in bits (the modulus length for RSA, 256 for Ed25519).
    pub fn bits(&self) -> usize {
        match &self.0 {
            Material::Rsa(k) => k.bits,
            Material::Ed25519(k) => k.len() * 8,
        }
    }
}

/// The RSA arm: SubjectPublicKeyInfo DER (what our `p=` publishes) together with the
/// modulus and exponent, which are what two keys are compared by.
#[derive(Clone)]
struct RsaPublicKey {
    spki_der: Vec<u8>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    bits: usize,
}

impl DkimPublicKey {
    /// Reads an RSA key from DER: SubjectPublicKeyInfo (RFC 6376 §3.6.1) or, as some
    /// publishers write it, a bare PKCS#1 RSAPublicKey.
    ///
    /// Only the ASN.1 is read — the modulus and exponent are compared as numbers, not
    /// turned into a key object — because verification reads a key record for every
    /// check of every domain.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyParseError> {
        use rsa::pkcs1::der::Decode as _;
        let (spki_der, rsa_key) = match SubjectPublicKeyInfoRef::from_der(der) {
            Ok(spki) => {
                if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                    return Err(KeyParseError::NotRsa);
                }
                let inner = spki
                    .subject_public_key
                    .as_bytes()
                    .ok_or(KeyParseError::NotRsa)?;
                (der.to_vec(), inner)
            }
            // A bare RSAPublicKey: wrap it in the SubjectPublicKeyInfo we publish.
            Err(_) => {
                let spki = rsa::PublicKey::from_pkcs1_der(der)
                    .ok()
                    .and_then(|k| k.to_public_key_der().ok())
                    .ok_or(KeyParseError::NotRsa)?;
                (spki.as_bytes().to_vec(), der)
            }
        };
        let parts =
            rsa::pkcs1::RsaPublicKeyRef::from_der(rsa_key).map_err(|_| KeyParseError::NotRsa)?;
        let modulus = trim_leading_zeros(parts.modulus.as_bytes());
        let exponent = trim_leading_zeros(parts.public_exponent.as_bytes());
        // An RSA modulus and public exponent are odd; anything else is not a key.
        let odd = |b: &[u8]| b.last().is_some_and(|l| l & 1 == 1);
        if !odd(modulus) || !odd(exponent) || exponent.len() > modulus.len() {
            return Err(KeyParseError::NotRsa);
        }
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        Ok(DkimPublicKey(Material::Rsa(RsaPublicKey {
            spki_der,
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
            bits,
        })))
    }

    /// Reads an RSA key from the base64 of a `p=` tag.
    pub fn from_base64(b64: &str) -> Result<Self, KeyParseError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| KeyParseError::NotRsa)?;
        Self::from_der(&der)
    }

    pub(crate) fn from_rsa(key: &rsa::PublicKey) -> Option<Self> {
        let spki = key.to_public_key_der().ok()?;
        Some(DkimPublicKey(Material::Rsa(RsaPublicKey {
            spki_der: spki.as_bytes().to_vec(),
            modulus: key.n_bytes().into_vec(),
            exponent: key.e_bytes().into_vec(),
            bits: key.n().bit_width() as usize,
        })))
    }
}

/// Two keys are equal when their modulus and exponent are, whatever DER wrapped them.
fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.modulus == other.modulus && self.exponent == other.exponent
    }
}

impl Eq for RsaPublicKey {}

impl fmt::Debug for DkimPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DkimPublicKey({}-{}, {})",
            self.algorithm().key_type().as_str(),
            self.bits(),
            self.to_base64()
        )
    }
}
