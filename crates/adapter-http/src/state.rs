//! What every handler shares. This module sits on top: it may name any other module of
//! the crate, and none of the middleware modules (`auth`, `metrics`, `limits`) names it —
//! each middleware is handed its own state by the router.

use std::sync::Arc;

use domain_core::DomainService;

use telemetry::Metrics;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The use cases.
    pub service: Arc<DomainService>,
    /// The webhook use cases; `None` where webhooks are off (their endpoints answer 404).
    pub webhooks: Option<Arc<domain_core::service::WebhookService>>,
    /// The instance's metrics, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
}
