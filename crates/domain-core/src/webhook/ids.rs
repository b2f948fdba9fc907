//! The ids of webhook endpoints, messages and attempts: a prefix and a ULID, like the
//! ids of domains.

use crate::macros::prefixed_id;

prefixed_id!(
    /// A webhook endpoint: `whe_<ULID>`.
    EndpointId,
    "whe_"
);
prefixed_id!(
    /// An event as sent to endpoints, the `webhook-id` header: `msg_<ULID>`. Every
    /// retry of a message carries the same id, by which receivers deduplicate.
    MessageId,
    "msg_"
);
prefixed_id!(
    /// One delivery attempt in the deliveries log: `wha_<ULID>`.
    AttemptId,
    "wha_"
);
