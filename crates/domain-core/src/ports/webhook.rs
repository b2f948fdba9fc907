//! The webhook ports: the store of endpoints and deliveries, the sender, and the
//! renderer that gives payloads the API's shape of a domain.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::RepoError;
use crate::model::{Owner, Page, PageRequest};
use crate::service::DomainView;
use crate::webhook::{Attempt, DeliveryOutcome, DueDelivery, Endpoint, EndpointId, OutboxMessage};

/// Endpoints, the outbox, deliveries and their attempts.
///
/// The outbox messages of domain changes are written by
/// [`DomainRepo`](super::DomainRepo)'s writes; this port writes the rest. Every read and
/// write of an endpoint is scoped to its owner: another owner's endpoint is `NotFound`.
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// Stores a new endpoint.
    ///
    /// MUST return `Conflict` if its owner already has `max_per_owner` endpoints.
    async fn create_endpoint(
        &self,
        endpoint: &Endpoint,
        max_per_owner: u32,
    ) -> Result<(), RepoError>;

    /// An endpoint of `owner`. MUST return `NotFound` for another owner's.
    async fn endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<Endpoint, RepoError>;

    /// The endpoints of `owner`, in id order after the page's cursor.
    async fn endpoints(
        &self,
        owner: &Owner,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>, RepoError>;

    /// Stores every field of an endpoint of `endpoint.owner` but its id, owner and
    /// creation time. MUST return `NotFound` if it does not exist.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), RepoError>;

    /// Deletes an endpoint of `owner` with its deliveries and attempts.
    /// MUST return `NotFound` for another owner's.
    async fn delete_endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<(), RepoError>;

    /// Queues a message outside of a domain change, for the one endpoint `to` (whatever
    /// its event filter; a `webhook.test`).
    async fn enqueue_for(&self, message: &OutboxMessage, to: &EndpointId) -> Result<(), RepoError>;

    /// Claims up to `limit` pending deliveries due at `now` to enabled endpoints that no
    /// live lease holds, leasing them to `owner` until `lease_until`. Two concurrent
    /// callers never receive the same delivery; an expired lease is claimable again.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, RepoError>;

    /// Records an attempt of a delivery leased to `owner` and what becomes of it, in one
    /// transaction: the attempt logged, the delivery delivered, rescheduled at
    /// `attempt.next_attempt_at` or given up, its lease released, the endpoint's
    /// `failing_since` cleared on success or set on failure, and on
    /// [`DeliveryOutcome::Disable`] the endpoint disabled and the notice queued for the
    /// owner's other endpoints.
    ///
    /// MUST return `Conflict` if `owner` no longer holds the lease (another instance
    /// took it over; its own attempt counts instead).
    async fn record_attempt(
        &self,
        attempt: &Attempt,
        outcome: &DeliveryOutcome,
        owner: &str,
    ) -> Result<(), RepoError>;

    /// The attempts of an endpoint of `owner`, newest first. MUST return `NotFound` for
    /// another owner's endpoint.
    async fn attempts(
        &self,
        owner: &Owner,
        id: &EndpointId,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, RepoError>;
}

/// A signed webhook request, ready to send.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// The target.
    pub url: String,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (seconds since the epoch).
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: String,
    /// The JSON body.
    pub body: String,
}

/// What came of sending a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// Why no answer came: refused target, timeout, connection error.
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
}

/// Sends webhook requests under the egress rules: resolves the target itself, refuses
/// internal addresses, follows no redirects, bounds time and the body read.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Posts `request`; never fails otherwise than through [`SendResult::error`].
    async fn send(&self, request: &WebhookRequest) -> SendResult;
}

/// Renders a domain as `GET /api/admin/domains/{id}` shows it, for payloads.
pub trait DomainRenderer: Send + Sync {
    /// The JSON of `view`.
    fn render(&self, view: &DomainView) -> serde_json::Value;
}
