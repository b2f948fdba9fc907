//! The DKIM check in CNAME mode: each slot of the domain is an alias of its name in our
//! zone. Only the tenant's DNS is asked — the checking resolver need not reach our zone,
//! whose answers the service controls anyway.

use futures::future::join_all;

use crate::name::{DomainName, Selector};
use crate::ports::{DnsLookup, DnsResult, TxtRecordData};

use super::super::opening::VerdictAt;
use super::super::{CheckKind, CheckStatus, Verdict, VerdictCode};

/// One slot and where it must point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnameSlot {
    /// The slot's selector (`scaisend`, `scaisend2`, …).
    pub selector: Selector,
    /// The name in our zone it must be an alias of: `<selector>.<label>.<zone>`.
    pub target: String,
}

/// Checks that every slot is a CNAME to its target. The verdict is the first failing
/// slot's (naming it), or a passing one; `details.slots` gives each slot's outcome.
pub async fn check_cnames(
    dns: &dyn DnsLookup,
    domain: &DomainName,
    slots: &[CnameSlot],
) -> Verdict {
    let verdicts = join_all(slots.iter().map(|slot| check_slot(dns, domain, slot))).await;
    let summary: Vec<serde_json::Value> = verdicts
        .iter()
        .zip(slots)
        .map(|(v, slot)| {
            serde_json::json!({
                "selector": slot.selector.as_str(),
                "host": v.host,
                "status": v.status,
                "code": v.code,
                "found": v.found,
            })
        })
        .collect();
    let first_selector = slots
        .first()
        .map(|s| s.selector.as_str())
        .unwrap_or_default();
    let details = serde_json::json!({
        "mode": "cname",
        "selector": first_selector,
        "slots": summary,
    });
    // A temporary failure says nothing; a conclusive failure is reported first.
    let pick = verdicts
        .iter()
        .find(|v| !v.passed() && v.status != CheckStatus::TemporaryFailure)
        .or_else(|| verdicts.iter().find(|v| !v.passed()));
    let mut verdict = match pick {
        Some(v) => v.clone(),
        None => {
            let hosts: Vec<&str> = verdicts.iter().map(|v| v.host.as_str()).collect();
            let mut v = verdicts.first().cloned().unwrap_or_else(|| {
                VerdictAt::new(CheckKind::Dkim, domain.to_string()).verdict(
                    CheckStatus::Verified,
                    VerdictCode::DkimOk,
                    String::new(),
                )
            });
            v.message = format!(
                "every DKIM slot points at our zone ({}); the keys are ours to rotate",
                hosts.join(", ")
            );
            v.found = verdicts.iter().flat_map(|v| v.found.clone()).collect();
            v
        }
    };
    verdict.details = details;
    verdict
}

async fn check_slot(dns: &dyn DnsLookup, domain: &DomainName, slot: &CnameSlot) -> Verdict {
    let mut at = VerdictAt::new(CheckKind::Dkim, slot.selector.record_host(domain));
    at.expected = Some(format!("CNAME {}", slot.target));
    let answer = dns.cname(&at.host).await;
    at.answered_by = answer.server.clone();
    let host = at.host.clone();
    match answer.result {
        DnsResult::TempFail(why) => at.verdict(
            CheckStatus::TemporaryFailure,
            VerdictCode::DkimTemporaryFailure,
            format!("DNS could not answer for {host} ({why}); try again shortly"),
        ),
        DnsResult::Records(targets) => {
            at.found = targets.iter().map(|t| format!("CNAME {t}")).collect();
            if targets.iter().any(|t| same_name(t, &slot.target)) {
                at.verdict(
                    CheckStatus::Verified,
                    VerdictCode::DkimOk,
                    format!("{host} points at our zone"),
                )
            } else {
                at.verdict(
                    CheckStatus::Mismatch,
                    VerdictCode::DkimCnameWrongTarget,
                    format!(
                        "the CNAME at {host} points at {}; it must point at {}",
                        targets.join(", "),
                        slot.target
                    ),
                )
            }
        }
        DnsResult::NxDomain | DnsResult::NoData => {
            // A name without a CNAME: is there a TXT record in its place?
            let txt = dns.txt(&host).await;
            let texts: Vec<String> = txt
                .result
                .records()
                .iter()
                .map(TxtRecordData::joined)
                .collect();
            if texts.is_empty() {
                at.verdict(
                    CheckStatus::Missing,
                    VerdictCode::DkimCnameMissing,
                    format!("no CNAME at {host}; publish the CNAME shown in `expected`"),
                )
            } else {
                at.found = texts;
                at.verdict(
                    CheckStatus::Mismatch,
                    VerdictCode::DkimTxtInsteadOfCname,
                    format!(
                        "{host} holds a TXT record where the CNAME to {} belongs; replace the TXT record with the CNAME",
                        slot.target
                    ),
                )
            }
        }
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}
