//! The DMARC check: a valid policy applies to the domain, its own or inherited from the
//! organizational domain (RFC 7489 §6.6.3).

use std::collections::BTreeSet;

use crate::name::{DmarcPolicy, DomainName, RuaAddress};
use crate::ports::{DnsAnswer, DnsLookup, DnsResult, TxtRecordData};
use crate::records::dmarc::DmarcRecord;

use super::opening::{Opening, VerdictAt};
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

/// At most this many external report destinations are checked for their authorization
/// record; the others get a warning that they were not checked. A record may list any
/// number of destinations, and each costs a DNS query.
pub const MAX_CHECKED_REPORT_HOSTS: usize = 5;

/// Checks the DMARC record of a domain.
pub async fn check_dmarc(dns: &dyn DnsLookup, exp: DmarcExpectation<'_>) -> Verdict {
    let mut at = VerdictAt::new(CheckKind::Dmarc, DmarcRecord::host(exp.domain));
    at.expected = exp
        .policy
        .map(|p| DmarcRecord::ours(p, exp.rua).to_string());
    let (record_domain, records, inherited) = match find_record(dns, exp.domain, &mut at).await {
        Ok(found) => found,
        Err(verdict) => return *verdict,
    };
    let record: DmarcRecord = match at.one_record(&OPENING, &records) {
        Ok(record) => record,
        Err(verdict) => return *verdict,
    };
    let applied = if inherited {
        record.subdomain_policy()
    } else {
        record.p
    };
    // The alignment modes of the record in force, spelled as their tags (default `r`):
    // what the send-time decision reads to tell whether our identifiers align.
    at.details = crate::alignment::AlignmentModes::of(&record).to_details();
    let mut v = if inherited {
        at.details["inherited_from"] = serde_json::json!(record_domain.as_str());
        at.verdict(
            CheckStatus::Verified,
            VerdictCode::DmarcInherited,
            format!(
                "no DMARC record at {}; the organizational domain's record at {} applies (policy `{applied}`)",
                DmarcRecord::host(exp.domain),
                at.host
            ),
        )
    } else {
        at.verdict(
            CheckStatus::Verified,
            VerdictCode::DmarcOk,
            format!(
                "the DMARC record at {} is valid (policy `{applied}`)",
                at.host
            ),
        )
    };
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

const OPENING: Opening = Opening {
    record: "DMARC",
    missing: VerdictCode::DmarcMissing,
    temporary: VerdictCode::DmarcTemporaryFailure,
    multiple: VerdictCode::DmarcMultipleRecords,
    invalid: VerdictCode::DmarcInvalid,
    multiple_advice: "receivers ignore all of them — keep exactly one",
};

/// The DMARC records that apply to `domain`: its own, or else its organizational
/// domain's (RFC 7489 §6.6.3). Gives the domain they were found at, the records (never
/// empty) and whether they are inherited; or the verdict when there are none or DNS could
/// not answer. `at` ends up describing the host the records were found at.
async fn find_record(
    dns: &dyn DnsLookup,
    domain: &DomainName,
    at: &mut VerdictAt,
) -> Result<(DomainName, Vec<TxtRecordData>, bool), Box<Verdict>> {
    let own = dns.txt(&at.host).await;
    at.answered_by = own.server.clone();
    at.found = dmarc_texts(&own);
    if let DnsResult::TempFail(why) = &own.result {
        return Err(Box::new(at.temporary(&OPENING, &at.host, why)));
    }
    if !at.found.is_empty() {
        return Ok((domain.clone(), dmarc_records(&own), false));
    }
    let org = domain.organizational_domain();
    if org == *domain {
        return Err(Box::new(at.missing(&OPENING, "")));
    }
    let org_host = DmarcRecord::host(&org);
    let inherited = dns.txt(&org_host).await;
    if let DnsResult::TempFail(why) = &inherited.result {
        return Err(Box::new(at.temporary(&OPENING, &org_host, why)));
    }
    let records = dmarc_records(&inherited);
    if records.is_empty() {
        return Err(Box::new(at.missing(
            &OPENING,
            &format!(" nor at the organizational domain's {org_host}"),
        )));
    }
    at.host = org_host;
    at.answered_by = inherited.server;
    at.found = records.iter().map(TxtRecordData::joined).collect();
    Ok((org, records, true))
}

/// RFC 7489 §7.1: a `rua` address in another organizational domain must be authorized by
/// a `v=DMARC1` record at `<domain>._report._dmarc.<rua host>`, or receivers drop the
/// reports. At most [`MAX_CHECKED_REPORT_HOSTS`] hosts are looked up.
async fn unauthorized_report_destinations(
    dns: &dyn DnsLookup,
    domain: &DomainName,
    record: &DmarcRecord,
) -> Vec<Warning> {
    let org = domain.organizational_domain();
    // Each host once, however many of its addresses the record lists. A host that is not
    // a domain name cannot be in our organizational domain, so it needs authorization
    // like any other (and will not have it).
    let external: BTreeSet<String> = record
        .rua
        .iter()
        .filter_map(|u| u.mailto_domain())
        .filter(|d| DomainName::from_stored(d).map_or(true, |d| d.organizational_domain() != org))
        .collect();
    let (checked, unchecked) = external
        .iter()
        .enumerate()
        .partition::<Vec<_>, _>(|(i, _)| *i < MAX_CHECKED_REPORT_HOSTS);
    let lookups = checked
        .into_iter()
        .map(|(_, rua_host)| report_authorization(dns, domain, rua_host));
    let mut warnings: Vec<Warning> = futures::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .collect();
    if !unchecked.is_empty() {
        let hosts: Vec<&str> = unchecked.iter().map(|(_, h)| h.as_str()).collect();
        warnings.push(Warning {
            code: VerdictCode::DmarcExternalRuaUnauthorized,
            message: format!(
                "reports also go to {}: not checked, limit of {MAX_CHECKED_REPORT_HOSTS} report destinations per verification",
                hosts.join(", ")
            ),
        });
    }
    warnings
}

/// The warning for one external report destination, unless it authorizes the reports.
async fn report_authorization(
    dns: &dyn DnsLookup,
    domain: &DomainName,
    rua_host: &str,
) -> Option<Warning> {
    let name = DmarcRecord::report_authorization_host(domain, rua_host);
    let answer = dns.txt(&name).await;
    if !dmarc_texts(&answer).is_empty() {
        return None;
    }
    let message = match &answer.result {
        DnsResult::TempFail(why) => format!(
            "reports go to {rua_host}, and whether it accepts them could not be checked ({why})"
        ),
        _ => format!(
            "reports go to {rua_host}, which has not authorized them: receivers will not send them until {name} has a `v=DMARC1` TXT record"
        ),
    };
    Some(Warning {
        code: VerdictCode::DmarcExternalRuaUnauthorized,
        message,
    })
}

/// The records of an answer that are DMARC records: those starting with `v=DMARC1`
/// (RFC 7489 §6.6.3: others are discarded). A record holding bytes no record may hold is
/// still recognised by its start, and then judged invalid by the parser.
fn dmarc_records(answer: &DnsAnswer<TxtRecordData>) -> Vec<TxtRecordData> {
    answer
        .result
        .records()
        .iter()
        .filter(|r| is_dmarc(&r.text_or_shown()))
        .cloned()
        .collect()
}

/// The DMARC records of an answer as they are shown.
fn dmarc_texts(answer: &DnsAnswer<TxtRecordData>) -> Vec<String> {
    dmarc_records(answer)
        .iter()
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
