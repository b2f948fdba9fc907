//! The SPF check: the domain has exactly one SPF record, and RFC 7208 `check_host()`
//! gives `pass` for every one of our sending addresses (docs/api.md, "Verification").

use std::net::{IpAddr, Ipv4Addr};

use futures::future::join_all;

use super::memo::Memo;
use crate::name::DomainName;
use crate::ports::{DnsLookup, DnsResult, TxtRecordData};
use crate::records::TxtRecord;
use crate::records::spf::{
    DomainSpec, Mechanism, Qualifier, SpfEvaluation, SpfProblem, SpfQuery, SpfRecord, SpfResult,
    check_host,
};

use super::{CheckKind, CheckStatus, Verdict, VerdictCode, Warning};

/// What the SPF check compares against.
#[derive(Debug, Clone, Copy)]
pub struct SpfExpectation<'a> {
    /// The sender domain.
    pub domain: &'a DomainName,
    /// Our include host (`scaisend.scailabs.ai`), which the domain's record should reach.
    pub include_host: &'a DomainName,
    /// The addresses we send from. When empty, they are read from the include host's own
    /// record (its `ip4:`/`ip6:` terms, the first and last address of each range); when
    /// that gives none either, the check only asks that our include is reached.
    pub sending_ips: &'a [IpAddr],
}

/// Checks a domain's SPF record against our sending addresses.
///
/// The verdict's `details` hold `include_reached` (our include is evaluated with `+`
/// qualifiers all the way), `dns_lookups` and `void_lookups` (the most any one
/// evaluation needed) and `results` (the `check_host()` result per sending address).
pub async fn check_spf(dns: &dyn DnsLookup, exp: SpfExpectation<'_>) -> Verdict {
    // Every evaluation walks the same records: share the answers, so each query is sent
    // once however many sending addresses are evaluated.
    let memo = Memo::new(dns);
    let dns: &dyn DnsLookup = &memo;
    let host = exp.domain.as_str();
    let addresses = if exp.sending_ips.is_empty() {
        // The domain's own record is needed whatever the addresses turn out to be: ask for
        // it while the include host's record is on its way, so the check waits for one
        // round trip rather than two.
        let (ours, _) = futures::join!(our_addresses(dns, exp.include_host), dns.txt(host));
        match ours {
            Ok(addresses) => addresses,
            Err(why) => {
                let mut v = Verdict::new(
                    CheckKind::Spf,
                    host.to_owned(),
                    CheckStatus::TemporaryFailure,
                    VerdictCode::SpfTemporaryFailure,
                    format!(
                        "DNS could not answer for {}, whose SPF record lists our sending addresses ({why}); try again shortly",
                        exp.include_host
                    ),
                );
                v.details = serde_json::json!({ "include_reached": false });
                return v;
            }
        }
    } else {
        exp.sending_ips.to_vec()
    };
    // Without addresses, evaluate for one that matches nothing anyone publishes: then
    // every `include:` up to the first `all` is evaluated, and the trace shows whether
    // ours is among them.
    let probing = addresses.is_empty();
    let addresses = if probing { vec![PROBE] } else { addresses };
    let sender = format!("postmaster@{host}");
    let evaluations = join_all(addresses.iter().map(|ip| {
        let sender = sender.as_str();
        async move { check_host(dns, &SpfQuery::new(*ip, host, sender)).await }
    }))
    .await;
    let judged = Judgement {
        exp,
        include: DomainSpec::for_domain(exp.include_host),
        addresses: &addresses,
        evaluations: &evaluations,
        probing,
    };
    judged.verdict()
}

/// TEST-NET-1 (RFC 5737): documentation space that no real record authorizes.
const PROBE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// The evaluations of one check and what they mean.
struct Judgement<'a> {
    exp: SpfExpectation<'a>,
    include: DomainSpec,
    /// Never empty.
    addresses: &'a [IpAddr],
    /// One per address, in the same order.
    evaluations: &'a [SpfEvaluation],
    probing: bool,
}

impl Judgement<'_> {
    fn verdict(&self) -> Verdict {
        // `addresses` is never empty, so neither are the evaluations.
        let first = &self.evaluations[0];
        let host = self.exp.domain.as_str();
        let (status, code, message) = self.status();
        let mut v = Verdict::new(CheckKind::Spf, host.to_owned(), status, code, message);
        v.found = first.trace.records.clone();
        v.answered_by = first.trace.answered_by.clone();
        v.expected = self.expected(status);
        v.warnings = self.warnings(status);
        v.details = self.details();
        v
    }

    fn status(&self) -> (CheckStatus, VerdictCode, String) {
        let host = self.exp.domain.as_str();
        let first = &self.evaluations[0];
        // An outage never unverifies a domain, so DNS trouble is looked at first.
        if let Some(problem) = self.evaluations.iter().find_map(|e| {
            e.problem
                .as_ref()
                .filter(|p| p.result() == SpfResult::TempError)
        }) {
            return (
                CheckStatus::TemporaryFailure,
                VerdictCode::SpfTemporaryFailure,
                format!("{problem} while evaluating the SPF record of {host}; try again shortly"),
            );
        }
        if first.result == SpfResult::None {
            return (
                CheckStatus::Missing,
                VerdictCode::SpfMissing,
                format!("no SPF record at {host}; publish the TXT record shown in `expected`"),
            );
        }
        if let Some(problem) = self.blocking_problem() {
            let (code, message) = describe(problem, host);
            return (CheckStatus::Invalid, code, message);
        }
        let include = format!("include:{}", self.exp.include_host);
        let reached = self.include_reached();
        if self.probing {
            return if reached {
                (
                    CheckStatus::Verified,
                    VerdictCode::SpfOk,
                    format!(
                        "the SPF record at {host} reaches `{include}` with a passing qualifier"
                    ),
                )
            } else if self.passes_everyone().is_some() {
                (
                    CheckStatus::Verified,
                    VerdictCode::SpfOk,
                    format!("the SPF record at {host} lets every address pass, ours included"),
                )
            } else {
                (
                    CheckStatus::Mismatch,
                    VerdictCode::SpfIncludeNotReached,
                    format!(
                        "the SPF record at {host} does not reach `{include}` with a passing qualifier before `all`; add it as shown in `expected`"
                    ),
                )
            };
        }
        let failing: Vec<String> = self
            .addresses
            .iter()
            .zip(self.evaluations)
            .filter(|(_, e)| e.result != SpfResult::Pass)
            .map(|(ip, e)| format!("{ip} (check_host gives `{}`)", e.result))
            .collect();
        if failing.is_empty() {
            let how = if reached {
                format!(" through `{include}`")
            } else {
                String::new()
            };
            return (
                CheckStatus::Verified,
                VerdictCode::SpfOk,
                match self.addresses.len() {
                    1 => format!("the SPF record at {host} authorizes our sending address{how}"),
                    n => format!(
                        "the SPF record at {host} authorizes all {n} of our sending addresses{how}"
                    ),
                },
            );
        }
        let failing = failing.join(", ");
        if reached {
            (
                CheckStatus::Mismatch,
                VerdictCode::SpfNotAuthorized,
                format!(
                    "the SPF record at {host} does not authorize {failing}: something before `{include}` decides first"
                ),
            )
        } else {
            (
                CheckStatus::Mismatch,
                VerdictCode::SpfIncludeNotReached,
                format!(
                    "the SPF record at {host} does not authorize {failing}: it does not reach `{include}` with a passing qualifier before `all`; add it as shown in `expected`"
                ),
            )
        }
    }

    /// The first permanent error that breaks the record for us. When probing, an error
    /// met after our include was evaluated without error is not ours: a receiver
    /// checking our addresses stops at our include. It is reported as a warning instead.
    fn blocking_problem(&self) -> Option<&SpfProblem> {
        let problem = self.evaluations.iter().find_map(|e| e.problem.as_ref())?;
        (!self.probing || !self.include_evaluated_cleanly()).then_some(problem)
    }

    fn include_evaluated_cleanly(&self) -> bool {
        let host = self.exp.include_host.as_str();
        self.evaluations.iter().any(|e| {
            e.trace.includes.iter().any(|i| {
                i.pass_path
                    && i.target.eq_ignore_ascii_case(host)
                    && !matches!(i.result, SpfResult::TempError | SpfResult::PermError)
            })
        })
    }

    fn include_reached(&self) -> bool {
        let host = self.exp.include_host.as_str();
        self.evaluations
            .iter()
            .any(|e| e.trace.include_reached(host))
    }

    /// The `all` term that made an evaluation pass, if one did: it passes every address.
    fn passes_everyone(&self) -> Option<(&IpAddr, &SpfEvaluation)> {
        self.addresses.iter().zip(self.evaluations).find(|(_, e)| {
            e.result == SpfResult::Pass
                && e.trace
                    .final_match()
                    .is_some_and(|m| m.directive.mechanism == Mechanism::All)
        })
    }

    fn warnings(&self, status: CheckStatus) -> Vec<Warning> {
        let host = self.exp.domain.as_str();
        let mut warnings = Vec::new();
        if let Some((_, e)) = self.passes_everyone()
            && let Some(m) = e.trace.final_match()
        {
            warnings.push(Warning {
                code: VerdictCode::SpfAllowsEveryone,
                message: format!(
                    "`{}` in the SPF record at {} lets any host on the internet send as {host}; end the record with `~all` or `-all`",
                    m.directive, m.domain
                ),
            });
        }
        if status == CheckStatus::Verified
            && let Some(problem) = self.evaluations.iter().find_map(|e| e.problem.as_ref())
        {
            let (code, message) = describe(problem, host);
            warnings.push(Warning {
                code,
                message: format!(
                    "our include is reached, but other senders get an error: {message}"
                ),
            });
        }
        warnings
    }

    /// The record that should be published: ours when there is none, the found record
    /// as found when it is right, else the found record with our include merged in —
    /// never a second record.
    fn expected(&self, status: CheckStatus) -> Option<String> {
        if status == CheckStatus::Missing {
            return Some(SpfRecord::ours(&self.include).to_string());
        }
        let found = &self.evaluations[0].trace.records;
        if status == CheckStatus::Verified {
            return found.first().cloned();
        }
        let parsed: Vec<SpfRecord> = found
            .iter()
            .map(|t| SpfRecord::parse(t).ok())
            .collect::<Option<_>>()?;
        let merged = match parsed.as_slice() {
            [] => return None,
            [one] => one,
            // Several records: when all but one already carry our include (typically our
            // suggested record published beside an existing one), merging into that one
            // is the fix.
            several => {
                let mut without_us = several
                    .iter()
                    .filter(|r| r.with_include(&self.include) != **r);
                match (without_us.next(), without_us.next()) {
                    (Some(theirs), None) => theirs,
                    _ => return None,
                }
            }
        };
        Some(merged.with_include(&self.include).to_string())
    }

    fn details(&self) -> serde_json::Value {
        let most =
            |f: fn(&SpfEvaluation) -> usize| self.evaluations.iter().map(f).max().unwrap_or(0);
        let results: Vec<serde_json::Value> = if self.probing {
            Vec::new()
        } else {
            self.addresses
                .iter()
                .zip(self.evaluations)
                .map(|(ip, e)| serde_json::json!({ "ip": ip.to_string(), "result": e.result }))
                .collect()
        };
        serde_json::json!({
            "include_reached": self.include_reached(),
            "dns_lookups": most(|e| e.trace.dns_lookup_count()),
            "void_lookups": most(|e| e.trace.void_lookup_count()),
            "results": results,
        })
    }
}

/// The code and message of a permanent error, naming the record and term to change.
fn describe(problem: &SpfProblem, host: &str) -> (VerdictCode, String) {
    let at = |domain: &str| {
        if domain == host {
            format!("the SPF record at {host}")
        } else {
            format!("the SPF record at {domain} (reached from {host})")
        }
    };
    match problem {
        SpfProblem::MultipleRecords { domain, count } if domain == host => (
            VerdictCode::SpfMultipleRecords,
            format!(
                "{count} SPF records at {host}: receivers treat that as a permanent error; keep one record (see `expected`)"
            ),
        ),
        SpfProblem::MultipleRecords { domain, count } => (
            VerdictCode::SpfMultipleRecords,
            format!(
                "{count} SPF records at {domain} (reached from {host}): receivers treat that as a permanent error"
            ),
        ),
        SpfProblem::Syntax { domain, detail } => (
            VerdictCode::SpfSyntaxError,
            format!("{} is invalid: {detail}", at(domain)),
        ),
        SpfProblem::TooManyLookups { term, domain } => (
            VerdictCode::SpfTooManyLookups,
            format!(
                "evaluating the SPF record at {host} needs more than 10 DNS lookups: `{term}` in {} is number 11, so receivers give permerror; remove or flatten includes",
                at(domain)
            ),
        ),
        SpfProblem::TooManyMxNames {
            term,
            domain,
            count,
        } => (
            VerdictCode::SpfTooManyLookups,
            format!(
                "`{term}` in {} finds {count} MX names, more than the 10 allowed, so receivers give permerror",
                at(domain)
            ),
        ),
        SpfProblem::VoidLookupLimit { term, domain } => (
            VerdictCode::SpfVoidLookupLimit,
            format!(
                "evaluating the SPF record at {host} meets more than 2 lookups that find nothing: `{term}` in {} is the 3rd, so receivers give permerror; remove terms naming domains without records",
                at(domain)
            ),
        ),
        SpfProblem::IncludeWithoutRecord {
            term,
            domain,
            target,
        } => (
            VerdictCode::SpfSyntaxError,
            format!(
                "`{term}` in {} points to {target}, which has no SPF record, so receivers give permerror",
                at(domain)
            ),
        ),
        SpfProblem::DnsTempFail { .. } => (
            VerdictCode::SpfTemporaryFailure,
            format!("{problem} while evaluating the SPF record of {host}"),
        ),
    }
}

/// Our sending addresses as the include host's own record lists them: the first and
/// last address of each passing `ip4:`/`ip6:` term. `Err` when DNS cannot answer.
async fn our_addresses(
    dns: &dyn DnsLookup,
    include_host: &DomainName,
) -> Result<Vec<IpAddr>, String> {
    let records = match dns.txt(include_host.as_str()).await.result {
        DnsResult::Records(records) => records,
        DnsResult::NxDomain | DnsResult::NoData => return Ok(Vec::new()),
        DnsResult::TempFail(why) => return Err(why),
    };
    let spf: Vec<&TxtRecordData> = records
        .iter()
        .filter(|r| SpfRecord::is_spf(&r.text_or_shown()))
        .collect();
    let [found] = spf.as_slice() else {
        return Ok(Vec::new());
    };
    let Ok(record) = SpfRecord::from_txt(found) else {
        return Ok(Vec::new());
    };
    let mut addresses = Vec::new();
    let ranges = record
        .directives()
        .filter(|d| d.qualifier == Qualifier::Pass)
        .filter_map(|d| d.mechanism.network_range());
    for (first, last) in ranges {
        for ip in [first, last] {
            if !addresses.contains(&ip) {
                addresses.push(ip);
            }
        }
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests;
