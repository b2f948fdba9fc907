//! `adapter-sqlite`: the store of sender domains in one SQLite file, the zero-set-up
//! default. [`SqliteStore`] is [`store_sql::SqlStore`] on SQLite, which implements the
//! core's [`DomainRepo`](domain_core::ports::DomainRepo),
//! [`KeyStore`](domain_core::ports::KeyStore), [`KeyPool`](domain_core::ports::KeyPool)
//! and [`WebhookRepo`](domain_core::ports::WebhookRepo) ports with sqlx; this crate opens
//! the file ([`connect`], [`connect_with`], [`connect_lazy`]) and applies the schema
//! ([`migrate`]), which lives in `migrations/sqlite` and is embedded in the binary.
//!
//! A key design decision made in this crate is that it serves exactly one process: every
//! write is a `BEGIN IMMEDIATE` transaction (SQLite's [`Dialect`](store_sql::Dialect)),
//! which takes SQLite's single write lock up front, so writers queue on the lock (WAL,
//! which this crate turns on, keeps readers going meanwhile) and a guarded write or a
//! monitor claim sees no other writer between its check and its change. The contract is
//! the same as Postgres's — optimistic versions, scoped queries, expiring leases — but
//! several app instances need the Postgres store.

use std::str::FromStr;

use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

/// Sender domains, their keys, verdicts, timeline, monitor leases, key pool and webhooks
/// in one SQLite file.
///
/// Cheap to clone: clones share one connection pool. Serves one process; several app
/// instances need the Postgres store.
pub type SqliteStore = store_sql::SqlStore<Sqlite>;

/// The schema, embedded at build time from `migrations/sqlite`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub use store_sql::{PoolConfig, SetupError};

/// The pool [`connect`] opens: eight connections.
pub const DEFAULT_POOL: PoolConfig = PoolConfig::with_connections(8);

/// Opens `url` (`sqlite://scaisend.db`, `sqlite:///var/lib/scaisend/domains.db`,
/// `sqlite::memory:`) with [`DEFAULT_POOL`], creating the file if it is missing, and
/// failing at once if it cannot be opened.
pub async fn connect(url: &str) -> Result<SqliteStore, SetupError> {
    connect_with(url, &DEFAULT_POOL).await
}

/// Opens `url` with explicit pool settings, creating the file if it is missing.
pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<SqliteStore, SetupError> {
    SqliteStore::open(pool_options(config), connect_options(url, config)?).await
}

/// A store that opens the file on first use: operations fail with `Unavailable` while it
/// cannot be opened. Only the URL is checked here.
pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<SqliteStore, SetupError> {
    Ok(SqliteStore::open_lazy(
        pool_options(config),
        connect_options(url, config)?,
    ))
}

/// Applies the migrations (`migrations/sqlite`) that the database has not seen yet.
pub async fn migrate(store: &SqliteStore) -> Result<(), SetupError> {
    store.migrate(&MIGRATOR).await
}

fn connect_options(url: &str, config: &PoolConfig) -> Result<SqliteConnectOptions, SetupError> {
    // sqlx would read any other string as a file name (`postgres://…` included) and create
    // that file; a URL meant for another store must be refused instead.
    if !url.starts_with("sqlite:") {
        return Err(SetupError::invalid_url::<Sqlite>(
            sqlx::Error::Configuration(format!("`{url}` does not start with `sqlite:`").into()),
        ));
    }
    let options = SqliteConnectOptions::from_str(url).map_err(SetupError::invalid_url::<Sqlite>)?;
    Ok(options
        // Zero set-up: the first start creates the database file.
        .create_if_missing(true)
        // Readers do not block the writer nor it them; the database survives a crash.
        .journal_mode(SqliteJournalMode::Wal)
        // Every commit waits for the WAL to reach the disk: an acknowledged write survives
        // a power loss. (SQLite's default too, said here because the key pool's writes
        // lower it for themselves and restore exactly this: `Dialect::RELAX`.)
        .synchronous(SqliteSynchronous::Full)
        // Off by default in SQLite; the cascades that delete keys and events need them.
        .foreign_keys(true)
        // A writer waits this long for the write lock before giving up with SQLITE_BUSY.
        .busy_timeout(config.acquire_timeout)
        // Deleted rows (a destroyed private key among them) are overwritten with zeros
        // instead of lingering in free pages of the file.
        .pragma("secure_delete", "ON"))
}

fn pool_options(config: &PoolConfig) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
}
