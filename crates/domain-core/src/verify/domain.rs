//! All checks of one domain, run concurrently within one DNS budget.

use std::net::IpAddr;

use futures::future::BoxFuture;

use crate::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use crate::ports::DnsLookup;
use crate::records::dkim::DkimPublicKey;

use super::budget::{MAX_QUERIES_PER_VERIFICATION, QueryBudget};
use super::memo::Memo;
use super::{
    CheckKind, CnameSlot, DmarcExpectation, ReturnPathExpectation, SpfExpectation, Verdict,
    Verdicts, check_cnames, check_dkim_keys, check_dmarc, check_return_path, check_spf,
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
    /// The return-path host, if the domain has one, and our bounce mail exchanger; the
    /// return-path check runs only then.
    pub return_path: Option<(&'a DomainName, &'a DomainName)>,
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
    /// One verdict per check of [`CheckKind::ALL`] that applies to the domain (DKIM
    /// about the active generation).
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
    let checks = futures::future::join_all(
        CheckKind::ALL
            .into_iter()
            .filter_map(|kind| run(kind, dns, exp)),
    );
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

/// One check of the domain, or `None` when it does not apply (no return path set).
/// Adding a check is a module in `verify/`, a variant of [`CheckKind`], and an arm here.
fn run<'a>(
    kind: CheckKind,
    dns: &'a dyn DnsLookup,
    exp: &'a DomainExpectation<'a>,
) -> Option<BoxFuture<'a, Verdict>> {
    use futures::FutureExt as _;
    Some(match kind {
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
        CheckKind::ReturnPath => {
            let (host, bounce_mx) = exp.return_path?;
            check_return_path(
                dns,
                ReturnPathExpectation {
                    host,
                    bounce_mx,
                    include_host: exp.include_host,
                    sending_ips: exp.sending_ips,
                },
            )
            .boxed()
        }
    })
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testing::{self, FakeDns};
    use crate::verify::{CheckStatus, MAX_CHECKED_REPORT_HOSTS, VerdictCode};

    /// The names of one test: the domain, its selector and our include host.
    struct Names {
        domain: DomainName,
        selector: Selector,
        include: DomainName,
    }

    fn names() -> Names {
        Names {
            domain: DomainName::parse("mail.example.com").unwrap(),
            selector: Selector::parse("scaisend").unwrap(),
            include: DomainName::parse("scaisend.scailabs.ai").unwrap(),
        }
    }

    /// What `mail.example.com` should publish, with `key` as its DKIM key and no DMARC
    /// settings or return path.
    fn expectation<'a>(n: &'a Names, key: Option<&'a DkimPublicKey>) -> DomainExpectation<'a> {
        DomainExpectation {
            domain: &n.domain,
            dkim: DkimKeys::Txt(vec![(&n.selector, key)]),
            dkim_pending: None,
            include_host: &n.include,
            sending_ips: &[],
            dmarc_policy: None,
            dmarc_rua: None,
            return_path: None,
        }
    }

    /// A domain whose DMARC record names 300 report hosts in other organizations and
    /// whose SPF record includes a chain of 10 more domains: one verification may still
    /// send only its budget of queries.
    #[test]
    fn one_verification_costs_at_most_its_budget_of_queries() {
        let dns = FakeDns::new();
        let n = names();
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
        let report = block_on(check_domain(&dns, &expectation(&n, Some(key))));
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

    /// The return-path check runs with the others when the domain has a return path,
    /// and is absent from the report otherwise.
    #[test]
    fn the_return_path_check_runs_only_for_a_domain_that_has_one() {
        let dns = FakeDns::new();
        let n = names();
        let host = DomainName::parse("bounces.mail.example.com").unwrap();
        let bounce = DomainName::parse("feedback.scaisend.scailabs.ai").unwrap();
        dns.txt("scaisend.scailabs.ai", "v=spf1 ip4:192.0.2.0/24 -all");
        dns.mx(host.as_str(), 10, bounce.as_str())
            .txt(host.as_str(), "v=spf1 include:scaisend.scailabs.ai -all");
        let mut exp = expectation(&n, None);
        let without = block_on(check_domain(&dns, &exp));
        assert!(without.verdicts.get(CheckKind::ReturnPath).is_none());
        assert_eq!(without.verdicts.iter().count(), 3);
        exp.return_path = Some((&host, &bounce));
        let with = block_on(check_domain(&dns, &exp));
        let rp = with.verdicts.get(CheckKind::ReturnPath).unwrap();
        assert_eq!(
            (rp.status, rp.code),
            (CheckStatus::Verified, VerdictCode::ReturnPathOk)
        );
        assert!(
            !with.all_pass(),
            "the return path does not make the domain verified"
        );
    }
}
