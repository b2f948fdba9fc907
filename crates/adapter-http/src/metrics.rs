//! The HTTP side of the metrics: every request counted and timed by its method and route
//! template, both from closed sets (see the `telemetry` crate), into the instance's one
//! registry.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use telemetry::{Metrics, method_label};

/// Middleware: counts and times every request by its method and route template, both
/// from closed sets (see the module documentation).
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method().as_str());
    // The template the router matched, of which there are as many as routes; never the
    // raw path.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
