//! Webhook rows as both stores read them, turned into the core's types through its
//! constructors, so that a row breaking an invariant is reported, not used.

use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::RepoError;
use crate::model::Owner;
use crate::stored::corrupt;

use super::{
    Attempt, AttemptId, Endpoint, EndpointId, EventFilter, EventType, MessageId, OutboxMessage,
    SecretOverlap, WebhookUrl,
};

/// The columns of `webhook_endpoints` a store reads.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct StoredEndpoint {
    pub id: String,
    pub partner_id: String,
    pub tenant_id: Option<String>,
    pub url: String,
    pub description: String,
    pub all_events: bool,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_until: Option<OffsetDateTime>,
    pub failing_since: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl StoredEndpoint {
    /// The endpoint, with the event types of its `webhook_endpoint_events` rows.
    pub fn into_endpoint(self, event_types: &[String]) -> Result<Endpoint, RepoError> {
        let events = if self.all_events {
            EventFilter::All
        } else {
            EventFilter::Only(
                event_types
                    .iter()
                    .map(|t| EventType::parse(t).map_err(|e| corrupt("event type", e)))
                    .collect::<Result<_, _>>()?,
            )
        };
        let previous = match (self.previous_secret, self.previous_secret_until) {
            (Some(secret), Some(until)) => Some(SecretOverlap {
                secret: SealedKey::from_bytes(secret),
                until,
            }),
            _ => None,
        };
        Ok(Endpoint {
            id: EndpointId::parse(&self.id).map_err(|e| corrupt("endpoint id", e))?,
            owner: Owner {
                partner_id: self.partner_id,
                tenant_id: self.tenant_id,
            },
            url: WebhookUrl::from_stored(self.url),
            events,
            description: self.description,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            secret: SealedKey::from_bytes(self.secret),
            previous,
            failing_since: self.failing_since,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The rows of `webhook_endpoint_events` of an endpoint: its listed types.
pub fn event_rows(endpoint: &Endpoint) -> Vec<&'static str> {
    match &endpoint.events {
        EventFilter::All => Vec::new(),
        EventFilter::Only(types) => types.iter().map(|t| t.as_str()).collect(),
    }
}

/// The columns of `webhook_messages` a store reads.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct StoredMessage {
    pub id: String,
    pub partner_id: String,
    pub tenant_id: Option<String>,
    pub event_type: String,
    pub payload: String,
    pub created_at: OffsetDateTime,
}

impl StoredMessage {
    /// The message.
    pub fn into_message(self) -> Result<OutboxMessage, RepoError> {
        Ok(OutboxMessage {
            id: MessageId::parse(&self.id).map_err(|e| corrupt("message id", e))?,
            owner: Owner {
                partner_id: self.partner_id,
                tenant_id: self.tenant_id,
            },
            event_type: EventType::parse(&self.event_type).map_err(|e| corrupt("event type", e))?,
            payload: self.payload,
            created_at: self.created_at,
        })
    }
}

/// The columns of `webhook_attempts` a store reads.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct StoredAttempt {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub attempt: i64,
    pub at: OffsetDateTime,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub next_attempt_at: Option<OffsetDateTime>,
}

impl StoredAttempt {
    /// The attempt.
    pub fn into_attempt(self) -> Result<Attempt, RepoError> {
        Ok(Attempt {
            id: AttemptId::parse(&self.id).map_err(|e| corrupt("attempt id", e))?,
            message_id: MessageId::parse(&self.message_id).map_err(|e| corrupt("message id", e))?,
            endpoint_id: EndpointId::parse(&self.endpoint_id)
                .map_err(|e| corrupt("endpoint id", e))?,
            event_type: EventType::parse(&self.event_type).map_err(|e| corrupt("event type", e))?,
            attempt: u32::try_from(self.attempt).map_err(|e| corrupt("attempt", e))?,
            at: self.at,
            status: self
                .status
                .map(u16::try_from)
                .transpose()
                .map_err(|e| corrupt("status", e))?,
            error: self.error,
            latency_ms: u64::try_from(self.latency_ms).map_err(|e| corrupt("latency", e))?,
            next_attempt_at: self.next_attempt_at,
        })
    }
}

/// The `state` a delivery is left in after an attempt.
pub fn state_after(outcome: &super::DeliveryOutcome) -> &'static str {
    match outcome {
        super::DeliveryOutcome::Delivered => "delivered",
        super::DeliveryOutcome::Retry => "pending",
        super::DeliveryOutcome::GiveUp | super::DeliveryOutcome::Disable { .. } => "failed",
    }
}
