//! Building DKIM key records.

use std::fmt;

use base64::Engine as _;

use super::{DkimKeyRecord, DkimPublicKey};

impl DkimKeyRecord {
    /// The record we publish for one of our keys: `v=DKIM1; k=<key type>; p=<key, base64>`
    /// (for RSA, `k=rsa` and SubjectPublicKeyInfo DER).
    pub fn for_key(key: &DkimPublicKey) -> Self {
        DkimKeyRecord {
            v: true,
            h: None,
            k: Some(key.algorithm().key_type()),
            n: None,
            p: key.p_bytes().to_vec(),
            s: None,
            t: None,
        }
    }
}

impl DkimKeyRecord {
    /// A revoked key record of `algorithm`'s key type: `v=DKIM1; k=…; p=` (RFC 6376
    /// §3.6.1: an empty `p=` means the key has been revoked).
    pub fn revoked(algorithm: super::Algorithm) -> Self {
        DkimKeyRecord {
            v: true,
            h: None,
            k: Some(algorithm.key_type()),
            n: None,
            p: Vec::new(),
            s: None,
            t: None,
        }
    }
}

/// Writes the record with `v=` first and `p=` last, the order every provider uses.
impl fmt::Display for DkimKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tags: Vec<String> = Vec::new();
        if self.v {
            tags.push("v=DKIM1".to_owned());
        }
        if let Some(h) = &self.h {
            tags.push(format!("h={}", h.join(":")));
        }
        if let Some(k) = &self.k {
            tags.push(format!("k={}", k.as_str()));
        }
        if let Some(n) = &self.n {
            tags.push(format!("n={n}"));
        }
        if let Some(s) = &self.s {
            tags.push(format!("s={}", s.join(":")));
        }
        if let Some(t) = &self.t {
            tags.push(format!("t={}", t.join(":")));
        }
        tags.push(format!(
            "p={}",
            base64::engine::general_purpose::STANDARD.encode(&self.p)
        ));
        f.write_str(&tags.join("; "))
    }
}
