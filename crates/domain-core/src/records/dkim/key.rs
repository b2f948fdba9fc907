//! Public keys as DKIM publishes them, compared as keys rather than as text.

use std::fmt;

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
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
    ///
    /// Only the ASN.1 is read — the modulus and exponent are compared as numbers, not
    /// turned into a key object — because verification reads a key record for every
    /// check of every domain.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyParseError> {
        use rsa::pkcs1::der::Decode as _;
        let (spki_der, rsa_key) = match SubjectPublicKeyInfoRef::from_der(der) {
            Ok(spki) => {
                if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                    return Err(KeyParseError);
                }
                let inner = spki.subject_public_key.as_bytes().ok_or(KeyParseError)?;
                (der.to_vec(), inner)
            }
            // A bare RSAPublicKey: wrap it in the SubjectPublicKeyInfo we publish.
            Err(_) => {
                let spki = rsa::PublicKey::from_pkcs1_der(der)
                    .ok()
                    .and_then(|k| k.to_public_key_der().ok())
                    .ok_or(KeyParseError)?;
                (spki.as_bytes().to_vec(), der)
            }
        };
        let parts = rsa::pkcs1::RsaPublicKeyRef::from_der(rsa_key).map_err(|_| KeyParseError)?;
        let modulus = trim_leading_zeros(parts.modulus.as_bytes());
        let exponent = trim_leading_zeros(parts.public_exponent.as_bytes());
        // An RSA modulus and public exponent are odd; anything else is not a key.
        let odd = |b: &[u8]| b.last().is_some_and(|l| l & 1 == 1);
        if !odd(modulus) || !odd(exponent) || exponent.len() > modulus.len() {
            return Err(KeyParseError);
        }
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        Ok(DkimPublicKey {
            spki_der,
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
            bits,
        })
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
fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

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
