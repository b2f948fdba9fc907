//! Prometheus metrics: requests by route and status, verification outcomes, DNS latency.
//!
//! Each app instance owns its registry (no process-global recorder), so tests can run
//! many apps in one process and each `/metrics` shows only its own numbers.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
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

/// Middleware: counts and times every request by its route template (never the raw
/// path, which would explode the label set).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    m.durations
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}
