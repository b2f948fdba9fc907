//! Webhooks: endpoints that tenants register, the events they receive, and how a delivery
//! is signed and retried.
//!
//! A key design decision: an event is queued in the store as an *outbox message* in the
//! same transaction as the domain change that caused it ([`OutboxMessage`], handed to
//! [`DomainRepo`](crate::ports::DomainRepo)'s writes), and fanned out there to the
//! owner's enabled endpoints that subscribe to its type. Nothing is sent for a change
//! that rolled back, and nothing is lost on a crash: a delivery worker claims due
//! deliveries with leases and sends them at least once (docs/webhooks.md).
//!
//! Everything here is pure: the signature ([`signature`]), the retry schedule
//! ([`RetryPolicy`]), the URL rules ([`WebhookUrl`]) and the payloads ([`payload`]).
//! Sending is the [`WebhookSender`](crate::ports::WebhookSender) port.

pub mod payload;
pub mod signature;
pub mod stored;

mod endpoint;
mod event_type;
mod ids;
mod retry;
mod url_rule;

pub(crate) use endpoint::check_description;
pub use endpoint::{
    Attempt, DeliveryOutcome, DueDelivery, Endpoint, EndpointChanges, EventFilter, NewEndpoint,
    OutboxMessage, SecretOverlap,
};
pub use event_type::EventType;
pub use ids::{AttemptId, EndpointId, MessageId};
pub use retry::RetryPolicy;
pub use signature::{Secret, SignatureError};
pub use url_rule::{EgressRules, WebhookUrl};

/// The most endpoints one owner may register (`SCAISEND_WEBHOOK_MAX_ENDPOINTS`).
pub const DEFAULT_MAX_ENDPOINTS: u32 = 20;
/// The longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP: time::Duration = time::Duration::hours(24);
