//! What every handler shares.

use std::sync::Arc;

use domain_core::DomainService;

use crate::auth::JwtVerifier;
use crate::metrics::Metrics;

/// Shared state of the router.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The use cases.
    pub service: Arc<DomainService>,
    /// Verifies bearer tokens.
    pub jwt: Arc<JwtVerifier>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}
