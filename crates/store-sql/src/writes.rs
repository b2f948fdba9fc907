//! The statements of a domain's writes that both stores run alike, inside the write
//! transaction each database opens its own way ([`Dialect::begin_write`] — SQLite:
//! `BEGIN IMMEDIATE`, which takes the write lock up front; PostgreSQL: a plain `BEGIN`,
//! with row locks and versions).

use domain_core::RepoError;
use domain_core::crypto::SealedKey;
use domain_core::model::{Domain, DomainEvent, DomainId, Scope};
use domain_core::name::Selector;
use domain_core::ports::{LeaseOnWrite, PooledKey};
use domain_core::stored::{self, conflict};
use domain_core::webhook::OutboxMessage;
use sqlx::QueryBuilder;
use time::OffsetDateTime;

use crate::POOL_COLUMNS;
use crate::dialect::{
    Binds, Dialect, execute, execute_unique, fetch_optional, insert_row, insert_rows,
};

/// Inserts the row of a new domain: a name its owner already has, or an id already
/// taken, is a conflict that says which.
pub async fn insert_domain<D: Dialect>(
    conn: &mut D::Connection,
    domain: &Domain,
) -> Result<(), RepoError> {
    let q = insert_row::<D>(
        &format!(
            "domains (id, name, partner_id, tenant_id, created_at, version, dkim_label, {STATE_COLUMNS})"
        ),
        |row| {
            row.bind(domain.id.as_str())
                .bind(domain.name.as_str())
                .bind(domain.owner.partner_id.as_str())
                .bind(domain.owner.tenant_id.as_deref())
                .time(domain.created_at)
                .bind(domain.version)
                .bind(domain.zone_label.as_str());
            bind_state(row, domain);
        },
    );
    execute_unique(conn, q, |index| {
        if index.contains(D::OWNER_NAME_INDEX) {
            conflict::name_taken(&domain.name)
        } else {
            conflict::id_taken(&domain.id)
        }
    })
    .await?;
    Ok(())
}

/// The columns of a domain that change over its life, in the order [`bind_state`] binds
/// them: what an update writes, and all an insert writes beyond the fixed identity.
const STATE_COLUMNS: &str = "dmarc_policy, dmarc_rua, is_active, verified, dkim_rotation_days, \
     updated_at, last_verified_at, failing_since, next_check_at, return_path, \
     return_path_set_at, return_path_verified, return_path_failing_since";

/// Binds the values of [`STATE_COLUMNS`] of `domain`.
fn bind_state<D: Dialect>(row: &mut Binds<'_, D>, domain: &Domain) {
    let return_path = stored::return_path_columns(domain);
    row.bind(domain.dmarc_policy.as_str())
        .bind(domain.dmarc_rua.as_ref().map(|r| r.as_str()))
        .bind(domain.is_active)
        .bind(domain.verified)
        .bind(domain.dkim_rotation_days.map(|p| i64::from(p.days())))
        .time(domain.updated_at)
        .time(domain.last_verified_at)
        .time(domain.failing_since)
        .time(domain.next_check_at)
        .bind(return_path.label)
        .time(return_path.set_at)
        .bind(return_path.verified)
        .time(return_path.failing_since);
}

/// Writes a domain over the version it was read at, releasing the monitor's lease if
/// `lease` says so: how many rows changed (none: the version is stale, or the domain
/// gone). Name and owner are not written: they never change, and leaving them out means
/// a confused caller cannot move a domain to another tenant.
pub async fn update_domain<D: Dialect>(
    conn: &mut D::Connection,
    domain: &Domain,
    lease: &LeaseOnWrite,
) -> Result<u64, RepoError> {
    let mut q = QueryBuilder::new(format!("UPDATE domains SET ({STATE_COLUMNS}) = ("));
    bind_state(&mut Binds::new(&mut q), domain);
    q.push("), version = version + 1, lease_expires_at = CASE WHEN lease_owner = ");
    D::bind(&mut q, lease.owner());
    q.push(" THEN NULL ELSE lease_expires_at END, lease_owner = CASE WHEN lease_owner = ");
    D::bind(&mut q, lease.owner());
    q.push(" THEN NULL ELSE lease_owner END WHERE id = ");
    D::bind(&mut q, domain.id.as_str());
    q.push(" AND version = ");
    D::bind(&mut q, domain.version);
    execute(conn, q).await
}

/// Writes what belongs to a domain row: keys inserted or updated (never deleted), the
/// checks replaced, the events appended (an event id already taken is a conflict).
pub async fn write_children<D: Dialect>(
    conn: &mut D::Connection,
    domain: &Domain,
    events: &[DomainEvent],
) -> Result<(), RepoError> {
    let keys = insert_rows::<D, _>(
        "dkim_keys (domain_id, selector, idx, state, algorithm, mode, public_key, \
         sealed_private, created_at, activated_at, retired_at, removed_at)",
        domain.keys.all(),
        |row, key| {
            row.bind(domain.id.as_str())
                .bind(key.selector.as_str())
                .bind(i64::from(key.index))
                .bind(key.state.as_str())
                .bind(key.public_key.algorithm().as_str())
                .bind(key.mode.as_str())
                .bind(key.public_key.p_bytes())
                .bind(key.sealed.as_ref().map(|s| s.as_bytes()))
                .time(key.created_at)
                .time(key.activated_at)
                .time(key.retired_at)
                .time(key.removed_at);
        },
    );
    if let Some(mut q) = keys {
        // A key is named by its generation and algorithm; its selector, mode and public
        // key are its for good. Only the state, its times and the private key (destroyed
        // on removal) change.
        q.push(
            " ON CONFLICT (domain_id, idx, algorithm) DO UPDATE SET state = excluded.state, \
             sealed_private = excluded.sealed_private, activated_at = excluded.activated_at, \
             retired_at = excluded.retired_at, removed_at = excluded.removed_at",
        );
        execute(conn, q).await?;
    }

    let mut q = QueryBuilder::new("DELETE FROM domain_checks WHERE domain_id = ");
    D::bind(&mut q, domain.id.as_str());
    execute(conn, q).await?;
    let checks = stored::check_rows(&domain.checks)?;
    let checks = insert_rows::<D, _>(
        "domain_checks (domain_id, kind, verdict)",
        checks,
        |row, (kind, verdict)| {
            row.bind(domain.id.as_str()).bind(kind).json(verdict);
        },
    );
    if let Some(q) = checks {
        execute(conn, q).await?;
    }

    let events = insert_rows::<D, _>(
        "domain_events (id, domain_id, at, actor, kind, message, detail)",
        events,
        |row, event| {
            let (message, detail) = stored::event_columns(event);
            row.bind(event.id.as_str())
                .bind(event.domain_id.as_str())
                .time(event.at)
                .bind(event.actor.as_str())
                .bind(event.kind.as_str())
                .bind(message)
                .json(detail);
        },
    );
    if let Some(q) = events {
        execute_unique(conn, q, |_| conflict::event_id_taken()).await?;
    }
    Ok(())
}

/// Deletes the domain `id` if `scope` sees it (`NotFound` otherwise), and stores
/// `outbox`. The foreign keys cascade to its keys (and so the sealed private keys), checks
/// and events.
pub async fn delete_domain<D: Dialect>(
    conn: &mut D::Connection,
    scope: &Scope,
    id: &DomainId,
    outbox: &[OutboxMessage],
) -> Result<(), RepoError>
where
    String: crate::Bind<D>,
{
    if execute(conn, crate::delete::<D>(scope, id)).await? == 0 {
        return Err(RepoError::NotFound);
    }
    crate::webhooks::write_outbox::<D>(conn, outbox).await
}

/// After a guarded write touched no row: `NotFound` if the domain is gone, else the given
/// conflict.
pub async fn missing_or<D: Dialect>(
    conn: &mut D::Connection,
    id: &DomainId,
    conflict: RepoError,
) -> RepoError
where
    String: crate::Bind<D>,
{
    match fetch_optional::<D>(conn, crate::visible(&Scope::System, id)).await {
        Ok(Some(_)) => conflict,
        Ok(None) => RepoError::NotFound,
        Err(e) => e,
    }
}

/// Ends the monitor's lease on a domain if `owner` holds it, due again at `retry_at`:
/// how many rows changed (none: not the holder, or the domain gone).
pub async fn release<D: Dialect>(
    conn: &mut D::Connection,
    id: &DomainId,
    owner: &str,
    retry_at: OffsetDateTime,
) -> Result<u64, RepoError> {
    let mut q = QueryBuilder::new(
        "UPDATE domains SET lease_owner = NULL, lease_expires_at = NULL, next_check_at = ",
    );
    Binds::new(&mut q).time(retry_at);
    q.push(" WHERE id = ");
    D::bind(&mut q, id.as_str());
    q.push(" AND lease_owner = ");
    D::bind(&mut q, owner);
    execute(conn, q).await
}

/// The sealed private key of a domain's selector; a removed key keeps its row without
/// the private key, as absent as no row at all.
pub async fn sealed_key<D: Dialect>(
    conn: &mut D::Connection,
    id: &DomainId,
    selector: &Selector,
) -> Result<SealedKey, RepoError> {
    let mut q = QueryBuilder::new("SELECT sealed_private FROM dkim_keys WHERE domain_id = ");
    D::bind(&mut q, id.as_str());
    q.push(" AND selector = ");
    D::bind(&mut q, selector.as_str());
    q.push(" AND sealed_private IS NOT NULL");
    let sealed: Option<Vec<u8>> = match fetch_optional(conn, q).await? {
        Some(row) => crate::rows::get::<D, _>(&row, "sealed_private")?,
        None => None,
    };
    sealed.map(SealedKey::from_bytes).ok_or(RepoError::NotFound)
}

/// Adds a key to the pool.
pub async fn put_pooled<D: Dialect>(
    conn: &mut D::Connection,
    key: &PooledKey,
) -> Result<(), RepoError> {
    let q = insert_row::<D>(&format!("key_pool ({POOL_COLUMNS})"), |row| {
        row.bind(key.id.as_str())
            .bind(key.kind.as_str())
            .bind(key.public_key.algorithm().as_str())
            .bind(key.public_key.p_bytes())
            .bind(key.sealed.as_bytes());
    });
    execute(conn, q).await?;
    Ok(())
}

/// How many keys of `kind` the pool holds.
pub async fn pooled<D: Dialect>(conn: &mut D::Connection, kind: &str) -> Result<u64, RepoError> {
    let mut q = QueryBuilder::new("SELECT COUNT(*) AS n FROM key_pool WHERE kind = ");
    D::bind(&mut q, kind);
    let row = fetch_optional(conn, q).await?;
    let n: i64 = match &row {
        Some(row) => crate::rows::get::<D, _>(row, "n")?,
        None => 0,
    };
    Ok(n.max(0) as u64)
}
