//! Wiring: the store chosen by URL, DNS, key generation and signing off the async
//! threads, and the HTTP router over the use cases.

use std::sync::Arc;
use std::time::Duration;

use adapter_http::{AppState, Authenticator, Edge, Limits};
use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use domain_core::crypto::{GeneratedKey, KeyAlgorithm, KeyError};
use domain_core::ports::{
    ChangeFeed, Clock, CpuJob, CpuPool, DnsLookup, DomainRepo, KeyGenerator, KeyPool, KeyStore,
    PoolError, WebhookRepo, offload,
};
use domain_core::service::{PoolConfig, PooledKeys, WebhookService};
use domain_core::{DomainService, Ports, ServiceConfig};
use telemetry::Metrics;

use crate::config::DnsArgs;
use crate::secrets::Secrets;

/// A store: both ports on one connection pool.
#[derive(Clone)]
pub struct Store {
    /// Domains, checks, timeline, leases.
    pub repo: Arc<dyn DomainRepo>,
    /// Sealed keys for the signer.
    pub keys: Arc<dyn KeyStore>,
    /// Webhook endpoints, deliveries and attempts.
    pub webhooks: Arc<dyn WebhookRepo>,
    /// Keys generated ahead of time.
    pub pool: Arc<dyn KeyPool>,
    /// Opens the feed of what other instances change, for a store that several instances
    /// share (PostgreSQL); `None` for one that serves this process alone (SQLite).
    pub changes: Option<ChangeFeeds>,
}

/// Opens a [`ChangeFeed`] (one per follower).
pub type ChangeFeeds = Arc<dyn Fn() -> Box<dyn ChangeFeed> + Send + Sync>;

impl Store {
    /// Both ports served by one store.
    pub fn both(store: impl DomainRepo + KeyStore + KeyPool + WebhookRepo + 'static) -> Store {
        let store = Arc::new(store);
        Store {
            webhooks: store.clone(),
            repo: store.clone(),
            keys: store.clone(),
            pool: store,
            changes: None,
        }
    }

    /// The same, with the feed of what other instances change.
    pub fn with_changes(mut self, feeds: ChangeFeeds) -> Store {
        self.changes = Some(feeds);
        self
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store { .. }")
    }
}

/// Opens the store named by `url` (`sqlite://…` or `postgres://…`) and applies its
/// migrations.
pub async fn open_store(url: &str) -> Result<Store> {
    if url.starts_with("sqlite:") {
        let store = adapter_sqlite::connect(url)
            .await
            .with_context(|| format!("opening SQLite store {url}"))?;
        adapter_sqlite::migrate(&store)
            .await
            .context("migrating the SQLite store")?;
        Ok(Store::both(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = adapter_postgres::connect(url)
            .await
            .context("connecting to PostgreSQL (check SCAISEND_DATABASE_URL)")?;
        adapter_postgres::migrate(&store)
            .await
            .context("migrating the PostgreSQL store")?;
        let feeds = store.clone();
        Ok(Store::both(store).with_changes(Arc::new(move || {
            Box::new(adapter_postgres::PgChangeFeed::of(&feeds))
        })))
    } else {
        bail!("SCAISEND_DATABASE_URL must start with sqlite:// or postgres://")
    }
}

/// DNS per the `SCAISEND_DNS_*` settings.
pub fn dns_lookup(args: &DnsArgs) -> Result<Arc<dyn DnsLookup>> {
    let servers = args.servers()?;
    let config = adapter_dns::DnsConfig {
        authoritative_first: args.dns_authoritative_first && servers.is_none(),
        servers,
        timeout: Duration::from_millis(args.dns_timeout_ms),
        attempts: args.dns_attempts.max(1),
        allow_private: args.dns_allow_private,
        max_in_flight: args.dns_max_inflight.max(1),
        ..adapter_dns::DnsConfig::default()
    };
    Ok(Arc::new(
        adapter_dns::HickoryDns::new(config).context("configuring DNS")?,
    ))
}

/// Runs key generation on a bounded blocking pool of its own: a 4096-bit key takes
/// seconds of CPU, which must neither stall the threads serving requests nor pile up
/// without bound — a saturated pool answers busy (503 with Retry-After at the API).
#[derive(Debug)]
pub struct BlockingKeyGenerator {
    pool: BlockingPool,
}

impl BlockingKeyGenerator {
    /// A generator running up to `limit` key generations at once (and as many waiting).
    pub fn new(limit: usize) -> Self {
        BlockingKeyGenerator {
            pool: BlockingPool::new(limit),
        }
    }

    /// One generation per core.
    pub fn per_core() -> Self {
        BlockingKeyGenerator {
            pool: BlockingPool::per_core(),
        }
    }
}

#[async_trait]
impl KeyGenerator for BlockingKeyGenerator {
    async fn generate(&self, algorithm: KeyAlgorithm) -> Result<GeneratedKey, KeyError> {
        offload(&self.pool, move || domain_core::crypto::generate(algorithm))
            .await
            .map_err(|e| match e {
                PoolError::Busy => KeyError::Busy,
                PoolError::Failed => KeyError::Generation(e.to_string()),
            })?
    }
}

/// Generates keys on one thread of its own in Linux's idle scheduling class
/// (`SCHED_IDLE`), for the key pool's refill: at ten creates a second, refilling takes
/// most of a core. At normal priority it took that core from the requests (a create's many
/// hops between threads each waited for it); at nice 19 a request thread that woke still
/// waited, often for milliseconds, for the refill's time slice to end. An idle-class
/// thread gives way the moment any other thread wants its core, and runs on what the
/// requests leave over. Where that class is refused, the thread runs at nice 19.
/// One key at a time, one waiting; beyond that it answers busy, which ends a refill round
/// early (`PooledKeys::refill`).
#[derive(Debug)]
pub struct BackgroundKeyGenerator {
    jobs: std::sync::mpsc::SyncSender<KeyJob>,
}

/// A key to generate, and where its answer goes.
type KeyJob = (
    KeyAlgorithm,
    tokio::sync::oneshot::Sender<Result<GeneratedKey, KeyError>>,
);

impl BackgroundKeyGenerator {
    /// Starts the thread; it ends when the generator is dropped.
    pub fn spawn() -> Result<Self> {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<KeyJob>(1);
        std::thread::Builder::new()
            .name("key-pool-refill".to_owned())
            .spawn(move || {
                lowest_priority();
                for (algorithm, answer) in queue {
                    // The asker may have gone (its task aborted at shutdown): nothing to do.
                    let _ = answer.send(domain_core::crypto::generate(algorithm));
                }
            })
            .context("starting the key pool's refill thread")?;
        Ok(BackgroundKeyGenerator { jobs })
    }
}

/// Puts the calling thread, and only it (Linux schedules threads one by one), in the idle
/// scheduling class; where that is refused, at nice 19; where that is refused too, it
/// stays as it was, with a warning.
fn lowest_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let this = thread_native_id();
    let lowered = [
        NormalThreadSchedulePolicy::Idle,
        NormalThreadSchedulePolicy::Other,
    ]
    .into_iter()
    .map(|policy| {
        set_thread_priority_and_policy(
            this,
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(policy),
        )
    })
    .find_map(Result::ok);
    if lowered.is_none() {
        tracing::warn!("the key pool's refill runs at normal priority");
    }
}

#[async_trait]
impl KeyGenerator for BackgroundKeyGenerator {
    async fn generate(&self, algorithm: KeyAlgorithm) -> Result<GeneratedKey, KeyError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send((algorithm, answer))
            .map_err(|e| match e {
                std::sync::mpsc::TrySendError::Full(_) => KeyError::Busy,
                std::sync::mpsc::TrySendError::Disconnected(_) => {
                    KeyError::Generation("the key pool's refill thread has stopped".to_owned())
                }
            })?;
        answered.await.map_err(|_| {
            KeyError::Generation("the key pool's refill thread has stopped".to_owned())
        })?
    }
}

/// Runs CPU-bound work (signing) on tokio's blocking pool, at most `limit` jobs at once
/// and as many waiting: beyond that the pool answers busy, so a flood of large messages
/// is refused quickly instead of queueing without bound.
#[derive(Debug)]
pub struct BlockingPool {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    limit: usize,
}

impl BlockingPool {
    /// A pool running up to `limit` jobs at once (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        BlockingPool {
            permits: Arc::new(tokio::sync::Semaphore::new(limit)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            limit,
        }
    }

    /// One job per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, usize::from))
    }
}

#[async_trait]
impl CpuPool for BlockingPool {
    async fn run(&self, job: CpuJob) -> Result<(), PoolError> {
        use std::sync::atomic::Ordering;
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = if queued >= 2 * self.limit {
            None
        } else {
            Arc::clone(&self.permits).acquire_owned().await.ok()
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.ok_or(PoolError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job();
        })
        .await
        .map_err(|_| PoolError::Failed)
    }
}

/// What an app is built from; tests pass their own clock and DNS.
pub struct AppParts {
    /// The store.
    pub store: Store,
    /// DNS (its queries are reported to the metrics by the core).
    pub dns: Arc<dyn DnsLookup>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Key generation.
    pub keygen: Arc<dyn KeyGenerator>,
    /// Token and master keys.
    pub secrets: Secrets,
    /// Use-case settings.
    pub config: ServiceConfig,
    /// Rate, concurrency and time limits of the HTTP edge.
    pub limits: Limits,
    /// Serve the internal endpoints on a router of their own (`SCAISEND_INTERNAL_LISTEN`).
    pub separate_internal: bool,
    /// Webhook settings and sender.
    pub webhooks: crate::webhooks::WebhookParts,
    /// Keys kept generated ahead of time per pooled kind (`SCAISEND_KEY_POOL`); 0: none.
    pub key_pool: u64,
}

impl std::fmt::Debug for AppParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppParts")
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("separate_internal", &self.separate_internal)
            .finish_non_exhaustive()
    }
}

/// A wired application: the use cases and the HTTP router over them.
pub struct App {
    /// The use cases (the monitor runs them too).
    pub service: Arc<DomainService>,
    /// The webhook use cases (the delivery worker runs them).
    pub webhooks: Arc<WebhookService>,
    /// The HTTP application (with the internal endpoints unless `internal_router` is set).
    pub router: axum::Router,
    /// The internal endpoints alone, when they are served on a listener of their own.
    pub internal_router: Option<axum::Router>,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// The key pool, when there is one: [`KeyPoolRefill::spawn`] keeps it full.
    pub key_pool: Option<KeyPoolRefill>,
    /// What other instances change, when the store is shared: [`ChangeFollower::spawn`]
    /// makes this instance's caches forget it at once.
    pub changes: Option<ChangeFollower>,
}

/// Feeds what other instances change to this instance's caches
/// ([`DomainService::follow`]).
#[derive(Clone)]
pub struct ChangeFollower {
    service: Arc<DomainService>,
    feeds: ChangeFeeds,
}

impl std::fmt::Debug for ChangeFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeFollower { .. }")
    }
}

impl ChangeFollower {
    /// Follows the feed until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut feed = (self.feeds)();
            loop {
                self.service.follow(&feed.next().await);
            }
        })
    }
}

/// The kinds of key kept in the pool: every RSA size a domain may ask for
/// (`dkim_key_bits`, docs/api.md), the default first, as the refill gives each key to the
/// first kind in this order that lacks one (`PooledKeys::refill`). A 4096-bit key takes a
/// tenth of a second to most of a second to generate, a hundred times what a create with
/// a pooled key waits. Ed25519 keys take microseconds, less than taking one from the
/// store, and are generated inline.
pub const POOLED_KINDS: [KeyAlgorithm; 3] = [
    KeyAlgorithm::Rsa(domain_core::crypto::RsaBits::Rsa2048),
    KeyAlgorithm::Rsa(domain_core::crypto::RsaBits::Rsa3072),
    KeyAlgorithm::Rsa(domain_core::crypto::RsaBits::Rsa4096),
];

/// What keeps the key pool full: a background task that tops it up whenever a key was
/// taken here, and every few seconds for what other instances took.
#[derive(Debug, Clone)]
pub struct KeyPoolRefill {
    pool: Arc<PooledKeys>,
    wake: Arc<tokio::sync::Notify>,
}

impl KeyPoolRefill {
    /// How often the pool is checked without a take here.
    pub const INTERVAL: Duration = Duration::from_secs(2);

    /// Runs the refill until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.pool.refill().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(added = n, "key pool refilled"),
                    Err(e) => tracing::warn!(error = %e, "key pool refill failed; retrying"),
                }
                let _ = tokio::time::timeout(Self::INTERVAL, self.wake.notified()).await;
            }
        })
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("App { .. }")
    }
}

impl App {
    /// Wires the parts together.
    pub fn build(parts: AppParts) -> Result<App> {
        let metrics = Arc::new(Metrics::new());
        let auth = Authenticator::new(&parts.secrets.jwt, &parts.secrets.service_jwt)
            .map_err(anyhow::Error::msg)?;
        let master = Arc::new(parts.secrets.master);
        let change_feeds = parts.store.changes;
        let (keygen, key_pool) = if parts.key_pool == 0 {
            (parts.keygen, None)
        } else {
            let wake = Arc::new(tokio::sync::Notify::new());
            let waker = wake.clone();
            let pool = Arc::new(
                PooledKeys::new(
                    parts.store.pool,
                    master.clone(),
                    (parts.keygen, parts.clock.clone()),
                    PoolConfig {
                        kinds: POOLED_KINDS.to_vec(),
                        size: parts.key_pool,
                    },
                    Box::new(move || waker.notify_one()),
                )
                .refilled_by(Arc::new(BackgroundKeyGenerator::spawn()?)),
            );
            let refill = KeyPoolRefill {
                pool: pool.clone(),
                wake,
            };
            (pool as Arc<dyn KeyGenerator>, Some(refill))
        };
        let service = Arc::new(
            DomainService::new(
                Ports {
                    repo: parts.store.repo,
                    keys: parts.store.keys,
                    dns: parts.dns,
                    clock: parts.clock,
                    keygen,
                    cpu: Arc::new(BlockingPool::per_core()),
                    observer: metrics.clone(),
                },
                master,
                parts.config,
            )
            .with_webhooks(Arc::new(adapter_http::ApiRenderer)),
        );
        let webhooks = Arc::new(WebhookService::new(
            parts.store.webhooks,
            parts.webhooks.sender,
            service.ports().clock.clone(),
            service.master_key(),
            parts.webhooks.config,
        ));
        let routers = adapter_http::routers(
            AppState {
                service: service.clone(),
                webhooks: Some(webhooks.clone()),
                metrics: metrics.clone(),
            },
            Edge {
                auth,
                limits: parts.limits,
            },
            parts.separate_internal,
        );
        let changes = change_feeds.map(|feeds| ChangeFollower {
            service: service.clone(),
            feeds,
        });
        Ok(App {
            service,
            webhooks,
            router: routers.public,
            internal_router: routers.internal,
            metrics,
            key_pool,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduling policy in a thread's `stat` file of `/proc`.
    fn policy(stat: &std::path::Path) -> Option<i64> {
        let stat = std::fs::read_to_string(stat).ok()?;
        // After the `(comm)` field: state is field 3, the policy field 41.
        let after = &stat[stat.rfind(')')? + 2..];
        after.split_whitespace().nth(38)?.parse().ok()
    }

    /// The scheduling policy of this process's thread named `name`.
    fn policy_of_thread(name: &str) -> Option<i64> {
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim() == name {
                return policy(&dir.join("stat"));
            }
        }
        None
    }

    /// Whatever RSA size a tenant picks, its create takes a pooled key: a size added to
    /// the API without a pool would make its creates wait for key generation again.
    #[test]
    fn every_rsa_size_a_domain_may_have_is_pooled() {
        for bits in domain_core::crypto::RsaBits::ALL {
            assert!(
                POOLED_KINDS.contains(&KeyAlgorithm::Rsa(bits)),
                "{bits:?} is not pooled"
            );
        }
        assert_eq!(
            POOLED_KINDS[0],
            KeyAlgorithm::Rsa(domain_core::crypto::RsaBits::default()),
            "the default size is refilled first"
        );
    }

    /// Linux's number for the idle scheduling class (`sched.h`).
    const SCHED_IDLE: i64 = 5;

    /// The refill's keys are real keys, made on a thread of its own in the idle scheduling
    /// class; a second ask while one waits is told busy instead of queueing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_refill_generates_on_a_thread_of_the_lowest_priority() {
        let generator = BackgroundKeyGenerator::spawn().unwrap();
        let key = generator.generate(KeyAlgorithm::Ed25519).await.unwrap();
        assert!(!key.public.p_bytes().is_empty());
        assert_eq!(policy_of_thread("key-pool-refill"), Some(SCHED_IDLE));
        assert_eq!(
            policy("/proc/thread-self/stat".as_ref()),
            Some(0),
            "only the refill's thread is lowered"
        );

        let rsa = KeyAlgorithm::Rsa(domain_core::crypto::RsaBits::Rsa2048);
        let (a, b, c, d) = tokio::join!(
            generator.generate(rsa),
            generator.generate(rsa),
            generator.generate(rsa),
            generator.generate(rsa)
        );
        let asks = [a, b, c, d];
        assert!(asks.iter().any(Result::is_ok), "one at least is generated");
        assert!(
            asks.iter().any(|a| matches!(a, Err(KeyError::Busy))),
            "one generating and one waiting: the others are told busy"
        );
    }
}
