//! All checks of one domain, run concurrently within one DNS budget.

use std::net::IpAddr;

use futures::future::BoxFuture;

use crate::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use crate::ports::DnsLookup;
use crate::records::dkim::DkimPublicKey;

use super::budget::{MAX_QUERIES_PER_VERIFICATION, QueryBudget};
use super::memo::Memo;
use super::{
    CheckKind, DkimExpectation, DmarcExpectation, SpfExpectation, Verdict, Verdicts, check_dkim,
    check_dmarc, check_spf,
};

/// What a domain should have published.
#[derive(Debug, Clone)]
pub struct DomainExpectation<'a> {
    /// The sender domain.
    pub domain: &'a DomainName,
    /// The active selector and the key we hold for it (`None` checks only that a valid
    /// record is there).
    pub dkim: (&'a Selector, Option<&'a DkimPublicKey>),
    /// A pending selector and its key, during a rotation.
    pub dkim_pending: Option<(&'a Selector, &'a DkimPublicKey)>,
    /// Our SPF include host.
    pub include_host: &'a DomainName,
    /// Our sending addresses; empty to read them from the include host's record.
    pub sending_ips: &'a [IpAddr],
    /// The configured DMARC policy, if any.
    pub dmarc_policy: Option<DmarcPolicy>,
    /// The configured report address, if any.
    pub dmarc_rua: Option<&'a RuaAddress>,
}

/// The verdicts of one verification of a domain.
#[derive(Debug, Clone)]
pub struct DomainReport {
    /// One verdict per check of [`CheckKind::ALL`] (DKIM about the active selector).
    pub verdicts: Verdicts,
    /// The pending selector's DKIM verdict, during a rotation.
    pub pending: Option<(Selector, Verdict)>,
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
        match exp.dkim_pending {
            Some((selector, key)) => {
                let v = check_dkim(
                    dns,
                    DkimExpectation {
                        domain: exp.domain,
                        selector,
                        key: Some(key),
                    },
                )
                .await;
                Some((selector.clone(), v))
            }
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
        CheckKind::Dkim => check_dkim(
            dns,
            DkimExpectation {
                domain: exp.domain,
                selector: exp.dkim.0,
                key: exp.dkim.1,
            },
        )
        .boxed(),
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
