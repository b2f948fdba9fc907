//! The background monitor's rounds (docs/operations.md, "The monitor").

use time::Duration;

use super::{DomainService, Result};
use crate::error::Error;
use crate::events::Actor;
use crate::lifecycle::CheckMode;
use crate::model::{DomainId, Scope};
use crate::ports::{LeaseOnWrite, Observation};
use crate::schedule;

/// What one monitor round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorReport {
    /// Domains checked.
    pub checked: usize,
    /// Domains whose check could not be stored (released for a retry).
    pub released: usize,
    /// Rotations started automatically.
    pub rotations_started: usize,
}

impl DomainService {
    /// One round of the background monitor: claims due domains under `owner`'s lease,
    /// re-verifies them with the monitor's grace, starts due automatic rotations, and
    /// schedules the next check. Returns when nothing is due.
    pub async fn monitor_round(
        &self,
        owner: &str,
        batch: u32,
        lease: Duration,
    ) -> Result<MonitorReport> {
        let mut report = MonitorReport::default();
        loop {
            let now = self.now();
            let ids = self
                .ports
                .repo
                .claim_due(now, owner, now + lease, batch)
                .await?;
            if ids.is_empty() {
                self.ports.observer.observe(Observation::MonitorRound {
                    checked: report.checked,
                    released: report.released,
                    rotations_started: report.rotations_started,
                });
                return Ok(report);
            }
            let results =
                futures::future::join_all(ids.iter().map(|id| self.monitor_one(id, owner))).await;
            for (id, result) in ids.iter().zip(results) {
                match result {
                    Ok(rotated) => {
                        report.checked += 1;
                        report.rotations_started += usize::from(rotated);
                    }
                    Err(Error::NotFound) => {}
                    Err(_) => {
                        report.released += 1;
                        let retry = self.now() + Duration::minutes(5);
                        // If even the release fails the lease simply expires.
                        let _ = self.ports.repo.release(id, owner, retry).await;
                    }
                }
            }
        }
    }

    /// Checks one claimed domain; returns whether an automatic rotation was started.
    async fn monitor_one(&self, id: &DomainId, owner: &str) -> Result<bool> {
        let mut domain = self.load(&Scope::System, id).await?;
        let mut rotated = false;
        if schedule::rotation_due(&domain, self.now()) {
            domain = self.start_rotation(domain, Actor::System).await?;
            rotated = true;
        }
        let mode = CheckMode::Monitor {
            grace: self.config.grace,
        };
        self.record_verification(
            &Scope::System,
            domain,
            mode,
            Actor::System,
            LeaseOnWrite::ReleaseIfHeldBy(owner.to_owned()),
        )
        .await?;
        Ok(rotated)
    }
}
