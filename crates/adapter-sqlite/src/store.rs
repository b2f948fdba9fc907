//! [`SqliteStore`]: connection, migrations and the two ports.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use domain_core::RepoError;
use domain_core::crypto::SealedKey;
use domain_core::model::{
    Domain, DomainEvent, DomainId, ListFilter, Owner, Page, PageRequest, Scope,
};
use domain_core::name::{DomainName, Selector};
use domain_core::ports::{DomainRepo, KeyPool, KeyStore, LeaseOnWrite, OwnerUsage, PooledKey};
use domain_core::stored::{self, conflict};
use sqlx::QueryBuilder;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use time::OffsetDateTime;

use crate::error::map_err;
use domain_core::webhook::OutboxMessage;
use store_sql::Micros;
use store_sql::webhooks::write_outbox;
use store_sql::{reads, writes};

/// The schema, embedded at build time from `migrations/sqlite`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Takes SQLite's write lock at the start of a transaction instead of at its first write,
/// so that a transaction never has to upgrade a read snapshot another writer made stale
/// (which fails at once, without waiting for the busy timeout).
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Sender domains, their keys, verdicts, timeline and monitor leases in one SQLite file.
///
/// Cheap to clone: clones share one connection pool. Serves one process; several app
/// instances need the Postgres store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The most connections the pool opens. Readers run side by side (WAL); writers take
    /// turns on the one write lock whatever this says.
    pub max_connections: u32,
    /// How long an operation waits for a connection, and a writer for the write lock,
    /// before it fails with `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    /// Eight connections; five seconds, short enough for a readiness probe and a `503` to
    /// come back while a client still waits.
    fn default() -> Self {
        PoolConfig {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL does not parse as a SQLite URL.
    #[error("the database URL is not a valid SQLite URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The file could not be opened or created.
    #[error("cannot open the SQLite database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migrating the SQLite database failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl SqliteStore {
    /// Opens `url` (`sqlite://scaisend.db`, `sqlite:///var/lib/scaisend/domains.db`,
    /// `sqlite::memory:`) with the default pool settings, creating the file if it is
    /// missing, and failing at once if it cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        Self::connect_with(url, &PoolConfig::default()).await
    }

    /// Opens `url` with explicit pool settings, creating the file if it is missing.
    pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<Self, SetupError> {
        let pool = pool_options(config)
            .connect_with(connect_options(url, config)?)
            .await
            .map_err(SetupError::Connect)?;
        Ok(SqliteStore { pool })
    }

    /// A store that opens the file on first use: operations fail with `Unavailable` while
    /// it cannot be opened. Only the URL is checked here.
    pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<Self, SetupError> {
        let pool = pool_options(config).connect_lazy_with(connect_options(url, config)?);
        Ok(SqliteStore { pool })
    }

    /// Applies the migrations that the database has not seen yet.
    pub async fn migrate(&self) -> Result<(), SetupError> {
        MIGRATOR.run(&self.pool).await.map_err(SetupError::Migrate)
    }

    /// Closes the pool, waiting for connections in use to come back (which checkpoints the
    /// WAL into the database file). Later operations fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for the webhook store beside this one.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Runs one of [`store_sql`]'s statements that read domains with their keys and
    /// verdicts: one statement, and no transaction around it.
    async fn fetch_domains(&self, query: QueryBuilder<Sqlite>) -> Result<Vec<Domain>, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        reads::domains(&mut *conn, query).await
    }
}

#[async_trait]
impl DomainRepo for SqliteStore {
    async fn insert_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        stored::events_belong(domain, events)?;
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        writes::insert_domain::<Sqlite>(&mut tx, domain).await?;
        writes::write_children::<Sqlite>(&mut tx, domain, events).await?;
        write_outbox::<Sqlite>(&mut tx, outbox).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get(&self, scope: &Scope, id: &DomainId) -> Result<Domain, RepoError> {
        self.fetch_domains(store_sql::domain(scope, id))
            .await?
            .pop()
            .ok_or(RepoError::NotFound)
    }

    async fn list(
        &self,
        scope: &Scope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Domain>, RepoError> {
        // One row more than asked tells whether another page follows.
        let domains = self
            .fetch_domains(store_sql::list(scope, filter, page))
            .await?;
        Ok(Page::from_overfetch(domains, page, |d| d.id.as_str()))
    }

    async fn update_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
        lease: LeaseOnWrite,
    ) -> Result<(), RepoError> {
        stored::events_belong(domain, events)?;
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        if writes::update_domain::<Sqlite>(&mut tx, domain, &lease).await? == 0 {
            // We hold the write lock, so this answer cannot change before we roll back.
            let stale = conflict::stale_version();
            return Err(writes::missing_or::<Sqlite>(&mut tx, &domain.id, stale).await);
        }
        writes::write_children::<Sqlite>(&mut tx, domain, events).await?;
        write_outbox::<Sqlite>(&mut tx, outbox).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_notifying(
        &self,
        scope: &Scope,
        id: &DomainId,
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        // One statement, in a write transaction like every write here (a lone statement
        // would read first and could fail to upgrade its stale snapshot). The foreign keys
        // (on for every connection) cascade to the keys, so the sealed private keys, the
        // checks and the events; `secure_delete` overwrites the freed space.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        writes::delete_domain::<Sqlite>(&mut tx, scope, id, outbox).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        reads::events::<Sqlite>(&mut conn, scope, id, page).await
    }

    async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        reads::owner_usage::<Sqlite>(&mut conn, owner, name).await
    }

    async fn find_sendable(
        &self,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
    ) -> Result<Vec<Domain>, RepoError> {
        self.fetch_domains(store_sql::sendable(partner_id, tenant_id, name))
            .await
    }

    async fn zone_domains(&self) -> Result<Vec<Domain>, RepoError> {
        self.fetch_domains(store_sql::zone_domains()).await
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DomainId>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Choosing the due rows and leasing them happen under the one write lock, so two
        // claimers (tasks of this process) take turns and the second sees the first's
        // leases: the single-process counterpart of Postgres's SKIP LOCKED.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let rows = sqlx::query(
            "UPDATE domains SET lease_owner = ?3, lease_expires_at = ?4 \
             WHERE id IN ( \
                 SELECT id FROM domains \
                 WHERE next_check_at <= ?1 AND (lease_expires_at IS NULL OR lease_expires_at <= ?1) \
                 ORDER BY next_check_at, id \
                 LIMIT ?2) \
             RETURNING id",
        )
        .bind(Micros(now))
        .bind(i64::from(limit))
        .bind(owner)
        .bind(Micros(lease_until))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        reads::claimed_ids::<Sqlite>(&rows)
    }

    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        if writes::release::<Sqlite>(&mut tx, id, owner, retry_at).await? == 0 {
            let not_holder = conflict::not_lease_holder();
            return Err(writes::missing_or::<Sqlite>(&mut tx, id, not_holder).await);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        writes::sealed_key::<Sqlite>(&mut conn, id, selector).await
    }
}

#[async_trait]
impl KeyPool for SqliteStore {
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        writes::put_pooled::<Sqlite>(&mut conn, key).await
    }

    async fn take(&self, kind: &str) -> Result<Option<PooledKey>, RepoError> {
        // One statement: SQLite runs it under its write lock, so two takers never read
        // the same row.
        let row = sqlx::query(
            "DELETE FROM key_pool WHERE id = \
             (SELECT id FROM key_pool WHERE kind = ?1 ORDER BY id LIMIT 1) \
             RETURNING id, kind, algorithm, public_key, sealed_private",
        )
        .bind(kind)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        store_sql::pooled_key(&row).map_err(map_err)?.map(Some)
    }

    async fn pooled(&self, kind: &str) -> Result<u64, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        writes::pooled::<Sqlite>(&mut conn, kind).await
    }
}

fn connect_options(url: &str, config: &PoolConfig) -> Result<SqliteConnectOptions, SetupError> {
    // sqlx would read any other string as a file name (`postgres://…` included) and create
    // that file; a URL meant for another store must be refused instead.
    if !url.starts_with("sqlite:") {
        return Err(SetupError::InvalidUrl(sqlx::Error::Configuration(
            format!("`{url}` does not start with `sqlite:`").into(),
        )));
    }
    let options = SqliteConnectOptions::from_str(url).map_err(SetupError::InvalidUrl)?;
    Ok(options
        // Zero set-up: the first start creates the database file.
        .create_if_missing(true)
        // Readers do not block the writer nor it them; the database survives a crash.
        .journal_mode(SqliteJournalMode::Wal)
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
