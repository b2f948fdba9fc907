//! The domains a tenant may send from under a name, cached in front of the store: the
//! send-time decision and the signer's choice of key are pure functions of them, and both
//! run for every message a tenant sends.
//!
//! Staleness is bounded two ways. This instance's own writes forget the entries they
//! touch at once (and a read that raced the write is not stored, see the cache's epoch).
//! Another instance's writes are seen when the entry expires, at most
//! [`SendableCache::ttl`] after it was read (`SCAISEND_DECISION_TTL`, default 5 s): a
//! domain deactivated anywhere stops delivering everywhere within that bound. A TTL of
//! zero turns the cache off, every decision reads the store.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::cache::LruCache;
use crate::error::RepoError;
use crate::model::{Domain, DomainId, Scope};
use crate::name::DomainName;
use crate::ports::DomainRepo;

/// The candidates of send-time decisions, by (name, partner, tenant).
pub struct SendableCache {
    ttl: Duration,
    entries: LruCache<Key, Arc<[Domain]>>,
}

/// Name first, so that one name's entries for a partner are one range.
type Key = (DomainName, String, String);

crate::debug_fields!(SendableCache { ttl, entries = len() });

impl SendableCache {
    /// How many (name, partner, tenant) entries are kept by default.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// How long an entry is used by default before it is read again.
    pub const DEFAULT_TTL: Duration = Duration::seconds(5);

    /// A cache of at most `capacity` entries, each used for `ttl` (zero: no caching).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        SendableCache {
            ttl,
            entries: LruCache::new(capacity, ttl),
        }
    }

    /// How long another instance's change may go unseen here.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The domains named `name` that the tenant may send from
    /// ([`DomainRepo::find_sendable`]), from the cache while fresh.
    pub async fn candidates(
        &self,
        repo: &dyn DomainRepo,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
        now: OffsetDateTime,
    ) -> Result<Arc<[Domain]>, RepoError> {
        if !self.ttl.is_positive() {
            return Ok(repo
                .find_sendable(partner_id, tenant_id, name)
                .await?
                .into());
        }
        let key = (name.clone(), partner_id.to_owned(), tenant_id.to_owned());
        if let Some(found) = self.entries.get(&key, now) {
            return Ok(found);
        }
        let epoch = self.entries.epoch();
        let found: Arc<[Domain]> = repo
            .find_sendable(partner_id, tenant_id, name)
            .await?
            .into();
        Ok(self.entries.insert(key, found, now, epoch))
    }

    /// Forgets what a change of `domain` (stored, created or deleted here) may have made
    /// stale: the entries of its name for every tenant of its partner, since a shared
    /// domain is a candidate for each of them.
    pub fn forget(&self, domain: &Domain) {
        let partner = &domain.owner.partner_id;
        let first = (domain.name.clone(), partner.clone(), String::new());
        self.entries
            .forget_from(&first, |(n, p, _)| n == &domain.name && p == partner);
    }

    /// Forgets every entry of `name`, whoever owns it: a change made elsewhere names
    /// only the domain.
    pub fn forget_name(&self, name: &DomainName) {
        let first = (name.clone(), String::new(), String::new());
        self.entries.forget_from(&first, |(n, _, _)| n == name);
    }

    /// Forgets every entry.
    pub fn forget_all(&self) {
        self.entries.forget_all();
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Domains by id, cached in front of the store for reads (`GET` of one domain): the
/// same staleness bound as [`SendableCache`], and a change feed, where the store has one,
/// makes another instance's change seen at once (docs/operations.md, "Speed").
///
/// Only reads use it: a change loads the domain from the store, so an optimistic write
/// never starts from a cached version.
pub struct DomainCache {
    ttl: Duration,
    entries: LruCache<DomainId, Arc<Domain>>,
}

crate::debug_fields!(DomainCache { ttl, .. });

impl DomainCache {
    /// How many domains are kept by default (a domain with its keys and verdicts is a
    /// few kilobytes).
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A cache of at most `capacity` domains, each used for `ttl` (zero: no caching).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        DomainCache {
            ttl,
            entries: LruCache::new(capacity, ttl),
        }
    }

    /// The domain `id` as [`DomainRepo::get`] reads it for `scope`, from the cache while
    /// fresh. Whichever way it came, the scope is checked on it here too (the store
    /// checks it in SQL; a cached domain was read for someone else's scope).
    pub async fn get(
        &self,
        repo: &dyn DomainRepo,
        scope: &Scope,
        id: &DomainId,
        now: OffsetDateTime,
    ) -> Result<Arc<Domain>, RepoError> {
        let found = match self.entries.get(id, now) {
            Some(found) => found,
            None if !self.ttl.is_positive() => Arc::new(repo.get(scope, id).await?),
            None => {
                let epoch = self.entries.epoch();
                let read = Arc::new(repo.get(scope, id).await?);
                self.entries.insert(id.clone(), read, now, epoch)
            }
        };
        if scope.can_see(&found.owner) {
            Ok(found)
        } else {
            Err(RepoError::NotFound)
        }
    }

    /// Forgets `id`, changed here or elsewhere.
    pub fn forget(&self, id: &DomainId) {
        self.entries.forget_from(id, |k| k == id);
    }

    /// Forgets every domain.
    pub fn forget_all(&self) {
        self.entries.forget_all();
    }
}
