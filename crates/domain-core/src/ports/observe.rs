//! The observation port: what the service reports for metrics — verdicts, monitor rounds,
//! DNS queries — whoever triggered the work (an API request or the monitor).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::dns::{DnsAnswer, DnsLookup, DnsResult, MxRecord, TxtRecordData};
use crate::lifecycle::CheckMode;
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

impl std::fmt::Debug for ObservedDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObservedDns { .. }")
    }
}

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

#[async_trait]
impl DnsLookup for ObservedDns {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        let t = Instant::now();
        let a = self.inner.txt(name).await;
        self.report("TXT", t, &a);
        a
    }

    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        let t = Instant::now();
        let a = self.inner.a(name).await;
        self.report("A", t, &a);
        a
    }

    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        let t = Instant::now();
        let a = self.inner.aaaa(name).await;
        self.report("AAAA", t, &a);
        a
    }

    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        let t = Instant::now();
        let a = self.inner.mx(name).await;
        self.report("MX", t, &a);
        a
    }

    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        let t = Instant::now();
        let a = self.inner.ptr(ip).await;
        self.report("PTR", t, &a);
        a
    }

    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        let t = Instant::now();
        let a = self.inner.cname(name).await;
        self.report("CNAME", t, &a);
        a
    }
}
