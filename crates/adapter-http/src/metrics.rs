//! Prometheus metrics: requests by route and status, verification outcomes, DNS latency.
//!
//! Each app instance owns its registry (no process-global recorder), so tests can run
//! many apps in one process and each `/metrics` shows only its own numbers.
//!
//! Label values come from closed sets only — a standard method or `other`, a route
//! template or `unmatched` — because every distinct label set is a series kept for the
//! life of the process: values taken from the request would let any client grow
//! `/metrics` and the server's memory without bound.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
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
    check: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsLabels {
    query: String,
    outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The metrics of one app instance.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<RouteLabels>,
    checks: Family<CheckLabels, Counter>,
    dns: HistogramFamily<DnsLabels>,
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

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let checks = Family::<CheckLabels, Counter>::default();
        let dns: HistogramFamily<DnsLabels> = Family::new_with_constructor(latency_histogram);
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
            "Verification verdicts by check and status",
            checks.clone(),
        );
        registry.register(
            "scaisend_dns_query_duration_seconds",
            "DNS query latency by query type and outcome",
            dns.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            checks,
            dns,
        }
    }

    /// Counts one verdict.
    pub fn observe_check(&self, check: &str, status: &str) {
        self.checks
            .get_or_create(&CheckLabels {
                check: check.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// Records one DNS query.
    pub fn observe_dns(&self, query: &str, outcome: &str, seconds: f64) {
        self.dns
            .get_or_create(&DnsLabels {
                query: query.to_owned(),
                outcome: outcome.to_owned(),
            })
            .observe(seconds);
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

/// The core reports verdicts and DNS queries here, whoever triggered them.
impl domain_core::ports::Observer for Metrics {
    fn observe(&self, observation: domain_core::ports::Observation<'_>) {
        use domain_core::ports::Observation;
        match observation {
            Observation::Check { verdict, .. } => {
                self.observe_check(verdict.record.as_str(), verdict.status.as_str());
            }
            Observation::DnsQuery {
                query,
                outcome,
                elapsed,
            } => self.observe_dns(query, outcome, elapsed.as_secs_f64()),
            Observation::MonitorRound { .. } => {}
        }
    }
}

/// Middleware: counts and times every request by its method and route template, both
/// from closed sets (see the module documentation).
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    // The template the router matched, of which there are as many as routes; never the
    // raw path.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .durations
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The method's label: one of RFC 9110's methods (and PATCH), or `other` for any
/// extension method a client makes up.
fn method_label(method: &Method) -> &'static str {
    static STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
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
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(method_label(&method), label, "{method}");
        }
    }
}
