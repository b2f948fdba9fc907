//! The use cases, written against the ports: what the HTTP API, the monitor and the
//! command line do with domains.
//!
//! One [`DomainService`] holds the ports and the configuration; its use cases are grouped
//! by capability, one file each: [`domains`] (add, read, change, delete), [`verification`],
//! [`rotation`], [`sending`] (the send-time decision and signing) and [`monitor`].
//! What they share — loading with the caller's scope, storing with the optimistic
//! version check — is written once here; the one use case that retries when a concurrent
//! writer wins, recording a verification, is shared by `verify` and the monitor.

mod cache;
mod decisions;
mod domains;
mod keypool;
mod monitor;
mod rotation;
mod sending;
mod signers;
mod verification;
mod webhooks;
mod zone;

use std::net::IpAddr;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::access::Caller;
use crate::crypto::MasterKey;
use crate::error::{Error, RepoError, Result};
use crate::events::DomainEvent;
use crate::model::{Domain, DomainId, IdGenerator, Scope};
use crate::name::{DomainName, Selector};
use crate::ports::{
    Clock, CpuPool, DnsLookup, DomainRenderer, DomainRepo, FeedEvent, KeyGenerator, KeyStore,
    LeaseOnWrite, ObservedDns, Observer,
};
use crate::publish::{DnsRecordSpec, Publishing, dns_records};
use crate::records::spf::DomainSpec;
use crate::sending::envelope;
use crate::webhook::{self, OutboxMessage};
use crate::zone::{DEFAULT_TTL, DEFAULT_ZONE, ZoneConfig};

pub use decisions::{DomainCache, SendableCache};
pub use domains::{DomainChanges, DomainView, NewDomain};
pub use keypool::{PoolConfig, PooledKeys, RefillError};
pub use monitor::MonitorReport;
pub use rotation::RotationStarted;
pub use sending::{
    INLINE_SIGN_MAX_BYTES, SIGN_BATCH_MAX_MESSAGES, SenderQuery, SignRequest, check_batch_size,
};
pub use signers::SignerCache;
pub use verification::VerificationReport;
pub use webhooks::{WebhookConfig, WebhookService, WithSecret};
pub use zone::ZoneSource;

/// Settings of the use cases (defaults in [`ServiceConfig::default`]; docs/operations.md
/// lists the variables that set them).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Our SPF include host (`SCAISEND_SPF_INCLUDE`, default `scaisend.scailabs.ai`).
    pub spf_include: DomainName,
    /// The DKIM selector base (`SCAISEND_DKIM_SELECTOR`, default `scaisend`).
    pub selector_base: Selector,
    /// Our sending addresses (`SCAISEND_SENDING_IPS`); empty: read from the include
    /// host's SPF record.
    pub sending_ips: Vec<IpAddr>,
    /// How long the monitor keeps a failing verified domain verified (default 72 h).
    pub grace: Duration,
    /// The most domains one owner — a tenant, or a partner for its shared domains — may
    /// have (`SCAISEND_MAX_DOMAINS_PER_TENANT`, default 1000).
    pub max_domains_per_owner: u64,
    /// Our authoritative DKIM zone, for CNAME mode (`SCAISEND_DKIM_ZONE`, …).
    pub zone: ZoneConfig,
    /// In CNAME mode, how long a new key is served before it signs, so that every
    /// resolver can see it (`SCAISEND_DKIM_PROPAGATION`, default twice the zone's TTL).
    pub dkim_propagation: Duration,
    /// In CNAME mode, how long a retired key is still served for mail in flight before
    /// its private key is destroyed (`SCAISEND_DKIM_RETIRE_AFTER`, default 7 days).
    pub dkim_retire_after: Duration,
    /// Our bounce mail exchanger, the MX of every return-path host
    /// (`SCAISEND_BOUNCE_MX`, default `feedback.scaisend.scailabs.ai`).
    pub bounce_mx: DomainName,
    /// The MAIL FROM domain of mail from a domain without a verified return path of its
    /// own (`SCAISEND_DEFAULT_RETURN_PATH`, default `bounces.scaisend.scailabs.ai`).
    pub default_return_path: DomainName,
    /// How long a send-time decision may be served from this instance's cache, which is
    /// how long another instance's change may go unseen here (`SCAISEND_DECISION_TTL`,
    /// default 5 s; zero turns the cache off). This instance's own changes are seen at once.
    pub decision_ttl: Duration,
    /// How many (name, partner, tenant) decisions are cached at most (default 100,000).
    pub decision_capacity: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            spf_include: DomainName::from_trusted(DEFAULT_SPF_INCLUDE),
            selector_base: Selector::from_trusted(DEFAULT_SELECTOR),
            sending_ips: Vec::new(),
            grace: Duration::hours(72),
            max_domains_per_owner: DEFAULT_MAX_DOMAINS_PER_OWNER,
            zone: ZoneConfig::for_apex(DomainName::from_trusted(DEFAULT_ZONE)),
            dkim_propagation: Duration::seconds(2 * DEFAULT_TTL.as_secs() as i64),
            dkim_retire_after: Duration::days(7),
            bounce_mx: DomainName::from_trusted(DEFAULT_BOUNCE_MX),
            default_return_path: DomainName::from_trusted(DEFAULT_RETURN_PATH),
            decision_ttl: SendableCache::DEFAULT_TTL,
            decision_capacity: SendableCache::DEFAULT_CAPACITY,
        }
    }
}

/// The default SPF include host (docs/api.md).
pub const DEFAULT_SPF_INCLUDE: &str = "scaisend.scailabs.ai";
/// The default DKIM selector base (docs/api.md).
pub const DEFAULT_SELECTOR: &str = "scaisend";
/// The default quota of domains per owner.
pub const DEFAULT_MAX_DOMAINS_PER_OWNER: u64 = 1000;
/// The default bounce mail exchanger (docs/operations.md).
pub const DEFAULT_BOUNCE_MX: &str = "feedback.scaisend.scailabs.ai";
/// The default platform return path (docs/operations.md).
pub const DEFAULT_RETURN_PATH: &str = "bounces.scaisend.scailabs.ai";

/// The ports the use cases run on.
#[derive(Clone)]
pub struct Ports {
    /// Domains, keys, checks, timeline, leases.
    pub repo: Arc<dyn DomainRepo>,
    /// Sealed private keys for the signer.
    pub keys: Arc<dyn KeyStore>,
    /// DNS.
    pub dns: Arc<dyn DnsLookup>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Key generation (slow: a bounded blocking pool in the app).
    pub keygen: Arc<dyn KeyGenerator>,
    /// Where heavy signing runs (a message over [`INLINE_SIGN_MAX_BYTES`], a key over 2048
    /// bits), away from the threads that serve requests.
    pub cpu: Arc<dyn CpuPool>,
    /// Where verdicts, monitor rounds and DNS queries are reported for metrics.
    pub observer: Arc<dyn Observer>,
}

crate::debug_fields!(Ports { .. });

/// The use cases.
pub struct DomainService {
    ports: Ports,
    master: Arc<MasterKey>,
    config: ServiceConfig,
    include_spec: DomainSpec,
    ids: IdGenerator,
    signers: SignerCache,
    renderer: Option<Arc<dyn DomainRenderer>>,
    sendable: SendableCache,
    domains: DomainCache,
}

crate::debug_fields!(DomainService { config, .. });

impl DomainService {
    /// The use cases over `ports`, sealing keys with `master`.
    pub fn new(mut ports: Ports, master: Arc<MasterKey>, config: ServiceConfig) -> Self {
        // Every query the rules send is reported, whichever use case sends it.
        ports.dns = Arc::new(ObservedDns::new(ports.dns, ports.observer.clone()));
        let include_spec = DomainSpec::for_domain(&config.spf_include);
        let signers = SignerCache::new(ports.keys.clone(), master.clone());
        let sendable = SendableCache::new(config.decision_ttl, config.decision_capacity);
        let domains = DomainCache::new(config.decision_ttl, DomainCache::DEFAULT_CAPACITY);
        DomainService {
            ports,
            master,
            config,
            include_spec,
            ids: IdGenerator::new(),
            signers,
            renderer: None,
            sendable,
            domains,
        }
    }

    /// Turns webhooks on: every write queues the outbox messages of its events, with
    /// the domain rendered by `renderer` (the API's shape of it).
    pub fn with_webhooks(mut self, renderer: Arc<dyn DomainRenderer>) -> Self {
        self.renderer = Some(renderer);
        self
    }

    /// The webhook outbox messages of `events`, written with `domain` (none while
    /// webhooks are off, or when no event maps to a webhook type).
    fn outbox(&self, domain: &Domain, events: &[DomainEvent]) -> Vec<OutboxMessage> {
        let Some(renderer) = &self.renderer else {
            return Vec::new();
        };
        if events
            .iter()
            .all(|e| webhook::payload::types_of(e).is_empty())
        {
            return Vec::new();
        }
        let rendered = renderer.render(&self.view(domain.clone()));
        webhook::payload::for_events(&self.ids, &domain.owner, &rendered, events)
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The master key that seals private keys (webhook secrets are sealed with it too).
    pub fn master_key(&self) -> Arc<MasterKey> {
        self.master.clone()
    }

    /// The ports.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    fn now(&self) -> OffsetDateTime {
        self.ports.clock.now()
    }

    /// What the records a domain publishes depend on besides the domain.
    fn publishing(&self) -> Publishing<'_> {
        Publishing {
            include_host: &self.include_spec,
            selector_base: &self.config.selector_base,
            zone: &self.config.zone,
            bounce_mx: &self.config.bounce_mx,
        }
    }

    fn view(&self, domain: Domain) -> DomainView {
        let dns_records: Vec<DnsRecordSpec> = dns_records(&domain, &self.publishing(), self.now());
        let standing = domain.standing(self.config.grace);
        let envelope = envelope(&domain, &self.config.default_return_path);
        DomainView {
            domain,
            dns_records,
            standing,
            envelope,
        }
    }

    async fn load(&self, scope: &Scope, id: &DomainId) -> Result<Domain> {
        let domain = self.ports.repo.get(scope, id).await?;
        // Defence in depth: the store's scoping is checked again here.
        if !scope.can_see(&domain.owner) {
            return Err(Error::NotFound);
        }
        Ok(domain)
    }

    async fn load_for_change(&self, caller: &Caller, id: &DomainId) -> Result<Domain> {
        let domain = self.load(&caller.admin_scope()?, id).await?;
        caller.check_may_change(&domain.owner)?;
        Ok(domain)
    }

    /// Forgets what this instance cached of `domain`, which it just changed.
    fn forget(&self, domain: &Domain) {
        self.sendable.forget(domain);
        self.domains.forget(&domain.id);
    }

    /// Applies what a store's [`ChangeFeed`](crate::ports::ChangeFeed) reports: a domain
    /// changed elsewhere is forgotten by every cache at once; after a lost feed, all of
    /// them start again from the store. Without a feed, another instance's change is
    /// seen when the entries expire ([`ServiceConfig::decision_ttl`]).
    pub fn follow(&self, event: &FeedEvent) {
        match event {
            FeedEvent::Changed(change) => {
                self.sendable.forget_name(&change.name);
                self.domains.forget(&change.id);
                self.signers.forget_domain(&change.id);
            }
            FeedEvent::Lost => {
                self.sendable.forget_all();
                self.domains.forget_all();
            }
        }
    }

    /// Stores a changed domain with its events and bumps the in-memory version to match.
    /// `lease` names the monitor lease the caller holds, to be released with the write.
    async fn store(
        &self,
        domain: &mut Domain,
        events: &[DomainEvent],
        lease: LeaseOnWrite,
    ) -> Result<()> {
        let outbox = self.outbox(domain, events);
        self.ports
            .repo
            .update_notifying(domain, events, &outbox, lease)
            .await
            .map_err(|e| match e {
                RepoError::Conflict(_) => Error::Conflict(
                    "the domain was changed by another request at the same time; retry".to_owned(),
                ),
                other => other.into(),
            })?;
        self.forget(domain);
        domain.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhook_tests;
