//! The webhook store: endpoints scoped to their owner, the outbox written with the
//! domain change, deliveries claimed with leases, attempts logged.

use std::collections::BTreeSet;

use domain_core::Domain;
use domain_core::RepoError;
use domain_core::crypto::MasterKey;
use domain_core::ids::IdGenerator;
use domain_core::model::{Owner, PageRequest};
use domain_core::ports::{DomainRepo, LeaseOnWrite, WebhookRepo};
use domain_core::webhook::{
    Attempt, AttemptId, DeliveryOutcome, Endpoint, EndpointId, EventFilter, EventType,
    OutboxMessage, Secret, SecretOverlap, WebhookUrl, payload,
};
use serde_json::json;

use crate::Backend;
use crate::fixtures::*;

fn endpoint(ids: &IdGenerator, owner: Owner, events: EventFilter) -> Endpoint {
    let id = EndpointId::generate(ids, T0);
    let (master, _) = MasterKey::generate().unwrap();
    let secret = Secret::generate().unwrap();
    Endpoint {
        secret: master.seal_secret(secret.as_bytes(), id.as_str()).unwrap(),
        id,
        owner,
        url: WebhookUrl::from_stored("https://hooks.example.com/in".into()),
        events,
        description: "ünïcode note".into(),
        enabled: true,
        disabled_reason: None,
        previous: None,
        failing_since: None,
        created_at: T0,
        updated_at: T0,
    }
}

/// Stores each of `endpoints`, under a limit none of the cases reaches.
async fn create_all(hooks: &dyn WebhookRepo, endpoints: &[&Endpoint]) {
    for e in endpoints {
        hooks.create_endpoint(e, 20).await.unwrap();
    }
}

/// Inserts a new domain of tenant t1 of p1 named `name`, with the messages of its
/// creation queued in the same write.
async fn insert_created(repo: &dyn DomainRepo, ids: &IdGenerator, name: &str) -> Domain {
    let domain = new_domain(tenant("p1", "t1"), name);
    repo.insert_notifying(&domain, &[], &created(ids, &domain))
        .await
        .unwrap();
    domain
}

fn only(types: &[EventType]) -> EventFilter {
    EventFilter::Only(types.iter().copied().collect::<BTreeSet<_>>())
}

fn created(ids: &IdGenerator, domain: &domain_core::Domain) -> Vec<OutboxMessage> {
    let event = event(domain, domain_core::EventKind::Created, T0);
    payload::for_events(ids, &domain.owner, &json!({"id": domain.id}), &[event])
}

fn attempt(
    due: &domain_core::webhook::DueDelivery,
    n: u32,
    status: Option<u16>,
    minutes: i64,
) -> Attempt {
    Attempt {
        id: AttemptId::generate(&IdGenerator::new(), at(minutes)),
        message_id: due.message.id.clone(),
        endpoint_id: due.endpoint.id.clone(),
        event_type: due.message.event_type,
        attempt: n,
        at: at(minutes),
        status,
        error: status.is_none().then(|| "connection refused".into()),
        latency_ms: 7,
        next_attempt_at: None,
    }
}

/// Endpoints come back as stored, only to their owner; the owner's limit holds; an
/// update and a delete reach only the owner's endpoint.
pub async fn webhook_endpoints_are_scoped_to_their_owner<B: Backend>(b: &B) {
    let hooks = b.webhooks();
    let ids = IdGenerator::new();
    let mut mine = endpoint(
        &ids,
        tenant("p1", "t1"),
        only(&[EventType::DomainVerified, EventType::DkimRotated]),
    );
    mine.previous = Some(SecretOverlap {
        secret: mine.secret.clone(),
        until: at(60),
    });
    hooks.create_endpoint(&mine, 2).await.unwrap();
    assert_eq!(hooks.endpoint(&mine.owner, &mine.id).await.unwrap(), mine);
    for other in [tenant("p1", "t2"), tenant("p2", "t1"), shared("p1")] {
        assert_eq!(
            hooks.endpoint(&other, &mine.id).await,
            Err(RepoError::NotFound)
        );
        assert_eq!(
            hooks.delete_endpoint(&other, &mine.id).await,
            Err(RepoError::NotFound)
        );
        assert!(
            hooks
                .endpoints(&other, &PageRequest::new(None, None).unwrap())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
    let partner = endpoint(&ids, shared("p1"), EventFilter::All);
    hooks.create_endpoint(&partner, 2).await.unwrap();

    let second = endpoint(&ids, tenant("p1", "t1"), EventFilter::All);
    hooks.create_endpoint(&second, 2).await.unwrap();
    let third = endpoint(&ids, tenant("p1", "t1"), EventFilter::All);
    assert!(matches!(
        hooks.create_endpoint(&third, 2).await,
        Err(RepoError::Conflict(_))
    ));

    let page = hooks
        .endpoints(&mine.owner, &PageRequest::new(Some(1), None).unwrap())
        .await
        .unwrap();
    assert_eq!(page.items, vec![mine.clone()]);
    let rest = hooks
        .endpoints(
            &mine.owner,
            &PageRequest::new(Some(1), page.next_after).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(rest.items, vec![second.clone()]);
    assert_eq!(rest.next_after, None);

    let mut changed = mine.clone();
    changed.events = EventFilter::All;
    changed.enabled = false;
    changed.previous = None;
    changed.url = WebhookUrl::from_stored("https://other.example.com/".into());
    hooks.update_endpoint(&changed).await.unwrap();
    assert_eq!(
        hooks.endpoint(&mine.owner, &mine.id).await.unwrap(),
        changed
    );
    let mut stolen = changed.clone();
    stolen.owner = tenant("p1", "t2");
    assert_eq!(
        hooks.update_endpoint(&stolen).await,
        Err(RepoError::NotFound)
    );

    hooks.delete_endpoint(&mine.owner, &mine.id).await.unwrap();
    assert_eq!(
        hooks.endpoint(&mine.owner, &mine.id).await,
        Err(RepoError::NotFound)
    );
}

/// A domain write queues a delivery for each enabled endpoint of the domain's owner
/// that receives the type — none for another tenant, a disabled or a non-subscribed
/// endpoint — and a write that fails queues nothing.
pub async fn webhooks_are_queued_with_the_domain_write<B: Backend>(b: &B) {
    let repo = b.repo();
    let hooks = b.webhooks();
    let ids = IdGenerator::new();
    let all = endpoint(&ids, tenant("p1", "t1"), EventFilter::All);
    let created_only = endpoint(&ids, tenant("p1", "t1"), only(&[EventType::DomainCreated]));
    let verified_only = endpoint(&ids, tenant("p1", "t1"), only(&[EventType::DomainVerified]));
    let mut disabled = endpoint(&ids, tenant("p1", "t1"), EventFilter::All);
    disabled.enabled = false;
    let stranger = endpoint(&ids, tenant("p1", "t2"), EventFilter::All);
    let partner = endpoint(&ids, shared("p1"), EventFilter::All);
    create_all(
        &*hooks,
        &[
            &all,
            &created_only,
            &verified_only,
            &disabled,
            &stranger,
            &partner,
        ],
    )
    .await;

    let domain = insert_created(&*repo, &ids, "hooks.example.com").await;
    // A write that loses its version check stores neither its events nor its messages.
    let mut stale = domain.clone();
    stale.version += 5;
    assert!(
        repo.update_notifying(&stale, &[], &created(&ids, &domain), LeaseOnWrite::Keep)
            .await
            .is_err()
    );

    let due = hooks
        .claim_deliveries(at(0), "w1", at(5), 50)
        .await
        .unwrap();
    let mut targets: Vec<&EndpointId> = due.iter().map(|d| &d.endpoint.id).collect();
    targets.sort();
    assert_eq!(targets, vec![&all.id, &created_only.id]);
    assert!(
        due.iter()
            .all(|d| d.message.event_type == EventType::DomainCreated && d.attempts == 0)
    );
    assert_eq!(
        due[0].message.id, due[1].message.id,
        "one message, one webhook-id"
    );
    let body: serde_json::Value = serde_json::from_str(&due[0].message.payload).unwrap();
    assert_eq!(body["data"]["domain"]["id"], domain.id.as_str());

    // A shared domain's events go to the partner's endpoints only.
    let shared_domain = new_domain(shared("p1"), "shared.example.com");
    repo.insert_notifying(&shared_domain, &[], &created(&ids, &shared_domain))
        .await
        .unwrap();
    let due = hooks
        .claim_deliveries(at(0), "w1", at(5), 50)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|d| &d.endpoint.id).collect::<Vec<_>>(),
        vec![&partner.id]
    );

    // The delete's message is stored although the domain and its timeline are gone.
    let deleted = payload::deleted(&ids, &domain.owner, &json!({"id": domain.id}), at(1));
    repo.delete_notifying(
        &domain_core::model::Scope::Tenant {
            partner_id: "p1".into(),
            tenant_id: "t1".into(),
        },
        &domain.id,
        std::slice::from_ref(&deleted),
    )
    .await
    .unwrap();
    let due = hooks
        .claim_deliveries(at(1), "w1", at(6), 50)
        .await
        .unwrap();
    assert_eq!(
        due.len(),
        1,
        "only the all-events endpoint hears of the delete"
    );
    assert_eq!(due[0].message, deleted);
}

/// A lease keeps a delivery from other claimers until it expires; a retry is due at its
/// time; a delivered one is never claimed again; attempts are logged newest first, to
/// the owner only; only the lease holder records.
pub async fn deliveries_are_leased_retried_and_logged<B: Backend>(b: &B) {
    let repo = b.repo();
    let hooks = b.webhooks();
    let ids = IdGenerator::new();
    let e = endpoint(&ids, tenant("p1", "t1"), EventFilter::All);
    create_all(&*hooks, &[&e]).await;
    insert_created(&*repo, &ids, "lease.example.com").await;

    let due = hooks.claim_deliveries(at(0), "a", at(5), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        hooks
            .claim_deliveries(at(1), "b", at(6), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Another instance cannot record against a lease it does not hold.
    let mut first = attempt(&due[0], 1, Some(500), 1);
    first.next_attempt_at = Some(at(10));
    assert!(matches!(
        hooks
            .record_attempt(&first, &DeliveryOutcome::Retry, "b")
            .await,
        Err(RepoError::Conflict(_))
    ));
    hooks
        .record_attempt(&first, &DeliveryOutcome::Retry, "a")
        .await
        .unwrap();
    let failing = hooks.endpoint(&e.owner, &e.id).await.unwrap();
    assert_eq!(failing.failing_since, Some(at(1)));

    assert!(
        hooks
            .claim_deliveries(at(9), "b", at(14), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // An expired lease is claimable again.
    let again = hooks
        .claim_deliveries(at(10), "b", at(11), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    let again = hooks
        .claim_deliveries(at(12), "c", at(17), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "b's lease expired");
    let second = attempt(&again[0], 2, Some(204), 12);
    hooks
        .record_attempt(&second, &DeliveryOutcome::Delivered, "c")
        .await
        .unwrap();
    assert!(
        hooks
            .claim_deliveries(at(100), "d", at(105), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        hooks.endpoint(&e.owner, &e.id).await.unwrap().failing_since,
        None
    );

    let log = hooks
        .attempts(&e.owner, &e.id, &PageRequest::new(Some(1), None).unwrap())
        .await
        .unwrap();
    assert_eq!(log.items, vec![second]);
    let rest = hooks
        .attempts(
            &e.owner,
            &e.id,
            &PageRequest::new(Some(5), log.next_after).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(rest.items, vec![first]);
    assert_eq!(
        hooks
            .attempts(
                &tenant("p1", "t2"),
                &e.id,
                &PageRequest::new(None, None).unwrap()
            )
            .await,
        Err(RepoError::NotFound)
    );
}

/// Disabling an endpoint stops its deliveries and queues the notice for the owner's
/// other endpoints, in the same write; a test message reaches only its endpoint.
pub async fn a_disabled_endpoint_notifies_the_others<B: Backend>(b: &B) {
    let repo = b.repo();
    let hooks = b.webhooks();
    let ids = IdGenerator::new();
    let dying = endpoint(&ids, tenant("p1", "t1"), EventFilter::All);
    let other = endpoint(
        &ids,
        tenant("p1", "t1"),
        only(&[EventType::WebhookDisabled]),
    );
    create_all(&*hooks, &[&dying, &other]).await;
    insert_created(&*repo, &ids, "gone.example.com").await;
    let due = hooks.claim_deliveries(at(0), "a", at(5), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let notify = payload::disabled(&ids, &dying, "the endpoint answered 410 Gone", at(1));
    let gone = attempt(&due[0], 1, Some(410), 1);
    hooks
        .record_attempt(
            &gone,
            &DeliveryOutcome::Disable {
                reason: "the endpoint answered 410 Gone".into(),
                notify: notify.clone(),
            },
            "a",
        )
        .await
        .unwrap();
    let stored = hooks.endpoint(&dying.owner, &dying.id).await.unwrap();
    assert!(!stored.enabled);
    assert_eq!(
        stored.disabled_reason.as_deref(),
        Some("the endpoint answered 410 Gone")
    );
    let due = hooks.claim_deliveries(at(2), "a", at(7), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].endpoint.id, other.id);
    assert_eq!(due[0].message, notify);

    let test = payload::test(&ids, &dying, at(3));
    hooks.enqueue_for(&test, &other.id).await.unwrap();
    assert_eq!(
        hooks
            .enqueue_for(&test, &EndpointId::generate(&ids, T0))
            .await
            .map_err(|_| ()),
        Err(())
    );
}

/// No webhook secret is stored in clear: every stored byte is searched for it.
pub async fn no_webhook_secret_is_stored_in_clear<B: Backend>(b: &B) {
    let hooks = b.webhooks();
    let id = EndpointId::generate(&IdGenerator::new(), T0);
    let (master, _) = MasterKey::generate().unwrap();
    let secret = Secret::generate().unwrap();
    let mut e = endpoint(&IdGenerator::new(), tenant("p1", "t1"), EventFilter::All);
    e.id = id.clone();
    e.secret = master.seal_secret(secret.as_bytes(), id.as_str()).unwrap();
    create_all(&*hooks, &[&e]).await;
    let shown = secret.expose();
    for cell in b.dump().await {
        assert!(
            !cell
                .bytes
                .windows(secret.as_bytes().len())
                .any(|w| w == secret.as_bytes())
                && !cell
                    .bytes
                    .windows(shown.len())
                    .any(|w| w == shown.as_bytes()),
            "{}.{} holds the secret",
            cell.table,
            cell.column
        );
    }
}
