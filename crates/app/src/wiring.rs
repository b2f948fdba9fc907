//! Wiring: the store chosen by URL, DNS with metrics, key generation off the async
//! threads, and the HTTP router over the use cases.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_http::{AppState, JwtVerifier, Metrics};
use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use domain_core::keys::{GeneratedKey, KeyBits, KeyError};
use domain_core::ports::{
    Clock, DnsAnswer, DnsLookup, DnsResult, DomainRepo, KeyGenerator, KeyStore, MxRecord,
    TxtRecordData,
};
use domain_core::{DomainService, Ports, ServiceConfig};

use crate::config::DnsArgs;
use crate::secrets::Secrets;

/// A store: both ports on one connection pool.
#[derive(Clone)]
pub struct Store {
    /// Domains, checks, timeline, leases.
    pub repo: Arc<dyn DomainRepo>,
    /// Sealed keys for the signer.
    pub keys: Arc<dyn KeyStore>,
}

impl Store {
    /// Both ports served by one store.
    pub fn both(store: impl DomainRepo + KeyStore + 'static) -> Store {
        let store = Arc::new(store);
        Store {
            repo: store.clone(),
            keys: store,
        }
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
        let store = adapter_sqlite::SqliteStore::connect(url)
            .await
            .with_context(|| format!("opening SQLite store {url}"))?;
        store
            .migrate()
            .await
            .context("migrating the SQLite store")?;
        Ok(Store::both(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = adapter_postgres::PgStore::connect(url)
            .await
            .context("connecting to PostgreSQL (check SCAISEND_DATABASE_URL)")?;
        store
            .migrate()
            .await
            .context("migrating the PostgreSQL store")?;
        Ok(Store::both(store))
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

/// Runs key generation on tokio's blocking pool: a 4096-bit key takes seconds of CPU,
/// which must not stall the threads serving requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockingKeyGenerator;

#[async_trait]
impl KeyGenerator for BlockingKeyGenerator {
    async fn generate(&self, bits: KeyBits) -> Result<GeneratedKey, KeyError> {
        tokio::task::spawn_blocking(move || domain_core::keys::generate(bits))
            .await
            .map_err(|e| KeyError::Generation(e.to_string()))?
    }
}

/// A `DnsLookup` decorator that records each query's latency and outcome in the
/// Prometheus metrics.
pub struct MeteredDns {
    inner: Arc<dyn DnsLookup>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for MeteredDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeteredDns { .. }")
    }
}

impl MeteredDns {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn DnsLookup>, metrics: Arc<Metrics>) -> Self {
        MeteredDns { inner, metrics }
    }

    fn record<T>(&self, query: &str, started: Instant, answer: &DnsAnswer<T>) {
        let outcome = match answer.result {
            DnsResult::Records(_) => "records",
            DnsResult::NxDomain => "nxdomain",
            DnsResult::NoData => "nodata",
            DnsResult::TempFail(_) => "temporary_failure",
        };
        self.metrics
            .observe_dns(query, outcome, started.elapsed().as_secs_f64());
    }
}

#[async_trait]
impl DnsLookup for MeteredDns {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        let t = Instant::now();
        let a = self.inner.txt(name).await;
        self.record("TXT", t, &a);
        a
    }
    async fn a(&self, name: &str) -> DnsAnswer<Ipv4Addr> {
        let t = Instant::now();
        let a = self.inner.a(name).await;
        self.record("A", t, &a);
        a
    }
    async fn aaaa(&self, name: &str) -> DnsAnswer<Ipv6Addr> {
        let t = Instant::now();
        let a = self.inner.aaaa(name).await;
        self.record("AAAA", t, &a);
        a
    }
    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        let t = Instant::now();
        let a = self.inner.mx(name).await;
        self.record("MX", t, &a);
        a
    }
    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        let t = Instant::now();
        let a = self.inner.ptr(ip).await;
        self.record("PTR", t, &a);
        a
    }
}

/// What an app is built from; tests pass their own clock and DNS.
pub struct AppParts {
    /// The store.
    pub store: Store,
    /// DNS (wrapped in metrics by `App::build`).
    pub dns: Arc<dyn DnsLookup>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Key generation.
    pub keygen: Arc<dyn KeyGenerator>,
    /// Token and master keys.
    pub secrets: Secrets,
    /// Use-case settings.
    pub config: ServiceConfig,
}

impl std::fmt::Debug for AppParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppParts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A wired application: the use cases and the HTTP router over them.
pub struct App {
    /// The use cases (the monitor runs them too).
    pub service: Arc<DomainService>,
    /// The HTTP application.
    pub router: axum::Router,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
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
        let jwt = JwtVerifier::new(&parts.secrets.jwt).map_err(anyhow::Error::msg)?;
        let service = Arc::new(DomainService::new(
            Ports {
                repo: parts.store.repo,
                keys: parts.store.keys,
                dns: Arc::new(MeteredDns::new(parts.dns, metrics.clone())),
                clock: parts.clock,
                keygen: parts.keygen,
            },
            Arc::new(parts.secrets.master),
            parts.config,
        ));
        let router = adapter_http::router(AppState {
            service: service.clone(),
            jwt: Arc::new(jwt),
            metrics: metrics.clone(),
        });
        Ok(App {
            service,
            router,
            metrics,
        })
    }
}
