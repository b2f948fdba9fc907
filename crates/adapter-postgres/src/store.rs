//! [`PgStore`]: connection, migrations and the two ports.

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::error::map_err;
use domain_core::webhook::OutboxMessage;
use store_sql::webhooks::write_outbox;
use store_sql::{reads, writes};

/// The schema, embedded at build time from `migrations/postgres`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Sender domains, their keys, verdicts, timeline and monitor leases in PostgreSQL.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

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

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:5432/database`) with the default
    /// pool settings, failing at once if the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        Self::connect_with(url, &PoolConfig::default()).await
    }

    /// Connects with explicit pool settings, failing at once if the server cannot be
    /// reached.
    pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<Self, SetupError> {
        let pool = pool_options(config)
            .connect_with(connect_options(url)?)
            .await
            .map_err(SetupError::Connect)?;
        Ok(PgStore { pool })
    }

    /// A store that connects on first use: operations fail with `Unavailable` while the
    /// server is down, and succeed once it is up. Only the URL is checked here.
    pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<Self, SetupError> {
        let pool = pool_options(config).connect_lazy_with(connect_options(url)?);
        Ok(PgStore { pool })
    }

    /// Applies the migrations that the database has not seen yet. Safe to run from several
    /// instances at once: sqlx serialises them with an advisory lock.
    pub async fn migrate(&self) -> Result<(), SetupError> {
        MIGRATOR.run(&self.pool).await.map_err(SetupError::Migrate)
    }

    /// Closes the pool, waiting for connections in use to come back. Later operations
    /// fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for the webhook store beside this one.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one of [`store_sql`]'s statements that read domains with their keys and
    /// verdicts: one statement, and no transaction around it.
    async fn fetch_domains(&self, query: QueryBuilder<Postgres>) -> Result<Vec<Domain>, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        reads::domains(&mut *conn, query).await
    }
}

#[async_trait]
impl DomainRepo for PgStore {
    async fn insert_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        stored::events_belong(domain, events)?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        writes::insert_domain::<Postgres>(&mut tx, domain).await?;
        writes::write_children::<Postgres>(&mut tx, domain, events).await?;
        write_outbox::<Postgres>(&mut tx, outbox).await?;
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
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if writes::update_domain::<Postgres>(&mut tx, domain, &lease).await? == 0 {
            // A concurrent winner held the row lock until it committed; its new version made
            // our WHERE false, so nothing of ours was written.
            let stale = conflict::stale_version();
            return Err(writes::missing_or::<Postgres>(&mut tx, &domain.id, stale).await);
        }
        writes::write_children::<Postgres>(&mut tx, domain, events).await?;
        write_outbox::<Postgres>(&mut tx, outbox).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_notifying(
        &self,
        scope: &Scope,
        id: &DomainId,
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        // The foreign keys cascade to the keys (and so the sealed private keys), the
        // checks and the events; the outbox is written in the same transaction.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        writes::delete_domain::<Postgres>(&mut tx, scope, id, outbox).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        reads::events::<Postgres>(&mut conn, scope, id, page).await
    }

    async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        reads::owner_usage::<Postgres>(&mut conn, owner, name).await
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
        // SKIP LOCKED: rows another instance is claiming right now are passed over instead
        // of waited for, and the lease condition is checked again on the locked row, so a
        // row claimed and committed meanwhile is not claimed twice.
        let rows = sqlx::query(
            "WITH due AS ( \
                 SELECT id FROM domains \
                 WHERE next_check_at <= $1 AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
                 ORDER BY next_check_at, id \
                 LIMIT $2 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE domains d SET lease_owner = $3, lease_expires_at = $4 \
             FROM due WHERE d.id = due.id \
             RETURNING d.id",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(owner)
        .bind(lease_until)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        reads::claimed_ids::<Postgres>(&rows)
    }

    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError> {
        // One statement: no transaction around it.
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        if writes::release::<Postgres>(&mut conn, id, owner, retry_at).await? == 0 {
            let not_holder = conflict::not_lease_holder();
            return Err(writes::missing_or::<Postgres>(&mut conn, id, not_holder).await);
        }
        Ok(())
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
impl KeyStore for PgStore {
    async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        writes::sealed_key::<Postgres>(&mut conn, id, selector).await
    }
}

#[async_trait]
impl KeyPool for PgStore {
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        writes::put_pooled::<Postgres>(&mut conn, key).await
    }

    async fn take(&self, kind: &str) -> Result<Option<PooledKey>, RepoError> {
        // One statement: the row is locked as it is chosen, and a taker that finds it
        // locked skips to the next one instead of waiting for it and then finding it gone.
        let row = sqlx::query(
            "DELETE FROM key_pool WHERE id = \
             (SELECT id FROM key_pool WHERE kind = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
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
        writes::pooled::<Postgres>(&mut conn, kind).await
    }
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
