//! What setting up either store shares: the pool's settings, why a set-up failed, and
//! opening the pool. What each database needs of its own — its connection options, its
//! pool's defaults, its migrations — stays in its adapter.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{Dialect, SqlStore};

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The most connections the pool opens (per app instance). On SQLite readers run side
    /// by side (WAL) and writers take turns on the one write lock whatever this says.
    pub max_connections: u32,
    /// How long an operation waits for a connection (and, on SQLite, a writer for the
    /// write lock) before it fails with `Unavailable`.
    pub acquire_timeout: Duration,
}

impl PoolConfig {
    /// `max_connections` connections, and five seconds to get one: short enough for a
    /// readiness probe and a `503` to come back while a client still waits.
    pub const fn with_connections(max_connections: u32) -> Self {
        PoolConfig {
            max_connections,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a store could not be set up; each variant names the database (`SQLite`,
/// `PostgreSQL`).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL is not one of this database's.
    #[error("the database URL is not a valid {0} URL: {1}")]
    InvalidUrl(&'static str, #[source] sqlx::Error),
    /// The database could not be opened or reached, or refused us.
    #[error("cannot open the {0} database: {1}")]
    Connect(&'static str, #[source] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migrating the {0} database failed: {1}")]
    Migrate(&'static str, #[source] sqlx::migrate::MigrateError),
}

impl SetupError {
    /// A URL of `DB` that does not parse, or is another database's.
    pub fn invalid_url<DB: Dialect>(e: sqlx::Error) -> Self {
        SetupError::InvalidUrl(DB::NAME, e)
    }
}

type Options<DB> = <<DB as sqlx::Database>::Connection as Connection>::Options;

impl<DB: Dialect> SqlStore<DB>
where
    Options<DB>: ConnectOptions<Connection = DB::Connection>,
{
    /// Opens a pool with `pool`'s settings on `connect`, failing at once if the database
    /// cannot be opened or reached.
    pub async fn open(pool: PoolOptions<DB>, connect: Options<DB>) -> Result<Self, SetupError> {
        let pool = pool
            .connect_with(connect)
            .await
            .map_err(|e| SetupError::Connect(DB::NAME, e))?;
        Ok(Self::from_pool(pool))
    }

    /// A store that connects on first use: operations fail with `Unavailable` while the
    /// database cannot be opened or reached, and succeed once it can.
    pub fn open_lazy(pool: PoolOptions<DB>, connect: Options<DB>) -> Self {
        Self::from_pool(pool.connect_lazy_with(connect))
    }
}
