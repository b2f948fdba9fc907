//! The DMARC check: a valid policy applies to the domain, its own or inherited from the
//! organizational domain (RFC 7489 §6.6.3).

use crate::name::{DmarcPolicy, DomainName, RuaAddress};
use crate::ports::{DnsAnswer, DnsLookup, DnsResult, TxtRecordData};
use crate::records::TxtRecord;
use crate::records::dmarc::DmarcRecord;

use super::{CheckKind, CheckStatus, Verdict, VerdictCode, Warning};

/// What the DMARC check compares against.
#[derive(Debug, Clone, Copy)]
pub struct DmarcExpectation<'a> {
    /// The sender domain.
    pub domain: &'a DomainName,
    /// The policy the domain is configured with; `None` accepts any without a warning.
    pub policy: Option<DmarcPolicy>,
    /// The configured report address, for the record shown in `expected`.
    pub rua: Option<&'a RuaAddress>,
}

/// Checks the DMARC record of a domain.
pub async fn check_dmarc(dns: &dyn DnsLookup, exp: DmarcExpectation<'_>) -> Verdict {
    let host = format!("_dmarc.{}", exp.domain);
    let expected = exp
        .policy
        .map(|p| DmarcRecord::ours(p, exp.rua).to_string());
    let answer = dns.txt(&host).await;
    let new = |status, code, message: String, answer: &DnsAnswer<TxtRecordData>| {
        let mut v = Verdict::new(CheckKind::Dmarc, host.clone(), status, code, message);
        v.expected = expected.clone();
        v.answered_by = answer.server.clone();
        v.found = dmarc_texts(answer);
        v
    };
    if let DnsResult::TempFail(why) = &answer.result {
        return new(
            CheckStatus::TemporaryFailure,
            VerdictCode::DmarcTemporaryFailure,
            format!("DNS could not answer for {host} ({why}); try again shortly"),
            &answer,
        );
    }
    let own = dmarc_texts(&answer);
    let (record_domain, answer, inherited) = if own.is_empty() {
        let org = exp.domain.organizational_domain();
        if org == *exp.domain {
            return new(
                CheckStatus::Missing,
                VerdictCode::DmarcMissing,
                format!("no DMARC record at {host}; publish the TXT record shown in `expected`"),
                &answer,
            );
        }
        let org_host = format!("_dmarc.{org}");
        let org_answer = dns.txt(&org_host).await;
        if let DnsResult::TempFail(why) = &org_answer.result {
            return new(
                CheckStatus::TemporaryFailure,
                VerdictCode::DmarcTemporaryFailure,
                format!(
                    "no DMARC record at {host}, and DNS could not answer for {org_host} ({why}); try again shortly"
                ),
                &answer,
            );
        }
        if dmarc_texts(&org_answer).is_empty() {
            return new(
                CheckStatus::Missing,
                VerdictCode::DmarcMissing,
                format!(
                    "no DMARC record at {host} nor at the organizational domain's {org_host}; publish the TXT record shown in `expected`"
                ),
                &answer,
            );
        }
        (org, org_answer, true)
    } else {
        (exp.domain.clone(), answer, false)
    };
    let record_host = format!("_dmarc.{record_domain}");
    let records = dmarc_records(&answer);
    let fail = |status, code, message: String| {
        let mut v = new(status, code, message, &answer);
        v.host = record_host.clone();
        v
    };
    if records.len() > 1 {
        return fail(
            CheckStatus::Invalid,
            VerdictCode::DmarcMultipleRecords,
            format!(
                "{} DMARC records at {record_host}; receivers ignore all of them — keep exactly one",
                records.len()
            ),
        );
    }
    let record = match DmarcRecord::from_txt(records[0]) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                CheckStatus::Invalid,
                VerdictCode::DmarcInvalid,
                format!("the DMARC record at {record_host} is invalid: {e}"),
            );
        }
    };
    let applied = if inherited {
        record.subdomain_policy()
    } else {
        record.p
    };
    let (code, message) = if inherited {
        (
            VerdictCode::DmarcInherited,
            format!(
                "no DMARC record at {host}; the organizational domain's record at {record_host} applies (policy `{applied}`)"
            ),
        )
    } else {
        (
            VerdictCode::DmarcOk,
            format!("the DMARC record at {record_host} is valid (policy `{applied}`)"),
        )
    };
    let mut v = fail(CheckStatus::Verified, code, message);
    if inherited {
        v.details = serde_json::json!({ "inherited_from": record_domain.as_str() });
    }
    if let Some(want) = exp.policy
        && want != applied
    {
        v.warnings.push(Warning {
            code: VerdictCode::DmarcPolicyDiffers,
            message: format!(
                "the published policy is `{applied}` but the domain is configured with `{want}`"
            ),
        });
    }
    v.warnings
        .extend(unauthorized_report_destinations(dns, &record_domain, &record).await);
    v
}

/// RFC 7489 §7.1: a `rua` address in another organizational domain must be authorized by
/// a `v=DMARC1` record at `<domain>._report._dmarc.<rua host>`, or receivers drop the
/// reports.
async fn unauthorized_report_destinations(
    dns: &dyn DnsLookup,
    domain: &DomainName,
    record: &DmarcRecord,
) -> Vec<Warning> {
    let org = domain.organizational_domain();
    // Each host once, however many of its addresses the record lists. A host that is not
    // a domain name cannot be in our organizational domain, so it needs authorization
    // like any other (and will not have it).
    let external: std::collections::BTreeSet<String> = record
        .rua
        .iter()
        .filter_map(|u| u.mailto_domain())
        .filter(|d| DomainName::from_stored(d).map_or(true, |d| d.organizational_domain() != org))
        .collect();
    let lookups = external.iter().map(|rua_host| async move {
        let name = format!("{domain}._report._dmarc.{rua_host}");
        let answer = dns.txt(&name).await;
        let authorized = answer
            .result
            .records()
            .iter()
            .any(|r| is_dmarc(&r.text_or_shown()));
        match (&answer.result, authorized) {
            (_, true) => None,
            (DnsResult::TempFail(why), _) => Some(Warning {
                code: VerdictCode::DmarcExternalRuaUnauthorized,
                message: format!(
                    "reports go to {rua_host}, and whether it accepts them could not be checked ({why})"
                ),
            }),
            _ => Some(Warning {
                code: VerdictCode::DmarcExternalRuaUnauthorized,
                message: format!(
                    "reports go to {rua_host}, which has not authorized them: receivers will not send them until {name} has a `v=DMARC1` TXT record"
                ),
            }),
        }
    });
    futures::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The records of an answer that are DMARC records: those starting with `v=DMARC1`
/// (RFC 7489 §6.6.3: others are discarded).
fn dmarc_records(answer: &DnsAnswer<TxtRecordData>) -> Vec<&TxtRecordData> {
    answer
        .result
        .records()
        .iter()
        .filter(|r| is_dmarc(&r.text_or_shown()))
        .collect()
}

/// The DMARC records of an answer as they are shown.
fn dmarc_texts(answer: &DnsAnswer<TxtRecordData>) -> Vec<String> {
    dmarc_records(answer)
        .into_iter()
        .map(TxtRecordData::joined)
        .collect()
}

fn is_dmarc(text: &str) -> bool {
    let t = text.trim_start();
    let Some(rest) = t.strip_prefix('v') else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix('=') else {
        return false;
    };
    let rest = rest.trim_start();
    rest.starts_with("DMARC1")
        && rest[6..]
            .chars()
            .next()
            .is_none_or(|c| c == ';' || c.is_whitespace())
}

#[cfg(test)]
mod tests;
