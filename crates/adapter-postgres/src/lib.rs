//! `adapter-postgres`: the store of sender domains on PostgreSQL. [`PgStore`] is
//! [`store_sql::SqlStore`] on PostgreSQL, which implements the core's
//! [`DomainRepo`](domain_core::ports::DomainRepo),
//! [`KeyStore`](domain_core::ports::KeyStore), [`KeyPool`](domain_core::ports::KeyPool)
//! and [`WebhookRepo`](domain_core::ports::WebhookRepo) ports with sqlx; this crate
//! connects ([`connect`], [`connect_with`], [`connect_lazy`]) and applies the schema
//! ([`migrate`]), which lives in `migrations/postgres` and is embedded in the binary.
//!
//! A key design decision made in this store is that the database, not the process,
//! arbitrates between app instances: every update names the version it read, so of two
//! concurrent writers of one domain the second gets `Conflict` instead of overwriting the
//! first; and the monitor claims due domains with `FOR UPDATE SKIP LOCKED` under leases
//! that expire (PostgreSQL's [`Dialect`](store_sql::Dialect)). Any number of stateless
//! instances share one database without coordinating, never check a domain twice at once,
//! and pick up the claims of an instance that died. What one instance caches of a domain,
//! another's change makes stale: [`PgChangeFeed`] announces every change to every
//! instance (`LISTEN`/`NOTIFY`), so that they forget it at once.

mod changes;

pub use changes::{CHANNEL, PgChangeFeed};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};

/// Sender domains, their keys, verdicts, timeline, monitor leases, key pool and webhooks
/// in PostgreSQL.
///
/// Cheap to clone: clones share one connection pool.
pub type PgStore = store_sql::SqlStore<Postgres>;

/// The schema, embedded at build time from `migrations/postgres`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The most connections the pool opens (per app instance).
    pub max_connections: u32,
    /// How long an operation waits for a connection before it fails with `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    /// Ten connections; five seconds, short enough for a readiness probe and a `503`
    /// to come back while a client still waits.
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL does not parse as a PostgreSQL URL.
    #[error("the database URL is not a valid PostgreSQL URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The server could not be reached, or refused us.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migrating the PostgreSQL database failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connects to `url` (`postgres://user:password@host:5432/database`) with the default
/// pool settings, failing at once if the server cannot be reached.
pub async fn connect(url: &str) -> Result<PgStore, SetupError> {
    connect_with(url, &PoolConfig::default()).await
}

/// Connects with explicit pool settings, failing at once if the server cannot be reached.
pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<PgStore, SetupError> {
    let pool = pool_options(config)
        .connect_with(connect_options(url)?)
        .await
        .map_err(SetupError::Connect)?;
    Ok(PgStore::from_pool(pool))
}

/// A store that connects on first use: operations fail with `Unavailable` while the
/// server is down, and succeed once it is up. Only the URL is checked here.
pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<PgStore, SetupError> {
    let pool = pool_options(config).connect_lazy_with(connect_options(url)?);
    Ok(PgStore::from_pool(pool))
}

/// Applies the migrations that the database has not seen yet. Safe to run from several
/// instances at once: sqlx serialises them with an advisory lock.
pub async fn migrate(store: &PgStore) -> Result<(), SetupError> {
    store.migrate(&MIGRATOR).await.map_err(SetupError::Migrate)
}

fn connect_options(url: &str) -> Result<PgConnectOptions, SetupError> {
    // sqlx reads the host and database out of any URL, whatever its scheme; a URL meant for
    // another store must be refused instead.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(SetupError::InvalidUrl(sqlx::Error::Configuration(
            format!("`{url}` does not start with `postgres://` or `postgresql://`").into(),
        )));
    }
    let options = PgConnectOptions::from_str(url).map_err(SetupError::InvalidUrl)?;
    // Names our sessions in pg_stat_activity, for whoever looks at a busy server.
    Ok(options.application_name("scaisend-domains"))
}

fn pool_options(config: &PoolConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        // Bounds everything before a query runs — waiting for a free connection, and
        // connecting (retried while the server refuses) — so that an outage answers
        // `Unavailable` within this time instead of hanging.
        .acquire_timeout(config.acquire_timeout)
        // sqlx's default, made explicit because outages depend on it: an idle connection
        // is pinged before use, so the ones a restart or a network cut killed are
        // replaced instead of failing the first requests after the database is back.
        .test_before_acquire(true)
}
