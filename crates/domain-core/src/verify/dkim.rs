//! The DKIM check: the key record at `<selector>._domainkey.<domain>` holds our key.

use crate::name::{DomainName, Selector};
use crate::ports::{DnsLookup, DnsResult, TxtRecordData};
use crate::records::dkim::{Algorithm, DkimKeyRecord, DkimPublicKey, KeyType};

use super::opening::{Opening, VerdictAt};

mod cname;

use super::{CheckKind, CheckStatus, Verdict, VerdictCode, Warning};
pub use cname::{CnameSlot, check_cnames};

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

/// Checks one selector's key record. Keys are compared as keys (for RSA, modulus and
/// exponent), so SubjectPublicKeyInfo and bare RSAPublicKey encodings of our key both
/// verify.
pub async fn check_dkim(dns: &dyn DnsLookup, exp: DkimExpectation<'_>) -> Verdict {
    let mut at = VerdictAt::new(CheckKind::Dkim, exp.selector.record_host(exp.domain));
    at.expected = exp.key.map(|k| DkimKeyRecord::for_key(k).to_string());
    at.details = serde_json::json!({ "selector": exp.selector.as_str() });
    let answer = dns.txt(&at.host).await;
    at.answered_by = answer.server.clone();
    let records = match &answer.result {
        DnsResult::Records(records) => records,
        DnsResult::NxDomain | DnsResult::NoData => return at.missing(&OPENING, ""),
        DnsResult::TempFail(why) => return at.temporary(&OPENING, &at.host, why),
    };
    at.found = records.iter().map(TxtRecordData::joined).collect();
    let record: DkimKeyRecord = match at.one_record(&OPENING, records) {
        Ok(record) => record,
        Err(verdict) => return *verdict,
    };
    let published = match usable_key(&record) {
        Ok(key) => key,
        Err((status, code, why)) => {
            return at.verdict(
                status,
                code,
                format!("the DKIM record at {} {why}", at.host),
            );
        }
    };
    judge_key(&at, &record, &published, exp.key)
}

/// Checks every key of a generation published in TXT mode: each selector's record holds
/// its key (`None`: any valid record). With one key this is [`check_dkim`]'s verdict; with
/// several, the first failing key's (naming it) or the first key's, and `details.keys`
/// gives each key's outcome.
pub async fn check_dkim_keys(
    dns: &dyn DnsLookup,
    domain: &DomainName,
    keys: &[(&Selector, Option<&DkimPublicKey>)],
) -> Verdict {
    let verdicts = futures::future::join_all(keys.iter().map(|(selector, key)| {
        check_dkim(
            dns,
            DkimExpectation {
                domain,
                selector,
                key: *key,
            },
        )
    }))
    .await;
    if verdicts.len() <= 1 {
        return verdicts.into_iter().next().unwrap_or_else(|| {
            VerdictAt::new(CheckKind::Dkim, domain.to_string()).verdict(
                CheckStatus::Missing,
                VerdictCode::DkimMissing,
                "no DKIM key to check".to_owned(),
            )
        });
    }
    let summary: Vec<serde_json::Value> = verdicts
        .iter()
        .zip(keys)
        .map(|(v, (selector, key))| {
            serde_json::json!({
                "selector": selector.as_str(),
                "algorithm": key.map(|k| k.algorithm().as_str()),
                "host": v.host,
                "status": v.status,
                "code": v.code,
            })
        })
        .collect();
    let pick = verdicts
        .iter()
        .find(|v| !v.passed() && v.status != CheckStatus::TemporaryFailure)
        .or_else(|| verdicts.iter().find(|v| !v.passed()))
        .unwrap_or(&verdicts[0]);
    let mut verdict = pick.clone();
    if verdict.passed() {
        verdict.message = format!(
            "the DKIM records at {} hold our keys",
            verdicts
                .iter()
                .map(|v| v.host.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        );
        verdict.found = verdicts.iter().flat_map(|v| v.found.clone()).collect();
        verdict.warnings = verdicts.iter().flat_map(|v| v.warnings.clone()).collect();
    }
    verdict.details = serde_json::json!({
        "selector": keys[0].0.as_str(),
        "keys": summary,
    });
    verdict
}

const OPENING: Opening = Opening {
    record: "DKIM",
    missing: VerdictCode::DkimMissing,
    temporary: VerdictCode::DkimTemporaryFailure,
    multiple: VerdictCode::DkimMultipleRecords,
    invalid: VerdictCode::DkimInvalid,
    multiple_advice: "keep exactly one TXT record there",
};

/// The key a record publishes, if it is one we could sign for: not revoked, of a key type
/// we sign with, for e-mail, allowing SHA-256, and a valid key of its type. Otherwise the
/// status, code and the end of a sentence that begins with the record's name.
fn usable_key(record: &DkimKeyRecord) -> Result<DkimPublicKey, (CheckStatus, VerdictCode, String)> {
    if record.is_revoked() {
        return Err((
            CheckStatus::Invalid,
            VerdictCode::DkimRevoked,
            "has an empty `p=`: the key is revoked".to_owned(),
        ));
    }
    let key_type = record.key_type();
    if Algorithm::for_key_type(&key_type).is_none() {
        let (status, why) = match key_type {
            KeyType::Ed25519 => (
                CheckStatus::Mismatch,
                "an Ed25519 key, but we sign with RSA",
            ),
            _ => (CheckStatus::Invalid, "a key type receivers do not know"),
        };
        return Err((
            status,
            VerdictCode::DkimUnknownKeyType,
            format!("has `k={}`: {why}", key_type.as_str()),
        ));
    }
    if !record.allows_email() {
        return Err((
            CheckStatus::Invalid,
            VerdictCode::DkimNotForEmail,
            "has an `s=` tag that excludes e-mail".to_owned(),
        ));
    }
    if !record.allows_sha256() {
        return Err((
            CheckStatus::Invalid,
            VerdictCode::DkimHashNotAllowed,
            "has an `h=` tag without sha256, which we sign with".to_owned(),
        ));
    }
    DkimPublicKey::from_record(&key_type, &record.p).map_err(|_| {
        (
            CheckStatus::Invalid,
            VerdictCode::DkimInvalid,
            format!(
                "has a `p=` that is not a valid `{}` public key",
                key_type.as_str()
            ),
        )
    })
}

/// Compares the published key with ours and adds the warnings a valid record may earn.
fn judge_key(
    at: &VerdictAt,
    record: &DkimKeyRecord,
    published: &DkimPublicKey,
    ours: Option<&DkimPublicKey>,
) -> Verdict {
    let host = &at.host;
    if let Some(ours) = ours
        && ours != published
    {
        let why = if ours.algorithm() == published.algorithm() {
            "holds a different key".to_owned()
        } else {
            format!(
                "holds a `{}` key, but ours is `{}`",
                published.algorithm(),
                ours.algorithm()
            )
        };
        return at.verdict(
            CheckStatus::Mismatch,
            VerdictCode::DkimKeyMismatch,
            format!("the DKIM record at {host} {why}; replace its value with `expected`"),
        );
    }
    let mut v = at.verdict(
        CheckStatus::Verified,
        VerdictCode::DkimOk,
        match ours {
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
    if published.algorithm() == Algorithm::RsaSha256 && published.bits() < 2048 {
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
