//! The DKIM check: the key record at `<selector>._domainkey.<domain>` holds our key.

use crate::name::{DomainName, Selector};
use crate::ports::{DnsLookup, DnsResult};
use crate::records::TxtRecord;
use crate::records::dkim::{DkimKeyRecord, DkimPublicKey, KeyType};

use super::{CheckKind, CheckStatus, Verdict, VerdictCode, Warning};

/// What the DKIM check compares against.
#[derive(Debug, Clone, Copy)]
pub struct DkimExpectation<'a> {
    /// The sender domain.
    pub domain: &'a DomainName,
    /// The selector to look up.
    pub selector: &'a Selector,
    /// The key we hold for it; `None` checks only that a valid, usable record is there
    /// (the `check` command, which has no store).
    pub key: Option<&'a DkimPublicKey>,
}

/// Checks one selector's key record. Keys are compared as keys (modulus and exponent),
/// so SubjectPublicKeyInfo and bare RSAPublicKey encodings of our key both verify.
pub async fn check_dkim(dns: &dyn DnsLookup, exp: DkimExpectation<'_>) -> Verdict {
    let host = exp.selector.record_host(exp.domain);
    let answer = dns.txt(&host).await;
    let expected = exp.key.map(|k| DkimKeyRecord::for_key(k).to_string());
    let verdict = |status, code, message: String| {
        let mut v = Verdict::new(CheckKind::Dkim, host.clone(), status, code, message);
        v.expected = expected.clone();
        v.answered_by = answer.server.clone();
        v.details = serde_json::json!({ "selector": exp.selector.as_str() });
        v
    };
    let records = match &answer.result {
        DnsResult::Records(r) => r,
        DnsResult::NxDomain | DnsResult::NoData => {
            return verdict(
                CheckStatus::Missing,
                VerdictCode::DkimMissing,
                format!("no DKIM record at {host}; publish the TXT record shown in `expected`"),
            );
        }
        DnsResult::TempFail(why) => {
            return verdict(
                CheckStatus::TemporaryFailure,
                VerdictCode::DkimTemporaryFailure,
                format!("DNS could not answer for {host} ({why}); try again shortly"),
            );
        }
    };
    let found: Vec<String> = records.iter().map(|r| r.joined()).collect();
    let fail = |status, code, message: String| {
        let mut v = verdict(status, code, message);
        v.found = found.clone();
        v
    };
    if found.len() > 1 {
        return fail(
            CheckStatus::Invalid,
            VerdictCode::DkimMultipleRecords,
            format!(
                "{} TXT records at {host}; keep exactly one DKIM record there",
                found.len()
            ),
        );
    }
    // The port promises at least one record with `Records`; an adapter that broke the
    // promise still gets a verdict, not a panic.
    let Some(first) = records.first() else {
        return verdict(
            CheckStatus::Missing,
            VerdictCode::DkimMissing,
            format!("no DKIM record at {host}; publish the TXT record shown in `expected`"),
        );
    };
    let record = match DkimKeyRecord::from_txt(first) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                CheckStatus::Invalid,
                VerdictCode::DkimInvalid,
                format!("the DKIM record at {host} is invalid: {e}"),
            );
        }
    };
    if record.is_revoked() {
        return fail(
            CheckStatus::Invalid,
            VerdictCode::DkimRevoked,
            format!("the DKIM record at {host} has an empty `p=`: the key is revoked"),
        );
    }
    match record.key_type() {
        KeyType::Rsa => {}
        other => {
            let (status, why) = match other {
                KeyType::Ed25519 => (
                    CheckStatus::Mismatch,
                    "an Ed25519 key, but we sign with RSA",
                ),
                _ => (CheckStatus::Invalid, "a key type receivers do not know"),
            };
            return fail(
                status,
                VerdictCode::DkimUnknownKeyType,
                format!(
                    "the DKIM record at {host} has `k={}`: {why}",
                    other.as_str()
                ),
            );
        }
    }
    if !record.allows_email() {
        return fail(
            CheckStatus::Invalid,
            VerdictCode::DkimNotForEmail,
            format!("the DKIM record at {host} has an `s=` tag that excludes e-mail"),
        );
    }
    if !record.allows_sha256() {
        return fail(
            CheckStatus::Invalid,
            VerdictCode::DkimHashNotAllowed,
            format!("the DKIM record at {host} has an `h=` tag without sha256, which we sign with"),
        );
    }
    let Ok(published) = DkimPublicKey::from_der(&record.p) else {
        return fail(
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
            format!("the `p=` of the DKIM record at {host} is not an RSA public key"),
        );
    };
    if let Some(ours) = exp.key
        && *ours != published
    {
        return fail(
            CheckStatus::Mismatch,
            VerdictCode::DkimKeyMismatch,
            format!(
                "the DKIM record at {host} holds a different key; replace its value with `expected`"
            ),
        );
    }
    let mut v = fail(
        CheckStatus::Verified,
        VerdictCode::DkimOk,
        match exp.key {
            Some(_) => format!("the DKIM record at {host} holds our key"),
            None => format!("the DKIM record at {host} is valid"),
        },
    );
    if record.is_testing() {
        v.warnings.push(Warning {
            code: VerdictCode::DkimTesting,
            message: "the record has `t=y` (testing): receivers may ignore failures; remove it once mail verifies".to_owned(),
        });
    }
    if published.bits() < 2048 {
        v.warnings.push(Warning {
            code: VerdictCode::DkimWeakKey,
            message: format!(
                "the key has {} bits; use at least 2048 (RFC 8301)",
                published.bits()
            ),
        });
    }
    v
}

#[cfg(test)]
mod tests;
