//! `scaisend-domains check <domain>`: the core's verdicts against live DNS, printed with
//! what was expected, what was found and how to fix it — a checkdmarc that also checks
//! DKIM. Nothing is stored.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use domain_core::verify::{
    CheckKind, CheckStatus, DkimKeys, DomainExpectation, DomainReport, Gate, Verdict, check_domain,
};
use domain_core::{DomainName, ReturnPathLabel, Selector};

use crate::config::CheckArgs;

/// Runs the checks and returns the report.
pub async fn run(args: &CheckArgs) -> Result<(DomainName, DomainReport)> {
    let domain =
        DomainName::parse(&args.domain).map_err(|e| anyhow::anyhow!("{}: {}", args.domain, e))?;
    let selector =
        Selector::parse(&args.selector).map_err(|e| anyhow::anyhow!("--selector: {e}"))?;
    let include = args.domains.spf_include()?;
    let bounce_mx = args.domains.bounce_mx()?;
    let return_path = args
        .return_path
        .as_deref()
        .map(|label| ReturnPathLabel::parse(label).and_then(|l| l.host(&domain)))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--return-path: {e}"))?;
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
            return_path: return_path.as_ref().map(|host| (host, &bounce_mx)),
        },
    )
    .await;
    Ok((domain, report))
}

/// Whether every check run passes: the domain's, and the return path's when asked for.
pub fn every_check_passes(report: &DomainReport) -> bool {
    report.all_pass() && report.verdicts.failing().next().is_none()
}

/// The report as JSON.
pub fn to_json(domain: &DomainName, report: &DomainReport) -> serde_json::Value {
    let mut json = serde_json::json!({
        "domain": domain,
        "verified": report.all_pass(),
        "checks": report.verdicts.iter().collect::<Vec<_>>(),
    });
    if report.verdicts.get(CheckKind::ReturnPath).is_some() {
        json["return_path_verified"] = report.verdicts.passes(Gate::ReturnPath).into();
    }
    json
}

/// The report for a terminal.
pub fn to_text(domain: &DomainName, report: &DomainReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{domain}: {}",
        if every_check_passes(report) {
            "all checks pass"
        } else if report.all_pass() {
            "verified, but the return path fails"
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
