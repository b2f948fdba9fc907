//! The closed set of webhook event types.

use serde::{Serialize, Serializer};

use crate::error::InputError;

/// What a webhook tells: the closed set of event types (docs/webhooks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// `domain.created`: a domain was added.
    DomainCreated,
    /// `domain.verified`: all its checks pass; it can send.
    DomainVerified,
    /// `domain.failing`: a verified domain started failing; its grace period began.
    DomainFailing,
    /// `domain.unverified`: the grace period ended, or a verification failed before the
    /// domain was ever verified.
    DomainUnverified,
    /// `domain.recovered`: a failing verified domain passes again.
    DomainRecovered,
    /// `domain.deactivated`.
    DomainDeactivated,
    /// `domain.reactivated`.
    DomainReactivated,
    /// `domain.deleted`; the payload holds the domain as it was.
    DomainDeleted,
    /// `dkim.rotation_started`: a new key is pending; `selector` names it.
    DkimRotationStarted,
    /// `dkim.rotated`: the new key signs now; `selector` names it.
    DkimRotated,
    /// `dkim.selector_removable`: the previous selector retires and may be removed
    /// (`selector` names it); sent together with `dkim.rotated`.
    DkimSelectorRemovable,
    /// `dkim.selector_removed`: a retiring selector was removed, its key destroyed.
    DkimSelectorRemoved,
    /// `return_path.verified`.
    ReturnPathVerified,
    /// `return_path.failing`: a verified return path started failing.
    ReturnPathFailing,
    /// `webhook.test`: sent by `POST /api/admin/webhooks/{id}/test` to that endpoint only.
    WebhookTest,
    /// `webhook.disabled`: another endpoint of the same owner was disabled after failing
    /// for the whole retry window (or answering 410).
    WebhookDisabled,
}

impl EventType {
    /// Every type, in the documented order.
    pub const ALL: [EventType; 16] = [
        EventType::DomainCreated,
        EventType::DomainVerified,
        EventType::DomainFailing,
        EventType::DomainUnverified,
        EventType::DomainRecovered,
        EventType::DomainDeactivated,
        EventType::DomainReactivated,
        EventType::DomainDeleted,
        EventType::DkimRotationStarted,
        EventType::DkimRotated,
        EventType::DkimSelectorRemovable,
        EventType::DkimSelectorRemoved,
        EventType::ReturnPathVerified,
        EventType::ReturnPathFailing,
        EventType::WebhookTest,
        EventType::WebhookDisabled,
    ];

    /// The dotted name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DomainCreated => "domain.created",
            EventType::DomainVerified => "domain.verified",
            EventType::DomainFailing => "domain.failing",
            EventType::DomainUnverified => "domain.unverified",
            EventType::DomainRecovered => "domain.recovered",
            EventType::DomainDeactivated => "domain.deactivated",
            EventType::DomainReactivated => "domain.reactivated",
            EventType::DomainDeleted => "domain.deleted",
            EventType::DkimRotationStarted => "dkim.rotation_started",
            EventType::DkimRotated => "dkim.rotated",
            EventType::DkimSelectorRemovable => "dkim.selector_removable",
            EventType::DkimSelectorRemoved => "dkim.selector_removed",
            EventType::ReturnPathVerified => "return_path.verified",
            EventType::ReturnPathFailing => "return_path.failing",
            EventType::WebhookTest => "webhook.test",
            EventType::WebhookDisabled => "webhook.disabled",
        }
    }

    /// Parses a dotted name; the error lists the accepted ones.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
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
