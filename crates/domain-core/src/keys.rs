//! DKIM key pairs: generation, and sealing of private keys for storage.
//!
//! A key design decision: private key material exists in clear only in this module and
//! in the signer. Stores receive a [`SealedKey`] — AES-256-GCM under the master
//! (key-encryption) key, with the domain id and selector as associated data, so a
//! sealed key copied to another row does not open. [`PrivateKey`] has no `Debug` or
//! `Display` that shows its bytes and no public accessor for them.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use rsa::pkcs8::EncodePrivateKey as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::error::InputError;
use crate::model::DomainId;
use crate::name::Selector;
use crate::records::dkim::DkimPublicKey;

/// RSA modulus sizes we issue. 1024 bits is refused: RFC 8301 §3.2 requires verifiers to
/// reject keys under 1024 bits and recommends at least 2048 for signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyBits {
    /// 2048 bits, the default: fits every DNS provider's TXT handling.
    #[default]
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits: some DNS providers mangle the long record.
    Rsa4096,
}

impl KeyBits {
    /// Accepts 2048, 3072 or 4096.
    pub fn from_bits(bits: u32) -> Result<Self, InputError> {
        match bits {
            2048 => Ok(KeyBits::Rsa2048),
            3072 => Ok(KeyBits::Rsa3072),
            4096 => Ok(KeyBits::Rsa4096),
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
            KeyBits::Rsa2048 => 2048,
            KeyBits::Rsa3072 => 3072,
            KeyBits::Rsa4096 => 4096,
        }
    }
}

/// What went wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The random source or the key generator failed.
    #[error("key generation failed: {0}")]
    Generation(String),
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

/// An RSA private key in PKCS#8 DER, wiped from memory when dropped.
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
}

impl PrivateKey {
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
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

/// Generates an RSA key pair with the `rsa` crate and the operating system's random
/// source. Takes tens of milliseconds for 2048 bits and up to seconds for 4096.
pub fn generate(bits: KeyBits) -> Result<GeneratedKey, KeyError> {
    let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
    let key = rsa::PrivateKey::new(&mut rng, bits.bits() as usize)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let public = DkimPublicKey::from_rsa(key.as_public_key())
        .ok_or_else(|| KeyError::Generation("public key encoding failed".to_owned()))?;
    Ok(GeneratedKey {
        public,
        private: PrivateKey {
            pkcs8: Zeroizing::new(pkcs8.as_bytes().to_vec()),
        },
    })
}

/// Generates keys on the calling thread (tests, command-line tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineKeyGenerator;

#[async_trait::async_trait]
impl crate::ports::KeyGenerator for InlineKeyGenerator {
    async fn generate(&self, bits: KeyBits) -> Result<GeneratedKey, KeyError> {
        generate(bits)
    }
}

/// The key-encryption key that seals private keys at rest (AES-256-GCM).
pub struct MasterKey {
    key: LessSafeKey,
    fingerprint: [u8; FINGERPRINT_LEN],
}

const SEAL_VERSION: u8 = 1;
const FINGERPRINT_LEN: usize = 8;
const HEADER_LEN: usize = 1 + FINGERPRINT_LEN + NONCE_LEN;

impl MasterKey {
    /// Reads a master key from 32 bytes of base64 (`SCAISEND_MASTER_KEY`).
    pub fn from_base64(b64: &str) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| KeyError::BadMasterKey("not valid base64".to_owned()))?,
        );
        Self::from_bytes(&bytes)
    }

    /// A master key from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::BadMasterKey(format!(
                "it decodes to {} bytes",
                bytes.len()
            )));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| KeyError::BadMasterKey("rejected by AES-256-GCM".to_owned()))?;
        let digest = sha2::Sha256::new()
            .chain_update(b"scaisend master key fingerprint\0")
            .chain_update(bytes)
            .finalize();
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        fingerprint.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
            fingerprint,
        })
    }

    /// A new random master key, returned with its base64 form (which the caller must
    /// keep: without it, sealed keys never open again).
    pub fn generate() -> Result<(Self, Zeroizing<String>), KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(bytes.as_mut())
            .map_err(|_| KeyError::Generation("random source failed".to_owned()))?;
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*bytes));
        Ok((Self::from_bytes(bytes.as_ref())?, b64))
    }

    /// Seals a private key for the row of `domain` and `selector`.
    pub fn seal(
        &self,
        key: &PrivateKey,
        domain: &DomainId,
        selector: &Selector,
    ) -> Result<SealedKey, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| KeyError::Generation("random source failed".to_owned()))?;
        let mut buf = key.pkcs8_der().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding(domain, selector)),
                &mut buf,
            )
            .map_err(|_| KeyError::Generation("sealing failed".to_owned()))?;
        let mut sealed = Vec::with_capacity(HEADER_LEN + buf.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&self.fingerprint);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buf);
        Ok(SealedKey(sealed))
    }

    /// Opens a sealed key; fails unless it was sealed under this master key for exactly
    /// this domain and selector.
    pub fn open(
        &self,
        sealed: &SealedKey,
        domain: &DomainId,
        selector: &Selector,
    ) -> Result<PrivateKey, KeyError> {
        let bytes = &sealed.0;
        if bytes.len() <= HEADER_LEN || bytes[0] != SEAL_VERSION {
            return Err(KeyError::Malformed);
        }
        if bytes[1..1 + FINGERPRINT_LEN] != self.fingerprint {
            return Err(KeyError::WrongMasterKey);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1 + FINGERPRINT_LEN..HEADER_LEN]);
        let mut buf = Zeroizing::new(bytes[HEADER_LEN..].to_vec());
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding(domain, selector)),
                buf.as_mut_slice(),
            )
            .map_err(|_| KeyError::DoesNotOpen)?
            .len();
        buf.truncate(plain_len);
        Ok(PrivateKey { pkcs8: buf })
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint {:02x?})", self.fingerprint)
    }
}

/// The associated data binding a sealed key to its row.
fn binding(domain: &DomainId, selector: &Selector) -> Vec<u8> {
    format!("scaisend-dkim-v1\0{domain}\0{selector}").into_bytes()
}

/// A private key sealed for storage: version, master-key fingerprint, nonce, ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey(Vec<u8>);

impl SealedKey {
    /// Wraps bytes read from a store.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SealedKey(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedKey({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn key_sizes_are_checked() {
        assert_eq!(KeyBits::from_bits(2048).unwrap(), KeyBits::Rsa2048);
        assert_eq!(KeyBits::from_bits(3072).unwrap().bits(), 3072);
        assert_eq!(KeyBits::from_bits(4096).unwrap().bits(), 4096);
        let e = KeyBits::from_bits(1024).unwrap_err();
        assert!(e.message().contains("too weak"), "{e}");
        assert!(KeyBits::from_bits(8192).is_err());
        assert!(KeyBits::from_bits(0).is_err());
    }

    #[test]
    fn generated_keys_have_the_requested_size_and_spki_p_value() {
        let key = testing::key(0);
        assert_eq!(key.public.bits(), 2048);
        // SubjectPublicKeyInfo of an RSA key starts with the rsaEncryption OID header;
        // the seed's `p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA` is exactly that.
        assert!(
            key.public
                .to_base64()
                .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
        );
    }

    #[test]
    fn sealed_keys_open_only_for_their_row() {
        let (kek, _) = MasterKey::generate().unwrap();
        let key = testing::key(0);
        let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
        let other = DomainId::parse("dom_01J0000000000000000000000B").unwrap();
        let s1 = Selector::parse("scaisend").unwrap();
        let s2 = Selector::parse("scaisend2").unwrap();
        let sealed = kek.seal(&key.private, &id, &s1).unwrap();
        let opened = kek.open(&sealed, &id, &s1).unwrap();
        assert_eq!(opened.pkcs8_der(), key.private.pkcs8_der());
        assert_eq!(
            kek.open(&sealed, &other, &s1).unwrap_err(),
            KeyError::DoesNotOpen
        );
        assert_eq!(
            kek.open(&sealed, &id, &s2).unwrap_err(),
            KeyError::DoesNotOpen
        );
        let (other_kek, _) = MasterKey::generate().unwrap();
        assert_eq!(
            other_kek.open(&sealed, &id, &s1).unwrap_err(),
            KeyError::WrongMasterKey
        );
        let mut tampered = sealed.as_bytes().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            kek.open(&SealedKey::from_bytes(tampered), &id, &s1)
                .unwrap_err(),
            KeyError::DoesNotOpen
        );
        assert_eq!(
            kek.open(&SealedKey::from_bytes(vec![1, 2, 3]), &id, &s1)
                .unwrap_err(),
            KeyError::Malformed
        );
    }

    #[test]
    fn sealed_bytes_do_not_contain_the_private_key() {
        let (kek, _) = MasterKey::generate().unwrap();
        let key = testing::key(0);
        let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
        let sealed = kek
            .seal(&key.private, &id, &Selector::parse("s").unwrap())
            .unwrap();
        let der = key.private.pkcs8_der();
        assert!(!sealed.as_bytes().windows(16).any(|w| w == &der[..16]));
        assert!(
            !sealed
                .as_bytes()
                .windows(32)
                .any(|w| der.windows(32).any(|d| d == w))
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let key = testing::key(0);
        assert_eq!(format!("{:?}", key.private), "PrivateKey(<redacted>)");
        let (kek, b64) = MasterKey::generate().unwrap();
        assert!(!format!("{kek:?}").contains(b64.as_str()));
    }

    #[test]
    fn master_keys_must_be_32_bytes_of_base64() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64("AAAA").is_err());
        let (_, b64) = MasterKey::generate().unwrap();
        assert!(MasterKey::from_base64(&b64).is_ok());
    }
}
