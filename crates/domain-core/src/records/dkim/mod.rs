//! DKIM key records (RFC 6376 §3.6.1) and the public keys they carry.
//!
//! ```text
//! key-v-tag = %x76 [FWS] "=" [FWS] %x44.%x4B.%x49.%x4D.%x31   ; "v=DKIM1", first if present
//! key-h-tag = %x68 [FWS] "=" [FWS] key-h-tag-alg *( [FWS] ":" [FWS] key-h-tag-alg )
//! key-k-tag = %x6B [FWS] "=" [FWS] key-k-tag-type              ; default "rsa"
//! key-n-tag = %x6E [FWS] "=" [FWS] qp-section
//! key-p-tag = %x70 [FWS] "=" [ [FWS] base64string ]            ; empty: revoked
//! key-s-tag = %x73 [FWS] "=" [FWS] key-s-tag-type *( [FWS] ":" [FWS] key-s-tag-type )
//! key-t-tag = %x74 [FWS] "=" [FWS] key-t-tag-flag *( [FWS] ":" [FWS] key-t-tag-flag )
//! ```

use crate::macros::named_enum;

mod build;
mod parse;
mod public_key;

pub use public_key::{DkimPublicKey, ED25519_KEY_LEN, KeyParseError};

/// A DKIM key record. Field names follow the RFC's tags; unknown tags are ignored when
/// parsing, as RFC 6376 §3.6.1 requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyRecord {
    /// `v=DKIM1` was present (it must then be the first tag).
    pub v: bool,
    /// `h=`: "Acceptable hash algorithms"; `None` means all are allowed.
    pub h: Option<Vec<String>>,
    /// `k=`: "Key type"; `None` means the default, `rsa`.
    pub k: Option<KeyType>,
    /// `n=`: "Notes that might be of interest to a human".
    pub n: Option<String>,
    /// `p=`: "Public-key data (base64)", decoded. Empty means the key was revoked.
    pub p: Vec<u8>,
    /// `s=`: "Service Type"; `None` means `*`.
    pub s: Option<Vec<String>>,
    /// `t=`: "Flags" (`y`: testing, `s`: no subdomains).
    pub t: Option<Vec<String>>,
}

/// The `k=` tag's key type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyType {
    /// `rsa` (RFC 6376).
    Rsa,
    /// `ed25519` (RFC 8463).
    Ed25519,
    /// Anything else: verifiers must ignore such a record.
    Other(String),
}

impl KeyType {
    /// The tag value.
    pub fn as_str(&self) -> &str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
            KeyType::Other(s) => s,
        }
    }
}

named_enum! {
    /// A DKIM signing algorithm (RFC 6376 §3.3, RFC 8463 §3): the `a=` tag of a signature,
    /// and the key type (`k=`) of the record that verifies it. These are the algorithms we
    /// sign with, named by their `a=` value, which is also how the API and the store name
    /// them.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
    )]
    #[serde(rename_all = "kebab-case")]
    pub enum Algorithm {
        /// `rsa-sha256`: RSASSA-PKCS1-v1_5 over SHA-256 (RFC 8301 §3.1), keys of type `rsa`.
        RsaSha256 => "rsa-sha256",
        /// `ed25519-sha256`: PureEdDSA Ed25519 over the SHA-256 hash of the signed data
        /// (RFC 8463 §3), keys of type `ed25519`.
        Ed25519Sha256 => "ed25519-sha256",
    }
}

impl Algorithm {
    /// Reads what [`as_str`](Self::as_str) wrote.
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_name(s)
    }

    /// The key type (`k=`) of its key records.
    pub fn key_type(self) -> KeyType {
        match self {
            Algorithm::RsaSha256 => KeyType::Rsa,
            Algorithm::Ed25519Sha256 => KeyType::Ed25519,
        }
    }

    /// The algorithm we sign with for keys of `key_type`, if any.
    pub fn for_key_type(key_type: &KeyType) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key_type() == *key_type)
    }
}

impl DkimKeyRecord {
    /// The key type in effect (`rsa` when `k=` is absent).
    pub fn key_type(&self) -> KeyType {
        self.k.clone().unwrap_or(KeyType::Rsa)
    }

    /// Whether the key was revoked (empty `p=`).
    pub fn is_revoked(&self) -> bool {
        self.p.is_empty()
    }

    /// Whether the `t=y` testing flag is set.
    pub fn is_testing(&self) -> bool {
        self.has_flag("y")
    }

    fn has_flag(&self, flag: &str) -> bool {
        self.t
            .as_deref()
            .is_some_and(|t| t.iter().any(|f| f.eq_ignore_ascii_case(flag)))
    }

    /// Whether the record allows e-mail (`s=` absent, `*` or `email`).
    pub fn allows_email(&self) -> bool {
        self.s.as_deref().is_none_or(|s| {
            s.iter()
                .any(|t| t == "*" || t.eq_ignore_ascii_case("email"))
        })
    }

    /// Whether the record allows SHA-256 signatures (`h=` absent or listing `sha256`).
    pub fn allows_sha256(&self) -> bool {
        self.h
            .as_deref()
            .is_none_or(|h| h.iter().any(|a| a.eq_ignore_ascii_case("sha256")))
    }
}

#[cfg(test)]
mod tests;
