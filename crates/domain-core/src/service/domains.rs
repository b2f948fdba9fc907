//! Adding, reading, changing and deleting domains.

use std::sync::Arc;

use time::Duration;

use super::rotation::key_kinds;
use super::{DomainService, Result};
use crate::access::Caller;
use crate::crypto::{GeneratedKey, KeyAlgorithm, KeyError, RsaBits};
use crate::error::{Error, RepoError};
use crate::events::{Change, EventWriter, Settings};
use crate::lifecycle::Standing;
use crate::model::{
    Domain, DomainEvent, DomainId, ListFilter, Page, PageRequest, ReturnPath, ZoneLabel,
};
use crate::name::{DmarcPolicy, DomainName, ReturnPathLabel, RuaAddress};
use crate::ports::LeaseOnWrite;
use crate::publish::DnsRecordSpec;
use crate::records::dkim::Algorithm;
use crate::rotation::{DkimMode, KeyRing, RotationPeriod, check_algorithms};
use crate::sending::Envelope;
use crate::verify::Verdicts;
use crate::webhook;

/// A new domain, its fields already parsed into domain types at the edge.
#[derive(Debug, Clone)]
pub struct NewDomain {
    /// The name.
    pub name: DomainName,
    /// The DMARC policy to publish.
    pub dmarc_policy: DmarcPolicy,
    /// Where DMARC reports go.
    pub dmarc_rua: Option<RuaAddress>,
    /// A partner-owned shared domain.
    pub is_shared: bool,
    /// The algorithms to sign with, RSA among them (`["rsa-sha256"]` by default).
    pub dkim_algorithms: Vec<Algorithm>,
    /// The RSA key size.
    pub rsa_bits: RsaBits,
    /// How the keys are published.
    pub dkim_mode: DkimMode,
    /// Automatic rotation after this many days.
    pub dkim_rotation_days: Option<RotationPeriod>,
    /// The return-path label, if the domain should have its own.
    pub return_path: Option<ReturnPathLabel>,
}

impl NewDomain {
    /// `name` with every other field at the API's default: policy `none`, no report
    /// address, a tenant's own domain, one RSA key of the default size in TXT mode, no
    /// automatic rotation.
    pub fn named(name: DomainName) -> Self {
        NewDomain {
            name,
            dmarc_policy: DmarcPolicy::None,
            dmarc_rua: None,
            is_shared: false,
            dkim_algorithms: vec![Algorithm::RsaSha256],
            rsa_bits: RsaBits::default(),
            dkim_mode: DkimMode::default(),
            dkim_rotation_days: None,
            return_path: None,
        }
    }
}

/// A change to a domain; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct DomainChanges {
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// A new DMARC policy.
    pub dmarc_policy: Option<DmarcPolicy>,
    /// A new report address; `Some(None)` clears it.
    pub dmarc_rua: Option<Option<RuaAddress>>,
    /// Automatic rotation; `Some(None)` turns it off.
    pub dkim_rotation_days: Option<Option<RotationPeriod>>,
    /// Another way to publish the keys: a rotation into that mode.
    pub dkim_mode: Option<DkimMode>,
    /// Other algorithms to sign with: a rotation to keys of those algorithms.
    pub dkim_algorithms: Option<Vec<Algorithm>>,
    /// A new return path; `Some(None)` removes it.
    pub return_path: Option<Option<ReturnPathLabel>>,
}

/// A domain with the records it should publish.
#[derive(Debug, Clone)]
pub struct DomainView {
    /// The domain.
    pub domain: Domain,
    /// Its `dns_records`.
    pub dns_records: Vec<DnsRecordSpec>,
    /// Where it stands under the configured grace period.
    pub standing: Standing,
    /// How its mail goes out now: the MAIL FROM domain and the alignment.
    pub envelope: Envelope,
}

impl Domain {
    /// The settings `PATCH` changes besides activation.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            dmarc_policy: self.dmarc_policy,
            dmarc_rua: self.dmarc_rua.clone(),
            dkim_rotation_days: self.dkim_rotation_days,
        }
    }
}

impl DomainService {
    /// Adds a domain: generates its first DKIM key, seals it, stores it with a `created`
    /// event. Everything that can refuse the request — permission, a return-path host too
    /// long for DNS, the name already taken, the owner's quota — is decided before a key
    /// is generated, because generating one costs tens of milliseconds to seconds of CPU.
    pub async fn create(&self, caller: &Caller, new: NewDomain) -> Result<DomainView> {
        let owner = caller.owner_for_new(new.is_shared)?;
        if let Some(label) = &new.return_path {
            label
                .host(&new.name)
                .map_err(|e| Error::invalid("return_path", e))?;
        }
        let usage = self.ports.repo.owner_usage(&owner, &new.name).await?;
        if usage.name_taken {
            return Err(already_yours(&new.name));
        }
        if usage.domains >= self.config.max_domains_per_owner {
            return Err(Error::Conflict(format!(
                "the quota of {} domains is reached; delete a domain you no longer use first",
                self.config.max_domains_per_owner
            )));
        }
        check_algorithms(&new.dkim_algorithms).map_err(|e| Error::invalid("dkim_algorithms", e))?;
        let next = KeyRing::first_generation(
            &self.config.selector_base,
            new.dkim_mode,
            &new.dkim_algorithms,
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        let now = self.now();
        let id = self.ids.domain_id(now);
        let kinds = key_kinds(&new.dkim_algorithms, new.rsa_bits);
        let generation = self
            .generate_generation(&id, &next, new.dkim_mode, &kinds)
            .await?;
        let zone_label = ZoneLabel::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let return_path = new
            .return_path
            .clone()
            .map(|label| ReturnPath::new(label, &new.name, now))
            .transpose()
            .map_err(|e| Error::invalid("return_path", e))?;
        let domain = Domain {
            id,
            name: new.name,
            owner,
            dmarc_policy: new.dmarc_policy,
            dmarc_rua: new.dmarc_rua,
            is_active: true,
            verified: false,
            keys: KeyRing::new(generation, now).map_err(|e| Error::Internal(e.to_string()))?,
            zone_label,
            checks: Verdicts::default(),
            dkim_rotation_days: new.dkim_rotation_days,
            created_at: now,
            updated_at: now,
            last_verified_at: None,
            failing_since: None,
            next_check_at: now + Duration::minutes(1),
            version: 0,
            return_path,
        };
        let mut events = EventWriter::new(&self.ids, &domain.id, caller.actor(), now);
        events.push(Change::Created {
            name: domain.name.clone(),
            is_shared: domain.is_shared(),
            settings: domain.settings(),
            selector: domain.keys.active().selector.clone(),
            keys: kinds,
            mode: new.dkim_mode,
            return_path: new.return_path,
        });
        let events = events.finish();
        let outbox = self.outbox(&domain, &events);
        self.ports
            .repo
            .insert_notifying(&domain, &events, &outbox)
            .await
            .map_err(|e| match e {
                RepoError::Conflict(_) => already_yours(&domain.name),
                other => other.into(),
            })?;
        // A new own domain, even unverified, decides for its name instead of a shared one.
        self.forget(&domain);
        Ok(self.view(domain))
    }

    /// Generates a key pair; a saturated generator is a temporary refusal.
    pub(super) async fn generate_key(&self, algorithm: KeyAlgorithm) -> Result<GeneratedKey> {
        self.ports
            .keygen
            .generate(algorithm)
            .await
            .map_err(|e| match e {
                KeyError::Busy => Error::Unavailable(e.to_string()),
                other => Error::Internal(other.to_string()),
            })
    }

    /// A domain the caller may read.
    pub async fn get(&self, caller: &Caller, id: &DomainId) -> Result<DomainView> {
        let scope = caller.admin_scope()?;
        let domain = self
            .domains
            .get(self.ports.repo.as_ref(), &scope, id, self.now())
            .await?;
        Ok(self.view(Arc::unwrap_or_clone(domain)))
    }

    /// The domains the caller may read.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<DomainView>> {
        let scope = caller.admin_scope()?;
        let page = self.ports.repo.list(&scope, filter, page).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .filter(|d| scope.can_see(&d.owner))
                .map(|d| self.view(d))
                .collect(),
            next_after: page.next_after,
        })
    }

    /// Changes `is_active`, the DMARC fields, automatic rotation or the return path.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &DomainId,
        changes: DomainChanges,
    ) -> Result<DomainView> {
        let mut domain = self.load_for_change(caller, id).await?;
        let now = self.now();
        let mut events = EventWriter::new(&self.ids, &domain.id, caller.actor(), now);
        if let Some(active) = changes.is_active
            && active != domain.is_active
        {
            domain.is_active = active;
            events.push(if active {
                Change::Reactivated
            } else {
                Change::Deactivated
            });
        }
        let before = domain.settings();
        if let Some(p) = changes.dmarc_policy {
            domain.dmarc_policy = p;
        }
        if let Some(rua) = changes.dmarc_rua {
            domain.dmarc_rua = rua;
        }
        if let Some(days) = changes.dkim_rotation_days {
            domain.dkim_rotation_days = days;
        }
        let after = domain.settings();
        if before != after {
            events.push(Change::SettingsChanged { before, after });
        }
        if let Some(label) = changes.return_path
            && let Some(change) = domain
                .set_return_path(label, now)
                .map_err(|e| Error::invalid("return_path", e))?
        {
            events.push(change);
            if domain.return_path.is_some() {
                // A new return path is checked as soon as a new domain would be.
                domain.next_check_at = domain.next_check_at.min(now + Duration::minutes(1));
            }
        }
        // Another mode or other algorithms: a rotation into them, with the same rule that
        // new keys sign only once they are published. Last, because generating keys is
        // the expensive part: everything that can refuse the change has been decided.
        let mode = changes.dkim_mode.unwrap_or(domain.dkim_mode());
        let algorithms = changes
            .dkim_algorithms
            .unwrap_or_else(|| domain.dkim_algorithms());
        check_algorithms(&algorithms).map_err(|e| Error::invalid("dkim_algorithms", e))?;
        if mode != domain.dkim_mode() || algorithms != domain.dkim_algorithms() {
            self.add_generation(&mut domain, mode, &algorithms, &mut events)
                .await?;
        }
        if events.is_empty() {
            return Ok(self.view(domain));
        }
        domain.updated_at = now;
        self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
            .await?;
        Ok(self.view(domain))
    }

    /// Deletes a domain and destroys its private keys.
    pub async fn delete(&self, caller: &Caller, id: &DomainId) -> Result<()> {
        let domain = self.load_for_change(caller, id).await?;
        let outbox: Vec<_> = self
            .renderer
            .as_ref()
            .map(|r| {
                let owner = domain.owner.clone();
                let rendered = r.render(&self.view(domain.clone()));
                webhook::payload::deleted(&self.ids, &owner, &rendered, self.now())
            })
            .into_iter()
            .collect();
        self.ports
            .repo
            .delete_notifying(&caller.admin_scope()?, &domain.id, &outbox)
            .await?;
        self.signers.forget_domain(&domain.id);
        self.forget(&domain);
        Ok(())
    }

    /// The records a domain should publish.
    pub async fn dns_records(&self, caller: &Caller, id: &DomainId) -> Result<DomainView> {
        self.get(caller, id).await
    }

    /// A domain's timeline, newest first.
    pub async fn events(
        &self,
        caller: &Caller,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>> {
        Ok(self
            .ports
            .repo
            .events(&caller.admin_scope()?, id, page)
            .await?)
    }
}

fn already_yours(name: &DomainName) -> Error {
    Error::Conflict(format!("{name} is already one of your domains"))
}
