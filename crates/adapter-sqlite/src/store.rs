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
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow,
};
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use crate::error::{map_err, violated_unique};
use crate::rows::{self, Micros};
use crate::webhooks::write_outbox;
use domain_core::stored::corrupt;
use domain_core::webhook::OutboxMessage;

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

    /// Reads the domains of `rows` with their keys and checks.
    ///
    /// Callers run this inside a transaction, so that the domain rows, keys and checks come
    /// from one snapshot even while a writer commits in between.
    async fn load(
        conn: &mut SqliteConnection,
        rows: Vec<SqliteRow>,
    ) -> Result<Vec<Domain>, RepoError> {
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

    /// Runs a `SELECT … FROM domains` and loads the aggregates, in one snapshot (a read
    /// transaction sees one state of the WAL throughout).
    async fn fetch_domains(
        &self,
        mut query: QueryBuilder<Sqlite>,
    ) -> Result<Vec<Domain>, RepoError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
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
impl DomainRepo for SqliteStore {
    async fn insert_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        stored::events_belong(domain, events)?;
        let return_path = stored::return_path_columns(domain);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO domains (id, name, partner_id, tenant_id, dmarc_policy, dmarc_rua, \
             is_active, verified, dkim_rotation_days, created_at, updated_at, last_verified_at, \
             failing_since, next_check_at, version, dkim_label, return_path, \
             return_path_set_at, return_path_verified, return_path_failing_since) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
             ?18, ?19, ?20)",
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
        .bind(Micros(domain.created_at))
        .bind(Micros(domain.updated_at))
        .bind(Micros::opt(domain.last_verified_at))
        .bind(Micros::opt(domain.failing_since))
        .bind(Micros(domain.next_check_at))
        .bind(domain.version)
        .bind(domain.zone_label.as_str())
        .bind(return_path.label)
        .bind(Micros::opt(return_path.set_at))
        .bind(return_path.verified)
        .bind(Micros::opt(return_path.failing_since))
        .execute(&mut *tx)
        .await
        .map_err(|e| match violated_unique(&e) {
            // SQLite names the columns of the violated index, not the index.
            Some(message) if message.contains("domains.owner_key") => {
                conflict::name_taken(&domain.name)
            }
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
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        // Name and owner are not written: they never change, and leaving them out means a
        // confused caller cannot move a domain to another tenant.
        let updated = sqlx::query(
            "UPDATE domains SET dmarc_policy = ?3, dmarc_rua = ?4, is_active = ?5, verified = ?6, \
             dkim_rotation_days = ?7, updated_at = ?8, last_verified_at = ?9, failing_since = ?10, \
             next_check_at = ?11, version = version + 1, \
             lease_expires_at = CASE WHEN lease_owner = ?12 THEN NULL ELSE lease_expires_at END, \
             lease_owner = CASE WHEN lease_owner = ?12 THEN NULL ELSE lease_owner END, \
             return_path = ?13, return_path_set_at = ?14, return_path_verified = ?15, \
             return_path_failing_since = ?16 \
             WHERE id = ?1 AND version = ?2",
        )
        .bind(domain.id.as_str())
        .bind(domain.version)
        .bind(domain.dmarc_policy.as_str())
        .bind(domain.dmarc_rua.as_ref().map(|r| r.as_str()))
        .bind(domain.is_active)
        .bind(domain.verified)
        .bind(domain.dkim_rotation_days.map(|p| i64::from(p.days())))
        .bind(Micros(domain.updated_at))
        .bind(Micros::opt(domain.last_verified_at))
        .bind(Micros::opt(domain.failing_since))
        .bind(Micros(domain.next_check_at))
        .bind(lease.owner())
        .bind(return_path.label)
        .bind(Micros::opt(return_path.set_at))
        .bind(return_path.verified)
        .bind(Micros::opt(return_path.failing_since))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if updated.rows_affected() == 0 {
            // We hold the write lock, so this answer cannot change before we roll back.
            return Err(missing_or(&mut tx, &domain.id, conflict::stale_version()).await);
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
        // One statement, in a write transaction like every write here (a lone statement
        // would read first and could fail to upgrade its stale snapshot). The foreign keys
        // (on for every connection) cascade to the keys, so the sealed private keys, the
        // checks and the events; `secure_delete` overwrites the freed space.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
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
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let released = sqlx::query(
            "UPDATE domains SET lease_owner = NULL, lease_expires_at = NULL, next_check_at = ?3 \
             WHERE id = ?1 AND lease_owner = ?2",
        )
        .bind(id.as_str())
        .bind(owner)
        .bind(Micros(retry_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if released.rows_affected() == 0 {
            return Err(missing_or(&mut tx, id, conflict::not_lease_holder()).await);
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
        let row = sqlx::query(
            "SELECT sealed_private FROM dkim_keys \
             WHERE domain_id = ?1 AND selector = ?2 AND sealed_private IS NOT NULL",
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
impl KeyPool for SqliteStore {
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO key_pool (id, kind, algorithm, public_key, sealed_private) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
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
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM key_pool WHERE kind = ?1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(n.max(0) as u64)
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

/// After a guarded write touched no row: `NotFound` if the domain is gone, else the given
/// conflict. Runs in the write transaction, whose lock keeps the answer true.
async fn missing_or(tx: &mut SqliteConnection, id: &DomainId, conflict: RepoError) -> RepoError {
    match sqlx::query("SELECT 1 FROM domains WHERE id = ?1")
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
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
    tx: &mut SqliteConnection,
    domain: &Domain,
    events: &[DomainEvent],
) -> Result<(), RepoError> {
    let keys = domain.keys.all();
    if !keys.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
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
                .push_bind(Micros(key.created_at))
                .push_bind(Micros::opt(key.activated_at))
                .push_bind(Micros::opt(key.retired_at))
                .push_bind(Micros::opt(key.removed_at));
        });
        // A key is named by its generation and algorithm; its selector, mode and public
        // key are its for good. Only the state, its times and the private key (destroyed
        // on removal) change.
        q.push(
            " ON CONFLICT (domain_id, idx, algorithm) DO UPDATE SET state = excluded.state, \
             sealed_private = excluded.sealed_private, activated_at = excluded.activated_at, \
             retired_at = excluded.retired_at, removed_at = excluded.removed_at",
        );
        q.build().execute(&mut *tx).await.map_err(map_err)?;
    }

    sqlx::query("DELETE FROM domain_checks WHERE domain_id = ?1")
        .bind(domain.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let checks = stored::check_rows(&domain.checks)?;
    if !checks.is_empty() {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO domain_checks (domain_id, kind, verdict) ");
        q.push_values(&checks, |mut row, (kind, verdict)| {
            row.push_bind(domain.id.as_str())
                .push_bind(*kind)
                .push_bind(verdict.to_string());
        });
        q.build().execute(&mut *tx).await.map_err(map_err)?;
    }

    if !events.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO domain_events (id, domain_id, at, actor, kind, message, detail) ",
        );
        q.push_values(events, |mut row, event| {
            let (message, detail) = stored::event_columns(event);
            row.push_bind(event.id.as_str())
                .push_bind(event.domain_id.as_str())
                .push_bind(Micros(event.at))
                .push_bind(event.actor.as_str())
                .push_bind(event.kind.as_str())
                .push_bind(message)
                .push_bind(detail.to_string());
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
