//! Sealing of private keys at rest: AES-256-GCM under the master key, bound to the row
//! they belong to.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

use super::{KeyError, PrivateKey};
use crate::ids::DomainId;
use crate::name::Selector;

/// The key-encryption key that seals private keys at rest (AES-256-GCM).
pub struct MasterKey {
    key: LessSafeKey,
    fingerprint: [u8; FINGERPRINT_LEN],
}

/// Sealed keys of version 1 are bound to domain and selector; version 2, written since
/// selectors are reused by CNAME slots, to domain, generation and selector. Both open.
const SEAL_V1: u8 = 1;
const SEAL_V2: u8 = 2;
/// Webhook signing secrets, bound to their endpoint.
const SEAL_SECRET_V1: u8 = 3;
/// Version 4 seals a key waiting in the key pool, bound to its pool slot; it never opens
/// as a domain's key, and a domain's key never opens as a pooled one.
const SEAL_POOL: u8 = 4;
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

    /// Seals a private key for the row `row` names.
    pub fn seal(&self, key: &PrivateKey, row: &KeyRow<'_>) -> Result<SealedKey, KeyError> {
        self.seal_as(SEAL_V2, key, row)
    }

    fn seal_as(
        &self,
        version: u8,
        key: &PrivateKey,
        row: &KeyRow<'_>,
    ) -> Result<SealedKey, KeyError> {
        self.seal_bytes(version, key.pkcs8_der(), &row.binding(version))
    }

    /// Seals a webhook signing secret for the endpoint `endpoint` (its id): a sealed
    /// secret copied to another endpoint does not open.
    pub fn seal_secret(&self, secret: &[u8], endpoint: &str) -> Result<SealedKey, KeyError> {
        self.seal_bytes(SEAL_SECRET_V1, secret, &secret_binding(endpoint))
    }

    /// Opens what [`seal_secret`](Self::seal_secret) sealed for `endpoint`.
    pub fn open_secret(
        &self,
        sealed: &SealedKey,
        endpoint: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.0.first() != Some(&SEAL_SECRET_V1) {
            return Err(KeyError::Malformed);
        }
        self.open_bytes(sealed, &secret_binding(endpoint))
    }

    /// Seals a key generated ahead of time for the pool slot `slot` names.
    pub fn seal_pooled(
        &self,
        key: &PrivateKey,
        slot: &PoolSlot<'_>,
    ) -> Result<SealedKey, KeyError> {
        self.seal_bytes(SEAL_POOL, key.pkcs8_der(), &slot.binding())
    }

    /// Opens a key taken from the pool; fails unless it was sealed under this master key
    /// for exactly this slot.
    pub fn open_pooled(
        &self,
        sealed: &SealedKey,
        slot: &PoolSlot<'_>,
    ) -> Result<PrivateKey, KeyError> {
        if sealed.0.first() != Some(&SEAL_POOL) {
            return Err(KeyError::Malformed);
        }
        let plain = self.open_bytes(sealed, &slot.binding())?;
        Ok(PrivateKey::from_pkcs8(plain))
    }

    fn seal_bytes(&self, version: u8, plain: &[u8], aad: &[u8]) -> Result<SealedKey, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| KeyError::Generation("random source failed".to_owned()))?;
        let mut buf = plaintext_buffer(plain);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *buf,
            )
            .map_err(|_| KeyError::Generation("sealing failed".to_owned()))?;
        let mut sealed = Vec::with_capacity(HEADER_LEN + buf.len());
        sealed.push(version);
        sealed.extend_from_slice(&self.fingerprint);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buf);
        Ok(SealedKey(sealed))
    }

    /// Opens a sealed key; fails unless it was sealed under this master key for exactly
    /// this row.
    pub fn open(&self, sealed: &SealedKey, row: &KeyRow<'_>) -> Result<PrivateKey, KeyError> {
        if !matches!(sealed.0.first(), Some(&(SEAL_V1 | SEAL_V2))) {
            return Err(KeyError::Malformed);
        }
        let plain = self.open_bytes(sealed, &row.binding(sealed.0[0]))?;
        Ok(PrivateKey::from_pkcs8(plain))
    }

    fn open_bytes(&self, sealed: &SealedKey, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let bytes = &sealed.0;
        if bytes.len() <= HEADER_LEN {
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
                Aad::from(aad),
                buf.as_mut_slice(),
            )
            .map_err(|_| KeyError::DoesNotOpen)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint {:02x?})", self.fingerprint)
    }
}

/// A wiped buffer holding `plain`, with room for the AEAD tag from the start: sealing
/// appends the tag, and appending it to a full buffer would move the plaintext to a new
/// allocation and free the old one unwiped.
fn plaintext_buffer(plain: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(plain.len() + AES_256_GCM.tag_len()));
    buf.extend_from_slice(plain);
    buf
}

fn secret_binding(endpoint: &str) -> Vec<u8> {
    format!("scaisend-webhook-secret-v1\0{endpoint}").into_bytes()
}

/// The row a private key belongs to, which its sealing is bound to: a sealed key copied
/// to another row does not open.
#[derive(Debug, Clone, Copy)]
pub struct KeyRow<'a> {
    /// The domain.
    pub domain: &'a DomainId,
    /// The key's generation.
    pub generation: u32,
    /// The key's selector.
    pub selector: &'a Selector,
}

impl KeyRow<'_> {
    /// The associated data of a sealed key of `version`.
    fn binding(&self, version: u8) -> Vec<u8> {
        let KeyRow {
            domain,
            generation,
            selector,
        } = self;
        if version == SEAL_V1 {
            format!("scaisend-dkim-v1\0{domain}\0{selector}").into_bytes()
        } else {
            format!("scaisend-dkim-v2\0{domain}\0{generation}\0{selector}").into_bytes()
        }
    }
}

/// The pool slot a key generated ahead of time waits in, which its sealing is bound to:
/// the slot's id, the kind of key, and its public key, so that neither the private key nor
/// the public key stored beside it can be swapped for another slot's.
#[derive(Debug, Clone, Copy)]
pub struct PoolSlot<'a> {
    /// The slot's id.
    pub id: &'a str,
    /// The kind of key, as [`KeyAlgorithm::pool_kind`](super::KeyAlgorithm::pool_kind)
    /// names it.
    pub kind: &'a str,
    /// The public key's `p=` bytes.
    pub public: &'a [u8],
}

impl PoolSlot<'_> {
    fn binding(&self) -> Vec<u8> {
        let mut aad = format!("scaisend-dkim-pool-v1\0{}\0{}\0", self.id, self.kind).into_bytes();
        aad.extend_from_slice(self.public);
        aad
    }
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

    fn row<'a>(domain: &'a DomainId, generation: u32, selector: &'a Selector) -> KeyRow<'a> {
        KeyRow {
            domain,
            generation,
            selector,
        }
    }

    #[test]
    fn sealed_keys_open_only_for_their_row() {
        let (kek, _) = MasterKey::generate().unwrap();
        let key = testing::key(0);
        let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
        let other = DomainId::parse("dom_01J0000000000000000000000B").unwrap();
        let s1 = Selector::parse("scaisend").unwrap();
        let s2 = Selector::parse("scaisend2").unwrap();
        let sealed = kek.seal(&key.private, &row(&id, 1, &s1)).unwrap();
        let opened = kek.open(&sealed, &row(&id, 1, &s1)).unwrap();
        assert_eq!(opened.pkcs8_der(), key.private.pkcs8_der());
        for wrong in [row(&other, 1, &s1), row(&id, 1, &s2), row(&id, 3, &s1)] {
            assert_eq!(
                kek.open(&sealed, &wrong).unwrap_err(),
                KeyError::DoesNotOpen,
                "{wrong:?}"
            );
        }
        let (other_kek, _) = MasterKey::generate().unwrap();
        assert_eq!(
            other_kek.open(&sealed, &row(&id, 1, &s1)).unwrap_err(),
            KeyError::WrongMasterKey
        );
        let mut tampered = sealed.as_bytes().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            kek.open(&SealedKey::from_bytes(tampered), &row(&id, 1, &s1))
                .unwrap_err(),
            KeyError::DoesNotOpen
        );
        assert_eq!(
            kek.open(&SealedKey::from_bytes(vec![1, 2, 3]), &row(&id, 1, &s1))
                .unwrap_err(),
            KeyError::Malformed
        );
    }

    /// Keys sealed before CNAME slots reused selectors are bound to domain and selector
    /// only (version 1); they still open, for any generation of that selector.
    #[test]
    fn keys_sealed_in_the_first_format_still_open() {
        let (kek, _) = MasterKey::generate().unwrap();
        let key = testing::key(0);
        let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
        let s1 = Selector::parse("scaisend").unwrap();
        let v1 = kek
            .seal_as(SEAL_V1, &key.private, &row(&id, 1, &s1))
            .unwrap();
        assert_eq!(v1.as_bytes()[0], 1);
        let opened = kek.open(&v1, &row(&id, 1, &s1)).unwrap();
        assert_eq!(opened.pkcs8_der(), key.private.pkcs8_der());
        let s2 = Selector::parse("scaisend2").unwrap();
        assert_eq!(
            kek.open(&v1, &row(&id, 1, &s2)).unwrap_err(),
            KeyError::DoesNotOpen
        );
        let v2 = kek.seal(&key.private, &row(&id, 1, &s1)).unwrap();
        assert_eq!(
            v2.as_bytes()[0],
            2,
            "new keys are sealed in the second format"
        );
    }

    #[test]
    fn sealing_never_leaves_a_copy_of_the_plaintext_behind() {
        let (kek, _) = MasterKey::generate().unwrap();
        let mut buf = plaintext_buffer(testing::key(0).private.pkcs8_der());
        let before = buf.as_ptr();
        kek.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0; NONCE_LEN]),
                Aad::from(b"test"),
                &mut *buf,
            )
            .unwrap();
        assert_eq!(
            buf.as_ptr(),
            before,
            "sealing moved the plaintext, leaving an unwiped copy in the old allocation"
        );
    }

    #[test]
    fn sealed_bytes_do_not_contain_the_private_key() {
        let (kek, _) = MasterKey::generate().unwrap();
        let key = testing::key(0);
        let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
        let selector = Selector::parse("s").unwrap();
        let sealed = kek.seal(&key.private, &row(&id, 1, &selector)).unwrap();
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
    fn master_keys_must_be_32_bytes_of_base64() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64("AAAA").is_err());
        let (_, b64) = MasterKey::generate().unwrap();
        assert!(MasterKey::from_base64(&b64).is_ok());
    }

    #[test]
    fn pooled_keys_open_only_for_their_slot_and_never_as_a_domains_key() {
        let (kek, _) = MasterKey::generate().unwrap();
        let key = testing::key(0);
        let public = key.public.p_bytes();
        let slot = PoolSlot {
            id: "01J0000000000000000000000A",
            kind: "rsa-2048",
            public,
        };
        let sealed = kek.seal_pooled(&key.private, &slot).unwrap();
        assert_eq!(sealed.as_bytes()[0], SEAL_POOL);
        let opened = kek.open_pooled(&sealed, &slot).unwrap();
        assert_eq!(opened.pkcs8_der(), key.private.pkcs8_der());
        let other_public = testing::key(1).public.p_bytes().to_vec();
        for wrong in [
            PoolSlot {
                id: "01J0000000000000000000000B",
                ..slot
            },
            PoolSlot {
                kind: "rsa-4096",
                ..slot
            },
            PoolSlot {
                public: &other_public,
                ..slot
            },
        ] {
            assert!(kek.open_pooled(&sealed, &wrong).is_err(), "{wrong:?}");
        }
        // A pooled key is no domain's key, and a domain's key is no pooled one.
        let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
        let s1 = Selector::parse("scaisend").unwrap();
        assert!(matches!(
            kek.open(&sealed, &row(&id, 1, &s1)),
            Err(KeyError::Malformed)
        ));
        let domains = kek.seal(&key.private, &row(&id, 1, &s1)).unwrap();
        assert!(matches!(
            kek.open_pooled(&domains, &slot),
            Err(KeyError::Malformed)
        ));
    }
}
