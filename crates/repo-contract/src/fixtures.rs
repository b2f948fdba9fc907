//! Builders of domains, keys, verdicts and events for the cases, and comparisons. A few
//! are public, for adapter-specific tests beside the contract.

use std::sync::{Arc, Mutex, OnceLock};

use domain_core::crypto::{GeneratedKey, KeyRow, MasterKey, SealedKey};
use domain_core::model::{
    Actor, Domain, DomainEvent, DomainId, EventId, EventKind, Owner, PageRequest, ReturnPath,
    ZoneLabel,
};
use domain_core::name::{DmarcPolicy, DomainName, ReturnPathLabel, RuaAddress, Selector};
use domain_core::records::dkim::Algorithm;
use domain_core::rotation::{
    DkimMode, KeyRing, NewGeneration, NewKey, NextGeneration, RotationPeriod, SelectorKey,
};
use domain_core::testing;
use domain_core::verify::{CheckKind, CheckStatus, Verdict, VerdictCode, Verdicts, Warning};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

/// The time the cases start from, with microseconds, which both stores keep (finer digits
/// are dropped by Postgres, and so by the SQLite store too).
pub(crate) const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00.123456 UTC);

/// `T0` plus some minutes.
pub(crate) fn at(minutes: i64) -> OffsetDateTime {
    T0 + Duration::minutes(minutes)
}

/// The master key that seals the keys of this test process.
pub(crate) fn kek() -> &'static MasterKey {
    static KEK: OnceLock<MasterKey> = OnceLock::new();
    KEK.get_or_init(|| MasterKey::generate().expect("master key").0)
}

/// A fresh ULID, larger than every one this process made before: ids made later sort
/// later, as they do in production within one instance.
fn next_ulid() -> ulid::Ulid {
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    generator
        .generate()
        .unwrap_or_else(|overflow| overflow.commit_overflow_increment())
}

/// A new domain id, later than every earlier one.
pub(crate) fn new_domain_id() -> DomainId {
    DomainId::parse(&format!("dom_{}", next_ulid())).expect("a valid domain id")
}

/// A new event id, later than every earlier one.
pub(crate) fn new_event_id() -> EventId {
    EventId::parse(&format!("evt_{}", next_ulid())).expect("a valid event id")
}

/// Runs `count` racers as tasks at once: racer `i` is `racer(i, start)`, and waits on
/// `start`, which lets all of them go together, where its race begins. Their outputs, in
/// order; a racer that panicked fails the case.
pub(crate) async fn race<T, R>(count: usize, racer: impl Fn(usize, Arc<Barrier>) -> R) -> Vec<T>
where
    R: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = Arc::new(Barrier::new(count));
    let racers: Vec<_> = (0..count)
        .map(|i| tokio::spawn(racer(i, start.clone())))
        .collect();
    let mut outputs = Vec::with_capacity(count);
    for racer in racers {
        outputs.push(racer.await.expect("a racer panicked"));
    }
    outputs
}

/// Owners under two partners: tenants `a` and `b` of p1 and p1's shared domains; tenant
/// `a` of p2 (the same tenant id under another partner is another tenant) and p2's
/// shared domains.
pub(crate) fn owners_of_two_partners(a: &str, b: &str) -> [Owner; 5] {
    [
        tenant("p1", a),
        tenant("p1", b),
        shared("p1"),
        tenant("p2", a),
        shared("p2"),
    ]
}

/// A tenant's owner.
pub fn tenant(partner: &str, tenant: &str) -> Owner {
    Owner {
        partner_id: partner.to_owned(),
        tenant_id: Some(tenant.to_owned()),
    }
}

/// A partner's shared owner.
pub fn shared(partner: &str) -> Owner {
    Owner {
        partner_id: partner.to_owned(),
        tenant_id: None,
    }
}

/// The selector base, `scaisend`.
pub(crate) fn base() -> Selector {
    Selector::parse("scaisend").expect("a valid selector")
}

/// A new domain as the core creates it: one active key (a pre-generated one, sealed for
/// real), no verdicts yet, due for its first check at `T0`.
pub fn new_domain(owner: Owner, name: &str) -> Domain {
    new_domain_with(owner, name, testing::key(0))
}

/// [`new_domain`] with the given key pair.
pub(crate) fn new_domain_with(owner: Owner, name: &str, key: &GeneratedKey) -> Domain {
    let id = new_domain_id();
    let first = KeyRing::first_generation(&base(), DkimMode::Txt, &[Algorithm::RsaSha256])
        .expect("a first generation");
    let generation = sealed_generation(&id, &first, DkimMode::Txt, &[key]);
    Domain {
        name: DomainName::parse(name).expect("a valid domain name"),
        owner,
        dmarc_policy: DmarcPolicy::Quarantine,
        dmarc_rua: Some(RuaAddress::parse("dmarc-reports@example.com").expect("a valid address")),
        is_active: true,
        verified: false,
        keys: KeyRing::new(generation, T0).expect("a valid first generation"),
        zone_label: ZoneLabel::generate().expect("a label"),
        checks: Verdicts::default(),
        dkim_rotation_days: Some(RotationPeriod::from_days(90).unwrap()),
        created_at: T0,
        updated_at: T0,
        last_verified_at: None,
        failing_since: None,
        next_check_at: T0,
        version: 0,
        return_path: None,
        id,
    }
}

/// The generation `next` planned, with `keys` (one per planned selector) sealed for their
/// rows.
pub(crate) fn sealed_generation(
    domain: &DomainId,
    next: &NextGeneration,
    mode: DkimMode,
    keys: &[&GeneratedKey],
) -> NewGeneration {
    NewGeneration {
        index: next.index,
        mode,
        keys: next
            .selectors
            .iter()
            .zip(keys)
            .map(|((_, selector), key)| {
                let row = KeyRow {
                    domain,
                    generation: next.index,
                    selector,
                };
                NewKey {
                    selector: selector.clone(),
                    public_key: key.public.clone(),
                    sealed: kek().seal(&key.private, &row).expect("sealing works"),
                }
            })
            .collect(),
    }
}

/// A return path `bounces.<domain>` set at `set_at`, verified and failing since
/// `failing_since` (every field filled, so that a round trip that drops one shows).
pub(crate) fn return_path(
    domain: &Domain,
    set_at: OffsetDateTime,
    failing_since: OffsetDateTime,
) -> ReturnPath {
    let label = ReturnPathLabel::parse("bounces").expect("a valid label");
    ReturnPath {
        verified: true,
        failing_since: Some(failing_since),
        ..ReturnPath::new(label, &domain.name, set_at).expect("a short enough name")
    }
}

/// Starts a rotation to the next selector with pre-generated key `key_n`, sealed for
/// its row; returns the sealed key.
pub(crate) fn start_rotation(domain: &mut Domain, key_n: usize, now: OffsetDateTime) -> SealedKey {
    start_rotation_with(domain, testing::key(key_n), now)
}

/// [`start_rotation`] with the given key pair.
pub(crate) fn start_rotation_with(
    domain: &mut Domain,
    key: &GeneratedKey,
    now: OffsetDateTime,
) -> SealedKey {
    start_rotation_in(domain, DkimMode::Txt, &[key], now)
        .pop()
        .expect("one key")
}

/// Starts a rotation in `mode` to keys of the algorithms of `keys` (RSA first); returns
/// their sealed private keys.
pub(crate) fn start_rotation_in(
    domain: &mut Domain,
    mode: DkimMode,
    keys: &[&GeneratedKey],
    now: OffsetDateTime,
) -> Vec<SealedKey> {
    let algorithms: Vec<Algorithm> = keys.iter().map(|k| k.public.algorithm()).collect();
    let next = domain
        .keys
        .next_generation(&base(), mode, &algorithms)
        .expect("a next generation");
    let generation = sealed_generation(&domain.id, &next, mode, keys);
    let sealed = generation.keys.iter().map(|k| k.sealed.clone()).collect();
    domain
        .keys
        .start_rotation(generation, now)
        .expect("no rotation is pending");
    sealed
}

/// The row a stored key belongs to, for opening it.
pub(crate) fn row_of<'a>(domain: &'a Domain, key: &'a SelectorKey) -> KeyRow<'a> {
    KeyRow {
        domain: &domain.id,
        generation: key.index,
        selector: &key.selector,
    }
}

/// A verdict with every field filled, so that a round trip that drops one shows.
pub(crate) fn verdict(record: CheckKind, status: CheckStatus, code: VerdictCode) -> Verdict {
    Verdict {
        record,
        host: format!("{}.mail.example.com", record.as_str()),
        status,
        code,
        expected: Some("v=spf1 include:scaisend.scailabs.ai ~all".to_owned()),
        found: vec![
            "v=spf1 -all".to_owned(),
            "second \"quoted\" record".to_owned(),
        ],
        message: format!("the {} record is {}", record.as_str(), status.as_str()),
        warnings: vec![Warning {
            code: VerdictCode::DkimTesting,
            message: "t=y: receivers may treat failures leniently".to_owned(),
        }],
        answered_by: Some("ns1.example.com (192.0.2.53:53)".to_owned()),
        details: json!({"lookups": 3, "include_reached": true, "chain": ["a", "b"]}),
    }
}

/// A passing verdict of every check.
pub(crate) fn passing_checks() -> Verdicts {
    CheckKind::ALL
        .into_iter()
        .map(|kind| {
            let code = match kind {
                CheckKind::Dkim => VerdictCode::DkimOk,
                CheckKind::Spf => VerdictCode::SpfOk,
                CheckKind::Dmarc => VerdictCode::DmarcOk,
                CheckKind::ReturnPath => VerdictCode::ReturnPathOk,
            };
            verdict(kind, CheckStatus::Verified, code)
        })
        .collect()
}

/// An event about `domain`, by a user.
pub(crate) fn event(domain: &Domain, kind: EventKind, at: OffsetDateTime) -> DomainEvent {
    DomainEvent {
        id: new_event_id(),
        domain_id: domain.id.clone(),
        at,
        actor: Actor::User("user-7".to_owned()),
        kind,
        message: format!("{} happened to {}", kind.as_str(), domain.name),
        detail: json!({"before": null, "after": kind.as_str(), "n": 1.5, "nested": {"ok": true}}),
    }
}

/// An event about `domain`, by the system.
pub(crate) fn system_event(domain: &Domain, kind: EventKind, at: OffsetDateTime) -> DomainEvent {
    DomainEvent {
        actor: Actor::System,
        ..event(domain, kind, at)
    }
}

/// Asserts that two domains are the same in every field, key by key (field by field,
/// with `PartialEq`, so that no `Debug` rendering — a sealed key shows only its length —
/// can hide a difference).
#[track_caller]
pub(crate) fn assert_same_domain(got: &Domain, want: &Domain) {
    let d = &want.id;
    assert_eq!(got.id, want.id);
    assert_eq!(got.name, want.name, "{d}: name");
    assert_eq!(got.owner, want.owner, "{d}: owner");
    assert_eq!(got.dmarc_policy, want.dmarc_policy, "{d}: DMARC policy");
    assert_eq!(got.dmarc_rua, want.dmarc_rua, "{d}: DMARC report address");
    assert_eq!(got.is_active, want.is_active, "{d}: is_active");
    assert_eq!(got.verified, want.verified, "{d}: verified");
    assert_eq!(got.checks, want.checks, "{d}: checks");
    assert_eq!(
        got.dkim_rotation_days, want.dkim_rotation_days,
        "{d}: rotation days"
    );
    assert_eq!(got.created_at, want.created_at, "{d}: created_at");
    assert_eq!(got.updated_at, want.updated_at, "{d}: updated_at");
    assert_eq!(
        got.last_verified_at, want.last_verified_at,
        "{d}: last_verified_at"
    );
    assert_eq!(got.failing_since, want.failing_since, "{d}: failing_since");
    assert_eq!(got.next_check_at, want.next_check_at, "{d}: next_check_at");
    assert_eq!(got.version, want.version, "{d}: version");
    assert_eq!(got.zone_label, want.zone_label, "{d}: zone label");
    assert_eq!(got.return_path, want.return_path, "{d}: return path");
    let keys = |d: &Domain| -> Vec<_> {
        d.keys
            .all()
            .iter()
            .map(|k| {
                (
                    (
                        k.selector.clone(),
                        k.index,
                        k.state,
                        k.mode,
                        k.public_key.clone(),
                    ),
                    k.sealed.as_ref().map(|s| s.as_bytes().to_vec()),
                    (k.created_at, k.activated_at, k.retired_at, k.removed_at),
                )
            })
            .collect()
    };
    assert_eq!(keys(got), keys(want), "{d}: DKIM keys");
}

/// A page request for everything a case stored (cases stay far below the largest page).
pub(crate) fn one_page() -> PageRequest {
    PageRequest {
        limit: PageRequest::MAX_LIMIT,
        after: None,
    }
}

/// The ids of a list of domains.
pub(crate) fn ids(domains: &[Domain]) -> Vec<DomainId> {
    domains.iter().map(|d| d.id.clone()).collect()
}

/// The SQL literal of a text value (the hooks take SQL with literals inline).
pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
