//! Endpoints, outbox messages, deliveries and attempts as the store keeps them.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::{FieldError, InputError};
use crate::model::Owner;

use super::{AttemptId, EndpointId, EventType, MessageId, WebhookUrl};

/// Which events an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// `["*"]`: every type, including ones added later.
    All,
    /// The listed types (never empty).
    Only(BTreeSet<EventType>),
}

impl EventFilter {
    /// Parses the API's `events` list: `["*"]` or a non-empty list of known types.
    pub fn parse(names: &[String]) -> Result<Self, InputError> {
        if names.is_empty() {
            return Err(InputError::new(
                "list at least one event type, or `*` for all",
            ));
        }
        if names.iter().any(|n| n == "*") {
            return if names.len() == 1 {
                Ok(EventFilter::All)
            } else {
                Err(InputError::new("`*` stands alone"))
            };
        }
        let mut types = BTreeSet::new();
        for name in names {
            let t = EventType::parse(name)?;
            if t == EventType::WebhookTest {
                return Err(InputError::new(
                    "`webhook.test` reaches an endpoint whenever it is sent; do not list it",
                ));
            }
            types.insert(t);
        }
        Ok(EventFilter::Only(types))
    }

    /// Whether `t` is received.
    pub fn includes(&self, t: EventType) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(types) => types.contains(&t),
        }
    }

    /// The API's form: `["*"]` or the names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            EventFilter::All => vec!["*"],
            EventFilter::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }
}

/// A rotated-out secret that keeps signing beside the new one until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretOverlap {
    /// The old secret, sealed.
    pub secret: SealedKey,
    /// When it stops signing.
    pub until: OffsetDateTime,
}

/// A registered webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `whe_<ULID>`.
    pub id: EndpointId,
    /// Its owner: a tenant, or a partner (`tenant_id` `None`) for the events of its
    /// shared domains.
    pub owner: Owner,
    /// Where events are posted.
    pub url: WebhookUrl,
    /// Which events.
    pub events: EventFilter,
    /// The owner's note.
    pub description: String,
    /// Disabled endpoints receive nothing; their pending deliveries wait.
    pub enabled: bool,
    /// Why it was disabled by the service (`None` while enabled or disabled by a user).
    pub disabled_reason: Option<String>,
    /// The signing secret, sealed under the master key.
    pub secret: SealedKey,
    /// The previous secret while it overlaps.
    pub previous: Option<SecretOverlap>,
    /// Since when every attempt failed (`None` after a success).
    pub failing_since: Option<OffsetDateTime>,
    /// Registered.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A new endpoint as the API asks for it, unchecked.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    /// The URL.
    pub url: String,
    /// `["*"]` or event types.
    pub events: Vec<String>,
    /// A note.
    pub description: Option<String>,
}

/// A `PATCH` of an endpoint, unchecked; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// A new note.
    pub description: Option<String>,
}

/// Checks a description's length.
pub(crate) fn check_description(d: &str) -> Result<(), FieldError> {
    if d.chars().count() > super::MAX_DESCRIPTION_LEN {
        return Err(InputError::new(format!(
            "a description has at most {} characters",
            super::MAX_DESCRIPTION_LEN
        ))
        .for_field("description"));
    }
    Ok(())
}

/// An event queued for the endpoints of its owner that receive its type; the store
/// fans it out to them in the transaction that writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// `msg_<ULID>`: the `webhook-id` of every delivery of it.
    pub id: MessageId,
    /// Whose endpoints receive it.
    pub owner: Owner,
    /// Its type.
    pub event_type: EventType,
    /// The exact JSON body sent (signed as is).
    pub payload: String,
    /// When it was queued: the `timestamp` of the payload, and when retries start.
    pub created_at: OffsetDateTime,
}

/// A delivery the worker claimed: the message, its target and what came before.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// The message.
    pub message: OutboxMessage,
    /// The target endpoint (enabled when claimed).
    pub endpoint: Endpoint,
    /// How many attempts were made before this one.
    pub attempts: u32,
}

/// One delivery attempt, as the deliveries log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `wha_<ULID>`, ordered by time.
    pub id: AttemptId,
    /// The message (`webhook-id`).
    pub message_id: MessageId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The message's type.
    pub event_type: EventType,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it was made.
    pub at: OffsetDateTime,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// What went wrong without an answer (timeout, refused address, connection error).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// When the next attempt is due, if one is.
    pub next_attempt_at: Option<OffsetDateTime>,
}

impl Attempt {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered (2xx): done; the endpoint is no longer failing.
    Delivered,
    /// Failed; tried again at the attempt's `next_attempt_at`.
    Retry,
    /// Failed for the last time inside the retry window: given up.
    GiveUp,
    /// Failed, and the endpoint is disabled (it answered 410, or failed for the whole
    /// window); `notify` tells the owner's other endpoints.
    Disable {
        /// Why, as `disabled_reason` shows it.
        reason: String,
        /// The `webhook.disabled` event for the owner's other endpoints.
        notify: OutboxMessage,
    },
}
