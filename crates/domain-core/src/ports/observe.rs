//! The observation port: what the service reports for metrics — verdicts, monitor rounds,
//! DNS queries — whoever triggered the work (an API request or the monitor).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dns::{DnsAnswer, DnsLookup, DnsResult};
use crate::lifecycle::CheckMode;
use crate::macros::dns_decorator;
use crate::verify::Verdict;

/// Something worth counting.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// A check gave a verdict.
    Check {
        /// The verdict.
        verdict: &'a Verdict,
        /// Whether a user asked for it or the monitor ran it.
        mode: CheckMode,
    },
    /// The monitor finished a round.
    MonitorRound {
        /// Domains checked.
        checked: usize,
        /// Domains whose check could not be stored (released for a retry).
        released: usize,
        /// Rotations started automatically.
        rotations_started: usize,
    },
    /// Our authoritative DKIM zone answered a query.
    ZoneQuery {
        /// The response code: `NOERROR`, `NXDOMAIN`, `REFUSED`, `FORMERR`, … or `DROPPED`
        /// when the rate limit dropped the answer.
        rcode: &'static str,
    },
    /// A DNS query was answered (or failed).
    DnsQuery {
        /// `TXT`, `A`, `AAAA`, `MX`, `PTR` or `CNAME`.
        query: &'static str,
        /// `records`, `nxdomain`, `nodata` or `temporary_failure`.
        outcome: &'static str,
        /// How long it took.
        elapsed: Duration,
    },
}

/// Receives observations. Implementations must be cheap and must not block: they are
/// called on the paths they measure.
pub trait Observer: Send + Sync {
    /// Records one observation.
    fn observe(&self, observation: Observation<'_>);
}

/// An observer that keeps nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn observe(&self, _: Observation<'_>) {}
}

/// A `DnsLookup` that reports every query's outcome and latency to an observer.
pub struct ObservedDns {
    inner: Arc<dyn DnsLookup>,
    observer: Arc<dyn Observer>,
}

crate::debug_fields!(ObservedDns { .. });

impl ObservedDns {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn DnsLookup>, observer: Arc<dyn Observer>) -> Self {
        ObservedDns { inner, observer }
    }

    fn report<T>(&self, query: &'static str, started: Instant, answer: &DnsAnswer<T>) {
        let outcome = match answer.result {
            DnsResult::Records(_) => "records",
            DnsResult::NxDomain => "nxdomain",
            DnsResult::NoData => "nodata",
            DnsResult::TempFail(_) => "temporary_failure",
        };
        self.observer.observe(Observation::DnsQuery {
            query,
            outcome,
            elapsed: started.elapsed(),
        });
    }
}

impl ObservedDns {
    /// Asks the wrapped lookup, and reports the answer and how long it took.
    async fn observed<T>(
        &self,
        rtype: &'static str,
        answer: impl Future<Output = DnsAnswer<T>>,
    ) -> DnsAnswer<T> {
        let started = Instant::now();
        let answer = answer.await;
        self.report(rtype, started, &answer);
        answer
    }
}

dns_decorator!(impl DnsLookup for ObservedDns, each query: self.observed);
