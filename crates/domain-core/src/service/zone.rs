//! What our DKIM zone serves: the use case behind the zone server's snapshot.

use std::sync::Arc;

use crate::error::Result;
use crate::name::Selector;
use crate::ports::DomainRepo;
use crate::publish::Delegation;
use crate::zone::{ZoneConfig, ZoneSnapshot, records_of};

use super::DomainService;

/// Where the zone server reads the zone from: the store, and the settings that place
/// slots in the zone. It needs no master key and no other port, so a host that only
/// serves DNS (`scaisend-domains dns`) never holds a secret that opens a private key.
#[derive(Clone)]
pub struct ZoneSource {
    repo: Arc<dyn DomainRepo>,
    zone: ZoneConfig,
    selector_base: Selector,
}

crate::debug_fields!(ZoneSource {
    zone,
    selector_base,
    ..
});

impl ZoneSource {
    /// The zone `zone`, with slots named from `selector_base`, read from `repo`.
    pub fn new(repo: Arc<dyn DomainRepo>, zone: ZoneConfig, selector_base: Selector) -> Self {
        ZoneSource {
            repo,
            zone,
            selector_base,
        }
    }

    /// The zone's settings.
    pub fn config(&self) -> &ZoneConfig {
        &self.zone
    }

    /// The zone as the store holds it now, under `serial`: for every domain with
    /// CNAME-mode keys, each slot's current record (docs/operations.md, "Our DKIM zone").
    ///
    /// An unreachable store is an error, never an empty zone: the caller keeps serving
    /// the snapshot it has.
    pub async fn snapshot(&self, serial: u32) -> Result<ZoneSnapshot> {
        let domains = self.repo.zone_domains().await?;
        let delegation = Delegation {
            selector_base: &self.selector_base,
            zone: &self.zone,
        };
        let records = domains
            .iter()
            .flat_map(|domain| records_of(domain, &delegation));
        Ok(ZoneSnapshot::new(self.zone.clone(), serial, records))
    }
}

impl DomainService {
    /// The zone this service's CNAME-mode domains point at, read from its store.
    pub fn zone_source(&self) -> ZoneSource {
        ZoneSource::new(
            self.ports.repo.clone(),
            self.config.zone.clone(),
            self.config.selector_base.clone(),
        )
    }
}
