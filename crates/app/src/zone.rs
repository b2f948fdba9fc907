//! Our DKIM zone in the process: the snapshot that follows the store, and the DNS server
//! that answers from it (docs/operations.md, "Our DKIM zone").
//!
//! The zone is read again from the store every `SCAISEND_DKIM_ZONE_REFRESH` (2 s by
//! default, 5 s at most), so every instance on one store serves a change within that
//! time — SQLite and PostgreSQL alike, with no notification channel to lose. A read that
//! fails keeps the last snapshot: the zone is never served empty because the store is
//! down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use adapter_zone::{ZoneCell, ZoneLimits, ZoneServer};
use anyhow::{Context, Result};
use domain_core::ZoneSource;
use domain_core::ports::{DomainRepo, Observer};
use telemetry::Metrics;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The zone being served and the task keeping it current.
#[derive(Debug)]
pub struct ServedZone {
    server: ZoneServer,
    follower: AbortOnDrop,
}

/// The task following the store, which ends with the zone it serves.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ServedZone {
    /// Reads the zone from `source` once — a store that cannot be read now is a startup
    /// error, as there is nothing to serve yet — then serves it on `addr` over UDP and
    /// TCP, reading it again every `refresh` until `stop` turns true or the zone is
    /// dropped (a `stop` whose sender is gone never stops it).
    pub async fn start(
        source: ZoneSource,
        addr: SocketAddr,
        refresh: Duration,
        observer: Arc<dyn Observer>,
        stop: watch::Receiver<bool>,
    ) -> Result<ServedZone> {
        let first = source
            .snapshot(next_serial(0, unix_now()))
            .await
            .context("reading our DKIM zone from the store")?;
        tracing::info!(
            zone = %first.config().apex,
            names = first.len(),
            serial = first.serial(),
            "DKIM zone loaded"
        );
        let cell = ZoneCell::new(first);
        let server = ZoneServer::bind(addr, cell.clone(), ZoneLimits::default(), observer)
            .await
            .context("SCAISEND_DNS_LISTEN")?;
        let follower = AbortOnDrop(tokio::spawn(follow(source, cell, refresh, stop)));
        Ok(ServedZone { server, follower })
    }

    /// The address the zone is served on (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops following the store and lets the answers under way finish within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        drop(self.follower);
        if !self.server.shutdown(grace).await {
            tracing::warn!("shutdown grace over: closing DNS connections with answers pending");
        }
    }
}

/// What `scaisend-domains dns` serves over HTTP when `SCAISEND_METRICS_LISTEN` is set:
/// `/metrics` (the zone's queries by response code), `/healthz` (the process runs) and
/// `/readyz` (the store answers: a failing store means the zone served is getting old).
pub fn metrics_router(metrics: Arc<Metrics>, repo: Arc<dyn DomainRepo>) -> axum::Router {
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move { ([(header::CONTENT_TYPE, telemetry::CONTENT_TYPE)], text) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let repo = repo.clone();
                async move {
                    match repo.ping().await {
                        Ok(()) => (StatusCode::OK, "ok"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer"),
                    }
                }
            }),
        )
}

/// Reads the zone every `refresh` and serves what changed under a new serial.
async fn follow(
    source: ZoneSource,
    cell: ZoneCell,
    refresh: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(refresh) => {}
            Ok(_) = stop.wait_for(|stop| *stop) => return,
        }
        let current = cell.current();
        match source.snapshot(current.serial()).await {
            Ok(read) if read.same_answers(&current) => {}
            Ok(read) => {
                let serial = next_serial(current.serial(), unix_now());
                tracing::info!(names = read.len(), serial, "DKIM zone changed");
                cell.replace(read.with_serial(serial));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read our DKIM zone; serving the last one");
            }
        }
    }
}

/// The serial of a changed zone: the time of the change in seconds, as is common for
/// zones that are never transferred, and always above the previous serial, so that a
/// change is never numbered below the one before it (a clock stepping back, two changes
/// in one second).
fn next_serial(previous: u32, now: u64) -> u32 {
    // Seconds since 1970 fit in 32 bits until 2106.
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    now.max(previous.wrapping_add(1))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_clock_and_always_grow() {
        assert_eq!(next_serial(0, 1_800_000_000), 1_800_000_000);
        assert_eq!(next_serial(1_800_000_000, 1_800_000_000), 1_800_000_001);
        assert_eq!(
            next_serial(1_800_000_500, 1_800_000_000),
            1_800_000_501,
            "a clock stepping back"
        );
        assert_eq!(next_serial(5, u64::MAX), u32::MAX);
    }
}
