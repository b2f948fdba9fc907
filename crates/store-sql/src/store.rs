//! [`SqlStore`]: the store ports — [`DomainRepo`], [`KeyStore`], [`KeyPool`] and
//! [`WebhookRepo`] — on one connection pool, written once for both databases: each
//! operation opens its transaction, runs this crate's statements and commits, and what
//! the two databases do differently (how a write transaction begins, how claims and takes
//! keep out of each other's way, how creates of one owner's endpoints take turns) is
//! asked of the [`Dialect`].

use std::fmt;

use async_trait::async_trait;
use domain_core::RepoError;
use domain_core::crypto::SealedKey;
use domain_core::model::{
    Domain, DomainEvent, DomainId, ListFilter, Owner, Page, PageRequest, Scope,
};
use domain_core::name::{DomainName, Selector};
use domain_core::ports::{
    DomainRepo, KeyPool, KeyStore, LeaseOnWrite, OwnerUsage, PooledKey, WebhookRepo,
};
use domain_core::stored::{self, conflict};
use domain_core::webhook::{
    Attempt, DeliveryOutcome, DueDelivery, Endpoint, EndpointId, OutboxMessage,
};
use sqlx::pool::PoolConnection;
use sqlx::{Arguments, Pool, QueryBuilder};
use time::OffsetDateTime;

use crate::dialect::{Dialect, execute, fetch_all, fetch_optional, map_err, page_of_children};
use crate::webhooks::{self as hooks, write_outbox};
use crate::{Bind, reads, rows, writes};

/// Sender domains, their keys, verdicts, timeline and monitor leases, the key pool and
/// the webhook store, in the database of `DB`: a SQLite file (which serves one process)
/// or PostgreSQL (which any number of app instances share).
///
/// Each adapter makes one from the pool it configured ([`from_pool`](SqlStore::from_pool))
/// and runs its own migrations ([`migrate`](SqlStore::migrate)). Cheap to clone: clones
/// share one connection pool.
pub struct SqlStore<DB: Dialect> {
    pool: Pool<DB>,
}

impl<DB: Dialect> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
        }
    }
}

impl<DB: Dialect> fmt::Debug for SqlStore<DB> {
    /// The database and the pool's size and settings; never its connect options, which
    /// hold the URL's password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &DB::NAME)
            .field("pool", &self.pool)
            .finish()
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// The store on `pool`, which the adapter configured for its database.
    pub fn from_pool(pool: Pool<DB>) -> Self {
        SqlStore { pool }
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to come back (which, on SQLite,
    /// checkpoints the WAL into the database file). Later operations fail with
    /// `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the migrations of `migrator` (the adapter embeds them) that the database
    /// has not seen yet. On PostgreSQL several instances may run this at once: sqlx
    /// serialises them with an advisory lock.
    pub async fn migrate(&self, migrator: &sqlx::migrate::Migrator) -> Result<(), crate::SetupError>
    where
        DB::Connection: sqlx::migrate::Migrate,
    {
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| crate::SetupError::Migrate(DB::NAME, e))
    }

    /// A connection, for a read or a lone statement: no transaction around it.
    async fn conn(&self) -> Result<PoolConnection<DB>, RepoError> {
        self.pool.acquire().await.map_err(map_err::<DB>)
    }

    /// A connection whose commits do not wait for the disk ([`Dialect::RELAX`]), for the
    /// key pool's writes, which a crash may undo without harm: a take is followed by the
    /// create that uses the key, whose durable commit makes the take durable with it (the
    /// log is written in order), and a put that is lost is a key generated again.
    async fn relaxed(&self) -> Result<Relaxed<DB>, RepoError> {
        let mut relaxed = Relaxed {
            conn: self.conn().await?,
            restored: false,
        };
        DB::script(&mut *relaxed.conn, DB::RELAX)
            .await
            .map_err(map_err::<DB>)?;
        Ok(relaxed)
    }

    /// Runs one of this crate's statements that read domains with their keys and
    /// verdicts: one statement, and no transaction around it.
    async fn fetch_domains(&self, query: QueryBuilder<DB>) -> Result<Vec<Domain>, RepoError> {
        reads::domains(&mut *self.conn().await?, query).await
    }
}

/// A pool connection between [`Dialect::RELAX`] and [`Dialect::RESTORE`]. One that is
/// dropped without being restored (an error, a cancelled request) is closed instead of
/// going back to the pool, so that no connection that skips the disk serves a write that
/// must not.
struct Relaxed<DB: Dialect> {
    conn: PoolConnection<DB>,
    restored: bool,
}

impl<DB: Dialect> Relaxed<DB> {
    /// Makes the connection's commits wait for the disk again (on PostgreSQL, commits
    /// the write), and gives it back to the pool.
    async fn restore(mut self) -> Result<(), RepoError> {
        DB::script(&mut *self.conn, DB::RESTORE)
            .await
            .map_err(map_err::<DB>)?;
        self.restored = true;
        Ok(())
    }
}

impl<DB: Dialect> Drop for Relaxed<DB> {
    fn drop(&mut self) {
        if !self.restored {
            self.conn.close_on_drop();
        }
    }
}

/// Runs `claim` ([`Dialect::CLAIM_DUE`] or [`Dialect::CLAIM_DELIVERIES`]) on `conn`,
/// binding its four values in order: its rows.
async fn claim<DB: Dialect>(
    conn: &mut DB::Connection,
    claim: &'static str,
    now: OffsetDateTime,
    limit: u32,
    owner: &str,
    lease_until: OffsetDateTime,
) -> Result<Vec<DB::Row>, RepoError>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    let mut args = DB::Arguments::default();
    add::<DB, _>(&mut args, DB::Time::from(now))?;
    add::<DB, _>(&mut args, i64::from(limit))?;
    add::<DB, _>(&mut args, owner.to_owned())?;
    add::<DB, _>(&mut args, DB::Time::from(lease_until))?;
    fetch_all(conn, DB::written(claim, args)).await
}

/// Binds `value` next in `args`: a value that does not encode is `Internal`, as when a
/// query binds it.
fn add<DB: Dialect, T: Bind<DB>>(args: &mut DB::Arguments, value: T) -> Result<(), RepoError> {
    args.add(value)
        .map_err(|e| map_err::<DB>(sqlx::Error::Encode(e)))
}

#[async_trait]
impl<DB: Dialect> DomainRepo for SqlStore<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
    bool: Bind<DB>,
{
    async fn insert_notifying(
        &self,
        domain: &Domain,
        events: &[DomainEvent],
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        stored::events_belong(domain, events)?;
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        writes::insert_domain::<DB>(&mut tx, domain).await?;
        writes::write_children::<DB>(&mut tx, domain, events).await?;
        write_outbox::<DB>(&mut tx, outbox).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn get(&self, scope: &Scope, id: &DomainId) -> Result<Domain, RepoError> {
        self.fetch_domains(crate::domain(scope, id))
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
        let domains = self.fetch_domains(crate::list(scope, filter, page)).await?;
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
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        if writes::update_domain::<DB>(&mut tx, domain, &lease).await? == 0 {
            // Nothing of ours was written. On PostgreSQL a concurrent winner held the row
            // lock until it committed, and its new version made our WHERE false; on
            // SQLite we hold the write lock, so this answer cannot change before we roll
            // back.
            let stale = conflict::stale_version();
            return Err(writes::missing_or::<DB>(&mut tx, &domain.id, stale).await);
        }
        writes::write_children::<DB>(&mut tx, domain, events).await?;
        write_outbox::<DB>(&mut tx, outbox).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn delete_notifying(
        &self,
        scope: &Scope,
        id: &DomainId,
        outbox: &[OutboxMessage],
    ) -> Result<(), RepoError> {
        // One statement and the outbox, in a write transaction like every write here (on
        // SQLite a lone statement would read first and could fail to upgrade its stale
        // snapshot). The foreign keys (on for every SQLite connection) cascade to the
        // keys, so the sealed private keys, the checks and the events; on SQLite,
        // `secure_delete` overwrites the freed space.
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        writes::delete_domain::<DB>(&mut tx, scope, id, outbox).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn events(
        &self,
        scope: &Scope,
        id: &DomainId,
        page: &PageRequest,
    ) -> Result<Page<DomainEvent>, RepoError> {
        // Events carry no owner: NotFound unless the scope sees their domain.
        let (parent, items) = (crate::visible::<DB>(scope, id), crate::events(id, page));
        let mut conn = self.conn().await?;
        page_of_children(&mut *conn, parent, items, page, rows::event::<DB>, |e| {
            e.id.as_str()
        })
        .await
    }

    async fn owner_usage(&self, owner: &Owner, name: &DomainName) -> Result<OwnerUsage, RepoError> {
        reads::owner_usage::<DB>(&mut *self.conn().await?, owner, name).await
    }

    async fn find_sendable(
        &self,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
    ) -> Result<Vec<Domain>, RepoError> {
        self.fetch_domains(crate::sendable(partner_id, tenant_id, name))
            .await
    }

    async fn zone_domains(&self) -> Result<Vec<Domain>, RepoError> {
        self.fetch_domains(crate::zone_domains()).await
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
        // How two claimers keep apart is the dialect's (see `Dialect::CLAIM_DUE`).
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        let rows = claim::<DB>(&mut tx, DB::CLAIM_DUE, now, limit, owner, lease_until).await?;
        tx.commit().await.map_err(map_err::<DB>)?;
        reads::claimed_ids::<DB>(&rows)
    }

    async fn release(
        &self,
        id: &DomainId,
        owner: &str,
        retry_at: OffsetDateTime,
    ) -> Result<(), RepoError> {
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        if writes::release::<DB>(&mut tx, id, owner, retry_at).await? == 0 {
            let not_holder = conflict::not_lease_holder();
            return Err(writes::missing_or::<DB>(&mut tx, id, not_holder).await);
        }
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        execute::<DB>(&mut *self.conn().await?, QueryBuilder::new("SELECT 1"))
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl<DB: Dialect> KeyStore for SqlStore<DB> {
    async fn sealed_key(&self, id: &DomainId, selector: &Selector) -> Result<SealedKey, RepoError> {
        writes::sealed_key::<DB>(&mut *self.conn().await?, id, selector).await
    }
}

#[async_trait]
impl<DB: Dialect> KeyPool for SqlStore<DB>
where
    String: Bind<DB>,
{
    async fn put(&self, key: &PooledKey) -> Result<(), RepoError> {
        let mut conn = self.relaxed().await?;
        writes::put_pooled::<DB>(&mut *conn.conn, key).await?;
        conn.restore().await
    }

    async fn take(&self, kind: &str) -> Result<Option<PooledKey>, RepoError> {
        // One statement: how two takers keep apart is the dialect's (see
        // `Dialect::TAKE_POOLED`). Its commit does not wait for the disk; the create's
        // own does, for both (`relaxed`).
        let mut args = DB::Arguments::default();
        add::<DB, _>(&mut args, kind.to_owned())?;
        let take = DB::written(DB::TAKE_POOLED, args);
        let mut conn = self.relaxed().await?;
        let row = fetch_optional(&mut *conn.conn, take).await?;
        conn.restore().await?;
        row.map(|row| rows::pooled_key::<DB>(&row)).transpose()
    }

    async fn pooled(&self, kind: &str) -> Result<u64, RepoError> {
        writes::pooled::<DB>(&mut *self.conn().await?, kind).await
    }
}

#[async_trait]
impl<DB: Dialect> WebhookRepo for SqlStore<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    async fn create_endpoint(&self, e: &Endpoint, max_per_owner: u32) -> Result<(), RepoError> {
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        // Creates of one owner take turns, so that two cannot both pass the count.
        DB::lock_endpoints_of(&mut tx, &e.owner)
            .await
            .map_err(map_err::<DB>)?;
        hooks::create_endpoint::<DB>(&mut tx, e, max_per_owner).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<Endpoint, RepoError> {
        // One statement: no transaction around it, as for a domain.
        let query = hooks::endpoint::<DB>(owner, id.as_str());
        let mut found = hooks::fetch_endpoints(&mut *self.conn().await?, query).await?;
        found.pop().ok_or(RepoError::NotFound)
    }

    async fn endpoints(
        &self,
        owner: &Owner,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>, RepoError> {
        let query = hooks::endpoints::<DB>(owner, page);
        let items = hooks::fetch_endpoints(&mut *self.conn().await?, query).await?;
        Ok(Page::from_overfetch(items, page, |e| e.id.as_str()))
    }

    async fn update_endpoint(&self, e: &Endpoint) -> Result<(), RepoError> {
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        hooks::update_endpoint::<DB>(&mut tx, e).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn delete_endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<(), RepoError> {
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        let delete = hooks::delete_endpoint::<DB>(owner, id.as_str());
        if execute(&mut *tx, delete).await? == 0 {
            return Err(RepoError::NotFound);
        }
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn enqueue_for(&self, m: &OutboxMessage, to: &EndpointId) -> Result<(), RepoError> {
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        hooks::enqueue_for::<DB>(&mut tx, m, to.as_str()).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // As the monitor's claim (see `Dialect::CLAIM_DELIVERIES`).
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        let claimed = claim::<DB>(
            &mut tx,
            DB::CLAIM_DELIVERIES,
            now,
            limit,
            owner,
            lease_until,
        )
        .await?;
        let due = hooks::claimed::<DB>(&mut tx, &claimed).await?;
        tx.commit().await.map_err(map_err::<DB>)?;
        Ok(due)
    }

    async fn record_attempt(
        &self,
        a: &Attempt,
        outcome: &DeliveryOutcome,
        owner: &str,
    ) -> Result<(), RepoError> {
        let mut tx = DB::begin_write(&self.pool).await.map_err(map_err::<DB>)?;
        hooks::record_attempt::<DB>(&mut tx, a, outcome, owner).await?;
        tx.commit().await.map_err(map_err::<DB>)
    }

    async fn attempts(
        &self,
        owner: &Owner,
        id: &EndpointId,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, RepoError> {
        // As a domain's timeline: NotFound unless the owner sees the endpoint.
        hooks::attempts_of::<DB>(&mut *self.conn().await?, owner, id.as_str(), page).await
    }
}
