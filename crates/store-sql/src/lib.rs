//! `store-sql`: the read queries that the PostgreSQL and SQLite stores share, written
//! once and generic over sqlx's [`Database`], so that both adapters scope, filter and
//! page exactly alike.
//!
//! A key design decision made in this crate is that it holds only SQL both databases
//! parse the same way, and no driver: placeholders come from [`QueryBuilder`], which
//! writes `$1` for PostgreSQL and `?` for SQLite. What differs — how times and JSON are
//! stored, writes, locking, monitor leases — stays in each adapter. Most importantly,
//! [`push_scope`] is the one place that turns a caller's [`Scope`] into SQL: a query
//! built here can never return another tenant's row.

use domain_core::model::{DomainId, ListFilter, Owner, PageRequest, Scope};
use domain_core::name::DomainName;
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

/// A value type the database binds: what each query here needs of `String`, `bool` and
/// `i64`.
pub trait Bind<DB: Database>: for<'t> Encode<'t, DB> + Type<DB> {}

impl<T, DB: Database> Bind<DB> for T where T: for<'t> Encode<'t, DB> + Type<DB> {}

/// The columns of `domains` that each adapter's row decoder reads, in a `SELECT`.
#[macro_export]
macro_rules! domain_columns {
    () => {
        "id, name, partner_id, tenant_id, dmarc_policy, dmarc_rua, is_active, verified, \
         dkim_rotation_days, created_at, updated_at, last_verified_at, failing_since, \
         next_check_at, version, dkim_label, return_path, return_path_set_at, \
         return_path_verified, return_path_failing_since"
    };
}

/// The columns of `dkim_keys` that each adapter's key decoder reads.
pub const KEY_COLUMNS: &str = "domain_id, selector, idx, state, algorithm, mode, public_key, \
     sealed_private, created_at, activated_at, retired_at, removed_at";

/// The columns of `domain_events` that each adapter's event decoder reads.
pub const EVENT_COLUMNS: &str = "id, domain_id, at, actor, kind, message, detail";

/// `SELECT` of the domain `id`, if `scope` may see it.
pub fn domain<DB: Database>(scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(concat!(
        "SELECT ",
        domain_columns!(),
        " FROM domains WHERE id = "
    ));
    q.push_bind(id.as_str().to_owned());
    push_scope(&mut q, scope);
    q
}

/// `SELECT 1` of the domain `id`, if `scope` may see it.
pub fn visible<DB: Database>(scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new("SELECT 1 FROM domains WHERE id = ");
    q.push_bind(id.as_str().to_owned());
    push_scope(&mut q, scope);
    q
}

/// `DELETE` of the domain `id`, if `scope` may see it.
pub fn delete<DB: Database>(scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new("DELETE FROM domains WHERE id = ");
    q.push_bind(id.as_str().to_owned());
    push_scope(&mut q, scope);
    q
}

/// `SELECT` of one page of the domains `scope` sees that match `filter`, in id order,
/// reading [`PageRequest::fetch_limit`] rows for
/// [`Page::from_overfetch`](domain_core::model::Page::from_overfetch).
pub fn list<DB: Database>(
    scope: &Scope,
    filter: &ListFilter,
    page: &PageRequest,
) -> QueryBuilder<DB>
where
    String: Bind<DB>,
    bool: Bind<DB>,
    i64: Bind<DB>,
{
    let mut q = QueryBuilder::new(concat!(
        "SELECT ",
        domain_columns!(),
        " FROM domains WHERE 1 = 1"
    ));
    push_scope(&mut q, scope);
    if let Some(verified) = filter.verified {
        q.push(" AND verified = ").push_bind(verified);
    }
    if let Some(active) = filter.is_active {
        q.push(" AND is_active = ").push_bind(active);
    }
    match filter.is_shared {
        Some(true) => {
            q.push(" AND tenant_id IS NULL");
        }
        Some(false) => {
            q.push(" AND tenant_id IS NOT NULL");
        }
        None => {}
    }
    if let Some(after) = &page.after {
        q.push(" AND id > ").push_bind(after.clone());
    }
    q.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(page.fetch_limit()));
    q
}

/// `SELECT` of one page of a domain's timeline, newest first. The caller checks first
/// that the domain is visible (events carry no owner).
pub fn events<DB: Database>(id: &DomainId, page: &PageRequest) -> QueryBuilder<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS} FROM domain_events WHERE domain_id = "
    ));
    q.push_bind(id.as_str().to_owned());
    if let Some(after) = &page.after {
        q.push(" AND id < ").push_bind(after.clone());
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(page.fetch_limit()));
    q
}

/// `SELECT` of the domains named `name` that tenant `tenant_id` of `partner_id` may send
/// from: its own first, then the partner's shared one. The owner keys match the unique
/// `(partner_id, owner_key, name)` index, which answers this on the send path.
pub fn sendable<DB: Database>(
    partner_id: &str,
    tenant_id: &str,
    name: &DomainName,
) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(concat!(
        "SELECT ",
        domain_columns!(),
        " FROM domains WHERE partner_id = "
    ));
    q.push_bind(partner_id.to_owned())
        .push(" AND owner_key IN ('tenant:' || ")
        .push_bind(tenant_id.to_owned())
        .push(", 'shared') AND name = ")
        .push_bind(name.as_str().to_owned())
        .push(" ORDER BY tenant_id IS NULL, id");
    q
}

/// `SELECT` of the domains with a CNAME-mode key that is not removed: those our DKIM zone
/// serves keys for.
pub fn zone_domains<DB: Database>() -> QueryBuilder<DB> {
    QueryBuilder::new(concat!(
        "SELECT ",
        domain_columns!(),
        " FROM domains WHERE id IN (SELECT domain_id FROM dkim_keys \
         WHERE mode = 'cname' AND state <> 'removed') ORDER BY id"
    ))
}

/// `SELECT` of how many domains `owner` has (`domains`) and how many of them are named
/// `name` (`taken`, 0 or 1), through the `(partner_id, owner_key, name)` index.
pub fn owner_usage<DB: Database>(owner: &Owner, name: &DomainName) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let owner_key = match &owner.tenant_id {
        Some(tenant) => format!("tenant:{tenant}"),
        None => "shared".to_owned(),
    };
    let mut q = QueryBuilder::new(
        "SELECT count(*) AS domains, \
         COALESCE(SUM(CASE WHEN name = ",
    );
    q.push_bind(name.as_str().to_owned())
        .push(" THEN 1 ELSE 0 END), 0) AS taken FROM domains WHERE partner_id = ")
        .push_bind(owner.partner_id.clone())
        .push(" AND owner_key = ")
        .push_bind(owner_key);
    q
}

/// `SELECT` of the DKIM keys of the domains `ids` (not empty), each domain's in selector
/// order.
pub fn keys_of<DB: Database>(ids: &[String]) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "SELECT {KEY_COLUMNS} FROM dkim_keys WHERE domain_id"
    ));
    push_in(&mut q, ids);
    q.push(" ORDER BY domain_id, idx");
    q
}

/// `SELECT` of the stored verdicts of the domains `ids` (not empty).
pub fn checks_of<DB: Database>(ids: &[String]) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q =
        QueryBuilder::new("SELECT domain_id, kind, verdict FROM domain_checks WHERE domain_id");
    push_in(&mut q, ids);
    q
}

/// Restricts a `… WHERE <condition>` query to the rows `scope` may see, exactly as
/// [`Scope::can_see`] says.
pub fn push_scope<DB: Database>(q: &mut QueryBuilder<DB>, scope: &Scope)
where
    String: Bind<DB>,
{
    match scope {
        Scope::Tenant {
            partner_id,
            tenant_id,
        } => {
            q.push(" AND partner_id = ")
                .push_bind(partner_id.clone())
                .push(" AND (tenant_id IS NULL OR tenant_id = ")
                .push_bind(tenant_id.clone())
                .push(")");
        }
        Scope::Partner { partner_id } => {
            q.push(" AND partner_id = ").push_bind(partner_id.clone());
        }
        Scope::System => {}
    }
}

/// ` IN (…, …)` over `ids`, one placeholder each (SQLite has no array binds; a page holds
/// at most a few hundred ids).
fn push_in<DB: Database>(q: &mut QueryBuilder<DB>, ids: &[String])
where
    String: Bind<DB>,
{
    q.push(" IN (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    q.push(")");
}

/// The webhook queries both stores share: only text and integer binds, so that they are
/// written once. Times (which each store encodes its own way) are bound by the adapters.
pub mod webhooks {
    use domain_core::model::{Owner, PageRequest};
    use sqlx::{Database, QueryBuilder};

    use super::Bind;

    /// The columns of `webhook_endpoints` that each adapter's decoder reads.
    pub const ENDPOINT_COLUMNS: &str = "id, partner_id, tenant_id, url, description, all_events, \
         enabled, disabled_reason, secret, previous_secret, previous_secret_until, failing_since, \
         created_at, updated_at";

    /// The columns of `webhook_messages` that each adapter's decoder reads.
    pub const MESSAGE_COLUMNS: &str = "id, partner_id, tenant_id, event_type, payload, created_at";

    /// The columns of `webhook_attempts` that each adapter's decoder reads.
    pub const ATTEMPT_COLUMNS: &str = "id, message_id, endpoint_id, event_type, attempt, at, \
         status, error, latency_ms, next_attempt_at";

    /// ` AND` the row belongs to `owner` (a tenant, or its partner's shared side): the
    /// one place an endpoint's owner becomes SQL.
    pub fn push_owner<DB: Database>(q: &mut QueryBuilder<DB>, owner: &Owner)
    where
        String: Bind<DB>,
    {
        q.push(" AND partner_id = ")
            .push_bind(owner.partner_id.clone())
            .push(" AND owner_key = ")
            .push_bind(owner_key(owner));
    }

    /// What the schema's generated `owner_key` column holds for `owner`.
    pub fn owner_key(owner: &Owner) -> String {
        match &owner.tenant_id {
            Some(t) => format!("tenant:{t}"),
            None => "shared".to_owned(),
        }
    }

    /// `SELECT` of the endpoint `id` of `owner`.
    pub fn endpoint<DB: Database>(owner: &Owner, id: &str) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = "
        ));
        q.push_bind(id.to_owned());
        push_owner(&mut q, owner);
        q
    }

    /// `SELECT` of the endpoint `id`, whoever owns it (for the delivery worker).
    pub fn endpoint_by_id<DB: Database>(id: &str) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = "
        ));
        q.push_bind(id.to_owned());
        q
    }

    /// `SELECT` of a page of the endpoints of `owner`, in id order.
    pub fn endpoints<DB: Database>(owner: &Owner, page: &PageRequest) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
        i64: Bind<DB>,
    {
        let mut q = QueryBuilder::new(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE 1 = 1"
        ));
        push_owner(&mut q, owner);
        if let Some(after) = &page.after {
            q.push(" AND id > ").push_bind(after.clone());
        }
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(page.fetch_limit()));
        q
    }

    /// `SELECT endpoint_id, event_type` of the listed types of the endpoints `ids`.
    pub fn endpoint_events<DB: Database>(ids: &[String]) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new(
            "SELECT endpoint_id, event_type FROM webhook_endpoint_events WHERE endpoint_id IN (",
        );
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.clone());
        }
        if ids.is_empty() {
            list.push("NULL");
        }
        q.push(") ORDER BY endpoint_id, event_type");
        q
    }

    /// `SELECT COUNT(*) AS n` of the endpoints of `owner`.
    pub fn endpoint_count<DB: Database>(owner: &Owner) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE 1 = 1");
        push_owner(&mut q, owner);
        q
    }

    /// `DELETE` of the endpoint `id` of `owner`; its events, deliveries and attempts go
    /// with it by cascade.
    pub fn delete_endpoint<DB: Database>(owner: &Owner, id: &str) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new("DELETE FROM webhook_endpoints WHERE id = ");
        q.push_bind(id.to_owned());
        push_owner(&mut q, owner);
        q
    }

    /// `INSERT INTO webhook_endpoint_events` of an endpoint's listed types (none: no
    /// statement).
    pub fn insert_endpoint_events<DB: Database>(
        id: &str,
        types: &[&'static str],
    ) -> Option<QueryBuilder<DB>>
    where
        String: Bind<DB>,
    {
        if types.is_empty() {
            return None;
        }
        let mut q =
            QueryBuilder::new("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) ");
        q.push_values(types, |mut row, t| {
            row.push_bind(id.to_owned()).push_bind((*t).to_owned());
        });
        Some(q)
    }

    /// Fans the stored message `message_id` out: a pending delivery, due at once, for
    /// each enabled endpoint of its owner that receives its type — or, with `only`, for
    /// that one endpoint of the owner whatever it subscribes to (a `webhook.test`).
    pub fn fan_out<DB: Database>(message_id: &str, only: Option<&str>) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new(
            "INSERT INTO webhook_deliveries (message_id, endpoint_id, state, attempts, next_attempt_at) \
             SELECT m.id, e.id, 'pending', 0, m.created_at \
             FROM webhook_messages m JOIN webhook_endpoints e \
             ON e.partner_id = m.partner_id AND e.owner_key = m.owner_key \
             WHERE m.id = ",
        );
        q.push_bind(message_id.to_owned());
        match only {
            Some(id) => {
                q.push(" AND e.id = ").push_bind(id.to_owned());
            }
            None => {
                q.push(
                    " AND e.enabled AND (e.all_events OR EXISTS (SELECT 1 FROM webhook_endpoint_events x \
                     WHERE x.endpoint_id = e.id AND x.event_type = m.event_type))",
                );
            }
        }
        q
    }

    /// `SELECT` of a message.
    pub fn message<DB: Database>(id: &str) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
    {
        let mut q = QueryBuilder::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE id = "
        ));
        q.push_bind(id.to_owned());
        q
    }

    /// `SELECT` of a page of an endpoint's attempts, newest first.
    pub fn attempts<DB: Database>(endpoint_id: &str, page: &PageRequest) -> QueryBuilder<DB>
    where
        String: Bind<DB>,
        i64: Bind<DB>,
    {
        let mut q = QueryBuilder::new(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE endpoint_id = "
        ));
        q.push_bind(endpoint_id.to_owned());
        if let Some(after) = &page.after {
            q.push(" AND id < ").push_bind(after.clone());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.fetch_limit()));
        q
    }
}

/// The columns of `key_pool`, in the order [`pooled_key`] reads them.
pub const POOL_COLUMNS: &str = "id, kind, algorithm, public_key, sealed_private";

/// Reads a `key_pool` row selected with [`POOL_COLUMNS`]: the driver's error, or the
/// stored key (or why it is corrupt).
pub fn pooled_key<'r, R: Row>(
    row: &'r R,
) -> Result<Result<domain_core::ports::PooledKey, domain_core::RepoError>, sqlx::Error>
where
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let algorithm: String = row.try_get(2)?;
    let public_key: Vec<u8> = row.try_get(3)?;
    Ok(domain_core::stored::pooled_key(
        row.try_get(0)?,
        row.try_get(1)?,
        &algorithm,
        &public_key,
        row.try_get(4)?,
    ))
}
