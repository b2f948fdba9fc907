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

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};

/// Sender domains, their keys, verdicts, timeline, monitor leases, key pool and webhooks
/// in PostgreSQL.
///
/// Cheap to clone: clones share one connection pool.
pub type PgStore = store_sql::SqlStore<Postgres>;

/// The schema, embedded at build time from `migrations/postgres`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

pub use store_sql::{PoolConfig, SetupError};

/// The pool [`connect`] opens: ten connections per app instance.
pub const DEFAULT_POOL: PoolConfig = PoolConfig::with_connections(10);

/// Connects to `url` (`postgres://user:password@host:5432/database`) with
/// [`DEFAULT_POOL`], failing at once if the server cannot be reached.
pub async fn connect(url: &str) -> Result<PgStore, SetupError> {
    connect_with(url, &DEFAULT_POOL).await
}

/// Connects with explicit pool settings, failing at once if the server cannot be reached.
pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<PgStore, SetupError> {
    PgStore::open(pool_options(config), connect_options(url)?).await
}

/// A store that connects on first use: operations fail with `Unavailable` while the
/// server is down, and succeed once it is up. Only the URL is checked here.
pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<PgStore, SetupError> {
    Ok(PgStore::open_lazy(
        pool_options(config),
        connect_options(url)?,
    ))
}

/// Applies the migrations (`migrations/postgres`) that the database has not seen yet.
/// Safe to run from several instances at once: sqlx serialises them with an advisory
/// lock.
pub async fn migrate(store: &PgStore) -> Result<(), SetupError> {
    store.migrate(&MIGRATOR).await
}

fn connect_options(url: &str) -> Result<PgConnectOptions, SetupError> {
    // sqlx reads the host and database out of any URL, whatever its scheme; a URL meant for
    // another store must be refused instead.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(SetupError::invalid_url::<Postgres>(
            sqlx::Error::Configuration(
                format!("`{url}` does not start with `postgres://` or `postgresql://`").into(),
            ),
        ));
    }
    let options = PgConnectOptions::from_str(url).map_err(SetupError::invalid_url::<Postgres>)?;
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
