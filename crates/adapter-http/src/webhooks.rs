//! The webhook endpoints of the admin API (docs/webhooks.md), and the renderer that
//! gives webhook payloads the API's shape of a domain.

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use domain_core::ports::DomainRenderer;
use domain_core::service::DomainView;
use domain_core::webhook::{
    Attempt, AttemptId, Endpoint, EndpointChanges, EndpointId, NewEndpoint, Secret,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{DomainResponse, page_types, rfc3339};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::{ApiQuery, IdPath, PathId};
use crate::routes::{self, AdminJson, PageParams, Reply};
use crate::schema::{ChangeOne, ChangeWithBody, NotFound, ReadOne, ReadPage};
use crate::state::Webhooks;

/// Renders domains for webhook payloads exactly as `GET /api/admin/domains/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiRenderer;

impl DomainRenderer for ApiRenderer {
    fn render(&self, view: &DomainView) -> serde_json::Value {
        serde_json::to_value(DomainResponse::from(view)).unwrap_or(serde_json::Value::Null)
    }
}

impl PathId for EndpointId {
    const FORM: &'static str = "`whe_<ULID>`";

    fn from_segment(segment: &str) -> Option<Self> {
        EndpointId::parse(segment).ok()
    }
}

/// `POST /api/admin/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are posted: `https://…` (plain `http` only where the operator allows
    /// it); internal addresses are refused.
    #[schema(example = "https://hooks.example.com/scaisend", max_length = 2048)]
    pub url: String,
    /// `["*"]` for every type, or the types to receive.
    #[schema(example = json!(["domain.verified", "domain.failing"]), min_items = 1)]
    pub events: Vec<String>,
    /// A note of the owner's.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// `PATCH /api/admin/webhooks/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// A new URL.
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event types.
    #[schema(min_items = 1)]
    pub events: Option<Vec<String>>,
    /// Enable or disable; enabling one the service disabled clears the reason.
    pub enabled: Option<bool>,
    /// A new note.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    /// `whe_<ULID>`.
    #[schema(example = "whe_01J9Z7Q4X3V6N8M2K5H7G9F1D3")]
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// `["*"]` or the types received.
    pub events: Vec<&'static str>,
    /// Disabled endpoints receive nothing; their deliveries wait.
    pub enabled: bool,
    /// Why the service disabled it (`410`, or failing for 3 days), else `null`.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// The owner's note.
    pub description: String,
    /// Since when every attempt failed, else `null`.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub failing_since: Option<String>,
    /// Until when the previous secret still signs beside the current one, else `null`.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub previous_secret_expires_at: Option<String>,
    /// When it was registered.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

impl From<&Endpoint> for WebhookResponse {
    fn from(e: &Endpoint) -> Self {
        WebhookResponse {
            id: e.id.to_string(),
            url: e.url.to_string(),
            events: e.events.names(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            description: e.description.clone(),
            failing_since: e.failing_since.map(rfc3339),
            previous_secret_expires_at: e.previous.as_ref().map(|p| rfc3339(p.until)),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// An endpoint with its signing secret, shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookResponse,
    /// `whsec_<base64>`: the Standard Webhooks signing secret. Keep it; it is never
    /// shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

fn with_secret(endpoint: &Endpoint, secret: &Secret) -> WebhookWithSecret {
    WebhookWithSecret {
        endpoint: endpoint.into(),
        secret: secret.expose().to_string(),
    }
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// `wha_<ULID>`.
    pub id: String,
    /// The event (`webhook-id`), `msg_<ULID>`: the same on every attempt.
    pub event_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it was made.
    #[schema(value_type = String, format = DateTime)]
    pub at: String,
    /// The HTTP status answered, or `null` without an answer.
    #[schema(required = true)]
    pub status: Option<u16>,
    /// Why no answer came (timeout, connection error, refused address), else `null`.
    #[schema(required = true)]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// When the next attempt is due, or `null` when none is.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_retry_at: Option<String>,
}

impl From<&Attempt> for DeliveryResponse {
    fn from(a: &Attempt) -> Self {
        DeliveryResponse {
            id: a.id.to_string(),
            event_id: a.message_id.to_string(),
            event_type: a.event_type.as_str(),
            attempt: a.attempt,
            at: rfc3339(a.at),
            status: a.status,
            error: a.error.clone(),
            latency_ms: a.latency_ms,
            next_retry_at: a.next_attempt_at.map(rfc3339),
        }
    }
}

page_types! {
    /// A page of endpoints.
    pub struct WebhookList {
        /// The endpoints.
        data: Vec<WebhookResponse>,
        /// Pass as `cursor` for the next page; `null` on the last.
        next_cursor,
    }

    /// A page of delivery attempts, newest first.
    pub struct DeliveryList {
        /// The attempts.
        data: Vec<DeliveryResponse>,
        /// Pass as `cursor` for the next page; `null` on the last.
        next_cursor,
    }
}

/// The queued test event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResponse {
    /// Its `webhook-id`, `msg_<ULID>`.
    pub event_id: String,
}

/// Registers a webhook endpoint; the answer shows its signing secret, once.
#[utoipa::path(
    post, path = "/api/admin/webhooks", tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Registered; `secret` is shown only here", body = WebhookWithSecret,
            headers(("Location" = String, description = "`/api/admin/webhooks/{id}`"))),
        (status = 409, description = "The owner has the most endpoints allowed", content_type = PROBLEM_JSON, body = Problem),
        ChangeWithBody,
    ),
    security(("bearer" = []))
)]
pub async fn create_webhook(
    w: Webhooks,
    AdminJson(req): AdminJson<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    w.caller.webhook_owner()?;
    let new = NewEndpoint {
        url: req.url,
        events: req.events,
        description: req.description,
    };
    let created = w.service.create(&w.caller, new).await?;
    Ok(routes::created(
        format!("/api/admin/webhooks/{}", created.endpoint.id),
        with_secret(&created.endpoint, &created.secret),
    ))
}

/// Lists the caller's webhook endpoints.
#[utoipa::path(
    get, path = "/api/admin/webhooks", tag = "webhooks", params(PageParams),
    responses(
        (status = 200, description = "A page of endpoints, in a stable order", body = WebhookList),
        ReadPage,
    ),
    security(("bearer" = []))
)]
pub async fn list_webhooks(
    // A query that cannot be read is a `400` even where webhooks are off.
    ApiQuery(q): ApiQuery<PageParams>,
    w: Webhooks,
) -> Reply<WebhookList> {
    let page = q.page(EndpointId::parse)?;
    Ok(Json(w.service.list(&w.caller, &page).await?.into()))
}

/// One webhook endpoint.
#[utoipa::path(
    get, path = "/api/admin/webhooks/{id}", tag = "webhooks", params(IdPath<EndpointId>),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = WebhookResponse),
        ReadOne,
    ),
    security(("bearer" = []))
)]
pub async fn get_webhook(w: Webhooks, IdPath(id): IdPath<EndpointId>) -> Reply<WebhookResponse> {
    Ok(Json((&w.service.get(&w.caller, &id).await?).into()))
}

/// Changes a webhook endpoint.
#[utoipa::path(
    patch, path = "/api/admin/webhooks/{id}", tag = "webhooks", params(IdPath<EndpointId>),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The changed endpoint", body = WebhookResponse),
        (status = 404, response = NotFound), ChangeWithBody,
    ),
    security(("bearer" = []))
)]
pub async fn update_webhook(
    w: Webhooks,
    IdPath(id): IdPath<EndpointId>,
    AdminJson(req): AdminJson<UpdateWebhookRequest>,
) -> Reply<WebhookResponse> {
    let changes = EndpointChanges {
        url: req.url,
        events: req.events,
        enabled: req.enabled,
        description: req.description,
    };
    Ok(Json(
        (&w.service.update(&w.caller, &id, changes).await?).into(),
    ))
}

/// Deletes a webhook endpoint and its pending deliveries.
#[utoipa::path(
    delete, path = "/api/admin/webhooks/{id}", tag = "webhooks", params(IdPath<EndpointId>),
    responses((status = 204, description = "Deleted"), ChangeOne),
    security(("bearer" = []))
)]
pub async fn delete_webhook(
    w: Webhooks,
    IdPath(id): IdPath<EndpointId>,
) -> Result<StatusCode, ApiError> {
    w.service.delete(&w.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new signing secret; the previous one keeps signing beside it for 24 hours.
#[utoipa::path(
    post, path = "/api/admin/webhooks/{id}/rotate-secret", tag = "webhooks", params(IdPath<EndpointId>),
    responses(
        (status = 200, description = "The endpoint with its new secret, shown only here", body = WebhookWithSecret),
        ChangeOne,
    ),
    security(("bearer" = []))
)]
pub async fn rotate_webhook_secret(
    w: Webhooks,
    IdPath(id): IdPath<EndpointId>,
) -> Reply<WebhookWithSecret> {
    let rotated = w.service.rotate_secret(&w.caller, &id).await?;
    Ok(Json(with_secret(&rotated.endpoint, &rotated.secret)))
}

/// Sends a `webhook.test` event to the endpoint.
#[utoipa::path(
    post, path = "/api/admin/webhooks/{id}/test", tag = "webhooks", params(IdPath<EndpointId>),
    responses(
        (status = 202, description = "Queued; its attempts show in the deliveries", body = TestResponse),
        ChangeOne,
    ),
    security(("bearer" = []))
)]
pub async fn test_webhook(
    w: Webhooks,
    IdPath(id): IdPath<EndpointId>,
) -> Result<(StatusCode, Json<TestResponse>), ApiError> {
    let event_id = w.service.test(&w.caller, &id).await?.to_string();
    Ok((StatusCode::ACCEPTED, Json(TestResponse { event_id })))
}

/// The endpoint's recent delivery attempts, newest first.
#[utoipa::path(
    get, path = "/api/admin/webhooks/{id}/deliveries", tag = "webhooks",
    params(IdPath<EndpointId>, PageParams),
    responses(
        (status = 200, description = "A page of attempts, newest first", body = DeliveryList),
        (status = 404, response = NotFound), ReadPage,
    ),
    security(("bearer" = []))
)]
pub async fn webhook_deliveries(
    ApiQuery(q): ApiQuery<PageParams>,
    w: Webhooks,
    IdPath(id): IdPath<EndpointId>,
) -> Reply<DeliveryList> {
    let page = q.page(AttemptId::parse)?;
    Ok(Json(
        w.service.deliveries(&w.caller, &id, &page).await?.into(),
    ))
}
