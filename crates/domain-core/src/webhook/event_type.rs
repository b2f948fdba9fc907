//! The closed set of webhook event types.

use serde::{Serialize, Serializer};

use crate::error::InputError;
use crate::macros::named_enum;

named_enum! {
    /// What a webhook tells: the closed set of event types (docs/webhooks.md), named by
    /// their dotted names; [`ALL`](Self::ALL) is in the documented order.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum EventType {
        /// `domain.created`: a domain was added.
        DomainCreated => "domain.created",
        /// `domain.verified`: all its checks pass; it can send.
        DomainVerified => "domain.verified",
        /// `domain.failing`: a verified domain started failing; its grace period began.
        DomainFailing => "domain.failing",
        /// `domain.unverified`: the grace period ended, or a verification failed before the
        /// domain was ever verified.
        DomainUnverified => "domain.unverified",
        /// `domain.recovered`: a failing verified domain passes again.
        DomainRecovered => "domain.recovered",
        /// `domain.deactivated`.
        DomainDeactivated => "domain.deactivated",
        /// `domain.reactivated`.
        DomainReactivated => "domain.reactivated",
        /// `domain.deleted`; the payload holds the domain as it was.
        DomainDeleted => "domain.deleted",
        /// `dkim.rotation_started`: a new key is pending; `selector` names it.
        DkimRotationStarted => "dkim.rotation_started",
        /// `dkim.rotated`: the new key signs now; `selector` names it.
        DkimRotated => "dkim.rotated",
        /// `dkim.selector_removable`: the previous selector retires and may be removed
        /// (`selector` names it); sent together with `dkim.rotated`.
        DkimSelectorRemovable => "dkim.selector_removable",
        /// `dkim.selector_removed`: a retiring selector was removed, its key destroyed.
        DkimSelectorRemoved => "dkim.selector_removed",
        /// `return_path.verified`.
        ReturnPathVerified => "return_path.verified",
        /// `return_path.failing`: a verified return path started failing.
        ReturnPathFailing => "return_path.failing",
        /// `webhook.test`: sent by `POST /api/admin/webhooks/{id}/test` to that endpoint only.
        WebhookTest => "webhook.test",
        /// `webhook.disabled`: another endpoint of the same owner was disabled after failing
        /// for the whole retry window (or answering 410).
        WebhookDisabled => "webhook.disabled",
    }
}

impl EventType {
    /// Parses a dotted name; the error lists the accepted ones.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        Self::from_name(s).ok_or_else(|| {
            InputError::new(format!(
                "`{s}` is not an event type; use `*` or one of: {}",
                Self::subscribable()
                    .map(EventType::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// The types an endpoint subscribes to by name: all but `webhook.test`, which
    /// reaches the endpoint it is sent to whatever it subscribes to.
    pub fn subscribable() -> impl Iterator<Item = EventType> {
        Self::ALL
            .into_iter()
            .filter(|t| *t != EventType::WebhookTest)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
