//! DKIM key rotation: starting one (by request, on schedule, or by changing the mode or
//! the algorithms), and removing or cancelling a generation.

use time::{Duration, OffsetDateTime};

use super::{DomainService, Result};
use crate::access::Caller;
use crate::crypto::{KeyAlgorithm, KeyRow, RsaBits};
use crate::error::Error;
use crate::events::{Actor, Change, EventWriter};
use crate::model::{Domain, DomainId};
use crate::name::Selector;
use crate::ports::LeaseOnWrite;
use crate::publish::DnsRecordSpec;
use crate::records::dkim::Algorithm;
use crate::rotation::{
    DkimMode, KeyRing, NewGeneration, NewKey, NextGeneration, Removal, RotationError,
};
use crate::verify::CheckKind;

use super::DomainView;

/// The answer of `rotate-dkim` (docs/api.md, "Rotation").
#[derive(Debug, Clone)]
pub struct RotationStarted {
    /// The domain after the rotation started.
    pub domain: Domain,
    /// The new, pending (RSA) selector.
    pub new_selector: Selector,
    /// Its record: to publish in TXT mode; in CNAME mode the slot's CNAME, already there.
    pub dns_record: DnsRecordSpec,
    /// Every new record, one per algorithm.
    pub dns_records: Vec<DnsRecordSpec>,
    /// The selector that keeps signing until the new one is confirmed.
    pub active_selector: Selector,
}

impl DomainService {
    /// Starts a DKIM rotation: a new generation of keys, pending until its records are
    /// seen (TXT mode) or its slots confirmed after the propagation time (CNAME mode).
    /// `409` while another rotation is pending.
    pub async fn rotate(&self, caller: &Caller, id: &DomainId) -> Result<RotationStarted> {
        let mut domain = self.load_for_change(caller, id).await?;
        let now = self.now();
        let mut events = EventWriter::new(&self.ids, &domain.id, caller.actor(), now);
        let (mode, algorithms) = (domain.dkim_mode(), domain.dkim_algorithms());
        self.add_generation(&mut domain, mode, &algorithms, &mut events)
            .await?;
        self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
            .await?;
        self.rotation_started(domain)
    }

    /// The answer for a domain whose rotation was just started.
    fn rotation_started(&self, domain: Domain) -> Result<RotationStarted> {
        let pending: Vec<Selector> = domain
            .keys
            .pending_keys()
            .map(|k| k.selector.clone())
            .collect();
        let Some(new_selector) = pending.first().cloned() else {
            return Err(Error::Internal("rotation left no pending key".to_owned()));
        };
        let view = self.view(domain.clone());
        let hosts: Vec<String> = pending
            .iter()
            .map(|s| s.record_host(&domain.name))
            .collect();
        let dns_records: Vec<DnsRecordSpec> = view
            .dns_records
            .into_iter()
            .filter(|r| r.purpose == CheckKind::Dkim && hosts.contains(&r.host))
            .collect();
        let dns_record = dns_records
            .iter()
            .find(|r| r.host == hosts[0])
            .cloned()
            .ok_or_else(|| Error::Internal("pending key has no record".to_owned()))?;
        Ok(RotationStarted {
            active_selector: domain.keys.active().selector.clone(),
            new_selector,
            dns_record,
            dns_records,
            domain,
        })
    }

    /// Starts a rotation on schedule (the monitor) and stores it.
    pub(super) async fn start_scheduled_rotation(&self, mut domain: Domain) -> Result<Domain> {
        let now = self.now();
        let mut events = EventWriter::new(&self.ids, &domain.id, Actor::System, now);
        let (mode, algorithms) = (domain.dkim_mode(), domain.dkim_algorithms());
        self.add_generation(&mut domain, mode, &algorithms, &mut events)
            .await?;
        self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
            .await?;
        Ok(domain)
    }

    /// Adds a pending generation published in `mode` and signing with `algorithms` to
    /// `domain` (not stored): plans its selectors, generates and seals its keys — the slow
    /// part, done only once nothing refuses the rotation — and records the change.
    pub(super) async fn add_generation(
        &self,
        domain: &mut Domain,
        mode: DkimMode,
        algorithms: &[Algorithm],
        events: &mut EventWriter<'_>,
    ) -> Result<()> {
        if let Some(p) = domain.keys.pending() {
            return Err(Error::Conflict(
                RotationError::AlreadyPending(p.selector.clone()).to_string(),
            ));
        }
        let next = domain
            .keys
            .next_generation(&self.config.selector_base, mode, algorithms)
            .map_err(rotation_conflict)?;
        let kinds = key_kinds(algorithms, rsa_bits(&domain.keys));
        let generation = self
            .generate_generation(&domain.id, &next, mode, &kinds)
            .await?;
        let now = self.now();
        domain
            .keys
            .start_rotation(generation, now)
            .map_err(rotation_conflict)?;
        let active = domain.keys.active().selector.clone();
        let pending = next.selectors[0].1.clone();
        events.push(Change::RotationStarted {
            automatic: events.actor() == &Actor::System,
            active,
            host: pending.record_host(&domain.name),
            pending,
            mode,
            selectors: next.selectors.iter().map(|(_, s)| s.clone()).collect(),
        });
        domain.updated_at = now;
        // TXT: check soon, the admin may publish the new record within minutes. CNAME: the
        // new keys may sign once the propagation time has passed.
        domain.next_check_at = match mode {
            DkimMode::Txt => now + Duration::minutes(1),
            DkimMode::Cname => now + self.config.dkim_propagation,
        };
        Ok(())
    }

    /// Generates and seals one key per kind under the selectors `next` planned.
    pub(super) async fn generate_generation(
        &self,
        domain: &DomainId,
        next: &NextGeneration,
        mode: DkimMode,
        kinds: &[KeyAlgorithm],
    ) -> Result<NewGeneration> {
        let mut keys = Vec::with_capacity(kinds.len());
        for ((_, selector), kind) in next.selectors.iter().zip(kinds) {
            let generated = self.generate_key(*kind).await?;
            let row = KeyRow {
                domain,
                generation: next.index,
                selector,
            };
            let sealed = self
                .master
                .seal(&generated.private, &row)
                .map_err(|e| Error::Internal(e.to_string()))?;
            keys.push(NewKey {
                selector: selector.clone(),
                public_key: generated.public,
                sealed,
            });
        }
        Ok(NewGeneration {
            index: next.index,
            mode,
            keys,
        })
    }

    /// Removes a retiring generation by one of its selectors, or cancels a pending one
    /// (its private keys are destroyed). The active generation cannot be removed (`409`).
    pub async fn remove_selector(
        &self,
        caller: &Caller,
        id: &DomainId,
        selector: &Selector,
    ) -> Result<DomainView> {
        let mut domain = self.load_for_change(caller, id).await?;
        let now = self.now();
        let mut events = EventWriter::new(&self.ids, &domain.id, caller.actor(), now);
        self.remove_generation(&mut domain, selector, now, &mut events)?;
        self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
            .await?;
        Ok(self.view(domain))
    }

    /// Removes the generation holding `selector` from `domain` (not stored) and forgets
    /// its opened keys.
    pub(super) fn remove_generation(
        &self,
        domain: &mut Domain,
        selector: &Selector,
        now: OffsetDateTime,
        events: &mut EventWriter<'_>,
    ) -> Result<()> {
        let mode = domain
            .keys
            .get(selector)
            .map(|k| k.mode)
            .ok_or(Error::NotFound)?;
        let index = domain.keys.get(selector).map(|k| k.index);
        let removal = domain.keys.remove(selector, now).map_err(|e| match e {
            RotationError::UnknownSelector(_) => Error::NotFound,
            other => Error::Conflict(other.to_string()),
        })?;
        // The event names the generation's RSA selector, as the API does.
        let named = index
            .and_then(|i| domain.keys.generation(i).next())
            .map_or_else(|| selector.clone(), |k| k.selector.clone());
        let host = named.record_host(&domain.name);
        events.push(match removal {
            Removal::Retired => Change::SelectorRemoved {
                selector: named,
                host,
                mode,
            },
            Removal::Cancelled => Change::RotationCancelled {
                selector: named,
                host,
            },
        });
        domain.updated_at = now;
        if let Some(index) = index {
            self.signers.forget_generation(&domain.id, index);
        }
        Ok(())
    }
}

/// A rotation the key ring refuses is a conflict with the domain's state.
fn rotation_conflict(e: RotationError) -> Error {
    Error::Conflict(e.to_string())
}

/// The RSA size a domain's keys have: its active RSA key's.
fn rsa_bits(keys: &KeyRing) -> RsaBits {
    match KeyAlgorithm::of(&keys.active().public_key) {
        KeyAlgorithm::Rsa(bits) => bits,
        KeyAlgorithm::Ed25519 => RsaBits::default(),
    }
}

/// The kinds of key to generate for `algorithms`, RSA at `bits`.
pub(super) fn key_kinds(algorithms: &[Algorithm], bits: RsaBits) -> Vec<KeyAlgorithm> {
    algorithms
        .iter()
        .map(|a| match a {
            Algorithm::RsaSha256 => KeyAlgorithm::Rsa(bits),
            Algorithm::Ed25519Sha256 => KeyAlgorithm::Ed25519,
        })
        .collect()
}
