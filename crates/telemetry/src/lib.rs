//! `telemetry`: the metrics of one app instance, in one Prometheus registry that every
//! part reports to — the HTTP adapter its requests, the core (through its
//! [`Observer`](domain_core::ports::Observer) port) its verdicts, monitor rounds and DNS
//! queries, whoever triggered them.
//!
//! A key design decision made in this crate is that it is not an adapter of any outside
//! system and knows none of them: it holds counters and renders them, so the HTTP adapter
//! and the app can both use it without adapters depending on each other. Each instance
//! owns its registry (no process-global recorder), so tests can run many apps in one
//! process and each `/metrics` shows only its own numbers.
//!
//! Label values come from closed sets only — a standard method or `other`, a route
//! template or `unmatched`, the core's check kinds, statuses and query types — because
//! every distinct label set is a series kept for the life of the process: values taken
//! from a request would let any client grow `/metrics` and the server's memory without
//! bound.

use std::sync::Mutex;
use std::time::Duration;

use domain_core::ports::{Observation, Observer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsLabels {
    query: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorLabels {
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The metrics of one app instance.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<RouteLabels>,
    checks: Family<CheckLabels, Counter>,
    dns: HistogramFamily<DnsLabels>,
    monitor_rounds: Counter,
    monitor_domains: Family<MonitorLabels, Counter>,
    zone_queries: Family<ZoneLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The content type of [`Metrics::render`]'s text, for every endpoint that serves it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let checks = Family::<CheckLabels, Counter>::default();
        let dns: HistogramFamily<DnsLabels> = Family::new_with_constructor(latency_histogram);
        let monitor_rounds = Counter::default();
        let monitor_domains = Family::<MonitorLabels, Counter>::default();
        let zone_queries = Family::<ZoneLabels, Counter>::default();
        registry.register(
            "scaisend_http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "scaisend_http_request_duration_seconds",
            "HTTP request latency by method and route",
            durations.clone(),
        );
        registry.register(
            "scaisend_verification_checks",
            "Verification verdicts by check and status, from requests and the monitor",
            checks.clone(),
        );
        registry.register(
            "scaisend_dns_query_duration_seconds",
            "DNS query latency by query type and outcome",
            dns.clone(),
        );
        registry.register(
            "scaisend_monitor_rounds",
            "Completed monitor rounds",
            monitor_rounds.clone(),
        );
        registry.register(
            "scaisend_monitor_domains",
            "Domains handled by the monitor, by result (checked, released, rotated)",
            monitor_domains.clone(),
        );
        registry.register(
            "scaisend_zone_queries",
            "Queries our authoritative DKIM zone answered, by response code",
            zone_queries.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            checks,
            dns,
            monitor_rounds,
            monitor_domains,
            zone_queries,
        }
    }

    /// Records one HTTP request: its method label (see [`method_label`]), the route
    /// template it matched (`unmatched` if none), its status and how long it took.
    pub fn observe_request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// The core reports verdicts, monitor rounds and DNS queries here, whoever triggered them.
impl Observer for Metrics {
    fn observe(&self, observation: Observation<'_>) {
        match observation {
            Observation::Check { verdict, .. } => {
                self.checks
                    .get_or_create(&CheckLabels {
                        check: verdict.record.as_str(),
                        status: verdict.status.as_str(),
                    })
                    .inc();
            }
            Observation::DnsQuery {
                query,
                outcome,
                elapsed,
            } => {
                self.dns
                    .get_or_create(&DnsLabels { query, outcome })
                    .observe(elapsed.as_secs_f64());
            }
            Observation::ZoneQuery { rcode } => {
                self.zone_queries.get_or_create(&ZoneLabels { rcode }).inc();
            }
            Observation::MonitorRound {
                checked,
                released,
                rotations_started,
            } => {
                self.monitor_rounds.inc();
                for (result, n) in [
                    ("checked", checked),
                    ("released", released),
                    ("rotated", rotations_started),
                ] {
                    self.monitor_domains
                        .get_or_create(&MonitorLabels { result })
                        .inc_by(n as u64);
                }
            }
        }
    }
}

/// A method's label: one of RFC 9110's methods (and PATCH), or `other` for any extension
/// method a client makes up.
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_the_standard_methods_or_other() {
        for (method, label) in [
            ("GET", "GET"),
            ("DELETE", "DELETE"),
            ("PATCH", "PATCH"),
            ("TRACE", "TRACE"),
            ("FOO", "other"),
            ("get", "other"),
            ("PROPFIND", "other"),
        ] {
            assert_eq!(method_label(method), label, "{method}");
        }
    }

    #[test]
    fn monitor_rounds_are_counted() {
        let metrics = Metrics::new();
        metrics.observe(Observation::MonitorRound {
            checked: 3,
            released: 1,
            rotations_started: 0,
        });
        let text = metrics.render();
        assert!(text.contains("scaisend_monitor_rounds_total 1"), "{text}");
        assert!(
            text.contains("scaisend_monitor_domains_total{result=\"checked\"} 3"),
            "{text}"
        );
    }
}
