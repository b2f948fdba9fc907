//! The payloads: `{"type", "timestamp", "data": {"domain", "checks"?, "selector"?}}`,
//! where `domain` is the domain as `GET /api/admin/domains/{id}` shows it. The core
//! does not know that shape (the HTTP adapter does); it receives it rendered, through
//! [`DomainRenderer`](crate::ports::DomainRenderer).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::events::{DomainEvent, EventKind};
use crate::ids::IdGenerator;
use crate::model::Owner;

use super::{Endpoint, EventType, MessageId, OutboxMessage};

/// The webhook types one timeline event stands for (none for most kinds: policy
/// changes, single check verdicts, …), each with the selector it names, if any.
pub fn types_of(event: &DomainEvent) -> Vec<(EventType, Option<String>)> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let d = &event.detail;
    match event.kind {
        EventKind::Created => vec![(EventType::DomainCreated, None)],
        EventKind::Verified => vec![(EventType::DomainVerified, None)],
        EventKind::Failing => vec![(EventType::DomainFailing, None)],
        EventKind::Unverified => vec![(EventType::DomainUnverified, None)],
        EventKind::Recovered => vec![(EventType::DomainRecovered, None)],
        EventKind::Deactivated => vec![(EventType::DomainDeactivated, None)],
        EventKind::Reactivated => vec![(EventType::DomainReactivated, None)],
        EventKind::RotationStarted => {
            vec![(EventType::DkimRotationStarted, text(&d["after"]["pending"]))]
        }
        EventKind::SelectorPromoted => vec![
            (EventType::DkimRotated, text(&d["after"]["active"])),
            (
                EventType::DkimSelectorRemovable,
                text(&d["after"]["retiring"]),
            ),
        ],
        EventKind::SelectorRemoved => {
            vec![(EventType::DkimSelectorRemoved, text(&d["selector"]))]
        }
        EventKind::ReturnPathVerified => vec![(EventType::ReturnPathVerified, None)],
        EventKind::ReturnPathFailing => vec![(EventType::ReturnPathFailing, None)],
        EventKind::CheckChanged
        | EventKind::RotationCancelled
        | EventKind::PolicyChanged
        | EventKind::ReturnPathChanged
        | EventKind::ReturnPathUnverified
        | EventKind::ReturnPathRecovered => Vec::new(),
    }
}

/// Whether a type's payload carries the domain's `checks`.
fn carries_checks(t: EventType) -> bool {
    matches!(
        t,
        EventType::DomainVerified
            | EventType::DomainFailing
            | EventType::DomainUnverified
            | EventType::DomainRecovered
            | EventType::ReturnPathVerified
            | EventType::ReturnPathFailing
    )
}

/// The JSON body of an event.
pub fn body(event_type: EventType, at: OffsetDateTime, data: Value) -> String {
    json!({
        "type": event_type,
        "timestamp": at.format(&Rfc3339).unwrap_or_default(),
        "data": data,
    })
    .to_string()
}

/// The `data` of a domain event: the rendered domain, and its checks or the selector
/// when the type has them.
pub fn domain_data(event_type: EventType, domain: &Value, selector: Option<String>) -> Value {
    let mut data = Map::new();
    data.insert("domain".to_owned(), domain.clone());
    if carries_checks(event_type) {
        data.insert(
            "checks".to_owned(),
            domain.get("checks").cloned().unwrap_or(Value::Null),
        );
    }
    if let Some(selector) = selector {
        data.insert("selector".to_owned(), Value::String(selector));
    }
    Value::Object(data)
}

/// The outbox messages of a domain's timeline events, for its owner's endpoints;
/// `domain` is the domain rendered after the change.
pub fn for_events(
    ids: &IdGenerator,
    owner: &Owner,
    domain: &Value,
    events: &[DomainEvent],
) -> Vec<OutboxMessage> {
    events
        .iter()
        .flat_map(|event| {
            types_of(event)
                .into_iter()
                .map(move |(t, selector)| (event.at, t, selector))
        })
        .map(|(at, t, selector)| message(ids, owner, t, at, domain_data(t, domain, selector)))
        .collect()
}

/// The `domain.deleted` message; `domain` is the domain as it was.
pub fn deleted(
    ids: &IdGenerator,
    owner: &Owner,
    domain: &Value,
    at: OffsetDateTime,
) -> OutboxMessage {
    let t = EventType::DomainDeleted;
    message(ids, owner, t, at, domain_data(t, domain, None))
}

/// The `webhook.test` message.
pub fn test(ids: &IdGenerator, endpoint: &Endpoint, at: OffsetDateTime) -> OutboxMessage {
    message(
        ids,
        &endpoint.owner,
        EventType::WebhookTest,
        at,
        json!({ "endpoint": { "id": endpoint.id, "url": endpoint.url } }),
    )
}

/// The `webhook.disabled` message for the owner's other endpoints.
pub fn disabled(
    ids: &IdGenerator,
    endpoint: &Endpoint,
    reason: &str,
    at: OffsetDateTime,
) -> OutboxMessage {
    message(
        ids,
        &endpoint.owner,
        EventType::WebhookDisabled,
        at,
        json!({ "endpoint": { "id": endpoint.id, "url": endpoint.url, "reason": reason } }),
    )
}

fn message(
    ids: &IdGenerator,
    owner: &Owner,
    event_type: EventType,
    at: OffsetDateTime,
    data: Value,
) -> OutboxMessage {
    OutboxMessage {
        id: MessageId::generate(ids, at),
        owner: owner.clone(),
        event_type,
        payload: body(event_type, at, data),
        created_at: at,
    }
}
