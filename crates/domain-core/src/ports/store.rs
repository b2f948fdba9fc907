//! The store ports: domains as aggregates with their timeline, and sealed keys for the
//! signer.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::RepoError;
use crate::model::{Domain, DomainEvent, DomainId, ListFilter, Owner, Page, PageRequest, Scope};
use crate::name::{DomainName, Selector};
use crate::records::dkim::DkimPublicKey;
use crate::webhook::OutboxMessage;

/// The store of domains, their keys, checks, timeline and monitor schedule.
///
/// A [`Domain`] is stored as one aggregate: the domain row, its DKIM keys (public key,
/// state, sealed private key) and its last verdicts. Every write stores the aggregate and
/// the given timeline events in one transaction, together with the webhook outbox
/// messages they cause: each message is stored and fanned out to a pending delivery for
/// every enabled endpoint of its owner that receives its type, so that a rolled-back
/// change sends nothing and a committed one is never lost.
///
/// The `*_notifying` methods are the ones to implement; `insert`, `update` and `delete`
/// call them without messages.
#[async_trait]
pub trait DomainRepo: Send + Sync {
    /// Stores a new domain with its keys and events.
    ///
    /// MUST return `Conflict` if the same owner (tenant, or partner for a shared domain)
    /// already has a domain with this name. MUST return `Unavailable` if the store cannot
    /// be reached.
    async fn insert(&self, domain: &Domain, events: &[DomainEvent]) -> Result<(), RepoError> {
        self.insert_notifying(domain, events, &[]).await
    }

    /// [`insert`](Self::insert), queuing `outbox` in the same transaction.
    async fn insert_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError>;

    /// How many domains `owner` has, and whether one of them is named `name`: what a
    /// create checks before it spends time generating a key. The insert's own uniqueness
    /// check still decides a race between two creates.
    ///
    /// MUST return `Unavailable` if the store cannot be reached.
    async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError>;

    /// Fetches a domain visible to `scope` (see [`Scope`]).
    ///
    /// MUST return `NotFound` when it does not exist or is not visible to `scope`.
    async fn get(&self, scope: &Scope, id: &DomainId) -> Result<Domain, RepoError>;

    /// Lists domains visible to `scope` matching `filter`, ordered by id, starting after
    /// the page's cursor.
    async fn list(
        &self,
        scope: &Scope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Domain>, RepoError>;

    /// Stores `domain` if the stored version still equals `domain.version`, then bumps the
    /// version; appends `events`. Keys present in `domain` are inserted or updated; keys
    /// are never deleted here (a removed key stays as a row in state `removed`, without
    /// its sealed private key).
    ///
    /// With [`LeaseOnWrite::ReleaseIfHeldBy`] naming the holder of the domain's monitor
    /// lease, the lease is released with the write. Any other lease is left alone: a
    /// user's change never frees a domain that another instance is checking.
    ///
    /// MUST return `Conflict` if the version changed since the domain was read (another
    /// writer won), and `NotFound` if the domain was deleted.
    async fn update(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        lease: LeaseOnWrite,
    ) -> Result<(), RepoError> {
        self.update_notifying(domain, events, &[], lease).await
    }

    /// [`update`](Self::update), queuing `outbox` in the same transaction.
    async fn update_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
        lease: LeaseOnWrite,
    ) -> Result<(), RepoError>;

    /// Deletes a domain visible to `scope`, its keys (so the private keys are destroyed),
    /// checks and events, in one transaction.
    ///
    /// MUST return `NotFound` when it does not exist or is not visible.
    async fn delete(&self, scope: &Scope, id: &DomainId) -> Result<(), RepoError> {
        self.delete_notifying(scope, id, &[]).await
    }

    /// [`delete`](Self::delete), queuing `outbox` in the same transaction.
    async fn delete_notifying(
        &self,
        scope: &Scope,
        id: &DomainId,
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError>;

    /// The timeline of a domain visible to `scope`, newest first.
    ///
    /// MUST return `NotFound` when the domain does not exist or is not visible.
    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError>;

    /// The domains named `name` that a tenant may send from: its own and its partner's
    /// shared ones.
    async fn find_sendable(
        &self,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
    ) -> Result<Vec<Domain>, RepoError>;

    /// Claims up to `limit` domains whose next check is due at `now` and that no live
    /// lease holds, leasing them to `owner` until `lease_until`. Two concurrent callers
    /// never receive the same domain; a lease that expired is claimable again.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DomainId>, RepoError>;

    /// Gives up a lease without changing the domain (the check could not be completed),
    /// making the domain due again at `retry_at`.
    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError>;

    /// Every domain whose DKIM keys our zone serves: those with a CNAME-mode key that is
    /// not removed (pending, active or retiring), whatever their owner. The zone server
    /// rebuilds its snapshot from this (docs/operations.md, "Our DKIM zone").
    ///
    /// MUST return `Unavailable` if the store cannot be reached, never an empty list.
    async fn zone_domains(&self) -> Result<Vec<Domain>, RepoError>;

    /// Whether the store is reachable (readiness probe).
    async fn ping(&self) -> Result<(), RepoError>;
}

/// What a write does with the domain's monitor lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOnWrite {
    /// Leave any lease as it is (every write but the monitor's own).
    Keep,
    /// Release the lease if this owner holds it (the monitor, storing its check).
    ReleaseIfHeldBy(String),
}

impl LeaseOnWrite {
    /// The owner whose lease is released, if any.
    pub fn owner(&self) -> Option<&str> {
        match self {
            LeaseOnWrite::Keep => None,
            LeaseOnWrite::ReleaseIfHeldBy(owner) => Some(owner),
        }
    }
}

/// What an owner already has, as [`DomainRepo::owner_usage`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OwnerUsage {
    /// How many domains the owner has.
    pub domains: u64,
    /// Whether one of them has the name asked about.
    pub name_taken: bool,
}

/// The narrow port the signer uses: sealed private keys by domain and selector, without
/// loading whole domains.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The sealed private key of a domain's selector.
    ///
    /// MUST return `NotFound` when the domain or selector does not exist, or the key was
    /// removed (its private key destroyed).
    async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError>;
}

/// A key generated ahead of time, waiting in the pool, its private half sealed for its
/// slot ([`PoolSlot`](crate::crypto::PoolSlot)).
#[derive(Debug, Clone)]
pub struct PooledKey {
    /// The slot's id: unique, and ordered by when the key was generated.
    pub id: String,
    /// The kind of key ([`KeyAlgorithm::pool_kind`](crate::crypto::KeyAlgorithm::pool_kind)).
    pub kind: String,
    /// The public half.
    pub public_key: DkimPublicKey,
    /// The private half, sealed for the slot.
    pub sealed: SealedKey,
}

/// The narrow port of the key pool: keys generated ahead of time so that creating a
/// domain does not wait for key generation.
#[async_trait]
pub trait KeyPool: Send + Sync {
    /// Adds a key to the pool.
    ///
    /// MUST return `Unavailable` if the store cannot be reached.
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError>;

    /// Takes the oldest key of `kind` out of the pool, or `None` when there is none.
    ///
    /// MUST hand out each key at most once, whatever the number of takers and processes
    /// sharing the store: the key leaves the store in the same atomic step that reads it.
    async fn take(&self, kind: &str) -> Result<Option<PooledKey>, RepoError>;

    /// How many keys of `kind` wait in the pool.
    async fn pooled(&self, kind: &str) -> Result<u64, RepoError>;
}
