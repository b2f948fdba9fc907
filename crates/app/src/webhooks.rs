//! Webhooks inside `serve` (docs/webhooks.md): the settings, and the delivery worker
//! loop. The rules — signing, retries, disabling — are the core's
//! `WebhookService::attempt`; this claims due deliveries and runs attempts within the
//! concurrency limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use domain_core::ports::WebhookSender;
use domain_core::service::{WebhookConfig, WebhookService};
use domain_core::webhook::{DEFAULT_MAX_ENDPOINTS, EgressRules, RetryPolicy, SECRET_OVERLAP};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::parse_duration;

/// How long a claim holds before another instance may take a delivery over: longer than
/// an attempt can take (its 10-second bound) with room to record it.
pub const LEASE: time::Duration = time::Duration::minutes(1);

/// The `SCAISEND_WEBHOOK_*` settings.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Run the delivery worker in this process.
    #[arg(long, env = "SCAISEND_WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_worker: bool,
    /// The first retry delay; the later ones (5 min, 30 min, 2 h, 5 h, 10 h…) and the
    /// 3-day window scale with it.
    #[arg(long, env = "SCAISEND_WEBHOOK_RETRY_BASE", default_value = "5s", value_parser = parse_duration)]
    pub webhook_retry_base: Duration,
    /// Accept `http://` endpoints (development and tests only).
    #[arg(long, env = "SCAISEND_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Accept endpoints on loopback, private, link-local, CGNAT and other internal
    /// addresses (development and tests only).
    #[arg(long, env = "SCAISEND_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// The most endpoints per tenant (or per partner).
    #[arg(long, env = "SCAISEND_WEBHOOK_MAX_ENDPOINTS", default_value_t = DEFAULT_MAX_ENDPOINTS)]
    pub webhook_max_endpoints: u32,
    /// The most deliveries in flight per instance.
    #[arg(long, env = "SCAISEND_WEBHOOK_CONCURRENCY", default_value_t = 32,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub webhook_concurrency: usize,
    /// The most deliveries in flight to one endpoint per instance.
    #[arg(long, env = "SCAISEND_WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 4,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub webhook_endpoint_concurrency: usize,
    /// How often the worker looks for due deliveries when idle.
    #[arg(long, env = "SCAISEND_WEBHOOK_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub webhook_poll_interval: Duration,
}

impl WebhookArgs {
    /// The egress rules.
    pub fn egress(&self) -> EgressRules {
        EgressRules {
            allow_http: self.webhook_allow_http,
            allow_private: self.webhook_allow_private,
        }
    }

    /// The use cases' settings.
    pub fn config(&self) -> Result<WebhookConfig> {
        Ok(WebhookConfig {
            egress: self.egress(),
            max_endpoints: self.webhook_max_endpoints,
            retry: RetryPolicy {
                base: time::Duration::try_from(self.webhook_retry_base)
                    .context("SCAISEND_WEBHOOK_RETRY_BASE")?,
            },
            secret_overlap: SECRET_OVERLAP,
        })
    }

    /// The worker's limits.
    pub fn worker(&self) -> WorkerLimits {
        WorkerLimits {
            total: self.webhook_concurrency,
            per_endpoint: self.webhook_endpoint_concurrency,
            poll: self.webhook_poll_interval,
        }
    }

    /// The sender over reqwest under these rules.
    pub fn sender(&self) -> Result<Arc<dyn WebhookSender>> {
        Ok(Arc::new(adapter_webhook::HttpSender::new(
            adapter_webhook::SenderConfig {
                egress: self.egress(),
                timeout: adapter_webhook::DEFAULT_TIMEOUT,
            },
        )?))
    }
}

/// What an app's webhooks are built from.
#[derive(Clone)]
pub struct WebhookParts {
    /// The use cases' settings.
    pub config: WebhookConfig,
    /// Sends the requests.
    pub sender: Arc<dyn WebhookSender>,
}

impl std::fmt::Debug for WebhookParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookParts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The worker's concurrency and polling.
#[derive(Debug, Clone, Copy)]
pub struct WorkerLimits {
    /// Deliveries in flight per instance.
    pub total: usize,
    /// Deliveries in flight per endpoint per instance.
    pub per_endpoint: usize,
    /// The idle poll interval.
    pub poll: Duration,
}

/// Delivers due webhooks until `shutdown` turns true: claims up to the free capacity,
/// runs each attempt as a task within the total and per-endpoint limits, and on
/// shutdown waits for the attempts under way (the caller bounds that wait with the
/// shutdown grace; an abandoned delivery's lease expires and another instance, or this
/// one after a restart, sends it again: at least once).
pub async fn run(
    service: Arc<WebhookService>,
    limits: WorkerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let owner = crate::monitor::instance_name();
    tracing::info!(%owner, "webhook worker started");
    let total = Arc::new(Semaphore::new(limits.total));
    let per_endpoint: Arc<Mutex<HashMap<String, Arc<Semaphore>>>> = Arc::default();
    let mut running = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        let free = u32::try_from(total.available_permits()).unwrap_or(u32::MAX);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match service.claim(&owner, LEASE, free).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying");
                    Vec::new()
                }
            }
        };
        let busy = !claimed.is_empty();
        for due in claimed {
            let Ok(permit) = Arc::clone(&total).acquire_owned().await else {
                break;
            };
            let endpoint_gate = {
                let mut gates = per_endpoint.lock().unwrap_or_else(|e| e.into_inner());
                gates
                    .entry(due.endpoint.id.to_string())
                    .or_insert_with(|| Arc::new(Semaphore::new(limits.per_endpoint)))
                    .clone()
            };
            let service = service.clone();
            let owner = owner.clone();
            running.spawn(async move {
                let _permit = permit;
                let Ok(_gate) = endpoint_gate.acquire_owned().await else {
                    return;
                };
                match service.attempt(&owner, &due).await {
                    Ok(a) => tracing::info!(
                        event = %a.message_id,
                        endpoint = %a.endpoint_id,
                        r#type = a.event_type.as_str(),
                        attempt = a.attempt,
                        status = ?a.status,
                        error = ?a.error,
                        latency_ms = a.latency_ms,
                        "webhook attempt"
                    ),
                    Err(e) => tracing::warn!(
                        event = %due.message.id,
                        endpoint = %due.endpoint.id,
                        error = %e,
                        "webhook attempt not recorded; the lease will expire and it is retried"
                    ),
                }
            });
        }
        // Forget gates nobody holds, so that the map does not grow with every endpoint.
        per_endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, gate| Arc::strong_count(gate) > 1);
        if busy {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = shutdown.changed() => break,
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(limits.poll) => {}
                _ = shutdown.changed() => break,
            }
        }
    }
    while running.join_next().await.is_some() {}
    tracing::info!("webhook worker stopped");
}
