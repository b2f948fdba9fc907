//! Checking a domain's records in DNS and recording what was found.

use super::{DomainService, Result};
use crate::access::Caller;
use crate::error::Error;
use crate::events::Actor;
use crate::lifecycle::{CheckMode, CheckedKeys};
use crate::model::{Domain, DomainId, Scope};
use crate::ports::{LeaseOnWrite, Observation};
use crate::rotation::{DkimMode, SelectorKey};
use crate::schedule;
use crate::verify::{CheckKind, DkimKeys, DomainExpectation, DomainReport, Verdict, check_domain};

/// How many times a verification is applied to a freshly read domain when a concurrent
/// writer wins the race.
const ATTEMPTS: usize = 3;

/// The answer of `verify` (docs/api.md, "Verification").
#[derive(Debug, Clone)]
pub struct VerificationReport {
    /// The domain, as stored after the verification.
    pub domain: Domain,
    /// One readable sentence per failing check of this run.
    pub errors: Vec<String>,
    /// This run's verdicts, one per check of [`CheckKind::ALL`] that applies to the
    /// domain (the return path's only when it has one).
    pub checks: Vec<Verdict>,
}

impl VerificationReport {
    /// Whether a check passes, by its last conclusive verdict (a temporary failure keeps
    /// the previous one).
    pub fn passed(&self, kind: CheckKind) -> bool {
        self.domain.checks.passed(kind)
    }
}

impl DomainService {
    /// Checks a domain's records in DNS now and records the truth (docs/verification.md):
    /// a pending DKIM key whose record is published is promoted; a temporary DNS failure
    /// keeps the previous state.
    pub async fn verify(&self, caller: &Caller, id: &DomainId) -> Result<VerificationReport> {
        let domain = self.load_for_change(caller, id).await?;
        let (domain, report) = self
            .record_verification(
                &caller.admin_scope()?,
                domain,
                CheckMode::Explicit,
                caller.actor(),
                LeaseOnWrite::Keep,
            )
            .await?;
        Ok(verification_report(domain, &report))
    }

    /// Runs the checks of `domain` and stores what they found, re-reading the domain when
    /// a concurrent writer wins. If the domain's keys changed meanwhile (a rotation
    /// started, was cancelled or was promoted), the checks are run again for the new keys:
    /// a verdict is only ever stored for the keys it was computed for. `lease` is the
    /// monitor lease released with the write, if the caller holds one.
    pub(super) async fn record_verification(
        &self,
        scope: &Scope,
        domain: Domain,
        mode: CheckMode,
        actor: Actor,
        lease: LeaseOnWrite,
    ) -> Result<(Domain, DomainReport)> {
        let signing_before = domain.keys.active().index;
        let mut domain = domain;
        let mut checked = CheckedKeys::of(&domain);
        let mut report = self.run_checks(&domain).await;
        let mut attempt = 1;
        let domain = loop {
            if CheckedKeys::of(&domain) != checked {
                checked = CheckedKeys::of(&domain);
                report = self.run_checks(&domain).await;
            }
            let mut updated = domain.clone();
            let now = self.now();
            let events = updated.apply_checks(report.clone(), mode, now, actor.clone(), &self.ids);
            let next = schedule::next_check(&updated, now, schedule::random_jitter());
            let key_step = schedule::next_key_step(
                &updated,
                self.config.dkim_propagation,
                self.config.dkim_retire_after,
            );
            updated.next_check_at = key_step.map_or(next, |step| next.min(step.max(now)));
            if !events.is_empty() {
                updated.updated_at = now;
            }
            match self.store(&mut updated, &events, lease.clone()).await {
                Ok(()) => break updated,
                Err(Error::Conflict(_)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    domain = self.load(scope, &updated.id).await?;
                }
                Err(Error::Conflict(_)) => {
                    return Err(Error::Conflict(
                        "the domain kept changing during verification; retry".to_owned(),
                    ));
                }
                Err(e) => return Err(e),
            }
        };
        if domain.keys.active().index != signing_before {
            // Promoted: the old keys no longer sign, so their opened copies are dropped.
            self.signers.forget_generation(&domain.id, signing_before);
        }
        for verdict in report.verdicts.iter() {
            self.ports
                .observer
                .observe(Observation::Check { verdict, mode });
        }
        Ok((domain, report))
    }

    /// Runs the checks of a domain: its active DKIM keys (and the pending ones, once they
    /// may be promoted), every other check, and the return path if it has one,
    /// concurrently.
    pub(super) async fn run_checks(&self, domain: &Domain) -> DomainReport {
        let publishing = self.publishing();
        let slots = publishing.cname_slots(domain);
        let keys_of = |index: u32| -> DkimKeys<'_> {
            let keys: Vec<&SelectorKey> = domain.keys.generation(index).collect();
            match keys.first().map(|k| k.mode) {
                Some(DkimMode::Cname) => DkimKeys::Cname(slots.clone()),
                _ => DkimKeys::Txt(
                    keys.iter()
                        .map(|k| (&k.selector, Some(&k.public_key)))
                        .collect(),
                ),
            }
        };
        // A pending generation in CNAME mode is served by our zone at once, but may sign
        // only once every resolver can have seen it: its slots are checked from then on.
        let now = self.now();
        let pending = domain.keys.pending().filter(|p| {
            p.mode == DkimMode::Txt || now - p.created_at >= self.config.dkim_propagation
        });
        check_domain(
            self.ports.dns.as_ref(),
            &DomainExpectation {
                domain: &domain.name,
                dkim: keys_of(domain.keys.active().index),
                dkim_pending: pending.map(|p| (p.index, keys_of(p.index))),
                include_host: &self.config.spf_include,
                sending_ips: &self.config.sending_ips,
                dmarc_policy: Some(domain.dmarc_policy),
                dmarc_rua: domain.dmarc_rua.as_ref(),
                return_path: domain
                    .return_path
                    .as_ref()
                    .map(|r| (&r.host, &self.config.bounce_mx)),
            },
        )
        .await
    }
}

/// The answer of a verification: this run's verdicts — when the pending key was promoted,
/// its verdict is the DKIM one — and a sentence for each that fails.
fn verification_report(domain: Domain, report: &DomainReport) -> VerificationReport {
    let checks: Vec<Verdict> = report
        .verdicts
        .iter()
        .map(|v| match &report.pending {
            Some((generation, pending))
                if v.record == CheckKind::Dkim && domain.keys.active().index == *generation =>
            {
                pending.clone()
            }
            _ => v.clone(),
        })
        .collect();
    let errors = checks
        .iter()
        .filter(|v| !v.passed())
        .map(|v| format!("{}: {}", v.record.as_str().to_uppercase(), v.message))
        .collect();
    VerificationReport {
        domain,
        errors,
        checks,
    }
}
