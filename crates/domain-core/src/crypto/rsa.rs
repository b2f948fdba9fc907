//! The RSA arm: key sizes, generation, and the signing key (RSASSA-PKCS1-v1_5 with
//! SHA-256, RFC 8301 §3.1).

use ::rsa::pkcs8::EncodePrivateKey as _;
use aws_lc_rs::digest::Digest;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use zeroize::Zeroizing;

use super::{GeneratedKey, KeyError, PrivateKey};
use crate::error::InputError;
use crate::records::dkim::DkimPublicKey;

/// RSA modulus sizes we issue. 1024 bits is refused: RFC 8301 §3.2 requires verifiers to
/// reject keys under 1024 bits and recommends at least 2048 for signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RsaBits {
    /// 2048 bits, the default: fits every DNS provider's TXT handling.
    #[default]
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits: some DNS providers mangle the long record.
    Rsa4096,
}

impl RsaBits {
    /// Every size we issue, from the smallest.
    pub const ALL: [RsaBits; 3] = [RsaBits::Rsa2048, RsaBits::Rsa3072, RsaBits::Rsa4096];

    /// Accepts 2048, 3072 or 4096.
    pub fn from_bits(bits: u32) -> Result<Self, InputError> {
        match bits {
            2048 => Ok(RsaBits::Rsa2048),
            3072 => Ok(RsaBits::Rsa3072),
            4096 => Ok(RsaBits::Rsa4096),
            b if b < 2048 => Err(InputError::new(format!(
                "{b}-bit RSA keys are too weak (RFC 8301); use 2048, 3072 or 4096"
            ))),
            b => Err(InputError::new(format!(
                "{b}-bit keys are not offered; use 2048, 3072 or 4096"
            ))),
        }
    }

    /// The modulus size in bits.
    pub fn bits(self) -> u32 {
        match self {
            RsaBits::Rsa2048 => 2048,
            RsaBits::Rsa3072 => 3072,
            RsaBits::Rsa4096 => 4096,
        }
    }

    /// The size we issue that a key of `bits` bits was issued as (a modulus may come out
    /// a bit short of its nominal size); the default for sizes we never issued.
    pub(crate) fn closest(bits: usize) -> Self {
        Self::from_bits(u32::try_from(bits).unwrap_or(0)).unwrap_or_default()
    }
}

/// Generates an RSA key pair with the `rsa` crate and the operating system's random
/// source. Both the `rsa` key and its PKCS#8 encoding wipe themselves when dropped.
pub(super) fn generate(bits: RsaBits) -> Result<GeneratedKey, KeyError> {
    let mut rng = ::rsa::rand_core::UnwrapErr(getrandom::SysRng);
    let key = ::rsa::PrivateKey::new(&mut rng, bits.bits() as usize)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let public = DkimPublicKey::from_rsa(key.as_public_key())
        .ok_or_else(|| KeyError::Generation("public key encoding failed".to_owned()))?;
    Ok(GeneratedKey {
        public,
        private: PrivateKey::from_pkcs8(Zeroizing::new(pkcs8.as_bytes().to_vec())),
    })
}

/// Whether a PKCS#8 algorithm identifier is RSA's (`rsaEncryption`).
pub(super) fn owns_oid(oid: ::rsa::pkcs8::ObjectIdentifier) -> bool {
    oid == ::rsa::pkcs1::ALGORITHM_OID
}

/// An RSA signing key parsed for AWS-LC.
pub(super) struct RsaSigningKey(aws_lc_rs::rsa::KeyPair);

impl RsaSigningKey {
    /// Parses a PKCS#8 RSA key of 2048 to 8192 bits (AWS-LC refuses anything else).
    pub(super) fn new(key: &PrivateKey) -> Option<Self> {
        aws_lc_rs::rsa::KeyPair::from_pkcs8(key.pkcs8_der())
            .ok()
            .map(RsaSigningKey)
    }

    /// RSASSA-PKCS1-v1_5 over a SHA-256 digest.
    pub(super) fn sign_sha256(&self, digest: &Digest) -> Option<Vec<u8>> {
        let mut signature = vec![0u8; self.0.public_modulus_len()];
        self.0
            .sign_digest(&RSA_PKCS1_SHA256, digest, &mut signature)
            .ok()?;
        Some(signature)
    }

    /// The modulus size in bits.
    pub(super) fn bits(&self) -> usize {
        self.0.public_modulus_len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn key_sizes_are_checked() {
        assert_eq!(RsaBits::from_bits(2048).unwrap(), RsaBits::Rsa2048);
        assert_eq!(RsaBits::from_bits(3072).unwrap().bits(), 3072);
        assert_eq!(RsaBits::from_bits(4096).unwrap().bits(), 4096);
        let e = RsaBits::from_bits(1024).unwrap_err();
        assert!(e.message().contains("too weak"), "{e}");
        assert!(RsaBits::from_bits(8192).is_err());
        assert!(RsaBits::from_bits(0).is_err());
        assert_eq!(RsaBits::closest(3072), RsaBits::Rsa3072);
        assert_eq!(RsaBits::closest(1024), RsaBits::Rsa2048);
        for size in RsaBits::ALL {
            assert_eq!(RsaBits::from_bits(size.bits()).unwrap(), size);
        }
    }

    #[test]
    fn generated_keys_have_the_requested_size_and_spki_p_value() {
        let key = testing::key(0);
        assert_eq!(key.public.bits(), 2048);
        // SubjectPublicKeyInfo of an RSA key starts with the rsaEncryption OID header;
        // the product page's `p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA` is exactly
        // that.
        assert!(
            key.public
                .to_base64()
                .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
        );
    }
}
