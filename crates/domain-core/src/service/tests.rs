//! Use-case tests over hand-written fakes (in-memory store, DNS and clock) and mockall
//! mocks for the store's failure modes.

use std::sync::Arc;

use async_trait::async_trait;
use futures::executor::block_on;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::access::Role;
use crate::crypto::KeyAlgorithm;
use crate::crypto::SealedKey;
use crate::error::RepoError;
use crate::events::Actor;
use crate::model::Owner;
use crate::model::{DomainEvent, EventKind, ListFilter, Page, PageRequest, Scope};
use crate::name::{DmarcPolicy, ReturnPathLabel, RuaAddress};
use crate::ports::{DomainChange, DomainRepo, KeyStore};
use crate::ports::{LeaseOnWrite, OwnerUsage};
use crate::publish::RecordAction;
use crate::rotation::KeyState;
use crate::sending::{KeyMode, SendDecision};
use crate::testing::{self, FakeDns, FixedKeys, ManualClock, MemoryRepo};
use crate::verify::CheckKind;
use crate::verify::CheckStatus;

const INCLUDE_RECORD: &str = "v=spf1 ip4:192.0.2.0/24 -all";

struct World {
    svc: DomainService,
    repo: Arc<MemoryRepo>,
    dns: Arc<FakeDns>,
    clock: Arc<ManualClock>,
    keygen: Arc<FixedKeys>,
}

fn world() -> World {
    world_with(ServiceConfig::default())
}

fn world_with(config: ServiceConfig) -> World {
    let keygen = Arc::new(FixedKeys::default());
    let repo = Arc::new(MemoryRepo::new());
    let dns = Arc::new(FakeDns::new());
    dns.txt("scaisend.scailabs.ai", INCLUDE_RECORD);
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    ));
    let ports = Ports {
        keygen: keygen.clone(),
        ..testing::ports(repo.clone(), repo.clone(), dns.clone(), clock.clone())
    };
    World {
        svc: testing::service(ports, config),
        repo,
        dns,
        clock,
        keygen,
    }
}

/// The use cases as the tenant admin of [`admin`] calls them, each expected to succeed.
impl World {
    /// Creates `new`.
    fn create_new(&self, new: NewDomain) -> DomainView {
        block_on(self.svc.create(&admin(), new)).unwrap()
    }

    /// Creates `name` with [`new_domain`]'s settings.
    fn create(&self, name: &str) -> DomainView {
        self.create_new(new_domain(name))
    }

    /// Creates `name`, publishes its records and verifies it; the view as created.
    fn create_verified(&self, name: &str) -> DomainView {
        let view = self.create(name);
        publish(&self.dns, &view);
        self.verify(&view.domain.id);
        view
    }

    fn get(&self, id: &DomainId) -> DomainView {
        block_on(self.svc.get(&admin(), id)).unwrap()
    }

    /// The domain as stored now.
    fn domain(&self, id: &DomainId) -> Domain {
        self.get(id).domain
    }

    fn verify(&self, id: &DomainId) -> VerificationReport {
        block_on(self.svc.verify(&admin(), id)).unwrap()
    }

    fn update(&self, id: &DomainId, changes: DomainChanges) -> DomainView {
        block_on(self.svc.update(&admin(), id, changes)).unwrap()
    }

    fn rotate(&self, id: &DomainId) -> RotationStarted {
        block_on(self.svc.rotate(&admin(), id)).unwrap()
    }

    fn remove_selector(&self, id: &DomainId, selector: &Selector) -> DomainView {
        block_on(self.svc.remove_selector(&admin(), id, selector)).unwrap()
    }

    /// Publishes the records the domain asks for now.
    fn publish_current(&self, id: &DomainId) {
        publish(&self.dns, &self.get(id));
    }

    /// One page of the domain's timeline, newest first.
    fn events(
        &self,
        id: &DomainId,
        limit: Option<u32>,
        after: Option<String>,
    ) -> Page<DomainEvent> {
        let page = PageRequest::new(limit, after).unwrap();
        block_on(self.svc.events(&admin(), id, &page)).unwrap()
    }

    /// One monitor round by instance `owner`: up to 50 domains, leased for 5 minutes.
    fn monitor_round(&self, owner: &str) -> MonitorReport {
        block_on(self.svc.monitor_round(owner, 50, Duration::minutes(5))).unwrap()
    }
}

/// The pipeline's decision on a live send from `alerts@mail.example.com` by tenant t1.
fn live_send(svc: &DomainService) -> SendDecision {
    let query = sender_query("t1", "alerts@mail.example.com", KeyMode::Live);
    block_on(svc.authorize_sender(&pipeline(), &query)).unwrap()
}

/// The change that deactivates a domain.
fn deactivate() -> DomainChanges {
    DomainChanges {
        is_active: Some(false),
        ..Default::default()
    }
}

/// The sending pipeline's caller.
fn pipeline() -> Caller {
    Caller::new("pipeline", Role::Service, None, None).unwrap()
}

/// What the pipeline asks before sending from `from` for tenant `tenant` of partner `p1`.
fn sender_query(tenant: &str, from: &str, key_mode: KeyMode) -> SenderQuery {
    SenderQuery {
        tenant_id: tenant.into(),
        partner_id: "p1".into(),
        from: from.into(),
        key_mode,
    }
}

fn caller(role: Role, tenant: Option<&str>, partner: &str) -> Caller {
    Caller::new("user-1", role, tenant.map(Into::into), Some(partner.into())).unwrap()
}

fn admin() -> Caller {
    caller(Role::TenantAdmin, Some("t1"), "p1")
}

fn new_domain(name: &str) -> NewDomain {
    NewDomain {
        dmarc_policy: DmarcPolicy::Quarantine,
        dmarc_rua: Some(RuaAddress::parse("dmarc-reports@example.com").unwrap()),
        ..NewDomain::named(DomainName::parse(name).unwrap())
    }
}

/// [`new_domain`], shared by its partner.
fn shared_domain(name: &str) -> NewDomain {
    NewDomain {
        is_shared: true,
        ..new_domain(name)
    }
}

/// Publishes every `action: publish` row of a domain's records, as an admin would.
fn publish(dns: &FakeDns, view: &DomainView) {
    let rows = rows_where(view, |r| r.action == RecordAction::Publish);
    // A host may hold several of the rows (a return path's MX and SPF records).
    for r in &rows {
        dns.remove(&r.host);
    }
    for r in rows {
        if r.record_type == crate::publish::RecordType::Mx {
            dns.mx(&r.host, r.priority.unwrap_or_default(), &r.value);
        } else {
            let chunks = r.value_chunks().unwrap_or_else(|| vec![r.value.clone()]);
            let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
            dns.txt_strings(&r.host, &chunks);
        }
    }
}

/// The rows of the view's records that `keep` picks, in order.
fn rows_where(
    view: &DomainView,
    keep: impl Fn(&&crate::publish::DnsRecordSpec) -> bool,
) -> Vec<&crate::publish::DnsRecordSpec> {
    view.dns_records.iter().filter(keep).collect()
}

fn kinds(events: &[DomainEvent]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn timeline(w: &World, id: &DomainId) -> Vec<EventKind> {
    kinds(&w.events(id, Some(200), None).items)
}

#[test]
fn create_answers_with_the_product_page_records() {
    let w = world();
    let view = w.create("Mail.Example.com.");
    let d = &view.domain;
    assert_eq!(d.name.as_str(), "mail.example.com");
    assert!(!d.verified && d.is_active && !d.is_shared());
    assert_eq!(d.keys.active().selector.as_str(), "scaisend");
    let rows: Vec<(&str, &str)> = view
        .dns_records
        .iter()
        .map(|r| (r.host.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].0, "scaisend._domainkey.mail.example.com");
    assert!(
        rows[0]
            .1
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    );
    assert_eq!(
        rows[1],
        (
            "mail.example.com",
            "v=spf1 include:scaisend.scailabs.ai ~all"
        )
    );
    assert_eq!(
        rows[2],
        (
            "_dmarc.mail.example.com",
            "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com"
        )
    );
    // A 2048-bit key record exceeds 255 octets, so it comes with its chunks.
    let chunks = view.dns_records[0].value_chunks().unwrap();
    assert!(chunks.len() == 2 && chunks.concat() == rows[0].1);
    assert_eq!(kinds(&w.repo.all_events()), vec![EventKind::Created]);
}

#[test]
fn the_same_name_twice_under_one_owner_conflicts() {
    let w = world();
    w.create("mail.example.com");
    let e = block_on(w.svc.create(&admin(), new_domain("mail.example.com"))).unwrap_err();
    assert!(
        matches!(e, Error::Conflict(ref m) if m.contains("mail.example.com")),
        "{e:?}"
    );
    // Another tenant may add the same name: only the key holder can ever verify it.
    let other = caller(Role::TenantAdmin, Some("t2"), "p1");
    assert!(block_on(w.svc.create(&other, new_domain("mail.example.com"))).is_ok());
}

#[test]
fn roles_and_tenancy_follow_the_contract() {
    let w = world();
    let own = w.create("mail.example.com").domain;
    let viewer = caller(Role::TenantViewer, Some("t1"), "p1");
    let other_tenant = caller(Role::TenantAdmin, Some("t2"), "p1");
    let operator = caller(Role::PartnerOperator, None, "p1");
    let other_operator = caller(Role::PartnerOperator, None, "p2");
    let service = Caller::new("svc", Role::Service, None, None).unwrap();

    assert!(matches!(
        block_on(w.svc.create(&viewer, new_domain("a.example.com"))),
        Err(Error::Forbidden(_))
    ));
    let shared = shared_domain("noreply.platform.example");
    assert!(matches!(
        block_on(w.svc.create(&admin(), shared.clone())),
        Err(Error::Forbidden(_))
    ));
    let shared = block_on(w.svc.create(&operator, shared)).unwrap().domain;
    assert!(shared.is_shared());

    // Reading: own, shared; never another tenant's or partner's (404, not 403).
    assert!(block_on(w.svc.get(&viewer, &own.id)).is_ok());
    assert!(block_on(w.svc.get(&viewer, &shared.id)).is_ok());
    assert_eq!(
        block_on(w.svc.get(&other_tenant, &own.id)).unwrap_err(),
        Error::NotFound
    );
    assert!(block_on(w.svc.get(&operator, &own.id)).is_ok());
    assert_eq!(
        block_on(w.svc.get(&other_operator, &own.id)).unwrap_err(),
        Error::NotFound
    );
    assert!(matches!(
        block_on(w.svc.get(&service, &own.id)),
        Err(Error::Forbidden(_))
    ));

    // Changing: shared domains are read-only to tenants; viewers read only.
    let off = deactivate();
    assert!(matches!(
        block_on(w.svc.update(&admin(), &shared.id, off.clone())),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        block_on(w.svc.update(&viewer, &own.id, off.clone())),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        block_on(w.svc.update(&operator, &own.id, off.clone())),
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        block_on(w.svc.update(&other_tenant, &own.id, off.clone())).unwrap_err(),
        Error::NotFound
    );
    assert!(block_on(w.svc.update(&operator, &shared.id, off)).is_ok());
    assert!(matches!(
        block_on(w.svc.delete(&admin(), &shared.id)),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        block_on(w.svc.verify(&viewer, &own.id)),
        Err(Error::Forbidden(_))
    ));

    // Lists are scoped the same way.
    let page = PageRequest::new(None, None).unwrap();
    let ids = |c: &Caller| -> Vec<DomainId> {
        block_on(w.svc.list(c, &ListFilter::default(), &page))
            .unwrap()
            .items
            .into_iter()
            .map(|v| v.domain.id)
            .collect()
    };
    assert_eq!(ids(&viewer).len(), 2);
    assert!(ids(&other_tenant).contains(&shared.id) && !ids(&other_tenant).contains(&own.id));
    assert!(ids(&other_operator).is_empty());
}

#[test]
fn verify_follows_dns_and_is_idempotent() {
    let w = world();
    let view = w.create("mail.example.com");
    let id = view.domain.id.clone();

    let report = w.verify(&id);
    assert!(!report.domain.verified);
    assert_eq!(report.errors.len(), 3, "{:?}", report.errors);
    assert!(
        report.errors[0]
            .starts_with("DKIM: no DKIM record at scaisend._domainkey.mail.example.com")
    );
    assert!(report.errors[2].contains("_dmarc.mail.example.com"));

    publish(&w.dns, &view);
    let report = w.verify(&id);
    assert!(report.domain.verified, "{:?}", report.errors);
    assert!(
        report.passed(CheckKind::Dkim)
            && report.passed(CheckKind::Spf)
            && report.passed(CheckKind::Dmarc)
    );
    assert!(report.errors.is_empty());
    assert_eq!(report.checks.len(), 3);
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.status == CheckStatus::Verified)
    );
    let after_first = timeline(&w, &id);
    assert_eq!(after_first[0], EventKind::Verified);

    // A second verify with unchanged DNS writes no event.
    w.verify(&id);
    assert_eq!(timeline(&w, &id), after_first);
}

#[test]
fn a_temporary_dns_failure_keeps_the_previous_state() {
    let w = world();
    let view = w.create("mail.example.com");
    publish(&w.dns, &view);
    let id = view.domain.id.clone();
    assert!(w.verify(&id).domain.verified);

    w.dns.fail_all("scaisend._domainkey.mail.example.com");
    let report = w.verify(&id);
    assert!(report.domain.verified, "a DNS outage never unverifies");
    assert!(report.passed(CheckKind::Dkim));
    assert_eq!(report.checks[0].status, CheckStatus::TemporaryFailure);
    assert!(report.errors[0].contains("could not answer"));
}

#[test]
fn an_explicit_verify_records_a_failure_at_once() {
    let w = world();
    let id = w.create_verified("mail.example.com").domain.id;
    w.dns.remove("scaisend._domainkey.mail.example.com");
    let report = w.verify(&id);
    assert!(!report.domain.verified && !report.passed(CheckKind::Dkim));
    assert_eq!(timeline(&w, &id)[0], EventKind::Unverified);
}

#[test]
fn rotation_walks_through_the_contract() {
    let w = world();
    let id = w.create_verified("mail.example.com").domain.id;

    let started = w.rotate(&id);
    assert_eq!(started.new_selector.as_str(), "scaisend2");
    assert_eq!(started.active_selector.as_str(), "scaisend");
    assert_eq!(
        started.dns_record.host,
        "scaisend2._domainkey.mail.example.com"
    );
    assert!(started.dns_record.value.starts_with("v=DKIM1; k=rsa; p="));
    assert!(matches!(
        block_on(w.svc.rotate(&admin(), &id)),
        Err(Error::Conflict(_))
    ));

    // Not yet published: signing stays on the old key.
    let report = w.verify(&id);
    assert_eq!(report.domain.keys.active().selector.as_str(), "scaisend");
    assert!(report.domain.verified);

    // Published: the next verify promotes it.
    w.publish_current(&id);
    let report = w.verify(&id);
    let keys = &report.domain.keys;
    assert_eq!(keys.active().selector.as_str(), "scaisend2");
    assert_eq!(
        keys.get(&Selector::parse("scaisend").unwrap())
            .unwrap()
            .state,
        KeyState::Retiring
    );
    assert!(report.domain.verified && report.passed(CheckKind::Dkim));
    assert_eq!(
        report.checks[0].host,
        "scaisend2._domainkey.mail.example.com"
    );
    assert!(timeline(&w, &id).contains(&EventKind::SelectorPromoted));

    // The retiring key stays published; the active one cannot be removed.
    let view = w.get(&id);
    let dkim_rows = rows_where(&view, |r| r.purpose == CheckKind::Dkim);
    assert_eq!(dkim_rows.len(), 2);
    assert!(dkim_rows.iter().all(|r| r.action == RecordAction::Publish));
    let active = Selector::parse("scaisend2").unwrap();
    assert!(matches!(
        block_on(w.svc.remove_selector(&admin(), &id, &active)),
        Err(Error::Conflict(_))
    ));

    let old = Selector::parse("scaisend").unwrap();
    let view = w.remove_selector(&id, &old);
    let removed = rows_where(&view, |r| r.action == RecordAction::Remove);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].host, "scaisend._domainkey.mail.example.com");
    assert!(
        block_on(w.repo.sealed_key(&id, &old)).is_err(),
        "the private key is destroyed"
    );
    assert_eq!(
        block_on(
            w.svc
                .remove_selector(&admin(), &id, &Selector::parse("nope").unwrap())
        )
        .unwrap_err(),
        Error::NotFound
    );

    // "for a while": after 30 days the remove row disappears.
    w.clock.advance(Duration::days(31));
    let view = w.get(&id);
    assert!(
        view.dns_records
            .iter()
            .all(|r| r.action == RecordAction::Publish)
    );
}

#[test]
fn a_pending_rotation_can_be_cancelled_and_selectors_are_never_reused() {
    let w = world();
    let id = w.create("mail.example.com").domain.id;
    let started = w.rotate(&id);
    w.remove_selector(&id, &started.new_selector);
    assert_eq!(timeline(&w, &id)[0], EventKind::RotationCancelled);
    let again = w.rotate(&id);
    assert_eq!(again.new_selector.as_str(), "scaisend3");
}

#[test]
fn the_monitor_verifies_then_tolerates_failure_for_the_grace_period() {
    let w = world();
    let view = w.create("mail.example.com");
    let id = view.domain.id.clone();
    let round = || w.monitor_round("instance-a");

    // Not due yet right after creation.
    assert_eq!(round().checked, 0);
    w.clock.advance(Duration::minutes(1));
    assert_eq!(round().checked, 1);
    assert!(!w.domain(&id).verified);

    // Records appear; the next due check verifies.
    publish(&w.dns, &view);
    w.clock.advance(Duration::minutes(1));
    assert_eq!(round().checked, 1);
    let d = w.domain(&id);
    assert!(d.verified);
    assert!(
        d.next_check_at - w.svc.now() >= Duration::hours(20),
        "verified domains at least daily"
    );

    // A DNS outage changes nothing.
    w.dns.fail_all("scaisend._domainkey.mail.example.com");
    w.clock.advance(Duration::hours(25));
    round();
    let d = w.domain(&id);
    assert!(d.verified && d.failing_since.is_none());
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().status,
        CheckStatus::Verified
    );

    // The DKIM record is deleted: flagged at once, still verified within the grace.
    w.dns.remove("scaisend._domainkey.mail.example.com");
    w.clock.advance(Duration::hours(25));
    round();
    let d = w.domain(&id);
    assert!(d.verified);
    assert_eq!(
        d.checks.get(CheckKind::Dkim).unwrap().status,
        CheckStatus::Missing
    );
    assert!(d.failing_since.is_some());
    assert_eq!(timeline(&w, &id)[0], EventKind::Failing);
    for _ in 0..(71 * 4) {
        w.clock.advance(Duration::minutes(15));
        round();
    }
    assert!(w.domain(&id).verified, "71 h into the grace");
    w.clock.advance(Duration::hours(2));
    round();
    let d = w.domain(&id);
    assert!(!d.verified, "unverified once the grace has passed");
    assert_eq!(timeline(&w, &id)[0], EventKind::Unverified);
}

#[test]
fn the_monitor_promotes_a_published_rotation_and_rotates_on_schedule() {
    let w = world();
    let mut new = new_domain("mail.example.com");
    new.dkim_rotation_days = Some(crate::rotation::RotationPeriod::from_days(30).unwrap());
    let view = w.create_new(new);
    publish(&w.dns, &view);
    let id = view.domain.id.clone();
    w.verify(&id);
    let round = || w.monitor_round("a");

    w.clock.advance(Duration::days(31));
    let report = round();
    assert_eq!(report.rotations_started, 1);
    let events = block_on(
        w.svc
            .events(&admin(), &id, &PageRequest::new(None, None).unwrap()),
    )
    .unwrap();
    let started = events
        .items
        .iter()
        .find(|e| e.kind == EventKind::RotationStarted)
        .unwrap();
    assert_eq!(started.actor, Actor::System);
    assert_eq!(started.detail["automatic"], true);

    let view = w.get(&id);
    assert_eq!(
        view.domain.keys.pending().unwrap().selector.as_str(),
        "scaisend2"
    );
    publish(&w.dns, &view);
    w.clock.advance(Duration::minutes(2));
    round();
    let d = w.domain(&id);
    assert_eq!(d.keys.active().selector.as_str(), "scaisend2");
    assert!(d.keys.pending().is_none());
}

#[test]
fn send_time_decisions_follow_the_product_page_table() {
    let w = world();
    let ask = |from: &str, mode: KeyMode, tenant: &str| {
        block_on(
            w.svc
                .authorize_sender(&pipeline(), &sender_query(tenant, from, mode)),
        )
        .unwrap()
    };
    let not_verified = SendDecision::AcceptThenFail {
        reason: "domain not verified".into(),
    };

    assert_eq!(
        ask("a@unknown.example", KeyMode::Test, "t1"),
        SendDecision::Sandbox
    );
    assert_eq!(ask("a@unknown.example", KeyMode::Live, "t1"), not_verified);

    let view = w.create("mail.example.com");
    let id = view.domain.id.clone();
    assert_eq!(
        ask("alerts@mail.example.com", KeyMode::Live, "t1"),
        not_verified
    );
    assert_eq!(
        ask("alerts@mail.example.com", KeyMode::Test, "t1"),
        SendDecision::Sandbox
    );

    publish(&w.dns, &view);
    w.verify(&id);
    assert_eq!(
        ask("Alerts <alerts@MAIL.example.com>", KeyMode::Live, "t1"),
        SendDecision::Deliver {
            signing_domain: DomainName::parse("mail.example.com").unwrap(),
            selector: Selector::parse("scaisend").unwrap(),
            selectors: vec![(
                crate::records::dkim::Algorithm::RsaSha256,
                Selector::parse("scaisend").unwrap()
            )],
            envelope: crate::sending::Envelope {
                mail_from_domain: DomainName::parse("bounces.scaisend.scailabs.ai").unwrap(),
                alignment: crate::alignment::Aligned {
                    dkim: true,
                    spf: false
                },
            },
        }
    );
    // Another tenant of the same partner may not use it.
    assert_eq!(
        ask("alerts@mail.example.com", KeyMode::Live, "t2"),
        not_verified
    );

    w.update(&id, deactivate());
    assert_eq!(
        ask("alerts@mail.example.com", KeyMode::Live, "t1"),
        SendDecision::Reject {
            reason: "domain inactive".into()
        }
    );

    // A partner's shared, verified domain is usable by every tenant of the partner.
    let operator = caller(Role::PartnerOperator, None, "p1");
    let shared = shared_domain("noreply.platform.example");
    let view = block_on(w.svc.create(&operator, shared)).unwrap();
    publish(&w.dns, &view);
    block_on(w.svc.verify(&operator, &view.domain.id)).unwrap();
    assert!(matches!(
        ask("noreply@noreply.platform.example", KeyMode::Live, "t2"),
        SendDecision::Deliver { .. }
    ));

    // Tenants cannot ask.
    let query = sender_query("t1", "a@b.example", KeyMode::Live);
    let e = block_on(w.svc.authorize_sender(&admin(), &query)).unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)));
}

#[test]
fn patch_changes_policy_and_activity_with_events() {
    let w = world();
    let id = w.create("mail.example.com").domain.id;
    let changes = DomainChanges {
        dmarc_policy: Some(DmarcPolicy::Reject),
        dmarc_rua: Some(None),
        ..Default::default()
    };
    let view = w.update(&id, changes);
    let dmarc = view
        .dns_records
        .iter()
        .find(|r| r.purpose == CheckKind::Dmarc)
        .unwrap();
    assert_eq!(dmarc.value, "v=DMARC1; p=reject");
    let view = w.update(&id, deactivate());
    assert!(!view.domain.is_active);
    assert_eq!(
        timeline(&w, &id),
        vec![
            EventKind::Deactivated,
            EventKind::PolicyChanged,
            EventKind::Created
        ]
    );
    // A change to nothing writes nothing.
    w.update(&id, deactivate());
    assert_eq!(timeline(&w, &id).len(), 3);
}

#[test]
fn delete_destroys_the_keys() {
    let w = world();
    let id = w.create("mail.example.com").domain.id;
    block_on(w.svc.delete(&admin(), &id)).unwrap();
    assert_eq!(
        block_on(w.svc.get(&admin(), &id)).unwrap_err(),
        Error::NotFound
    );
    assert!(
        block_on(
            w.repo
                .sealed_key(&id, &Selector::parse("scaisend").unwrap())
        )
        .is_err()
    );
}

#[test]
fn the_timeline_is_newest_first_and_paginated() {
    let w = world();
    let id = w.create("mail.example.com").domain.id;
    for _ in 0..3 {
        let s = w.rotate(&id).new_selector;
        w.remove_selector(&id, &s);
    }
    let first = w.events(&id, Some(4), None);
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.items[0].kind, EventKind::RotationCancelled);
    let second = w.events(&id, Some(4), first.next_after.clone());
    assert_eq!(
        kinds(&second.items),
        vec![
            EventKind::RotationCancelled,
            EventKind::RotationStarted,
            EventKind::Created
        ]
    );
    assert_eq!(second.next_after, None);
    assert!(
        first
            .items
            .iter()
            .chain(&second.items)
            .all(|e| e.actor == Actor::User("user-1".into()))
    );
}

mockall::mock! {
    Repo {}
    #[async_trait]
    impl DomainRepo for Repo {
        async fn insert_notifying(&self, domain: &Domain, events: &[DomainEvent], outbox: &[OutboxMessage]) -> Result<(), RepoError>;
        async fn get(&self, scope: &Scope, id: &DomainId) -> Result<Domain, RepoError>;
        async fn list(&self, scope: &Scope, filter: &ListFilter, page: &PageRequest) -> Result<Page<Domain>, RepoError>;
        async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError>;
        async fn update_notifying(&self, domain: &Domain, events: &[DomainEvent], outbox: &[OutboxMessage], lease: LeaseOnWrite) -> Result<(), RepoError>;
        async fn delete_notifying(&self, scope: &Scope, id: &DomainId, outbox: &[OutboxMessage]) -> Result<(), RepoError>;
        async fn events(&self, scope: &Scope, id: &DomainId, page: &PageRequest) -> Result<Page<DomainEvent>, RepoError>;
        async fn find_sendable(&self, partner_id: &str, tenant_id: &str, name: &DomainName) -> Result<Vec<Domain>, RepoError>;
        async fn claim_due(&self, now: OffsetDateTime, owner: &str, lease_until: OffsetDateTime, limit: u32) -> Result<Vec<DomainId>, RepoError>;
        async fn release(&self, id: &DomainId, owner: &str, retry_at: OffsetDateTime) -> Result<(), RepoError>;
        async fn zone_domains(&self) -> Result<Vec<Domain>, RepoError>;
        async fn ping(&self) -> Result<(), RepoError>;
    }
}

mockall::mock! {
    Keys {}
    #[async_trait]
    impl KeyStore for Keys {
        async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError>;
    }
}

fn service_over(repo: MockRepo) -> DomainService {
    let ports = testing::ports(
        Arc::new(repo),
        Arc::new(MockKeys::new()),
        Arc::new(FakeDns::new()),
        Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH)),
    );
    testing::service(ports, ServiceConfig::default())
}

#[test]
fn a_store_outage_is_unavailable_not_a_panic() {
    let mut repo = MockRepo::new();
    repo.expect_get()
        .returning(|_, _| Err(RepoError::Unavailable("connection refused".into())));
    repo.expect_owner_usage()
        .returning(|_, _| Err(RepoError::Unavailable("connection refused".into())));
    let svc = service_over(repo);
    let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
    assert!(matches!(
        block_on(svc.get(&admin(), &id)),
        Err(Error::Unavailable(_))
    ));
    assert!(matches!(
        block_on(svc.create(&admin(), new_domain("mail.example.com"))),
        Err(Error::Unavailable(_))
    ));
}

#[test]
fn a_lost_race_is_a_conflict_and_the_store_is_asked_once() {
    let w = world();
    let domain = w.create("mail.example.com").domain;
    let mut repo = MockRepo::new();
    repo.expect_get().returning(move |_, _| Ok(domain.clone()));
    repo.expect_update_notifying()
        .times(1)
        .returning(|_, _, _, _| Err(RepoError::Conflict("version changed".into())));
    let svc = service_over(repo);
    let id = DomainId::parse("dom_01J0000000000000000000000A").unwrap();
    let e = block_on(svc.rotate(&admin(), &id)).unwrap_err();
    assert!(
        matches!(e, Error::Conflict(ref m) if m.contains("another request")),
        "{e:?}"
    );
}

#[test]
fn built_in_defaults_are_valid_names() {
    let c = ServiceConfig::default();
    assert_eq!(
        DomainName::parse(DEFAULT_SPF_INCLUDE).unwrap(),
        c.spf_include
    );
    assert_eq!(Selector::parse(DEFAULT_SELECTOR).unwrap(), c.selector_base);
    assert_eq!(DomainName::parse(DEFAULT_BOUNCE_MX).unwrap(), c.bounce_mx);
    assert_eq!(
        DomainName::parse(DEFAULT_RETURN_PATH).unwrap(),
        c.default_return_path
    );
}

#[test]
fn only_deliverable_domains_sign_and_with_their_active_key() {
    let w = world();
    let service = pipeline();
    let message =
        b"From: Alerts <alerts@mail.example.com>\r\nTo: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"
            .to_vec();
    let req = |tenant: &str| SignRequest {
        tenant_id: tenant.into(),
        partner_id: "p1".into(),
        message: message.clone(),
    };
    let view = w.create("mail.example.com");
    let e = block_on(w.svc.sign(&service, req("t1"))).unwrap_err();
    assert!(
        matches!(e, Error::Conflict(ref m) if m.contains("domain not verified")),
        "{e:?}"
    );

    publish(&w.dns, &view);
    w.verify(&view.domain.id);
    let sig = block_on(w.svc.sign(&service, req("t1"))).unwrap();
    assert_eq!(sig.selector().as_str(), "scaisend");
    assert!(sig.header_field().contains("d=mail.example.com;"));
    assert!(sig.signed_message().ends_with(b"body\r\n"));

    // After a rotation is promoted, the new key signs.
    w.rotate(&view.domain.id);
    w.publish_current(&view.domain.id);
    w.verify(&view.domain.id);
    assert_eq!(
        block_on(w.svc.sign(&service, req("t1")))
            .unwrap()
            .selector()
            .as_str(),
        "scaisend2"
    );

    // Another tenant, a tenant token, a message without From.
    assert!(matches!(
        block_on(w.svc.sign(&service, req("t2"))),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        block_on(w.svc.sign(&admin(), req("t1"))),
        Err(Error::Forbidden(_))
    ));
    let no_from = SignRequest {
        message: b"Subject: x\r\n\r\nbody".to_vec(),
        ..req("t1")
    };
    assert!(matches!(
        block_on(w.svc.sign(&service, no_from.clone())),
        Err(Error::Invalid(_))
    ));
}

/// A CPU pool that is always saturated: whatever reaches it is refused.
struct BusyPool;

#[async_trait]
impl crate::ports::CpuPool for BusyPool {
    async fn run(
        &self,
        _: crate::ports::CpuJob,
    ) -> std::result::Result<(), crate::ports::PoolError> {
        Err(crate::ports::PoolError::Busy)
    }
}

#[test]
fn a_short_message_is_signed_on_the_callers_thread_and_a_large_one_on_the_cpu_pool() {
    let w = world();
    let view = w.create("mail.example.com");
    publish(&w.dns, &view);
    w.verify(&view.domain.id);
    let mut ports = w.svc.ports().clone();
    ports.cpu = Arc::new(BusyPool);
    let svc = DomainService::new(ports, w.svc.master_key(), ServiceConfig::default());
    let message = |body_len: usize| SignRequest {
        tenant_id: "t1".into(),
        partner_id: "p1".into(),
        message: [
            b"From: alerts@mail.example.com\r\nSubject: hi\r\n\r\n".as_slice(),
            &vec![b'a'; body_len],
        ]
        .concat(),
    };
    let short = message(100);
    assert!(short.message.len() <= INLINE_SIGN_MAX_BYTES);
    block_on(svc.sign(&pipeline(), short)).expect("signed without the pool");
    let large = message(INLINE_SIGN_MAX_BYTES);
    assert!(matches!(
        block_on(svc.sign(&pipeline(), large)),
        Err(Error::Unavailable(_))
    ));
}

#[test]
fn a_batch_answers_each_message_in_order_and_fails_whole_only_for_the_service() {
    let w = world();
    let view = w.create("mail.example.com");
    publish(&w.dns, &view);
    w.verify(&view.domain.id);
    w.create("other.example.com");
    let req = |tenant: &str, message: &[u8]| SignRequest {
        tenant_id: tenant.into(),
        partner_id: "p1".into(),
        message: message.to_vec(),
    };
    let good = b"From: alerts@mail.example.com\r\nSubject: hi\r\n\r\nbody\r\n";
    let unverified = b"From: a@other.example.com\r\nSubject: hi\r\n\r\nbody\r\n";
    let batch = vec![
        req("t1", good),
        req("t1", unverified),
        req("t1", b"Subject: no From\r\n\r\nbody"),
        req("t2", good),
        req("t1", b"From: alerts@mail.example.com\r\n\r\nsecond\r\n"),
    ];
    let answers = block_on(w.svc.sign_batch(&pipeline(), batch.clone())).unwrap();
    assert_eq!(answers.len(), 5);
    // Each answer is what signing that message alone answers.
    for (request, answer) in batch.iter().zip(&answers) {
        let alone = block_on(w.svc.sign(&pipeline(), request.clone()));
        match (answer, alone) {
            (Ok(batched), Ok(alone)) => {
                assert_eq!(batched.selector(), alone.selector());
                assert_eq!(batched.domain(), alone.domain());
            }
            (Err(batched), Err(alone)) => {
                assert_eq!(format!("{batched:?}"), format!("{alone:?}"));
            }
            (batched, alone) => panic!("batch {batched:?} against alone {alone:?}"),
        }
    }
    assert!(
        answers[0]
            .as_ref()
            .unwrap()
            .signed_message()
            .ends_with(b"body\r\n")
    );
    assert!(matches!(&answers[1], Err(Error::Conflict(m)) if m.contains("not verified")));
    assert!(matches!(&answers[2], Err(Error::Invalid(_))));
    assert!(matches!(&answers[3], Err(Error::Conflict(_))));
    assert!(
        answers[4]
            .as_ref()
            .unwrap()
            .signed_message()
            .ends_with(b"second\r\n")
    );

    // Empty, too long, a tenant token: the whole batch is refused.
    for size in [0, SIGN_BATCH_MAX_MESSAGES + 1] {
        let e = block_on(w.svc.sign_batch(&pipeline(), vec![req("t1", good); size])).unwrap_err();
        assert!(
            matches!(&e, Error::Invalid(f) if f[0].field == "messages" && f[0].message.contains("from 1 to 100")),
            "{e:?}"
        );
    }
    let full = block_on(
        w.svc
            .sign_batch(&pipeline(), vec![req("t1", good); SIGN_BATCH_MAX_MESSAGES]),
    );
    assert_eq!(
        full.unwrap().iter().filter(|a| a.is_ok()).count(),
        SIGN_BATCH_MAX_MESSAGES
    );
    assert!(matches!(
        block_on(w.svc.sign_batch(&admin(), vec![req("t1", good)])),
        Err(Error::Forbidden(_))
    ));

    // Short messages are signed on the caller's thread, as alone; a large one goes to
    // the CPU pool, and a saturated pool refuses the whole batch.
    let mut ports = w.svc.ports().clone();
    ports.cpu = Arc::new(BusyPool);
    let busy = DomainService::new(ports, w.svc.master_key(), ServiceConfig::default());
    let short = block_on(busy.sign_batch(&pipeline(), vec![req("t1", good); 3])).unwrap();
    assert!(short.iter().all(|a| a.is_ok()));
    let large = [
        b"From: alerts@mail.example.com\r\n\r\n".as_slice(),
        &vec![b'a'; INLINE_SIGN_MAX_BYTES],
    ]
    .concat();
    assert!(matches!(
        block_on(busy.sign_batch(&pipeline(), vec![req("t1", good), req("t1", &large)])),
        Err(Error::Unavailable(_))
    ));
}

#[test]
fn a_stopped_monitor_round_releases_the_domains_it_has_not_checked() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let w = world();
    for name in ["a.example.com", "b.example.com", "c.example.com"] {
        w.create(name);
    }
    w.clock.advance(Duration::minutes(1));

    // Asked before the batch is claimed and before each domain: "stop" from the second
    // domain on, as when SIGTERM arrives during a round.
    let asked = AtomicUsize::new(0);
    let stop_after_one = || asked.fetch_add(1, Ordering::SeqCst) >= 2;
    let report = block_on(w.svc.monitor_round_until(
        "instance-a",
        50,
        Duration::minutes(5),
        &stop_after_one,
    ))
    .unwrap();
    assert_eq!((report.checked, report.released), (1, 2));

    // The two left unchecked are free and due now: another instance takes them at once,
    // without waiting for a lease to expire; the checked one is not due again yet.
    let other = w.monitor_round("instance-b");
    assert_eq!((other.checked, other.released), (2, 0));

    // Stopped before the first batch: nothing is claimed at all.
    w.clock.advance(Duration::minutes(1));
    let stopped =
        block_on(
            w.svc
                .monitor_round_until("instance-a", 50, Duration::minutes(5), &|| true),
        )
        .unwrap();
    assert_eq!((stopped.checked, stopped.released), (0, 0));
    let after = w.monitor_round("instance-b");
    assert_eq!(after.checked, 3);
}

#[test]
fn a_create_that_will_be_refused_never_generates_a_key() {
    let w = world_with(ServiceConfig {
        max_domains_per_owner: 2,
        ..ServiceConfig::default()
    });
    w.create("a.example.com");
    assert_eq!(w.keygen.generated(), 1);
    // A name the owner already has, a viewer, a tenant asking for a shared domain: refused
    // before any key is generated.
    let duplicate = block_on(w.svc.create(&admin(), new_domain("a.example.com"))).unwrap_err();
    assert!(matches!(duplicate, Error::Conflict(_)), "{duplicate:?}");
    let viewer = caller(Role::TenantViewer, Some("t1"), "p1");
    assert!(matches!(
        block_on(w.svc.create(&viewer, new_domain("b.example.com"))),
        Err(Error::Forbidden(_))
    ));
    let shared = shared_domain("b.example.com");
    assert!(matches!(
        block_on(w.svc.create(&admin(), shared)),
        Err(Error::Forbidden(_))
    ));
    assert_eq!(w.keygen.generated(), 1, "no key for a refused create");
    // The quota: the second domain fits, the third is refused, also without a key.
    w.create("b.example.com");
    let over = block_on(w.svc.create(&admin(), new_domain("c.example.com"))).unwrap_err();
    assert!(
        matches!(over, Error::Conflict(ref m) if m.contains("quota of 2")),
        "{over:?}"
    );
    assert_eq!(w.keygen.generated(), 2);
    // The quota is per owner: another tenant still has room.
    let other = caller(Role::TenantAdmin, Some("t2"), "p1");
    assert!(block_on(w.svc.create(&other, new_domain("c.example.com"))).is_ok());
    // A return-path host longer than a name may be: refused, without a key.
    // 245 characters: `bounces.` would still fit, a longer label does not.
    let labels = [
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(50),
    ];
    let mut long = new_domain(&format!("{}.example.com", labels.join(".")));
    assert_eq!(long.name.as_str().len(), 245);
    long.return_path = Some(ReturnPathLabel::parse("bounces-and-more").unwrap());
    let e = block_on(w.svc.create(&other, long)).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(fields) if fields[0].field == "return_path"),
        "{e:?}"
    );
    assert_eq!(w.keygen.generated(), 3);
}

/// A domain `mail.example.com` with the return path `bounces`, its records published and
/// verified; and its id.
fn verified_with_return_path(w: &World) -> DomainId {
    let mut new = new_domain("mail.example.com");
    new.return_path = Some(ReturnPathLabel::parse("bounces").unwrap());
    let view = w.create_new(new);
    let rows: Vec<(&str, &str)> = view
        .dns_records
        .iter()
        .filter(|r| r.purpose == CheckKind::ReturnPath)
        .map(|r| (r.record_type.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("MX", "feedback.scaisend.scailabs.ai"),
            ("TXT", "v=spf1 include:scaisend.scailabs.ai -all")
        ]
    );
    publish(&w.dns, &view);
    let report = w.verify(&view.domain.id);
    assert!(report.domain.verified);
    assert!(
        report.domain.return_path.as_ref().unwrap().verified,
        "{:?}",
        report.checks
    );
    assert_eq!(
        report.checks.len(),
        4,
        "the return path is checked with the others"
    );
    view.domain.id
}

/// The envelope of a live send from `alerts@mail.example.com` by tenant t1.
fn envelope_of_a_send(w: &World) -> crate::sending::Envelope {
    match live_send(&w.svc) {
        SendDecision::Deliver { envelope, .. } => envelope,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_verified_return_path_is_the_mail_from_and_a_broken_one_leaves_verified_alone() {
    let w = world();
    let id = verified_with_return_path(&w);
    let envelope = envelope_of_a_send(&w);
    assert_eq!(
        envelope.mail_from_domain.as_str(),
        "bounces.mail.example.com"
    );
    assert!(envelope.alignment.spf && envelope.alignment.dkim);
    assert_eq!(w.get(&id).envelope, envelope);
    assert_eq!(
        timeline(&w, &id)[..2],
        [EventKind::ReturnPathVerified, EventKind::Verified]
    );

    // The MX now points elsewhere: the domain stays verified and keeps sending, with the
    // platform's return path.
    w.dns.remove("bounces.mail.example.com");
    w.dns
        .mx("bounces.mail.example.com", 10, "mx.example.net")
        .txt(
            "bounces.mail.example.com",
            "v=spf1 include:scaisend.scailabs.ai -all",
        );
    let report = w.verify(&id);
    assert!(report.domain.verified);
    assert!(!report.domain.return_path.as_ref().unwrap().verified);
    let verdict = report.domain.checks.get(CheckKind::ReturnPath).unwrap();
    assert_eq!(
        verdict.code,
        crate::verify::VerdictCode::ReturnPathMxMismatch
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].starts_with("RETURN_PATH: "),
        "{:?}",
        report.errors
    );
    let fallback = envelope_of_a_send(&w);
    assert_eq!(
        fallback.mail_from_domain.as_str(),
        "bounces.scaisend.scailabs.ai"
    );
    assert!(!fallback.alignment.spf && fallback.alignment.dkim);
    assert_eq!(
        timeline(&w, &id)[..2],
        [EventKind::ReturnPathUnverified, EventKind::CheckChanged]
    );
}

#[test]
fn the_monitor_keeps_a_failing_return_path_in_use_for_the_grace_period() {
    let w = world();
    let id = verified_with_return_path(&w);
    let round = || w.monitor_round("instance-a");
    w.dns.remove("bounces.mail.example.com");
    w.dns.mx("bounces.mail.example.com", 0, ".");
    w.clock.advance(Duration::hours(25));
    assert_eq!(round().checked, 1);
    let d = w.domain(&id);
    let rp = d.return_path.clone().unwrap();
    assert!(d.verified && rp.verified && rp.failing_since.is_some());
    assert_eq!(timeline(&w, &id)[0], EventKind::ReturnPathFailing);
    assert!(
        d.next_check_at - w.svc.now() <= Duration::minutes(15),
        "a failing return path is watched closely"
    );
    assert_eq!(
        envelope_of_a_send(&w).mail_from_domain.as_str(),
        "bounces.mail.example.com"
    );
    w.clock.advance(Duration::hours(71));
    round();
    assert!(
        block_on(w.svc.get(&admin(), &id))
            .unwrap()
            .domain
            .return_path
            .unwrap()
            .verified
    );
    w.clock.advance(Duration::hours(2));
    round();
    let d = w.domain(&id);
    assert!(d.verified, "the domain itself never failed");
    assert!(!d.return_path.unwrap().verified);
    assert_eq!(timeline(&w, &id)[0], EventKind::ReturnPathUnverified);
    assert_eq!(
        envelope_of_a_send(&w).mail_from_domain.as_str(),
        "bounces.scaisend.scailabs.ai"
    );
}

#[test]
fn patch_sets_changes_and_removes_the_return_path() {
    let w = world();
    let view = w.create("mail.example.com");
    let id = view.domain.id.clone();
    assert!(view.domain.return_path.is_none());
    let set = |label: Option<&str>| DomainChanges {
        return_path: Some(label.map(|l| ReturnPathLabel::parse(l).unwrap())),
        ..Default::default()
    };
    w.clock.advance(Duration::hours(30));
    let updated = w.update(&id, set(Some("bounces")));
    let rp = updated.domain.return_path.clone().unwrap();
    assert_eq!(rp.host.as_str(), "bounces.mail.example.com");
    assert_eq!(rp.set_at, w.svc.now());
    assert!(updated.domain.next_check_at <= w.svc.now() + Duration::minutes(1));
    assert_eq!(timeline(&w, &id)[0], EventKind::ReturnPathChanged);
    let events = block_on(
        w.svc
            .events(&admin(), &id, &PageRequest::new(None, None).unwrap()),
    )
    .unwrap()
    .items;
    assert_eq!(
        events[0].detail["after"]["return_path_host"],
        "bounces.mail.example.com"
    );
    // The same again changes nothing.
    w.update(&id, set(Some("Bounces")));
    assert_eq!(timeline(&w, &id).len(), 2);
    w.update(&id, set(Some("rp")));
    let removed = w.update(&id, set(None));
    assert!(removed.domain.return_path.is_none());
    assert!(
        removed
            .dns_records
            .iter()
            .all(|r| r.purpose != CheckKind::ReturnPath)
    );
    assert_eq!(
        timeline(&w, &id)[..2],
        [EventKind::ReturnPathChanged, EventKind::ReturnPathChanged]
    );
    // A viewer may not set one.
    let viewer = caller(Role::TenantViewer, Some("t1"), "p1");
    assert!(matches!(
        block_on(w.svc.update(&viewer, &id, set(Some("bounces")))),
        Err(Error::Forbidden(_))
    ));
}

/// A key generator whose pool is saturated.
struct BusyKeys;

#[async_trait]
impl crate::ports::KeyGenerator for BusyKeys {
    async fn generate(
        &self,
        _: KeyAlgorithm,
    ) -> std::result::Result<crate::crypto::GeneratedKey, crate::crypto::KeyError> {
        Err(crate::crypto::KeyError::Busy)
    }
}

#[test]
fn a_saturated_key_generator_is_a_temporary_refusal() {
    let w = world();
    let mut ports = w.svc.ports().clone();
    ports.keygen = Arc::new(BusyKeys);
    let svc = testing::service(ports, ServiceConfig::default());
    let e = block_on(svc.create(&admin(), new_domain("mail.example.com"))).unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert!(
        block_on(w.repo.list(
            &Scope::System,
            &ListFilter::default(),
            &PageRequest::new(None, None).unwrap()
        ))
        .unwrap()
        .items
        .is_empty(),
        "nothing was stored"
    );
}

/// DNS that, on the first query for a name, runs a hook — a concurrent change that lands
/// while a verification is waiting for DNS.
struct DnsWithHook {
    inner: Arc<FakeDns>,
    name: String,
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

#[async_trait]
impl crate::ports::DnsLookup for DnsWithHook {
    async fn txt(&self, name: &str) -> crate::ports::DnsAnswer<crate::ports::TxtRecordData> {
        if name == self.name
            && let Some(hook) = self.hook.lock().unwrap().take()
        {
            hook();
        }
        crate::ports::DnsLookup::txt(self.inner.as_ref(), name).await
    }
    async fn a(&self, name: &str) -> crate::ports::DnsAnswer<std::net::Ipv4Addr> {
        crate::ports::DnsLookup::a(self.inner.as_ref(), name).await
    }
    async fn aaaa(&self, name: &str) -> crate::ports::DnsAnswer<std::net::Ipv6Addr> {
        crate::ports::DnsLookup::aaaa(self.inner.as_ref(), name).await
    }
    async fn mx(&self, name: &str) -> crate::ports::DnsAnswer<crate::ports::MxRecord> {
        crate::ports::DnsLookup::mx(self.inner.as_ref(), name).await
    }
    async fn ptr(&self, ip: std::net::IpAddr) -> crate::ports::DnsAnswer<String> {
        crate::ports::DnsLookup::ptr(self.inner.as_ref(), ip).await
    }
    async fn cname(&self, name: &str) -> crate::ports::DnsAnswer<String> {
        crate::ports::DnsLookup::cname(self.inner.as_ref(), name).await
    }
}

#[test]
fn a_verification_is_stored_only_for_the_keys_it_was_computed_for() {
    let w = world();
    let view = w.create_verified("mail.example.com");
    let id = view.domain.id.clone();
    // A rotation to `scaisend2`, whose record is not published.
    w.rotate(&id);
    // While the next verification waits for DNS, another writer promotes `scaisend2`: the
    // verdicts computed so far are about `scaisend`, which no longer signs.
    let repo = w.repo.clone();
    let dns = DnsWithHook {
        inner: w.dns.clone(),
        name: "scaisend._domainkey.mail.example.com".to_owned(),
        hook: std::sync::Mutex::new(Some(Box::new(move || {
            repo.mutate(&id, |d| {
                let pending = d.keys.pending().unwrap().index;
                d.keys.promote(pending, d.updated_at).unwrap();
            });
        }))),
    };
    let mut ports = w.svc.ports().clone();
    ports.dns = Arc::new(dns);
    let svc = testing::service(ports, ServiceConfig::default());
    let id = view.domain.id.clone();
    let report = block_on(svc.verify(&admin(), &id)).unwrap();
    let stored = block_on(w.repo.get(&Scope::System, &id)).unwrap();
    assert_eq!(stored.keys.active().selector.as_str(), "scaisend2");
    // The checks ran again for the new key: the DKIM verdict is `scaisend2`'s, whose
    // record is missing — not `scaisend`'s passing one stored under the new key.
    let dkim = stored.checks.get(CheckKind::Dkim).unwrap();
    assert_eq!(dkim.details["selector"], "scaisend2");
    assert_eq!(dkim.status, CheckStatus::Missing);
    assert!(!report.passed(CheckKind::Dkim));
    assert!(!stored.verified);
}

#[test]
fn the_zone_serves_every_slot_of_cname_domains_and_nothing_of_txt_ones() {
    use crate::rotation::DkimMode;
    use crate::zone::ZoneAnswer;
    let w = world();
    let cname = block_on(w.svc.create(
        &admin(),
        NewDomain {
            dkim_mode: DkimMode::Cname,
            ..new_domain("mail.example.com")
        },
    ))
    .unwrap();
    w.create("txt.example.com");

    let zone = block_on(w.svc.zone_source().snapshot(7)).unwrap();
    assert_eq!(zone.serial(), 7);
    let slots = rows_where(&cname, |r| {
        r.record_type == crate::publish::RecordType::Cname
    });
    assert_eq!(slots.len(), 2, "{:?}", cname.dns_records);
    // The first slot holds the new key; the standby slot has held none yet.
    let key = &cname.domain.keys.live().next().unwrap().public_key;
    let expected = crate::records::dkim::DkimKeyRecord::for_key(key).to_string();
    assert_eq!(
        zone.lookup(&slots[0].value),
        ZoneAnswer::Txt(&[expected]),
        "{}",
        slots[0].value
    );
    assert_eq!(zone.lookup(&slots[1].value), ZoneAnswer::NxDomain);
    assert_eq!(zone.len(), 1, "the TXT-mode domain is not in the zone");

    // A store that cannot be reached is an error, never an empty zone.
    let mut repo = MockRepo::new();
    repo.expect_zone_domains()
        .returning(|| Err(RepoError::Unavailable("down".into())));
    assert!(block_on(service_over(repo).zone_source().snapshot(8)).is_err());
}

/// A mocked store whose `find_sendable` and `get` answer with the domain as `update` and
/// `delete` last left it, over a clock the test moves; it counts both kinds of reads.
fn decision_world(ttl: Duration) -> DecisionWorld {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let w = world();
    let mut domain = w.create("mail.example.com").domain;
    domain.verified = true;
    let id = domain.id.clone();
    let stored = Arc::new(Mutex::new(Some(domain)));
    let reads = Arc::new(AtomicUsize::new(0));
    let gets = Arc::new(AtomicUsize::new(0));
    let mut repo = MockRepo::new();
    let (s, g) = (stored.clone(), gets.clone());
    repo.expect_get().returning(move |_, _| {
        g.fetch_add(1, Ordering::SeqCst);
        s.lock().unwrap().clone().ok_or(RepoError::NotFound)
    });
    let s = stored.clone();
    repo.expect_update_notifying().returning(move |d, _, _, _| {
        let mut d = d.clone();
        d.version += 1;
        *s.lock().unwrap() = Some(d);
        Ok(())
    });
    let s = stored.clone();
    repo.expect_delete_notifying().returning(move |_, _, _| {
        *s.lock().unwrap() = None;
        Ok(())
    });
    let (s, r) = (stored, reads.clone());
    repo.expect_find_sendable().returning(move |_, _, _| {
        r.fetch_add(1, Ordering::SeqCst);
        Ok(s.lock().unwrap().clone().into_iter().collect())
    });
    let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH));
    let ports = testing::ports(
        Arc::new(repo),
        Arc::new(MockKeys::new()),
        Arc::new(FakeDns::new()),
        clock.clone(),
    );
    let config = ServiceConfig {
        decision_ttl: ttl,
        ..ServiceConfig::default()
    };
    let svc = testing::service(ports, config);
    (
        svc,
        clock,
        Reads {
            sendable: reads,
            gets,
        },
        id,
    )
}

type DecisionWorld = (DomainService, Arc<ManualClock>, Reads, DomainId);

/// How often the store was read: `find_sendable`, `get`.
struct Reads {
    sendable: Arc<std::sync::atomic::AtomicUsize>,
    gets: Arc<std::sync::atomic::AtomicUsize>,
}

impl Reads {
    fn sendable(&self) -> usize {
        self.sendable.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The name of [`live_send`]'s decision.
fn live_decision(svc: &DomainService) -> &'static str {
    live_send(svc).name()
}

#[test]
fn a_cached_decision_does_not_ask_the_store_again_until_it_expires() {
    let (svc, clock, reads, _) = decision_world(Duration::seconds(5));
    for _ in 0..3 {
        assert_eq!(live_decision(&svc), "deliver");
    }
    assert_eq!(reads.sendable(), 1, "one read, then the cache");
    clock.advance(Duration::milliseconds(4_999));
    assert_eq!(live_decision(&svc), "deliver");
    assert_eq!(reads.sendable(), 1);
    clock.advance(Duration::milliseconds(1));
    assert_eq!(live_decision(&svc), "deliver");
    assert_eq!(reads.sendable(), 2, "read again after the TTL");
}

#[test]
fn own_writes_invalidate_cached_decisions_at_once() {
    let (svc, _clock, reads, id) = decision_world(Duration::seconds(5));
    assert_eq!(live_decision(&svc), "deliver");
    block_on(svc.update(&admin(), &id, deactivate())).unwrap();
    // No time passed: only the write's own invalidation explains the new answer.
    assert_eq!(live_decision(&svc), "reject");
    assert_eq!(reads.sendable(), 2);
    block_on(svc.delete(&admin(), &id)).unwrap();
    assert_eq!(live_decision(&svc), "accept_then_fail");
    assert_eq!(reads.sendable(), 3);
}

#[test]
fn a_read_domain_is_cached_until_a_change_here_or_elsewhere_forgets_it() {
    let (svc, clock, reads, id) = decision_world(Duration::seconds(5));
    assert!(block_on(svc.get(&admin(), &id)).unwrap().domain.is_active);
    assert!(block_on(svc.get(&admin(), &id)).unwrap().domain.is_active);
    assert_eq!(reads.gets(), 1, "one read, then the cache");
    // Another tenant of the partner never sees the cached domain.
    let other = caller(Role::TenantAdmin, Some("t2"), "p1");
    assert!(matches!(
        block_on(svc.get(&other, &id)),
        Err(Error::NotFound)
    ));

    // A change here loads from the store (never from the cache) and forgets the entry.
    block_on(svc.update(&admin(), &id, deactivate())).unwrap();
    assert_eq!(reads.gets(), 2);
    assert!(!block_on(svc.get(&admin(), &id)).unwrap().domain.is_active);
    assert_eq!(reads.gets(), 3);

    // A change elsewhere, announced by the feed, is forgotten at once, decisions too.
    let name = DomainName::parse("mail.example.com").unwrap();
    assert_eq!(live_decision(&svc), "reject");
    let sendable = reads.sendable();
    svc.follow(&FeedEvent::Changed(DomainChange {
        id: id.clone(),
        name,
    }));
    block_on(svc.get(&admin(), &id)).unwrap();
    assert_eq!(reads.gets(), 4);
    assert_eq!(live_decision(&svc), "reject");
    assert_eq!(reads.sendable(), sendable + 1);
    // A lost feed forgets everything.
    svc.follow(&FeedEvent::Lost);
    block_on(svc.get(&admin(), &id)).unwrap();
    assert_eq!(reads.gets(), 5);
    // Without the feed, the entry expires with the TTL.
    clock.advance(Duration::seconds(5));
    block_on(svc.get(&admin(), &id)).unwrap();
    assert_eq!(reads.gets(), 6);
}

#[test]
fn a_zero_ttl_reads_the_store_for_every_decision() {
    let (svc, _clock, reads, id) = decision_world(Duration::ZERO);
    for _ in 0..3 {
        assert_eq!(live_decision(&svc), "deliver");
        block_on(svc.get(&admin(), &id)).unwrap();
    }
    assert_eq!(reads.sendable(), 3);
    assert_eq!(reads.gets(), 3, "and every read of a domain");
}
