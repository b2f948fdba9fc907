//! The background monitor's rounds (docs/operations.md, "The monitor").

use time::Duration;

use super::{DomainService, Result};
use crate::error::Error;
use crate::events::{Actor, EventWriter};
use crate::lifecycle::CheckMode;
use crate::model::{DomainId, Scope};
use crate::ports::{LeaseOnWrite, Observation};
use crate::schedule;

/// What one monitor round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorReport {
    /// Domains checked.
    pub checked: usize,
    /// Domains whose check could not be stored (released for a retry), or that were
    /// left unchecked because the round was stopped (released, due at once).
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
        self.monitor_round_until(owner, batch, lease, &|| false)
            .await
    }

    /// [`Self::monitor_round`] that stops early once `should_stop` says so, as on
    /// shutdown. It is asked before each batch is claimed and before each claimed domain
    /// is checked; a domain not yet checked when it says stop is released at once (due
    /// now, for another instance to take), so no lease is left to expire. Checks already
    /// under way finish.
    pub async fn monitor_round_until(
        &self,
        owner: &str,
        batch: u32,
        lease: Duration,
        should_stop: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<MonitorReport> {
        let mut report = MonitorReport::default();
        loop {
            if should_stop() {
                self.report_round(&report);
                return Ok(report);
            }
            let now = self.now();
            let ids = self
                .ports
                .repo
                .claim_due(now, owner, now + lease, batch)
                .await?;
            if ids.is_empty() {
                self.report_round(&report);
                return Ok(report);
            }
            let results = futures::future::join_all(ids.iter().map(|id| async move {
                if should_stop() {
                    None
                } else {
                    Some(self.monitor_one(id, owner).await)
                }
            }))
            .await;
            for (id, result) in ids.iter().zip(results) {
                match result {
                    Some(Ok(rotated)) => {
                        report.checked += 1;
                        report.rotations_started += usize::from(rotated);
                    }
                    Some(Err(Error::NotFound)) => {}
                    Some(Err(_)) => {
                        report.released += 1;
                        let retry = self.now() + Duration::minutes(5);
                        // If even the release fails the lease simply expires.
                        let _ = self.ports.repo.release(id, owner, retry).await;
                        // The next check's time shows in a read of the domain.
                        self.domains.forget(id);
                    }
                    None => {
                        report.released += 1;
                        let _ = self.ports.repo.release(id, owner, self.now()).await;
                        self.domains.forget(id);
                    }
                }
            }
        }
    }

    fn report_round(&self, report: &MonitorReport) {
        self.ports.observer.observe(Observation::MonitorRound {
            checked: report.checked,
            released: report.released,
            rotations_started: report.rotations_started,
        });
    }

    /// Checks one claimed domain; returns whether an automatic rotation was started.
    async fn monitor_one(&self, id: &DomainId, owner: &str) -> Result<bool> {
        let mut domain = self.load(&Scope::System, id).await?;
        let now = self.now();
        if let Some(selector) =
            schedule::retirement_due(&domain, now, self.config.dkim_retire_after)
        {
            let mut events = EventWriter::new(&self.ids, &domain.id, Actor::System, now);
            self.remove_generation(&mut domain, &selector, now, &mut events)?;
            self.store(&mut domain, &events.finish(), LeaseOnWrite::Keep)
                .await?;
        }
        let mut rotated = false;
        if schedule::rotation_due(&domain, now) {
            match self.start_scheduled_rotation(domain.clone()).await {
                Ok(rotating) => {
                    domain = rotating;
                    rotated = true;
                }
                // Both CNAME slots still in use: the rotation waits for the retiring key.
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
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
