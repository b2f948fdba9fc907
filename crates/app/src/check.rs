//! `scaisend-domains check <domain>`: the core's verdicts against live DNS, printed with
//! what was expected, what was found and how to fix it — a checkdmarc that also checks
//! DKIM. Nothing is stored.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use domain_core::verify::{
    CheckStatus, DkimKeys, DomainExpectation, DomainReport, Verdict, check_domain,
};
use domain_core::{DomainName, Selector};

use crate::config::CheckArgs;

/// Runs the checks and returns the report.
pub async fn run(args: &CheckArgs) -> Result<(DomainName, DomainReport)> {
    let domain =
        DomainName::parse(&args.domain).map_err(|e| anyhow::anyhow!("{}: {}", args.domain, e))?;
    let selector =
        Selector::parse(&args.selector).map_err(|e| anyhow::anyhow!("--selector: {e}"))?;
    let include = DomainName::parse(&args.domains.spf_include)
        .map_err(|e| anyhow::anyhow!("SCAISEND_SPF_INCLUDE: {e}"))?;
    let sending_ips = args.domains.sending_ips()?;
    let dns = crate::dns_lookup(&args.dns).context("configuring DNS")?;
    let report = check_domain(
        dns.as_ref(),
        &DomainExpectation {
            domain: &domain,
            dkim: DkimKeys::Txt(vec![(&selector, None)]),
            dkim_pending: None,
            include_host: &include,
            sending_ips: &sending_ips,
            dmarc_policy: None,
            dmarc_rua: None,
        },
    )
    .await;
    Ok((domain, report))
}

/// The report as JSON.
pub fn to_json(domain: &DomainName, report: &DomainReport) -> serde_json::Value {
    serde_json::json!({
        "domain": domain,
        "verified": report.all_pass(),
        "checks": report.verdicts.iter().collect::<Vec<_>>(),
    })
}

/// The report for a terminal.
pub fn to_text(domain: &DomainName, report: &DomainReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{domain}: {}",
        if report.all_pass() {
            "all checks pass"
        } else {
            "not verified"
        }
    );
    for v in report.verdicts.iter() {
        write_verdict(&mut out, v);
    }
    out
}

fn write_verdict(out: &mut String, v: &Verdict) {
    let mark = match v.status {
        CheckStatus::Verified => "ok  ",
        CheckStatus::TemporaryFailure => "??  ",
        _ => "FAIL",
    };
    let _ = writeln!(
        out,
        "\n{mark} {} {} ({})",
        v.record.as_str().to_uppercase(),
        v.host,
        v.code.as_str()
    );
    let _ = writeln!(out, "     {}", v.message);
    for f in &v.found {
        let _ = writeln!(out, "     found:    {f}");
    }
    if let Some(e) = &v.expected
        && !v.passed()
    {
        let _ = writeln!(out, "     expected: {e}");
    }
    for w in &v.warnings {
        let _ = writeln!(out, "     warning ({}): {}", w.code.as_str(), w.message);
    }
    if let Some(server) = &v.answered_by {
        let _ = writeln!(out, "     answered by {server}");
    }
}
