//! What every handler shares. This module sits on top: it may name any other module of
//! the crate, and none of the middleware modules (`auth`, `metrics`, `limits`) names it —
//! each middleware is handed its own state by the router.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain_core::service::WebhookService;
use domain_core::{Caller, DomainService};
use telemetry::Metrics;

use crate::auth::Authenticated;
use crate::error::ApiError;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The use cases.
    pub service: Arc<DomainService>,
    /// The webhook use cases; `None` where webhooks are off (their endpoints answer 404).
    pub webhooks: Option<Arc<WebhookService>>,
    /// The instance's metrics, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// The caller of a handler and the use cases `U` it calls: the first extractor of every
/// admin handler.
#[derive(Debug)]
pub struct Call<U> {
    /// Who calls.
    pub caller: Caller,
    /// The use cases.
    pub service: Arc<U>,
}

/// The domain use cases and their caller.
pub type Domains = Call<DomainService>;

/// The webhook use cases and their caller.
pub type Webhooks = Call<WebhookService>;

/// Use cases a handler may call.
pub trait UseCases {
    /// This instance's, or `404` where they are off.
    fn of(state: &AppState) -> Result<Arc<Self>, ApiError>;
}

impl UseCases for DomainService {
    fn of(state: &AppState) -> Result<Arc<Self>, ApiError> {
        Ok(state.service.clone())
    }
}

/// Where webhooks are off, every webhook endpoint answers `404`.
impl UseCases for WebhookService {
    fn of(state: &AppState) -> Result<Arc<Self>, ApiError> {
        state.webhooks.clone().ok_or_else(ApiError::not_found)
    }
}

impl<U: UseCases> FromRequestParts<AppState> for Call<U> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        let service = U::of(state)?;
        Ok(Call { caller, service })
    }
}
