//! All checks of one domain, run concurrently within one DNS budget.

use std::net::IpAddr;

use futures::future::BoxFuture;

use crate::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use crate::ports::DnsLookup;
use crate::records::dkim::DkimPublicKey;

use super::budget::{MAX_QUERIES_PER_VERIFICATION, QueryBudget};
use super::memo::Memo;
use super::{
    CheckKind, CnameSlot, DmarcExpectation, SpfExpectation, Verdict, Verdicts, check_cnames,
    check_dkim_keys, check_dmarc, check_spf,
};

/// What a domain should have published.
#[derive(Debug, Clone)]
pub struct DomainExpectation<'a> {
    /// The sender domain.
    pub domain: &'a DomainName,
    /// The active generation's keys.
    pub dkim: DkimKeys<'a>,
    /// The pending generation (its number and keys), during a rotation that may be
    /// promoted now.
    pub dkim_pending: Option<(u32, DkimKeys<'a>)>,
    /// Our SPF include host.
    pub include_host: &'a DomainName,
    /// Our sending addresses; empty to read them from the include host's record.
    pub sending_ips: &'a [IpAddr],
    /// The configured DMARC policy, if any.
    pub dmarc_policy: Option<DmarcPolicy>,
    /// The configured report address, if any.
    pub dmarc_rua: Option<&'a RuaAddress>,
}

/// What the DKIM check of one generation looks for.
#[derive(Debug, Clone)]
pub enum DkimKeys<'a> {
    /// TXT mode: each selector's record holds its key (`None`: any valid record, as the
    /// `check` command asks, which has no store).
    Txt(Vec<(&'a Selector, Option<&'a DkimPublicKey>)>),
    /// CNAME mode: each slot is an alias of its name in our zone.
    Cname(Vec<CnameSlot>),
}

impl DkimKeys<'_> {
    async fn check(&self, dns: &dyn DnsLookup, domain: &DomainName) -> Verdict {
        match self {
            DkimKeys::Txt(keys) => check_dkim_keys(dns, domain, keys).await,
            DkimKeys::Cname(slots) => check_cnames(dns, domain, slots).await,
        }
    }
}

/// The verdicts of one verification of a domain.
#[derive(Debug, Clone)]
pub struct DomainReport {
    /// One verdict per check of [`CheckKind::ALL`] (DKIM about the active generation).
    pub verdicts: Verdicts,
    /// The pending generation's number and DKIM verdict, during a rotation.
    pub pending: Option<(u32, Verdict)>,
}

impl DomainReport {
    /// Whether these verdicts would make the domain verified.
    pub fn all_pass(&self) -> bool {
        self.verdicts.verified()
    }
}

/// Runs every check of a domain. The checks are independent and run concurrently; they
/// share one verification's answers (each distinct query is sent once) and one budget of
/// [`MAX_QUERIES_PER_VERIFICATION`] queries. Each query is bounded by the adapter's
/// timeout, so the whole takes about as long as the slowest chain of dependent lookups.
pub async fn check_domain(dns: &dyn DnsLookup, exp: &DomainExpectation<'_>) -> DomainReport {
    let budget = QueryBudget::new(dns, MAX_QUERIES_PER_VERIFICATION);
    let memo = Memo::new(&budget);
    let dns: &dyn DnsLookup = &memo;
    let checks = futures::future::join_all(CheckKind::ALL.map(|kind| run(kind, dns, exp)));
    let pending = async {
        match &exp.dkim_pending {
            Some((generation, keys)) => Some((*generation, keys.check(dns, exp.domain).await)),
            None => None,
        }
    };
    let (verdicts, pending) = futures::join!(checks, pending);
    DomainReport {
        verdicts: verdicts.into_iter().collect(),
        pending,
    }
}

/// One check of the domain. Adding a check is a module in `verify/`, a variant of
/// [`CheckKind`], and an arm here.
fn run<'a>(
    kind: CheckKind,
    dns: &'a dyn DnsLookup,
    exp: &'a DomainExpectation<'a>,
) -> BoxFuture<'a, Verdict> {
    use futures::FutureExt as _;
    match kind {
        CheckKind::Dkim => exp.dkim.check(dns, exp.domain).boxed(),
        CheckKind::Spf => check_spf(
            dns,
            SpfExpectation {
                domain: exp.domain,
                include_host: exp.include_host,
                sending_ips: exp.sending_ips,
            },
        )
        .boxed(),
        CheckKind::Dmarc => check_dmarc(
            dns,
            DmarcExpectation {
                domain: exp.domain,
                policy: exp.dmarc_policy,
                rua: exp.dmarc_rua,
            },
        )
        .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testing::{self, FakeDns};
    use crate::verify::{CheckStatus, MAX_CHECKED_REPORT_HOSTS, VerdictCode};

    /// A domain whose DMARC record names 300 report hosts in other organizations and
    /// whose SPF record includes a chain of 10 more domains: one verification may still
    /// send only its budget of queries.
    #[test]
    fn one_verification_costs_at_most_its_budget_of_queries() {
        let dns = FakeDns::new();
        let domain = DomainName::parse("mail.example.com").unwrap();
        let selector = Selector::parse("scaisend").unwrap();
        let include = DomainName::parse("scaisend.scailabs.ai").unwrap();
        let key = &testing::key(0).public;
        dns.txt(
            "scaisend._domainkey.mail.example.com",
            &crate::records::dkim::DkimKeyRecord::for_key(key).to_string(),
        );
        dns.txt("scaisend.scailabs.ai", "v=spf1 ip4:192.0.2.0/24 -all");
        let chain: Vec<String> = (0..10)
            .map(|i| format!("include:spf{i}.example.net"))
            .collect();
        dns.txt(
            "mail.example.com",
            &format!(
                "v=spf1 {} include:scaisend.scailabs.ai -all",
                chain.join(" ")
            ),
        );
        for i in 0..10 {
            dns.txt(&format!("spf{i}.example.net"), "v=spf1 a mx ~all");
        }
        let rua: Vec<String> = (0..300)
            .map(|i| format!("mailto:reports@host{i}.example.org"))
            .collect();
        dns.txt(
            "_dmarc.mail.example.com",
            &format!("v=DMARC1; p=none; rua={}", rua.join(",")),
        );
        let report = block_on(check_domain(
            &dns,
            &DomainExpectation {
                domain: &domain,
                dkim: DkimKeys::Txt(vec![(&selector, Some(key))]),
                dkim_pending: None,
                include_host: &include,
                sending_ips: &[],
                dmarc_policy: None,
                dmarc_rua: None,
            },
        ));
        assert!(
            dns.query_count() <= MAX_QUERIES_PER_VERIFICATION,
            "{} queries",
            dns.query_count()
        );
        let dmarc = report.verdicts.get(CheckKind::Dmarc).unwrap();
        assert_eq!(dmarc.status, CheckStatus::Verified);
        let unauthorized = dmarc
            .warnings
            .iter()
            .filter(|w| w.code == VerdictCode::DmarcExternalRuaUnauthorized)
            .count();
        assert_eq!(
            unauthorized,
            MAX_CHECKED_REPORT_HOSTS + 1,
            "five checked, one for the rest"
        );
        assert!(
            dmarc
                .warnings
                .iter()
                .any(|w| w.message.contains("not checked, limit")),
            "{:?}",
            dmarc.warnings
        );
        // The DKIM check was not starved by the others.
        assert!(report.verdicts.passed(CheckKind::Dkim));
    }
}
