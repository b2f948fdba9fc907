//! What every handler shares. This module sits on top: it may name any other module of
//! the crate, and none of the middleware modules (`auth`, `metrics`, `limits`) names it —
//! each middleware is handed its own state by the router.

use std::sync::Arc;

use domain_core::DomainService;

use crate::metrics::Metrics;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The use cases.
    pub service: Arc<DomainService>,
    /// Prometheus metrics (handlers count verification verdicts).
    pub metrics: Arc<Metrics>,
}
