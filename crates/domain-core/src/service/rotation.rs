//! DKIM key rotation: starting one, and removing or cancelling a selector.

use time::Duration;

use super::{DomainService, Result};
use crate::access::Caller;
use crate::crypto::KeyAlgorithm;
use crate::error::Error;
use crate::events::{Actor, Change, EventWriter};
use crate::model::{Domain, DomainId};
use crate::name::Selector;
use crate::ports::LeaseOnWrite;
use crate::publish::DnsRecordSpec;
use crate::rotation::{NewKey, Removal, RotationError};
use crate::verify::CheckKind;

use super::DomainView;

/// The answer of `rotate-dkim` (docs/api.md, "DKIM rotation").
#[derive(Debug, Clone)]
pub struct RotationStarted {
    /// The domain after the rotation started.
    pub domain: Domain,
    /// The new, pending selector.
    pub new_selector: Selector,
    /// Its record, to publish.
    pub dns_record: DnsRecordSpec,
    /// The selector that keeps signing until the new record is seen.
    pub active_selector: Selector,
}

impl DomainService {
    /// Starts a DKIM rotation: a new key under the next selector, pending until its record
    /// is seen. `409` while another rotation is pending.
    pub async fn rotate(&self, caller: &Caller, id: &DomainId) -> Result<RotationStarted> {
        let domain = self.load_for_change(caller, id).await?;
        let domain = self.start_rotation(domain, caller.actor()).await?;
        let pending = domain
            .keys
            .pending()
            .ok_or_else(|| Error::Internal("rotation left no pending key".to_owned()))?;
        let new_selector = pending.selector.clone();
        let dns_record = self
            .view(domain.clone())
            .dns_records
            .into_iter()
            .find(|r| {
                r.purpose == CheckKind::Dkim && r.host == new_selector.record_host(&domain.name)
            })
            .ok_or_else(|| Error::Internal("pending key has no record".to_owned()))?;
        Ok(RotationStarted {
            active_selector: domain.keys.active().selector.clone(),
            new_selector,
            dns_record,
            domain,
        })
    }

    /// Adds a pending key of the same kind as the active one and stores it.
    pub(super) async fn start_rotation(&self, mut domain: Domain, actor: Actor) -> Result<Domain> {
        // Refused before the key is generated, which is the slow part.
        if let Some(p) = domain.keys.pending() {
            return Err(Error::Conflict(
                RotationError::AlreadyPending(p.selector.clone()).to_string(),
            ));
        }
        let generated = self
            .generate_key(KeyAlgorithm::of(&domain.keys.active().public_key))
            .await?;
        let now = self.now();
        let (index, selector) = domain.keys.next_selector(&self.config.selector_base);
        let sealed = self
            .master
            .seal(&generated.private, &domain.id, &selector)
            .map_err(|e| Error::Internal(e.to_string()))?;
        domain
            .keys
            .start_rotation(
                NewKey {
                    selector: selector.clone(),
                    index,
                    public_key: generated.public,
                    sealed,
                },
                now,
            )
            .map_err(|e| Error::Conflict(e.to_string()))?;
        let mut events = EventWriter::new(&self.ids, &domain.id, actor.clone(), now);
        events.push(Change::RotationStarted {
            automatic: actor == Actor::System,
            active: domain.keys.active().selector.clone(),
            pending: selector.clone(),
            host: selector.record_host(&domain.name),
        });
        domain.updated_at = now;
        // Check soon: the admin may publish the new record within minutes.
        domain.next_check_at = now + Duration::minutes(1);
        self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
            .await?;
        Ok(domain)
    }

    /// Removes a retiring selector or cancels a pending one (its private key is
    /// destroyed). The active selector cannot be removed (`409`).
    pub async fn remove_selector(
        &self,
        caller: &Caller,
        id: &DomainId,
        selector: &Selector,
    ) -> Result<DomainView> {
        let mut domain = self.load_for_change(caller, id).await?;
        let now = self.now();
        let removal = domain.keys.remove(selector, now).map_err(|e| match e {
            RotationError::UnknownSelector(_) => Error::NotFound,
            other => Error::Conflict(other.to_string()),
        })?;
        let host = selector.record_host(&domain.name);
        let mut events = EventWriter::new(&self.ids, &domain.id, caller.actor(), now);
        events.push(match removal {
            Removal::Retired => Change::SelectorRemoved {
                selector: selector.clone(),
                host,
            },
            Removal::Cancelled => Change::RotationCancelled {
                selector: selector.clone(),
                host,
            },
        });
        domain.updated_at = now;
        self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
            .await?;
        self.signers.forget(&domain.id, selector);
        Ok(self.view(domain))
    }
}
