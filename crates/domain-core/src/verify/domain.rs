//! All checks of one domain, run concurrently.

use std::net::IpAddr;

use crate::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use crate::ports::DnsLookup;
use crate::records::dkim::DkimPublicKey;

use super::{
    DkimExpectation, DmarcExpectation, SpfExpectation, Verdict, check_dkim, check_dmarc, check_spf,
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

/// The verdicts of one domain.
#[derive(Debug, Clone)]
pub struct DomainReport {
    /// The active selector's verdict.
    pub dkim: Verdict,
    /// The pending selector's verdict, if one was asked for.
    pub dkim_pending: Option<Verdict>,
    /// The SPF verdict.
    pub spf: Verdict,
    /// The DMARC verdict.
    pub dmarc: Verdict,
}

impl DomainReport {
    /// The active selector's DKIM, the SPF and the DMARC verdict, in that order.
    pub fn verdicts(&self) -> [&Verdict; 3] {
        [&self.dkim, &self.spf, &self.dmarc]
    }

    /// Whether all three pass: what would make the domain verified.
    pub fn all_pass(&self) -> bool {
        self.verdicts().iter().all(|v| v.passed())
    }
}

/// Runs every check of a domain. The DKIM, SPF and DMARC lookups are independent and run
/// concurrently; each query is bounded by the adapter's timeout, so the whole takes
/// about as long as the slowest chain of dependent lookups.
pub async fn check_domain(dns: &dyn DnsLookup, exp: &DomainExpectation<'_>) -> DomainReport {
    let dkim = check_dkim(
        dns,
        DkimExpectation {
            domain: exp.domain,
            selector: exp.dkim.0,
            key: exp.dkim.1,
        },
    );
    let dkim_pending = async {
        match exp.dkim_pending {
            Some((selector, key)) => Some(
                check_dkim(
                    dns,
                    DkimExpectation {
                        domain: exp.domain,
                        selector,
                        key: Some(key),
                    },
                )
                .await,
            ),
            None => None,
        }
    };
    let spf = check_spf(
        dns,
        SpfExpectation {
            domain: exp.domain,
            include_host: exp.include_host,
            sending_ips: exp.sending_ips,
        },
    );
    let dmarc = check_dmarc(
        dns,
        DmarcExpectation {
            domain: exp.domain,
            policy: exp.dmarc_policy,
            rua: exp.dmarc_rua,
        },
    );
    let (dkim, dkim_pending, spf, dmarc) = futures::join!(dkim, dkim_pending, spf, dmarc);
    DomainReport {
        dkim,
        dkim_pending,
        spf,
        dmarc,
    }
}
