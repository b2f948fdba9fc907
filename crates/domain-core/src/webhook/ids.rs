//! The ids of webhook endpoints, messages and attempts: a prefix and a ULID, like the
//! ids of domains.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::InputError;
use crate::ids::{IdGenerator, parse_prefixed};

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses `", $prefix, "<ULID>`.")]
            pub fn parse(s: &str) -> Result<Self, InputError> {
                parse_prefixed(s, $prefix).map($name)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A new id, ordered by `now`.
            pub fn generate(ids: &IdGenerator, now: OffsetDateTime) -> Self {
                $name(format!(concat!($prefix, "{}"), ids.next(now)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

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
