//! Unit tests of the webhook use cases, with mocked ports.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::executor::block_on;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::access::Role;
use crate::crypto::SealedKey;
use crate::error::RepoError;
use crate::model::{Owner, Page, PageRequest};
use crate::ports::{SendResult, WebhookRepo, WebhookRequest, WebhookSender};
use crate::testing::{ManualClock, MemoryRepo};
use crate::webhook::{
    Attempt, DeliveryOutcome, DueDelivery, Endpoint, EndpointId, EventType, NewEndpoint,
    OutboxMessage, RetryPolicy, Secret, signature,
};

mockall::mock! {
    Hooks {}
    #[async_trait]
    impl WebhookRepo for Hooks {
        async fn create_endpoint(&self, endpoint: &Endpoint, max_per_owner: u32) -> Result<(), RepoError>;
        async fn endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<Endpoint, RepoError>;
        async fn endpoints(&self, owner: &Owner, page: &PageRequest) -> Result<Page<Endpoint>, RepoError>;
        async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), RepoError>;
        async fn delete_endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<(), RepoError>;
        async fn enqueue_for(&self, message: &OutboxMessage, to: &EndpointId) -> Result<(), RepoError>;
        async fn claim_deliveries(&self, now: OffsetDateTime, owner: &str, lease_until: OffsetDateTime, limit: u32) -> Result<Vec<DueDelivery>, RepoError>;
        async fn record_attempt(&self, attempt: &Attempt, outcome: &DeliveryOutcome, owner: &str) -> Result<(), RepoError>;
        async fn attempts(&self, owner: &Owner, id: &EndpointId, page: &PageRequest) -> Result<Page<Attempt>, RepoError>;
    }
}

mockall::mock! {
    Sender {}
    #[async_trait]
    impl WebhookSender for Sender {
        async fn send(&self, request: &WebhookRequest) -> SendResult;
    }
}

/// When every test starts.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

/// Tenant t1 of partner p1, who owns every endpoint here.
fn owner() -> Owner {
    Owner {
        partner_id: "p1".into(),
        tenant_id: Some("t1".into()),
    }
}

fn service(repo: MockHooks, sender: MockSender, master: Arc<MasterKey>) -> WebhookService {
    service_on(clock(), repo, sender, master)
}

/// [`service`] on a clock the test moves.
fn service_on(
    clock: Arc<ManualClock>,
    repo: MockHooks,
    sender: MockSender,
    master: Arc<MasterKey>,
) -> WebhookService {
    let config = WebhookConfig::default();
    WebhookService::new(Arc::new(repo), Arc::new(sender), clock, master, config)
}

/// A user of tenant t1 of partner p1 with `role`.
fn tenant_user(role: Role) -> Caller {
    Caller::new("user-1", role, Some("t1".into()), Some("p1".into())).unwrap()
}

fn admin() -> Caller {
    tenant_user(Role::TenantAdmin)
}

/// A new endpoint at `url` for `events`, without a description.
fn new_endpoint(url: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        url: url.into(),
        events: events.iter().map(|&e| e.into()).collect(),
        description: None,
    }
}

/// Whether `secret` signed request `r`.
fn signed_by(secret: &Secret, r: &WebhookRequest) -> bool {
    signature::verify(secret, &r.id, r.timestamp, r.body.as_bytes(), &r.signature)
}

fn master() -> Arc<MasterKey> {
    Arc::new(MasterKey::generate().unwrap().0)
}

#[test]
fn a_bad_url_and_an_unknown_event_are_both_reported_and_nothing_is_stored() {
    let mut repo = MockHooks::new();
    repo.expect_create_endpoint().never();
    let svc = service(repo, MockSender::new(), master());
    let new = NewEndpoint {
        description: Some("x".repeat(600)),
        ..new_endpoint("https://127.0.0.1/hook", &["domain.exploded"])
    };
    let err = block_on(svc.create(&admin(), new)).unwrap_err();
    let Error::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(names, ["url", "events", "description"]);
    assert!(fields[0].message.contains("loopback"));
}

#[test]
fn viewers_cannot_register_endpoints() {
    let svc = service(MockHooks::new(), MockSender::new(), master());
    let viewer = tenant_user(Role::TenantViewer);
    let err = block_on(svc.create(&viewer, NewEndpoint::default())).unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
}

#[test]
fn a_new_endpoint_stores_its_secret_sealed_and_shows_it_once() {
    let stored: Arc<Mutex<Option<Endpoint>>> = Arc::default();
    let mut repo = MockHooks::new();
    let keep = stored.clone();
    repo.expect_create_endpoint()
        .times(1)
        .withf(|_, max| *max == 20)
        .returning(move |e, _| {
            *keep.lock().unwrap() = Some(e.clone());
            Ok(())
        });
    let master = master();
    let svc = service(repo, MockSender::new(), master.clone());
    let new = new_endpoint("https://hooks.example.com/x", &["*"]);
    let created = block_on(svc.create(&admin(), new)).unwrap();
    let endpoint = stored.lock().unwrap().clone().unwrap();
    assert_eq!(endpoint.owner.tenant_id.as_deref(), Some("t1"));
    let raw = created.secret.as_bytes();
    assert!(
        !endpoint
            .secret
            .as_bytes()
            .windows(raw.len())
            .any(|w| w == raw),
        "the stored form holds the secret in clear"
    );
    let opened = master
        .open_secret(&endpoint.secret, endpoint.id.as_str())
        .unwrap();
    assert_eq!(&opened[..], raw);
    assert!(
        master.open_secret(&endpoint.secret, "whe_other").is_err(),
        "a sealed secret is bound to its endpoint"
    );
}

#[test]
fn the_owner_limit_is_a_conflict() {
    let mut repo = MockHooks::new();
    repo.expect_create_endpoint()
        .returning(|_, _| Err(RepoError::Conflict("limit".into())));
    let svc = service(repo, MockSender::new(), master());
    let new = new_endpoint("https://hooks.example.com/x", &["domain.created"]);
    let err = block_on(svc.create(&admin(), new)).unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("20")),
        "{err:?}"
    );
}

/// A delivery of a fresh message to an endpoint whose current secret is `secret` and,
/// if given, whose previous one is `previous`.
fn due(
    master: &MasterKey,
    secret: &Secret,
    previous: Option<(&Secret, OffsetDateTime)>,
    failing_since: Option<OffsetDateTime>,
    attempts: u32,
) -> DueDelivery {
    let now = t0();
    let id = EndpointId::parse("whe_01J00000000000000000000000").unwrap();
    let seal = |s: &Secret| master.seal_secret(s.as_bytes(), id.as_str()).unwrap();
    DueDelivery {
        message: OutboxMessage {
            id: crate::webhook::MessageId::parse("msg_01J00000000000000000000000").unwrap(),
            owner: owner(),
            event_type: EventType::DomainVerified,
            payload: r#"{"type":"domain.verified"}"#.into(),
            created_at: now,
        },
        endpoint: Endpoint {
            secret: seal(secret),
            previous: previous.map(|(s, until)| crate::webhook::SecretOverlap {
                secret: seal(s),
                until,
            }),
            id,
            owner: owner(),
            url: crate::webhook::WebhookUrl::from_stored("https://hooks.example.com/x".into()),
            events: crate::webhook::EventFilter::All,
            description: String::new(),
            enabled: true,
            disabled_reason: None,
            failing_since,
            created_at: now,
            updated_at: now,
        },
        attempts,
    }
}

fn answering(status: Option<u16>, seen: Arc<Mutex<Vec<WebhookRequest>>>) -> MockSender {
    let mut sender = MockSender::new();
    sender.expect_send().times(1).returning(move |r| {
        seen.lock().unwrap().push(r.clone());
        SendResult {
            status,
            error: status.is_none().then(|| "connection refused".to_owned()),
            latency: std::time::Duration::from_millis(12),
        }
    });
    sender
}

fn recording(outcomes: Arc<Mutex<Vec<(Attempt, DeliveryOutcome)>>>) -> MockHooks {
    let mut repo = MockHooks::new();
    repo.expect_record_attempt()
        .times(1)
        .withf(|_, _, owner| owner == "worker-1")
        .returning(move |a, o, _| {
            outcomes.lock().unwrap().push((a.clone(), o.clone()));
            Ok(())
        });
    repo
}

#[test]
fn attempts_are_signed_and_their_outcome_follows_the_answer() {
    for (status, failing_since, expected) in [
        (Some(204), None, "delivered"),
        (Some(500), None, "retry"),
        (None, Some(t0() - Duration::hours(1)), "retry"),
        (Some(410), None, "disable"),
        (Some(503), Some(t0() - Duration::days(3)), "disable"),
    ] {
        let master = master();
        let secret = Secret::generate().unwrap();
        let seen = Arc::default();
        let outcomes = Arc::default();
        let svc = service(
            recording(Arc::clone(&outcomes)),
            answering(status, Arc::clone(&seen)),
            master.clone(),
        );
        let attempt =
            block_on(svc.attempt("worker-1", &due(&master, &secret, None, failing_since, 0)))
                .unwrap();
        assert_eq!(attempt.attempt, 1);
        assert_eq!(attempt.latency_ms, 12);
        let requests = seen.lock().unwrap();
        let r = &requests[0];
        assert!(signed_by(&secret, r));
        let (logged, outcome) = outcomes.lock().unwrap().pop().unwrap();
        let got = match outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => {
                assert_eq!(logged.next_attempt_at, Some(t0() + Duration::seconds(5)));
                "retry"
            }
            DeliveryOutcome::GiveUp => "give up",
            DeliveryOutcome::Disable { notify, .. } => {
                assert_eq!(notify.event_type, EventType::WebhookDisabled);
                "disable"
            }
        };
        assert_eq!(got, expected, "{status:?}");
    }
}

#[test]
fn a_late_failure_gives_up_inside_the_window() {
    let master = master();
    let secret = Secret::generate().unwrap();
    let outcomes: Arc<Mutex<Vec<(Attempt, DeliveryOutcome)>>> = Arc::default();
    let clock = clock();
    let svc = service_on(
        clock.clone(),
        recording(Arc::clone(&outcomes)),
        answering(Some(500), Arc::default()),
        master.clone(),
    );
    clock.advance(Duration::days(3) - Duration::hours(2));
    // The endpoint itself succeeded recently: it is not disabled, the event is dropped.
    let now = t0() + Duration::days(3) - Duration::hours(2);
    block_on(svc.attempt("worker-1", &due(&master, &secret, None, Some(now), 7))).unwrap();
    let (_, outcome) = outcomes.lock().unwrap().pop().unwrap();
    assert_eq!(outcome, DeliveryOutcome::GiveUp);
    assert_eq!(RetryPolicy::default().delay(8), Duration::hours(10));
}

#[test]
fn both_secrets_sign_during_the_overlap_and_only_the_new_one_after() {
    for (until, signatures) in [
        (t0() + Duration::hours(1), 2),
        (t0() - Duration::seconds(1), 1),
    ] {
        let master = master();
        let new = Secret::generate().unwrap();
        let old = Secret::generate().unwrap();
        let seen: Arc<Mutex<Vec<WebhookRequest>>> = Arc::default();
        let svc = service(
            recording(Arc::default()),
            answering(Some(200), Arc::clone(&seen)),
            master.clone(),
        );
        block_on(svc.attempt(
            "worker-1",
            &due(&master, &new, Some((&old, until)), None, 0),
        ))
        .unwrap();
        let r = &seen.lock().unwrap()[0];
        assert_eq!(
            signature::parse_header(&r.signature).unwrap().len(),
            signatures
        );
        assert!(signed_by(&new, r));
        assert_eq!(signed_by(&old, r), signatures == 2);
    }
}

#[test]
fn a_rotation_keeps_the_old_secret_for_a_day() {
    let master = master();
    let secret = Secret::generate().unwrap();
    let current = due(&master, &secret, None, None, 0).endpoint;
    let stored: Arc<Mutex<Option<Endpoint>>> = Arc::default();
    let mut repo = MockHooks::new();
    let found = current.clone();
    repo.expect_endpoint()
        .returning(move |_, _| Ok(found.clone()));
    let keep = stored.clone();
    repo.expect_update_endpoint().times(1).returning(move |e| {
        *keep.lock().unwrap() = Some(e.clone());
        Ok(())
    });
    let svc = service(repo, MockSender::new(), master.clone());
    let rotated = block_on(svc.rotate_secret(&admin(), &current.id)).unwrap();
    let e = stored.lock().unwrap().clone().unwrap();
    let previous = e.previous.unwrap();
    assert_eq!(previous.secret, current.secret);
    assert_eq!(previous.until, t0() + Duration::hours(24));
    assert_eq!(
        &master.open_secret(&e.secret, e.id.as_str()).unwrap()[..],
        rotated.secret.as_bytes()
    );
    assert_ne!(rotated.secret, secret);
    let _: &SealedKey = &e.secret;
}

/// Renders a domain the way a test can check: its id and checks.
struct IdRenderer;

impl crate::ports::DomainRenderer for IdRenderer {
    fn render(&self, view: &crate::service::DomainView) -> serde_json::Value {
        serde_json::json!({ "id": view.domain.id, "checks": { "dkim": null } })
    }
}

#[test]
fn domain_writes_queue_their_webhooks_in_the_same_write() {
    use crate::name::DomainName;
    let repo = Arc::new(MemoryRepo::new());
    let dns = Arc::new(crate::testing::FakeDns::new());
    let ports = crate::testing::ports(repo.clone(), repo.clone(), dns, clock());
    let svc = crate::testing::service(ports, ServiceConfig::default())
        .with_webhooks(Arc::new(IdRenderer));
    let view = block_on(svc.create(
        &admin(),
        NewDomain::named(DomainName::parse("mail.example.com").unwrap()),
    ))
    .unwrap();
    block_on(svc.delete(&admin(), &view.domain.id)).unwrap();
    let outbox = repo.outbox();
    let types: Vec<EventType> = outbox.iter().map(|m| m.event_type).collect();
    assert_eq!(types, [EventType::DomainCreated, EventType::DomainDeleted]);
    for m in &outbox {
        let body: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
        assert_eq!(body["type"], m.event_type.as_str());
        assert_eq!(body["data"]["domain"]["id"], view.domain.id.as_str());
        assert_eq!(m.owner.tenant_id.as_deref(), Some("t1"));
    }
}
