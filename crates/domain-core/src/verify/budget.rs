//! A bound on what one verification may cost in DNS queries.
//!
//! Records are written by tenants, and one verification follows what they say: SPF
//! includes and MX names, DMARC report destinations, CNAME chains. SPF's own limits (10
//! DNS-querying terms, 2 void lookups, RFC 7208 §4.6.4) still allow more than a hundred
//! queries, and the monitor repeats every verification on its own. So each verification
//! gets a budget; a query beyond it is not sent and answers as a temporary failure, which
//! never turns a verified check into an unverified one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::ports::{DnsAnswer, DnsLookup, DnsResult, MxRecord, TxtRecordData};

/// The most DNS queries one verification of a domain sends, all checks together.
pub const MAX_QUERIES_PER_VERIFICATION: usize = 40;

/// A `DnsLookup` that sends at most a given number of queries.
pub(super) struct QueryBudget<'a> {
    inner: &'a dyn DnsLookup,
    left: AtomicUsize,
}

impl<'a> QueryBudget<'a> {
    pub(super) fn new(inner: &'a dyn DnsLookup, queries: usize) -> Self {
        QueryBudget {
            inner,
            left: AtomicUsize::new(queries),
        }
    }

    /// Takes one query from the budget; `false` when it is spent.
    fn take(&self) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    fn spent<T>() -> DnsAnswer<T> {
        DnsAnswer::new(DnsResult::TempFail(format!(
            "this verification reached its limit of {MAX_QUERIES_PER_VERIFICATION} DNS queries"
        )))
    }
}

#[async_trait]
impl DnsLookup for QueryBudget<'_> {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        if !self.take() {
            return Self::spent();
        }
        self.inner.txt(name).await
    }

    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        if !self.take() {
            return Self::spent();
        }
        self.inner.a(name).await
    }

    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        if !self.take() {
            return Self::spent();
        }
        self.inner.aaaa(name).await
    }

    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        if !self.take() {
            return Self::spent();
        }
        self.inner.mx(name).await
    }

    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        if !self.take() {
            return Self::spent();
        }
        self.inner.ptr(ip).await
    }

    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        if !self.take() {
            return Self::spent();
        }
        self.inner.cname(name).await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testing::FakeDns;

    #[test]
    fn queries_beyond_the_budget_are_not_sent_and_fail_temporarily() {
        let fake = FakeDns::new();
        fake.txt("example.com", "v=spf1 -all");
        let budget = QueryBudget::new(&fake, 2);
        block_on(async {
            assert!(!budget.txt("example.com").await.result.is_temp_fail());
            assert!(!budget.a("example.com").await.result.is_temp_fail());
            let third = budget.mx("example.com").await;
            assert!(third.result.is_temp_fail(), "{third:?}");
            assert!(budget.txt("example.com").await.result.is_temp_fail());
            assert!(budget.cname("example.com").await.result.is_temp_fail());
        });
        assert_eq!(fake.query_count(), 2, "only the budgeted queries were sent");
    }
}
