// TEMPORARY local scaffold for compile-checking; replaced by the spf branch. NOT COMMITTED.
use std::net::IpAddr;
use crate::name::DomainName;
use crate::ports::DnsLookup;
use super::*;
#[derive(Debug, Clone, Copy)]
pub struct SpfExpectation<'a> { pub domain: &'a DomainName, pub include_host: &'a DomainName, pub sending_ips: &'a [IpAddr] }
pub async fn check_spf(_dns: &dyn DnsLookup, exp: SpfExpectation<'_>) -> Verdict {
    Verdict::new(CheckKind::Spf, exp.domain.to_string(), CheckStatus::Missing, VerdictCode::SpfMissing, String::new())
}
