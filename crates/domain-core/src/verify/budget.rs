//! A bound on what one verification may cost in DNS queries.
//!
//! Records are written by tenants, and one verification follows what they say: SPF
//! includes and MX names, DMARC report destinations, CNAME chains. SPF's own limits (10
//! DNS-querying terms, 2 void lookups, RFC 7208 §4.6.4) still allow more than a hundred
//! queries, and the monitor repeats every verification on its own. So each verification
//! gets a budget; a query beyond it is not sent and answers as a temporary failure, which
//! never turns a verified check into an unverified one.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::macros::dns_decorator;
use crate::ports::{DnsAnswer, DnsLookup, DnsResult};

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

    /// The wrapped lookup's answer while the budget lasts; a temporary failure, without
    /// asking, once it is spent.
    async fn budgeted<T>(
        &self,
        _rtype: &'static str,
        answer: impl Future<Output = DnsAnswer<T>>,
    ) -> DnsAnswer<T> {
        if self.take() {
            answer.await
        } else {
            Self::spent()
        }
    }

    fn spent<T>() -> DnsAnswer<T> {
        DnsAnswer::new(DnsResult::TempFail(format!(
            "this verification reached its limit of {MAX_QUERIES_PER_VERIFICATION} DNS queries"
        )))
    }
}

dns_decorator!(impl DnsLookup for QueryBudget<'_>, each query: self.budgeted);

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
