//! `store-sql`: the store of sender domains on SQL — the ports ([`SqlStore`]), the
//! statements they run (reads, writes, the webhook store), the row decoders — written once
//! and generic over [`Dialect`], so that the PostgreSQL and SQLite stores scope, filter,
//! page, decode, write, lock and claim exactly alike.
//!
//! A key design decision made in this crate is that it holds only SQL both databases
//! parse the same way, but for the few statements that are each database's own:
//! placeholders come from [`QueryBuilder`], which writes `$1` for PostgreSQL and `?` for
//! SQLite, and what the two store differently (a time, a JSON value), mean differently
//! (an error code) or do differently (how a write transaction begins — SQLite's
//! `BEGIN IMMEDIATE` — how claims and takes keep apart — PostgreSQL's
//! `FOR UPDATE SKIP LOCKED` — and how creates of one owner's endpoints take turns) is said
//! once, in [`dialect`]. Connecting and migrating stay in each adapter, which makes a
//! [`SqlStore`] from the pool it configured. Most importantly, [`push_scope`] is the one
//! place that turns a caller's [`Scope`] into SQL: a query built here can never return
//! another tenant's row.

use domain_core::model::{DomainId, ListFilter, Owner, PageRequest, Scope};
use domain_core::name::DomainName;
use sqlx::{Database, Encode, QueryBuilder, Type};

pub mod dialect;
pub mod reads;
pub mod rows;
mod setup;
mod store;
pub mod webhooks;
pub mod writes;

pub use dialect::{Dialect, Micros};
pub use setup::{PoolConfig, SetupError};
pub use store::SqlStore;

/// A value type the database binds: what each query here needs of `String`, `bool` and
/// `i64`.
pub trait Bind<DB: Database>: for<'t> Encode<'t, DB> + Type<DB> {}

impl<T, DB: Database> Bind<DB> for T where T: for<'t> Encode<'t, DB> + Type<DB> {}

/// The columns of `domains` that the row decoder ([`rows::domain`]) reads, in a `SELECT`.
#[macro_export]
macro_rules! domain_columns {
    () => {
        "id, name, partner_id, tenant_id, dmarc_policy, dmarc_rua, is_active, verified, \
         dkim_rotation_days, created_at, updated_at, last_verified_at, failing_since, \
         next_check_at, version, dkim_label, return_path, return_path_set_at, \
         return_path_verified, return_path_failing_since"
    };
}

/// The columns of `dkim_keys` that the key decoder ([`rows::key`]) reads.
pub const KEY_COLUMNS: &str = "domain_id, selector, idx, state, algorithm, mode, public_key, \
     sealed_private, created_at, activated_at, retired_at, removed_at";

/// The columns of `domain_events` that the event decoder ([`rows::event`]) reads.
pub const EVENT_COLUMNS: &str = "id, domain_id, at, actor, kind, message, detail";

/// One statement that reads the domain `id`, if `scope` may see it, with its keys and
/// stored verdicts (see [`with_children`]).
pub fn domain<DB: Dialect>(scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    with_children("", |q| {
        q.push(concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains WHERE id = "
        ));
        q.push_bind(id.as_str().to_owned());
        push_scope(q, scope);
    })
}

/// `SELECT 1` of the domain `id`, if `scope` may see it.
pub fn visible<DB: Database>(scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    scoped_by_id("SELECT 1 FROM domains", scope, id)
}

/// `DELETE` of the domain `id`, if `scope` may see it.
pub fn delete<DB: Database>(scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    scoped_by_id("DELETE FROM domains", scope, id)
}

/// `head` (a statement on `domains`) limited to the domain `id`, if `scope` may see it.
fn scoped_by_id<DB: Database>(head: &str, scope: &Scope, id: &DomainId) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(format!("{head} WHERE id = "));
    q.push_bind(id.as_str().to_owned());
    push_scope(&mut q, scope);
    q
}

/// One statement that reads one page of the domains `scope` sees that match `filter`, in
/// id order, with their keys and verdicts (see [`with_children`]), reading
/// [`PageRequest::fetch_limit`] domains for
/// [`Page::from_overfetch`](domain_core::model::Page::from_overfetch).
pub fn list<DB: Dialect>(scope: &Scope, filter: &ListFilter, page: &PageRequest) -> QueryBuilder<DB>
where
    String: Bind<DB>,
    bool: Bind<DB>,
    i64: Bind<DB>,
{
    with_children("id", |q| {
        q.push(concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains WHERE 1 = 1"
        ));
        push_scope(q, scope);
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
        push_page(q, page, Ids::Ascending);
    })
}

/// `SELECT` of one page of a domain's timeline, newest first. The caller checks first
/// that the domain is visible (events carry no owner).
pub fn events<DB: Database>(id: &DomainId, page: &PageRequest) -> QueryBuilder<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    let mut q = select_where(EVENT_COLUMNS, "domain_events", "domain_id", id.as_str());
    push_page(&mut q, page, Ids::Descending);
    q
}

/// One statement that reads the domains named `name` that tenant `tenant_id` of
/// `partner_id` may send from, with their keys and verdicts (see [`with_children`]): its
/// own first, then the partner's shared one. The owner keys match the unique
/// `(partner_id, owner_key, name)` index, which answers this on the send path.
pub fn sendable<DB: Dialect>(
    partner_id: &str,
    tenant_id: &str,
    name: &DomainName,
) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    with_children("tenant_id IS NULL, id", |q| {
        q.push(concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains WHERE partner_id = "
        ));
        q.push_bind(partner_id.to_owned())
            .push(" AND owner_key IN ('tenant:' || ")
            .push_bind(tenant_id.to_owned())
            .push(", 'shared') AND name = ")
            .push_bind(name.as_str().to_owned());
    })
}

/// One statement that reads the domains with a CNAME-mode key that is not removed (those
/// our DKIM zone serves keys for), with their keys and verdicts (see [`with_children`]).
pub fn zone_domains<DB: Dialect>() -> QueryBuilder<DB> {
    with_children("id", |q| {
        q.push(concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains WHERE id IN (SELECT domain_id FROM dkim_keys \
             WHERE mode = 'cname' AND state <> 'removed')"
        ));
    })
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

/// What a row of [`with_children`] holds, in its `part` column.
pub mod part {
    /// A domain's row: the columns of [`domain_columns`](crate::domain_columns).
    pub const DOMAIN: i32 = 0;
    /// One of its keys: the columns of [`KEY_COLUMNS`](crate::KEY_COLUMNS).
    pub const KEY: i32 = 1;
    /// One of its stored verdicts: `domain_id`, `kind`, `verdict`.
    pub const CHECK: i32 = 2;
}

/// The columns of `domain_checks` that [`rows::check`] reads.
const CHECK_COLUMNS: &str = "domain_id, kind, verdict";

/// One statement, so one snapshot and one round trip without a transaction, that reads
/// the domains `select` pushes (a `SELECT` of [`domain_columns`] `FROM domains`) with
/// their keys and stored verdicts: a `UNION ALL` of rows told apart by [`part`], each
/// holding the columns its row decoder reads ([`rows::aggregates`] decodes them all).
/// Domains come first, in `order` (columns of `domains`; empty: any order), then each
/// domain's keys in generation order, then the verdicts.
fn with_children<DB: Dialect>(
    order: &str,
    select: impl FnOnce(&mut QueryBuilder<DB>),
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("WITH d AS (");
    select(&mut q);
    let domain_cols: Vec<&str> = domain_columns!().split(", ").collect();
    let key_cols: Vec<&str> = KEY_COLUMNS.split(", ").collect();
    let check_cols: Vec<&str> = CHECK_COLUMNS.split(", ").collect();
    // Every column any part has, each once: a part's row leaves the others NULL.
    let mut all = domain_cols.clone();
    for c in key_cols.iter().chain(&check_cols) {
        if !all.contains(c) {
            all.push(c);
        }
    }
    let branch = |part: i32, from: &str, own: &[&str]| {
        let columns = all
            .iter()
            .map(|c| match (own.contains(c), *c) {
                (true, c) => format!("{c} AS {c}"),
                // PostgreSQL types an untyped NULL as text when no earlier part has the
                // column, which no later jsonb matches.
                (false, "verdict") => format!("CAST(NULL AS {}) AS verdict", DB::JSON_TYPE),
                (false, c) => format!("NULL AS {c}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT {part} AS part, {columns} FROM {from}")
    };
    q.push(") SELECT * FROM (");
    q.push(branch(part::DOMAIN, "d", &domain_cols));
    q.push(" UNION ALL ");
    q.push(branch(
        part::KEY,
        "dkim_keys WHERE domain_id IN (SELECT id FROM d)",
        &key_cols,
    ));
    q.push(" UNION ALL ");
    q.push(branch(
        part::CHECK,
        "domain_checks WHERE domain_id IN (SELECT id FROM d)",
        &check_cols,
    ));
    q.push(") AS u ORDER BY part, ");
    if !order.is_empty() {
        q.push(order).push(", ");
    }
    q.push("domain_id, idx");
    q
}

/// `SELECT <columns> FROM <table> WHERE <column> = <value>`, for more conditions to
/// follow.
fn select_where<DB: Database>(
    columns: &str,
    table: &str,
    column: &str,
    value: &str,
) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE {column} = "));
    q.push_bind(value.to_owned());
    q
}

/// The order of a page's ids.
#[derive(Debug, Clone, Copy)]
enum Ids {
    /// Oldest first (ids are ULIDs), each page after the last id of the one before.
    Ascending,
    /// Newest first, each page before the last id of the one before.
    Descending,
}

/// Ends a `… WHERE <condition>` query with the rows of `page`, in `order`: reading
/// [`PageRequest::fetch_limit`] rows for
/// [`Page::from_overfetch`](domain_core::model::Page::from_overfetch).
fn push_page<DB: Database>(q: &mut QueryBuilder<DB>, page: &PageRequest, order: Ids)
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    let (after, by) = match order {
        Ids::Ascending => (" AND id > ", " ORDER BY id LIMIT "),
        Ids::Descending => (" AND id < ", " ORDER BY id DESC LIMIT "),
    };
    if let Some(last) = &page.after {
        q.push(after).push_bind(last.clone());
    }
    q.push(by).push_bind(i64::from(page.fetch_limit()));
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
/// at most a few hundred ids); ` IN (NULL)`, which holds for no row, when there are none.
fn push_in<DB: Database>(q: &mut QueryBuilder<DB>, ids: &[String])
where
    String: Bind<DB>,
{
    q.push(" IN (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    if ids.is_empty() {
        list.push("NULL");
    }
    q.push(")");
}

/// The columns of `key_pool`: what a put writes, and what a take
/// ([`Dialect::TAKE_POOLED`]) returns for [`rows::pooled_key`].
pub const POOL_COLUMNS: &str = "id, kind, algorithm, public_key, sealed_private";
