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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgExecutor, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use crate::error::{map_err, violated_unique};
use crate::rows;
use crate::webhooks::write_outbox;
use domain_core::stored::corrupt;
use domain_core::webhook::OutboxMessage;

/// The schema, embedded at build time from `migrations/postgres`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The unique index that makes a name unique per owner (see the migration).
const OWNER_NAME_INDEX: &str = "domains_owner_name";

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

    /// Reads the domains of `rows` with their keys and checks.
    ///
    /// Callers run this inside a repeatable-read transaction, so that the domain rows, keys
    /// and checks come from one snapshot even while a writer commits in between.
    async fn load(conn: &mut PgConnection, rows: Vec<PgRow>) -> Result<Vec<Domain>, RepoError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids = rows
            .iter()
            .map(|r| rows::get::<String>(r, "id"))
            .collect::<Result<Vec<_>, _>>()?;
        let key_rows = store_sql::keys_of(&ids)
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
        let check_rows = store_sql::checks_of(&ids)
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;

        let domain_rows = rows
            .iter()
            .map(rows::domain)
            .collect::<Result<Vec<_>, _>>()?;
        let keys = key_rows.iter().map(rows::key).collect::<Result<_, _>>()?;
        let checks = check_rows
            .iter()
            .map(rows::check)
            .collect::<Result<_, _>>()?;
        stored::domains(domain_rows, keys, checks)
    }

    /// Runs a `SELECT … FROM domains` and loads the aggregates, in one snapshot.
    async fn fetch_domains(
        &self,
        mut query: QueryBuilder<Postgres>,
    ) -> Result<Vec<Domain>, RepoError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(map_err)?;
        let rows = query.build().fetch_all(&mut *tx).await.map_err(map_err)?;
        let domains = Self::load(&mut tx, rows).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(domains)
    }

    /// Whether a domain visible to `scope` exists.
    async fn visible(&self, scope: &Scope, id: &DomainId) -> Result<bool, RepoError> {
        let row = store_sql::visible(scope, id)
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
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
        let return_path = stored::return_path_columns(domain);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO domains (id, name, partner_id, tenant_id, dmarc_policy, dmarc_rua, \
             is_active, verified, dkim_rotation_days, created_at, updated_at, last_verified_at, \
             failing_since, next_check_at, version, dkim_label, return_path, \
             return_path_set_at, return_path_verified, return_path_failing_since) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20)",
        )
        .bind(domain.id.as_str())
        .bind(domain.name.as_str())
        .bind(&domain.owner.partner_id)
        .bind(&domain.owner.tenant_id)
        .bind(domain.dmarc_policy.as_str())
        .bind(domain.dmarc_rua.as_ref().map(|r| r.as_str()))
        .bind(domain.is_active)
        .bind(domain.verified)
        .bind(domain.dkim_rotation_days.map(|p| i64::from(p.days())))
        .bind(domain.created_at)
        .bind(domain.updated_at)
        .bind(domain.last_verified_at)
        .bind(domain.failing_since)
        .bind(domain.next_check_at)
        .bind(domain.version)
        .bind(domain.zone_label.as_str())
        .bind(return_path.label)
        .bind(return_path.set_at)
        .bind(return_path.verified)
        .bind(return_path.failing_since)
        .execute(&mut *tx)
        .await
        .map_err(|e| match violated_unique(&e).as_deref() {
            Some(OWNER_NAME_INDEX) => conflict::name_taken(&domain.name),
            Some(_) => conflict::id_taken(&domain.id),
            None => map_err(e),
        })?;
        write_children(&mut tx, domain, events).await?;
        write_outbox(&mut tx, outbox).await?;
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
        let return_path = stored::return_path_columns(domain);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Name and owner are not written: they never change, and leaving them out means a
        // confused caller cannot move a domain to another tenant.
        let updated = sqlx::query(
            "UPDATE domains SET dmarc_policy = $3, dmarc_rua = $4, is_active = $5, verified = $6, \
             dkim_rotation_days = $7, updated_at = $8, last_verified_at = $9, failing_since = $10, \
             next_check_at = $11, version = version + 1, \
             lease_expires_at = CASE WHEN lease_owner = $12 THEN NULL ELSE lease_expires_at END, \
             lease_owner = CASE WHEN lease_owner = $12 THEN NULL ELSE lease_owner END, \
             return_path = $13, return_path_set_at = $14, return_path_verified = $15, \
             return_path_failing_since = $16 \
             WHERE id = $1 AND version = $2",
        )
        .bind(domain.id.as_str())
        .bind(domain.version)
        .bind(domain.dmarc_policy.as_str())
        .bind(domain.dmarc_rua.as_ref().map(|r| r.as_str()))
        .bind(domain.is_active)
        .bind(domain.verified)
        .bind(domain.dkim_rotation_days.map(|p| i64::from(p.days())))
        .bind(domain.updated_at)
        .bind(domain.last_verified_at)
        .bind(domain.failing_since)
        .bind(domain.next_check_at)
        .bind(lease.owner())
        .bind(return_path.label)
        .bind(return_path.set_at)
        .bind(return_path.verified)
        .bind(return_path.failing_since)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if updated.rows_affected() == 0 {
            // A concurrent winner held the row lock until it committed; its new version made
            // our WHERE false, so nothing of ours was written.
            return Err(missing_or(&mut *tx, &domain.id, conflict::stale_version()).await);
        }
        write_children(&mut tx, domain, events).await?;
        write_outbox(&mut tx, outbox).await?;
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
        let deleted = store_sql::delete(scope, id)
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if deleted.rows_affected() == 0 {
            return Err(RepoError::NotFound);
        }
        write_outbox(&mut tx, outbox).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError> {
        if !self.visible(scope, id).await? {
            return Err(RepoError::NotFound);
        }
        let rows = store_sql::events(id, page)
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let events = rows
            .iter()
            .map(rows::event)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(events, page, |e| e.id.as_str()))
    }

    async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError> {
        let row = store_sql::owner_usage(owner, name)
            .build()
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let count = |column: &str| -> Result<u64, RepoError> {
            let n: i64 = row.try_get(column).map_err(map_err)?;
            u64::try_from(n).map_err(|e| stored::corrupt("domain count", e))
        };
        Ok(OwnerUsage {
            domains: count("domains")?,
            name_taken: count("taken")? > 0,
        })
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
        let mut ids = rows
            .iter()
            .map(|r| {
                let id: String = rows::get(r, "id")?;
                DomainId::parse(&id).map_err(|e| corrupt("domain id", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError> {
        let released = sqlx::query(
            "UPDATE domains SET lease_owner = NULL, lease_expires_at = NULL, next_check_at = $3 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(retry_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if released.rows_affected() == 0 {
            return Err(missing_or(&self.pool, id, conflict::not_lease_holder()).await);
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
        let row = sqlx::query(
            "SELECT sealed_private FROM dkim_keys \
             WHERE domain_id = $1 AND selector = $2 AND sealed_private IS NOT NULL",
        )
        .bind(id.as_str())
        .bind(selector.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        // A removed key keeps its row without the private key: as absent as no row at all.
        let sealed: Option<Vec<u8>> = match &row {
            Some(row) => row.try_get("sealed_private").map_err(map_err)?,
            None => None,
        };
        sealed.map(SealedKey::from_bytes).ok_or(RepoError::NotFound)
    }
}

#[async_trait]
impl KeyPool for PgStore {
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO key_pool (id, kind, algorithm, public_key, sealed_private) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.kind)
        .bind(key.public_key.algorithm().as_str())
        .bind(key.public_key.p_bytes())
        .bind(key.sealed.as_bytes())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
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
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM key_pool WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(n.max(0) as u64)
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

/// After a guarded write touched no row: `NotFound` if the domain is gone, else the given
/// conflict.
async fn missing_or<'e>(
    exec: impl PgExecutor<'e>,
    id: &DomainId,
    conflict: RepoError,
) -> RepoError {
    match sqlx::query("SELECT 1 FROM domains WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(exec)
        .await
    {
        Ok(Some(_)) => conflict,
        Ok(None) => RepoError::NotFound,
        Err(e) => map_err(e),
    }
}

/// Writes what belongs to a domain row, inside the caller's transaction: keys inserted or
/// updated (never deleted), the checks replaced, the events appended.
async fn write_children(
    tx: &mut PgConnection,
    domain: &Domain,
    events: &[DomainEvent],
) -> Result<(), RepoError> {
    let keys = domain.keys.all();
    if !keys.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO dkim_keys (domain_id, selector, idx, state, algorithm, mode, public_key, sealed_private, \
             created_at, activated_at, retired_at, removed_at) ",
        );
        q.push_values(keys, |mut row, key| {
            row.push_bind(domain.id.as_str())
                .push_bind(key.selector.as_str())
                .push_bind(i64::from(key.index))
                .push_bind(key.state.as_str())
                .push_bind(key.public_key.algorithm().as_str())
                .push_bind(key.mode.as_str())
                .push_bind(key.public_key.p_bytes())
                .push_bind(key.sealed.as_ref().map(|s| s.as_bytes()))
                .push_bind(key.created_at)
                .push_bind(key.activated_at)
                .push_bind(key.retired_at)
                .push_bind(key.removed_at);
        });
        // A key is named by its generation and algorithm; its selector, mode and public
        // key are its for good. Only the state, its times and the private key (destroyed
        // on removal) change.
        q.push(
            " ON CONFLICT (domain_id, idx, algorithm) DO UPDATE SET state = EXCLUDED.state, \
             sealed_private = EXCLUDED.sealed_private, activated_at = EXCLUDED.activated_at, \
             retired_at = EXCLUDED.retired_at, removed_at = EXCLUDED.removed_at",
        );
        q.build().execute(&mut *tx).await.map_err(map_err)?;
    }

    sqlx::query("DELETE FROM domain_checks WHERE domain_id = $1")
        .bind(domain.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let checks = stored::check_rows(&domain.checks)?;
    if !checks.is_empty() {
        let mut q =
            QueryBuilder::<Postgres>::new("INSERT INTO domain_checks (domain_id, kind, verdict) ");
        q.push_values(&checks, |mut row, (kind, verdict)| {
            row.push_bind(domain.id.as_str())
                .push_bind(*kind)
                .push_bind(verdict);
        });
        q.build().execute(&mut *tx).await.map_err(map_err)?;
    }

    if !events.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO domain_events (id, domain_id, at, actor, kind, message, detail) ",
        );
        q.push_values(events, |mut row, event| {
            let (message, detail) = stored::event_columns(event);
            row.push_bind(event.id.as_str())
                .push_bind(event.domain_id.as_str())
                .push_bind(event.at)
                .push_bind(event.actor.as_str())
                .push_bind(event.kind.as_str())
                .push_bind(message)
                .push_bind(detail);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .map_err(|e| match violated_unique(&e) {
                Some(_) => conflict::event_id_taken(),
                None => map_err(e),
            })?;
    }
    Ok(())
}
