//! Public keys as DKIM publishes them, compared as keys rather than as text.

use std::fmt;

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;

/// An RSA public key, held as SubjectPublicKeyInfo DER (what our `p=` publishes) together
/// with its modulus and exponent, which is what two keys are compared by.
#[derive(Clone)]
pub struct DkimPublicKey {
    spki_der: Vec<u8>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    bits: usize,
}

/// Why the bytes of a `p=` tag are not an RSA public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `p=` value is neither a SubjectPublicKeyInfo nor a PKCS#1 RSAPublicKey")]
pub struct KeyParseError;

impl DkimPublicKey {
    /// Reads a key from DER: SubjectPublicKeyInfo (RFC 6376 §3.6.1) or, as some
    /// publishers write it, a bare PKCS#1 RSAPublicKey.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyParseError> {
        let key = rsa::PublicKey::from_public_key_der(der)
            .or_else(|_| rsa::PublicKey::from_pkcs1_der(der))
            .map_err(|_| KeyParseError)?;
        Self::from_rsa(&key).ok_or(KeyParseError)
    }

    /// Reads a key from the base64 of a `p=` tag.
    pub fn from_base64(b64: &str) -> Result<Self, KeyParseError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| KeyParseError)?;
        Self::from_der(&der)
    }

    pub(crate) fn from_rsa(key: &rsa::PublicKey) -> Option<Self> {
        let spki = key.to_public_key_der().ok()?;
        Some(DkimPublicKey {
            spki_der: spki.as_bytes().to_vec(),
            modulus: key.n_bytes().into_vec(),
            exponent: key.e_bytes().into_vec(),
            bits: key.n().bit_width() as usize,
        })
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The `p=` value: SubjectPublicKeyInfo DER in base64.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.spki_der)
    }

    /// The modulus length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

/// Two keys are equal when their modulus and exponent are, whatever DER wrapped them.
impl PartialEq for DkimPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.modulus == other.modulus && self.exponent == other.exponent
    }
}

impl Eq for DkimPublicKey {}

impl fmt::Debug for DkimPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkimPublicKey(rsa-{}, {})", self.bits, self.to_base64())
    }
}
