//! The background monitor loop inside `serve` (docs/operations.md, "The monitor"). The rules — what is due,
//! the grace, automatic rotation — are the core's `monitor_round`; this only ticks.

use std::sync::Arc;
use std::time::Duration;

use domain_core::DomainService;
use tokio::sync::watch;

/// Domains claimed per batch.
pub const BATCH: u32 = 50;
/// How long a claim holds before another instance may take the domain over.
pub const LEASE: time::Duration = time::Duration::minutes(5);

/// A name for this instance's leases: host, process and a random part.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}-{}", std::process::id(), ulid::Ulid::generate())
}

/// Runs monitor rounds every `interval` until `shutdown` turns true. A round under way
/// when it does stops between domains: checks already started finish, the domains not
/// yet checked are released for another instance.
pub async fn run(
    service: Arc<DomainService>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let owner = instance_name();
    tracing::info!(%owner, every = ?interval, "monitor started");
    let stopping = shutdown.clone();
    let should_stop = move || *stopping.borrow();
    loop {
        if should_stop() {
            break;
        }
        match service
            .monitor_round_until(&owner, BATCH, LEASE, &should_stop)
            .await
        {
            Ok(report) if report.checked > 0 || report.released > 0 => {
                tracing::info!(
                    checked = report.checked,
                    released = report.released,
                    rotations = report.rotations_started,
                    "monitor round"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "monitor round failed; retrying next tick"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("monitor stopped");
}
