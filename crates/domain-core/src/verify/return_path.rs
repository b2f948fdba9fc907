//! The return-path check: the domain's return-path (MAIL FROM) host sends its bounces to
//! us and lets us send as it (docs/verification.md, "Return path").
//!
//! Two records at one host, judged as one check: the MX set must be exactly our bounce
//! host, and the SPF record there must authorize our sending addresses — the same
//! RFC 7208 evaluation, with the same sending addresses, as the SPF check of the domain
//! itself ([`check_spf`]). A CNAME at the host fails the check: the alias would hide
//! whatever else the tenant published there (RFC 1034 §3.6.2), so the MX and SPF records
//! that count would be someone else's.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::name::DomainName;
use crate::ports::{DnsAnswer, DnsLookup, DnsResult, MxRecord};
use crate::records::spf::{DomainSpec, SpfRecord};

use super::{CheckKind, CheckStatus, SpfExpectation, Verdict, VerdictCode, check_spf};

/// The preference of the MX record we ask for. Any preference passes, as long as ours
/// is the only exchange.
pub const BOUNCE_MX_PREFERENCE: u16 = 10;

/// What the return-path check compares against.
#[derive(Debug, Clone, Copy)]
pub struct ReturnPathExpectation<'a> {
    /// The return-path host (`bounces.mail.example.com`).
    pub host: &'a DomainName,
    /// Our bounce mail exchanger (`SCAISEND_BOUNCE_MX`).
    pub bounce_mx: &'a DomainName,
    /// Our SPF include host.
    pub include_host: &'a DomainName,
    /// Our sending addresses; empty to read them from the include host's record, as the
    /// SPF check does.
    pub sending_ips: &'a [IpAddr],
}

/// Checks a return-path host: no alias, our bounce host as its only mail exchanger, and
/// an SPF record that authorizes our sending addresses. DNS trouble on either record
/// makes the whole check a temporary failure, so an outage never unverifies it.
///
/// `expected` and `found` are about the record that decides the verdict: the MX record
/// unless only the SPF record is wrong. `details` holds both halves, `mx` and `spf`, each
/// with its `status`, `expected` and `found` (the SPF half also its `code` and the SPF
/// check's details).
pub async fn check_return_path(dns: &dyn DnsLookup, exp: ReturnPathExpectation<'_>) -> Verdict {
    let host = exp.host.as_str();
    let (alias, mx, spf) = futures::join!(
        dns.cname(host),
        dns.mx(host),
        check_spf(
            dns,
            SpfExpectation {
                domain: exp.host,
                include_host: exp.include_host,
                sending_ips: exp.sending_ips,
            },
        )
    );
    let mx_half = judge_mx(&alias.result, &mx.result, exp.bounce_mx);
    let spf_half = SpfHalf::of(spf, exp.include_host);
    let (status, code, message, decided_by_spf) = match (&mx_half.finding, &spf_half.verdict) {
        (MxFinding::TempFail(why), _) => (
            CheckStatus::TemporaryFailure,
            VerdictCode::ReturnPathTemporaryFailure,
            format!("DNS could not answer for {host} ({why}); try again shortly"),
            false,
        ),
        (_, spf) if spf.status == CheckStatus::TemporaryFailure => (
            CheckStatus::TemporaryFailure,
            VerdictCode::ReturnPathTemporaryFailure,
            spf.message.clone(),
            true,
        ),
        (finding, _) if *finding != MxFinding::Ours => {
            let (status, code) = finding.outcome();
            (
                status,
                code,
                mx_message(finding, host, exp.bounce_mx),
                false,
            )
        }
        (_, spf) if !spf.passed() => {
            let (status, code) = spf_outcome(spf.status);
            (status, code, spf.message.clone(), true)
        }
        (_, _) => (
            CheckStatus::Verified,
            VerdictCode::ReturnPathOk,
            format!(
                "{host} sends bounces to {} and its SPF record authorizes our sending addresses",
                exp.bounce_mx
            ),
            false,
        ),
    };
    let mut v = Verdict::new(
        CheckKind::ReturnPath,
        host.to_owned(),
        status,
        code,
        message,
    );
    if decided_by_spf {
        v.expected = spf_half.expected.clone();
        v.found = spf_half.verdict.found.clone();
    } else {
        v.expected = Some(mx_half.expected.clone());
        v.found = mx_half.found.clone();
    }
    v.answered_by = answered_by(&mx, &alias);
    v.warnings = spf_half.verdict.warnings.clone();
    v.details = json!({ "mx": mx_half.details(), "spf": spf_half.details() });
    v
}

/// What the MX half found, in the order it is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxFinding {
    /// DNS could not answer for the alias or the MX records.
    TempFail(String),
    /// The host is an alias of this name.
    Alias(String),
    /// No MX record (no-data or NXDOMAIN).
    Missing,
    /// A null MX (RFC 7505).
    Null,
    /// One exchange, not ours.
    Other(String),
    /// Several exchanges.
    Several(Vec<String>),
    /// Our bounce host is the only exchange.
    Ours,
}

impl MxFinding {
    /// The status and code this finding gives the check (for [`MxFinding::Ours`], the
    /// passing pair of the MX half alone).
    pub fn outcome(&self) -> (CheckStatus, VerdictCode) {
        match self {
            MxFinding::TempFail(_) => (
                CheckStatus::TemporaryFailure,
                VerdictCode::ReturnPathTemporaryFailure,
            ),
            MxFinding::Alias(_) => (CheckStatus::Invalid, VerdictCode::ReturnPathCname),
            MxFinding::Missing => (CheckStatus::Missing, VerdictCode::ReturnPathMxMissing),
            MxFinding::Null => (CheckStatus::Mismatch, VerdictCode::ReturnPathNullMx),
            MxFinding::Other(_) => (CheckStatus::Mismatch, VerdictCode::ReturnPathMxMismatch),
            MxFinding::Several(_) => (CheckStatus::Mismatch, VerdictCode::ReturnPathMultipleMx),
            MxFinding::Ours => (CheckStatus::Verified, VerdictCode::ReturnPathOk),
        }
    }
}

/// The MX rule: no alias at the host, and the set of exchanges is exactly `{ours}`
/// (names compared without case and trailing dot; any preference). A temporary failure
/// of either query comes first: nothing can be concluded then.
pub fn mx_rule(
    alias: &DnsResult<String>,
    mx: &DnsResult<MxRecord>,
    ours: &DomainName,
) -> MxFinding {
    match (alias, mx) {
        (DnsResult::TempFail(why), _) | (_, DnsResult::TempFail(why)) => {
            return MxFinding::TempFail(why.clone());
        }
        (DnsResult::Records(targets), _) if !targets.is_empty() => {
            return MxFinding::Alias(targets[0].clone());
        }
        _ => {}
    }
    let records = mx.records();
    if records.is_empty() {
        return MxFinding::Missing;
    }
    if records.iter().any(MxRecord::is_null) {
        return MxFinding::Null;
    }
    let mut exchanges: Vec<String> = records.iter().map(|r| bare(&r.exchange)).collect();
    exchanges.sort();
    exchanges.dedup();
    match exchanges.as_slice() {
        [one] if *one == ours.as_str() => MxFinding::Ours,
        [one] => MxFinding::Other(one.clone()),
        _ => MxFinding::Several(exchanges),
    }
}

/// The MX half of the verdict.
struct MxHalf {
    finding: MxFinding,
    expected: String,
    found: Vec<String>,
}

impl MxHalf {
    fn details(&self) -> Value {
        let (status, _) = self.finding.outcome();
        json!({ "status": status, "expected": self.expected, "found": self.found })
    }
}

fn judge_mx(alias: &DnsResult<String>, mx: &DnsResult<MxRecord>, bounce_mx: &DomainName) -> MxHalf {
    let finding = mx_rule(alias, mx, bounce_mx);
    let found = match &finding {
        MxFinding::Alias(target) => vec![format!("CNAME {target}")],
        _ => mx
            .records()
            .iter()
            .map(|r| format!("{} {}", r.preference, r.exchange))
            .collect(),
    };
    MxHalf {
        finding,
        expected: format!("{BOUNCE_MX_PREFERENCE} {bounce_mx}"),
        found,
    }
}

fn mx_message(finding: &MxFinding, host: &str, ours: &DomainName) -> String {
    let publish = format!("publish one MX record at {host}: `{BOUNCE_MX_PREFERENCE} {ours}`");
    match finding {
        MxFinding::Alias(target) => format!(
            "{host} is an alias (CNAME) of {target}, which hides the MX and SPF records the return path needs; delete the CNAME and {publish}"
        ),
        MxFinding::Missing => format!("no MX record at {host}; {publish}"),
        MxFinding::Null => format!(
            "{host} has a null MX (`0 .`): it accepts no mail, so bounces could not come back; replace it: {publish}"
        ),
        MxFinding::Other(other) => {
            format!("the MX record at {host} names {other}, not our bounce host {ours}; {publish}")
        }
        MxFinding::Several(all) => format!(
            "{host} has several mail exchangers ({}), so bounces may not reach us; keep only ours: {publish}",
            all.join(", ")
        ),
        MxFinding::TempFail(_) | MxFinding::Ours => String::new(),
    }
}

/// The SPF half: the SPF check's verdict about the host, and the record to publish there.
struct SpfHalf {
    verdict: Verdict,
    expected: Option<String>,
}

impl SpfHalf {
    /// The record to publish is the SPF check's suggestion — the found record with our
    /// include merged in, never a second record — except that a host without a record
    /// gets ours with `-all`: nothing but our mail uses it.
    fn of(verdict: Verdict, include_host: &DomainName) -> Self {
        let expected = if verdict.status == CheckStatus::Missing {
            Some(SpfRecord::ours_only(&DomainSpec::for_domain(include_host)).to_string())
        } else {
            verdict.expected.clone()
        };
        SpfHalf { verdict, expected }
    }

    fn details(&self) -> Value {
        let mut details = json!({
            "status": self.verdict.status,
            "code": self.verdict.code,
            "expected": self.expected,
            "found": self.verdict.found,
        });
        if let (Value::Object(into), Value::Object(from)) = (&mut details, &self.verdict.details) {
            for (k, v) in from {
                into.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        details
    }
}

/// The return-path code for a failing SPF half, by the SPF verdict's status; the SPF
/// check's own code stays in `details.spf.code`.
fn spf_outcome(status: CheckStatus) -> (CheckStatus, VerdictCode) {
    let code = match status {
        CheckStatus::Missing => VerdictCode::ReturnPathSpfMissing,
        CheckStatus::Invalid => VerdictCode::ReturnPathSpfInvalid,
        CheckStatus::Mismatch => VerdictCode::ReturnPathSpfNotAuthorized,
        CheckStatus::TemporaryFailure => VerdictCode::ReturnPathTemporaryFailure,
        CheckStatus::Verified => VerdictCode::ReturnPathOk,
    };
    (status, code)
}

fn answered_by(mx: &DnsAnswer<MxRecord>, alias: &DnsAnswer<String>) -> Option<String> {
    mx.server.clone().or_else(|| alias.server.clone())
}

/// A name as the rule compares it: lower-case, without the trailing dot.
fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
