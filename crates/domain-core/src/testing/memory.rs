//! An in-memory `DomainRepo` and `KeyStore` for the use cases' unit tests. It keeps the
//! ports' promises — scoping, optimistic versions, one all-or-nothing write per change,
//! leases, the stores' conflict wording and what stored text looks like — and the
//! contract suite in `crates/repo-contract` runs against it as against the real stores,
//! so it cannot drift from them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::RepoError;
use crate::model::{Domain, DomainEvent, DomainId, ListFilter, Owner, Page, PageRequest, Scope};
use crate::name::{DomainName, Selector};
use crate::ports::{DomainRepo, KeyPool, KeyStore, LeaseOnWrite, OwnerUsage, PooledKey};
use crate::rotation::DkimMode;
use crate::stored::{self, conflict};
use crate::verify::{Verdict, Verdicts};
use crate::webhook::OutboxMessage;

/// An in-memory store of domains, their keys, verdicts, timeline and leases.
#[derive(Debug, Default)]
pub struct MemoryRepo {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    domains: BTreeMap<String, Domain>,
    events: Vec<DomainEvent>,
    leases: HashMap<String, (String, OffsetDateTime)>,
    outbox: Vec<OutboxMessage>,
    /// The key pool, by id (ids order by generation).
    pool: BTreeMap<String, PooledKey>,
}

impl MemoryRepo {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        super::locked(&self.state)
    }

    /// Changes a stored domain behind the use cases' back, as a concurrent writer would:
    /// the version moves on.
    pub fn mutate(&self, id: &DomainId, f: impl FnOnce(&mut Domain)) {
        let mut s = self.state();
        if let Some(d) = s.domains.get_mut(id.as_str()) {
            f(d);
            d.version += 1;
        }
    }

    /// Every webhook outbox message queued with a write, oldest first.
    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.state().outbox.clone()
    }

    /// Every event stored, oldest first.
    pub fn all_events(&self) -> Vec<DomainEvent> {
        self.state().events.clone()
    }
}

impl MemoryState {
    /// The domain `id`, if `scope` may see it.
    fn visible(&self, scope: &Scope, id: &DomainId) -> Option<&Domain> {
        self.domains
            .get(id.as_str())
            .filter(|d| scope.can_see(&d.owner))
    }

    /// Appends events as one all-or-nothing batch: an id already taken refuses them all.
    fn check_events(&self, domain: &Domain, events: &[DomainEvent]) -> Result<(), RepoError> {
        stored::events_belong(domain, events)?;
        let taken = events.iter().enumerate().any(|(i, e)| {
            self.events.iter().any(|old| old.id == e.id)
                || events[..i].iter().any(|earlier| earlier.id == e.id)
        });
        if taken {
            return Err(conflict::event_id_taken());
        }
        Ok(())
    }

    fn append(&mut self, events: &[DomainEvent]) {
        self.events.extend(events.iter().map(as_stored_event));
    }

    fn leased_by(&self, id: &DomainId, owner: &str, now: Option<OffsetDateTime>) -> bool {
        self.leases
            .get(id.as_str())
            .is_some_and(|(holder, until)| holder == owner && now.is_none_or(|n| *until > n))
    }
}

/// What the stores write for an event: text without NULs.
fn as_stored_event(event: &DomainEvent) -> DomainEvent {
    let (message, detail) = stored::event_columns(event);
    DomainEvent {
        message,
        detail,
        ..event.clone()
    }
}

/// What the stores write for a domain: its verdicts as they come back from their JSON.
fn as_stored_domain(domain: &Domain) -> Result<Domain, RepoError> {
    let checks = stored::check_rows(&domain.checks)?
        .into_iter()
        .map(|(_, json)| {
            serde_json::from_value::<Verdict>(json).map_err(|e| stored::corrupt("verdict", e))
        })
        .collect::<Result<Verdicts, _>>()?;
    Ok(Domain {
        checks,
        ..domain.clone()
    })
}

fn same_owner(a: &Owner, b: &Owner) -> bool {
    a.partner_id == b.partner_id && a.tenant_id == b.tenant_id
}

fn matches_filter(d: &Domain, f: &ListFilter) -> bool {
    f.verified.is_none_or(|v| d.verified == v)
        && f.is_active.is_none_or(|v| d.is_active == v)
        && f.is_shared.is_none_or(|v| d.is_shared() == v)
}

#[async_trait]
impl DomainRepo for MemoryRepo {
    async fn insert_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        let mut s = self.state();
        if s.domains.contains_key(domain.id.as_str()) {
            return Err(conflict::id_taken(&domain.id));
        }
        let taken = s
            .domains
            .values()
            .any(|d| d.name == domain.name && same_owner(&d.owner, &domain.owner));
        if taken {
            return Err(conflict::name_taken(&domain.name));
        }
        s.check_events(domain, events)?;
        let mut stored = as_stored_domain(domain)?;
        stored.version = 0;
        s.domains.insert(domain.id.to_string(), stored);
        s.append(events);
        s.outbox.extend_from_slice(outbox);
        Ok(())
    }

    async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError> {
        let s = self.state();
        let mut usage = OwnerUsage::default();
        for d in s.domains.values().filter(|d| same_owner(&d.owner, owner)) {
            usage.domains += 1;
            usage.name_taken |= d.name == *name;
        }
        Ok(usage)
    }

    async fn get(&self, scope: &Scope, id: &DomainId) -> Result<Domain, RepoError> {
        let s = self.state();
        s.visible(scope, id).cloned().ok_or(RepoError::NotFound)
    }

    async fn list(
        &self,
        scope: &Scope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Domain>, RepoError> {
        let s = self.state();
        let items: Vec<_> = s
            .domains
            .values()
            .filter(|d| scope.can_see(&d.owner) && matches_filter(d, filter))
            .filter(|d| page.after.as_deref().is_none_or(|a| d.id.as_str() > a))
            .take(page.fetch_limit() as usize)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(items, page, |d| d.id.as_str()))
    }

    async fn update_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
        lease: LeaseOnWrite,
    ) -> Result<(), RepoError> {
        let mut s = self.state();
        let Some(current) = s.domains.get(domain.id.as_str()) else {
            return Err(RepoError::NotFound);
        };
        if current.version != domain.version {
            return Err(conflict::stale_version());
        }
        s.check_events(domain, events)?;
        // Name and owner never change: a confused caller cannot move a domain.
        let mut next = as_stored_domain(domain)?;
        next.name = current.name.clone();
        next.owner = current.owner.clone();
        next.version = current.version + 1;
        s.domains.insert(domain.id.to_string(), next);
        if let Some(owner) = lease.owner()
            && s.leased_by(&domain.id, owner, None)
        {
            s.leases.remove(domain.id.as_str());
        }
        s.append(events);
        s.outbox.extend_from_slice(outbox);
        Ok(())
    }

    async fn delete_notifying(
        &self,
        scope: &Scope,
        id: &DomainId,
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        let mut s = self.state();
        if s.visible(scope, id).is_none() {
            return Err(RepoError::NotFound);
        }
        s.domains.remove(id.as_str());
        s.events.retain(|e| e.domain_id != *id);
        s.leases.remove(id.as_str());
        s.outbox.extend_from_slice(outbox);
        Ok(())
    }

    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError> {
        let s = self.state();
        if s.visible(scope, id).is_none() {
            return Err(RepoError::NotFound);
        }
        let mut events: Vec<_> = s
            .events
            .iter()
            .filter(|e| e.domain_id == *id)
            .filter(|e| page.after.as_deref().is_none_or(|a| e.id.as_str() < a))
            .cloned()
            .collect();
        events.sort_by(|a, b| b.id.cmp(&a.id));
        events.truncate(page.fetch_limit() as usize);
        Ok(Page::from_overfetch(events, page, |e| e.id.as_str()))
    }

    async fn find_sendable(
        &self,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
    ) -> Result<Vec<Domain>, RepoError> {
        let scope = Scope::Tenant {
            partner_id: partner_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
        };
        let mut found: Vec<Domain> = self
            .state()
            .domains
            .values()
            .filter(|d| d.name == *name && scope.can_see(&d.owner))
            .cloned()
            .collect();
        // Its own first, then the partner's shared one.
        found.sort_by_key(Domain::is_shared);
        Ok(found)
    }

    async fn zone_domains(&self) -> Result<Vec<Domain>, RepoError> {
        let mut found: Vec<Domain> = self
            .state()
            .domains
            .values()
            .filter(|d| d.keys.live().any(|k| k.mode == DkimMode::Cname))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        Ok(found)
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DomainId>, RepoError> {
        let mut s = self.state();
        let mut due: Vec<&Domain> = s
            .domains
            .values()
            .filter(|d| d.next_check_at <= now)
            .filter(|d| {
                s.leases
                    .get(d.id.as_str())
                    .is_none_or(|(_, until)| *until <= now)
            })
            .collect();
        // The most overdue first, as the stores order them.
        due.sort_by(|a, b| (a.next_check_at, &a.id).cmp(&(b.next_check_at, &b.id)));
        let due: Vec<DomainId> = due
            .into_iter()
            .take(limit as usize)
            .map(|d| d.id.clone())
            .collect();
        for id in &due {
            s.leases
                .insert(id.to_string(), (owner.to_owned(), lease_until));
        }
        Ok(due)
    }

    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError> {
        let mut s = self.state();
        if !s.domains.contains_key(id.as_str()) {
            return Err(RepoError::NotFound);
        }
        if !s.leased_by(id, owner, None) {
            return Err(conflict::not_lease_holder());
        }
        s.leases.remove(id.as_str());
        if let Some(d) = s.domains.get_mut(id.as_str()) {
            d.next_check_at = retry_at;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

#[async_trait]
impl KeyStore for MemoryRepo {
    async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError> {
        self.state()
            .domains
            .get(id.as_str())
            .and_then(|d| d.keys.get(selector))
            .and_then(|k| k.sealed.clone())
            .ok_or(RepoError::NotFound)
    }
}

#[async_trait]
impl KeyPool for MemoryRepo {
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError> {
        self.state().pool.insert(key.id.clone(), key.clone());
        Ok(())
    }

    async fn take(&self, kind: &str) -> Result<Option<PooledKey>, RepoError> {
        let mut state = self.state();
        let id = state
            .pool
            .values()
            .find(|k| k.kind == kind)
            .map(|k| k.id.clone());
        Ok(id.and_then(|id| state.pool.remove(&id)))
    }

    async fn pooled(&self, kind: &str) -> Result<u64, RepoError> {
        Ok(self
            .state()
            .pool
            .values()
            .filter(|k| k.kind == kind)
            .count() as u64)
    }
}
