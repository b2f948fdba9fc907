//! What differs between the two databases. In how a value is stored: a time is INTEGER
//! microseconds in SQLite ([`Micros`]) and `timestamptz` in PostgreSQL; JSON is TEXT in
//! SQLite and `jsonb` in PostgreSQL. In how writers keep out of each other's way: SQLite
//! has one write lock, which every write transaction takes up front and under which
//! claims take turns; PostgreSQL has row locks, `FOR UPDATE SKIP LOCKED` claims and
//! advisory locks. [`Dialect`] says it once for each, so that the row decoders, the
//! statements and the ports ([`SqlStore`](crate::SqlStore)) of this crate are written
//! once for both.

use std::future::Future;
use std::pin::Pin;

use domain_core::RepoError;
use domain_core::model::{Owner, Page, PageRequest};
use domain_core::stored::corrupt;
use sqlx::encode::IsNull;
use sqlx::error::{BoxDynError, DatabaseError};
use sqlx::postgres::Postgres;
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, Executor, Pool, QueryBuilder, Row, Transaction, Type};
use time::OffsetDateTime;

/// A value both databases read the same way: text, integers, booleans, bytes and their
/// `Option`s.
pub trait Value<'r>:
    Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres>
{
}

impl<'r, T> Value<'r> for T where
    T: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres>
{
}

/// A value both databases bind the same way: text, integers, booleans, bytes and their
/// `Option`s.
pub trait Arg<'t>:
    Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres>
{
}

impl<'t, T> Arg<'t> for T where
    T: Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres>
{
}

/// A statement running on a connection.
pub type Running<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// How one of the two databases stores what the other stores differently, what its errors
/// mean, and what it does its own way: how a write transaction begins, how claims and
/// takes keep apart, how creates of one owner's endpoints take turns. The rest of this
/// crate, the ports ([`SqlStore`](crate::SqlStore)) among it, is generic over it.
pub trait Dialect: Database {
    /// The SQL type of a JSON column, for a typed `NULL` where PostgreSQL cannot infer one.
    const JSON_TYPE: &'static str;

    /// What [`unique_violation`](Dialect::unique_violation) says of a violation of the
    /// index that makes a domain name unique per owner.
    const OWNER_NAME_INDEX: &'static str;

    /// The monitor's claim of due domains, written whole (see
    /// [`written`](Dialect::written)): `1` is now, `2` the most domains to claim, `3` the
    /// claimer and `4` the end of its lease; it returns the claimed `id`s. Two claimers
    /// never receive the same domain, and a live lease is never taken over.
    const CLAIM_DUE: &'static str;

    /// Takes the oldest key of the kind `1` out of the pool, written whole (see
    /// [`written`](Dialect::written)): it returns the key's
    /// [`POOL_COLUMNS`](crate::POOL_COLUMNS), and two takers never receive the same key.
    const TAKE_POOLED: &'static str;

    /// Run on a connection before a write whose commit need not wait for the disk (see
    /// `SqlStore::relaxed`), as one script of plain statements: after it, a commit
    /// returns once the database has it, before it is on disk. Each database writes its
    /// log in order, so the next commit that does wait for the disk carries this one
    /// with it; only a crash before such a commit can lose it.
    const RELAX: &'static str;

    /// Run on the same connection after that write: commits wait for the disk again.
    const RESTORE: &'static str;

    /// Claims due webhook deliveries to enabled endpoints, written whole (see
    /// [`written`](Dialect::written)), with the binds of
    /// [`CLAIM_DUE`](Dialect::CLAIM_DUE); it returns `message_id, endpoint_id, attempts`.
    const CLAIM_DELIVERIES: &'static str;

    /// A time as this database binds it: [`Micros`] in SQLite, `timestamptz`
    /// ([`OffsetDateTime`] itself) in PostgreSQL.
    type Time: From<OffsetDateTime> + crate::Bind<Self>;

    /// Begins a transaction that writes, as every write of the ports does, so that a
    /// guarded write sees no other writer between its check and its change.
    fn begin_write(pool: &Pool<Self>) -> Running<'_, Transaction<'static, Self>>;

    /// In a write transaction, before an endpoint of `owner` is created: makes creates of
    /// that owner's endpoints take turns until the transaction ends, so that two cannot
    /// both pass the count of [`create_endpoint`](crate::webhooks::create_endpoint).
    fn lock_endpoints_of<'c>(conn: &'c mut Self::Connection, owner: &Owner) -> Running<'c, ()>;

    /// `sql`, a statement written whole in this database's own placeholders (`?1` in
    /// SQLite, `$1` in PostgreSQL: numbered, so one value can stand in two places), with
    /// `args` bound to them in order: a query to run like any other of this crate.
    fn written(sql: &'static str, args: Self::Arguments) -> QueryBuilder<Self>;

    /// What a database error that is not a unique violation means for the port: the
    /// database cannot serve us right now (`Unavailable`), another transaction won a race
    /// (`Conflict`), or anything else (`Internal`). `message` is the driver's.
    fn database_error(db: &dyn DatabaseError, message: String) -> RepoError;

    /// What names the unique index a write violated (PostgreSQL: its name; SQLite, which
    /// gives none: the message, which names its columns), if it violated one.
    fn unique_violation(e: &sqlx::Error) -> Option<String>;

    /// Runs `q` on `conn`: how many rows it changed.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        q: &'c mut QueryBuilder<Self>,
    ) -> Running<'c, u64>;

    /// Runs `sql`, one or more statements without binds ([`RELAX`](Dialect::RELAX),
    /// [`RESTORE`](Dialect::RESTORE)), on `conn`.
    fn script<'c>(conn: &'c mut Self::Connection, sql: &'static str) -> Running<'c, ()>;

    /// Runs `q` on `conn`: its rows.
    fn fetch_all<'c>(
        conn: &'c mut Self::Connection,
        q: &'c mut QueryBuilder<Self>,
    ) -> Running<'c, Vec<Self::Row>>;

    /// Runs `q` on `conn`: its first row, if any.
    fn fetch_optional<'c>(
        conn: &'c mut Self::Connection,
        q: &'c mut QueryBuilder<Self>,
    ) -> Running<'c, Option<Self::Row>>;

    /// The column `column` of `row`.
    fn get<'r, T: Value<'r>>(row: &'r Self::Row, column: &str) -> Result<T, sqlx::Error>;

    /// The time in the nullable column `column` of `row`.
    fn opt_time(row: &Self::Row, column: &str) -> Result<Option<OffsetDateTime>, sqlx::Error>;

    /// The JSON in the column `column` of `row`: the driver's error, or the value (or, for
    /// stored text that is not JSON, that the `what` is corrupt).
    fn json(
        row: &Self::Row,
        column: &str,
        what: &str,
    ) -> Result<Result<serde_json::Value, RepoError>, sqlx::Error>;

    /// Binds `value` where the query stands.
    fn bind<'t, T: Arg<'t>>(q: &mut QueryBuilder<Self>, value: T);

    /// Binds a time (`None`: `NULL`) where the query stands, as a
    /// [`Time`](Dialect::Time).
    fn bind_time(q: &mut QueryBuilder<Self>, time: Option<OffsetDateTime>);

    /// Binds a JSON value where the query stands.
    fn bind_json(q: &mut QueryBuilder<Self>, json: serde_json::Value);
}

/// The methods of [`Dialect`] that read the same for both databases, once the type is
/// concrete: running a query, reading a column, binding a value.
macro_rules! same_for_both {
    () => {
        fn written(sql: &'static str, args: Self::Arguments) -> QueryBuilder<Self> {
            QueryBuilder::with_arguments(sql, args)
        }

        fn execute<'c>(
            conn: &'c mut Self::Connection,
            q: &'c mut QueryBuilder<Self>,
        ) -> Running<'c, u64> {
            Box::pin(async move { Ok(conn.execute(q.build()).await?.rows_affected()) })
        }

        fn script<'c>(conn: &'c mut Self::Connection, sql: &'static str) -> Running<'c, ()> {
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(sql)).await?;
                Ok(())
            })
        }

        fn fetch_all<'c>(
            conn: &'c mut Self::Connection,
            q: &'c mut QueryBuilder<Self>,
        ) -> Running<'c, Vec<Self::Row>> {
            Box::pin(conn.fetch_all(q.build()))
        }

        fn fetch_optional<'c>(
            conn: &'c mut Self::Connection,
            q: &'c mut QueryBuilder<Self>,
        ) -> Running<'c, Option<Self::Row>> {
            Box::pin(conn.fetch_optional(q.build()))
        }

        fn get<'r, T: Value<'r>>(row: &'r Self::Row, column: &str) -> Result<T, sqlx::Error> {
            row.try_get(column)
        }

        fn bind<'t, T: Arg<'t>>(q: &mut QueryBuilder<Self>, value: T) {
            q.push_bind(value);
        }

        fn bind_time(q: &mut QueryBuilder<Self>, time: Option<OffsetDateTime>) {
            q.push_bind(time.map(Self::Time::from));
        }
    };
}

// SQLite's primary result codes (the low byte of an extended code) that mean the file
// cannot be used right now, rather than that our request is wrong.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// Takes SQLite's write lock at the start of a transaction instead of at its first write,
/// so that a transaction never has to upgrade a read snapshot another writer made stale
/// (which fails at once, without waiting for the busy timeout).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// SQLite serves one process: every write takes its one write lock up front
/// ([`BEGIN_WRITE`]), so writers queue on the lock (WAL keeps readers going meanwhile),
/// and a guarded write, a claim or a take sees no other writer between its check and its
/// change.
impl Dialect for Sqlite {
    const JSON_TYPE: &'static str = "TEXT";
    // SQLite names the columns of the violated index, not the index.
    const OWNER_NAME_INDEX: &'static str = "domains.owner_key";

    // Choosing the due rows and leasing them happen under the one write lock, so two
    // claimers (tasks of this process) take turns and the second sees the first's
    // leases: the single-process counterpart of Postgres's SKIP LOCKED.
    const CLAIM_DUE: &'static str = "UPDATE domains SET lease_owner = ?3, lease_expires_at = ?4 \
         WHERE id IN ( \
             SELECT id FROM domains \
             WHERE next_check_at <= ?1 AND (lease_expires_at IS NULL OR lease_expires_at <= ?1) \
             ORDER BY next_check_at, id \
             LIMIT ?2) \
         RETURNING id";

    // One statement: SQLite runs it under its write lock, so two takers never read the
    // same row.
    const TAKE_POOLED: &'static str = "DELETE FROM key_pool WHERE id = \
         (SELECT id FROM key_pool WHERE kind = ?1 ORDER BY id LIMIT 1) \
         RETURNING id, kind, algorithm, public_key, sealed_private";

    // `synchronous` is the connection's own setting; NORMAL, in WAL mode, appends the
    // commit to the WAL without syncing it. It cannot change inside a transaction, so
    // the write between the two is a lone statement. FULL is what every connection of
    // the adapter opens with.
    const RELAX: &'static str = "PRAGMA synchronous = NORMAL";
    const RESTORE: &'static str = "PRAGMA synchronous = FULL";

    // Under the one write lock, as the monitor's claim: two claimers take turns.
    const CLAIM_DELIVERIES: &'static str = "UPDATE webhook_deliveries SET lease_owner = ?3, lease_expires_at = ?4 \
         WHERE (message_id, endpoint_id) IN ( \
             SELECT d.message_id, d.endpoint_id FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND e.enabled \
             AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?1) \
             ORDER BY d.next_attempt_at, d.message_id LIMIT ?2) \
         RETURNING message_id, endpoint_id, attempts";

    type Time = Micros;

    same_for_both!();

    fn begin_write(pool: &Pool<Self>) -> Running<'_, Transaction<'static, Self>> {
        Box::pin(pool.begin_with(BEGIN_WRITE))
    }

    /// Nothing to take: the write transaction holds SQLite's one write lock, so creates
    /// take turns already.
    fn lock_endpoints_of<'c>(_conn: &'c mut Self::Connection, _owner: &Owner) -> Running<'c, ()> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// A database file that is locked past the busy timeout, unreadable, read-only, full
    /// or gone is unavailable (the request may be retried); anything else — a corrupt
    /// file — is internal.
    fn database_error(db: &dyn DatabaseError, message: String) -> RepoError {
        let code = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or_default();
        match code & 0xff {
            SQLITE_BUSY | SQLITE_LOCKED | SQLITE_READONLY | SQLITE_IOERR | SQLITE_FULL
            | SQLITE_CANTOPEN => RepoError::Unavailable(message),
            _ => RepoError::Internal(message),
        }
    }

    fn unique_violation(e: &sqlx::Error) -> Option<String> {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.message().to_owned()),
            _ => None,
        }
    }

    fn opt_time(row: &Self::Row, column: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        Ok(row.try_get::<Option<Micros>, _>(column)?.map(|m| m.0))
    }

    fn json(
        row: &Self::Row,
        column: &str,
        what: &str,
    ) -> Result<Result<serde_json::Value, RepoError>, sqlx::Error> {
        let text: String = row.try_get(column)?;
        Ok(serde_json::from_str(&text).map_err(|e| corrupt(what, e)))
    }

    fn bind_json(q: &mut QueryBuilder<Self>, json: serde_json::Value) {
        q.push_bind(json.to_string());
    }
}

/// PostgreSQL arbitrates between app instances: a write transaction is a plain `BEGIN`,
/// with row locks and versions (every update names the version it read); claims and
/// takes skip the rows others are locking; creates of one owner's endpoints take turns on
/// an advisory lock.
impl Dialect for Postgres {
    const JSON_TYPE: &'static str = "jsonb";
    const OWNER_NAME_INDEX: &'static str = "domains_owner_name";

    // SKIP LOCKED: rows another instance is claiming right now are passed over instead
    // of waited for, and the lease condition is checked again on the locked row, so a
    // row claimed and committed meanwhile is not claimed twice.
    const CLAIM_DUE: &'static str = "WITH due AS ( \
             SELECT id FROM domains \
             WHERE next_check_at <= $1 AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
             ORDER BY next_check_at, id \
             LIMIT $2 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE domains d SET lease_owner = $3, lease_expires_at = $4 \
         FROM due WHERE d.id = due.id \
         RETURNING d.id";

    // One statement: the row is locked as it is chosen, and a taker that finds it
    // locked skips to the next one instead of waiting for it and then finding it gone.
    const TAKE_POOLED: &'static str = "DELETE FROM key_pool WHERE id = \
         (SELECT id FROM key_pool WHERE kind = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, kind, algorithm, public_key, sealed_private";

    // A transaction of its own, so that the setting ends with it: nothing is left on
    // the session (which a pooler in front of the server might hand to someone else).
    const RELAX: &'static str = "BEGIN; SET LOCAL synchronous_commit = off";
    const RESTORE: &'static str = "COMMIT";

    // SKIP LOCKED, as the monitor's claim: rows another instance is claiming are
    // passed over, and the lease condition is checked again on the locked row.
    const CLAIM_DELIVERIES: &'static str = "WITH due AS ( \
             SELECT d.message_id, d.endpoint_id FROM webhook_deliveries d \
             JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND e.enabled \
             AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1) \
             ORDER BY d.next_attempt_at, d.message_id LIMIT $2 \
             FOR UPDATE OF d SKIP LOCKED) \
         UPDATE webhook_deliveries w SET lease_owner = $3, lease_expires_at = $4 \
         FROM due WHERE w.message_id = due.message_id AND w.endpoint_id = due.endpoint_id \
         RETURNING w.message_id, w.endpoint_id, w.attempts";

    type Time = OffsetDateTime;

    same_for_both!();

    fn begin_write(pool: &Pool<Self>) -> Running<'_, Transaction<'static, Self>> {
        Box::pin(pool.begin())
    }

    /// A transaction-scoped advisory lock on the owner's endpoints: the second of two
    /// creates waits here until the first commits, then counts its endpoint.
    fn lock_endpoints_of<'c>(conn: &'c mut Self::Connection, owner: &Owner) -> Running<'c, ()> {
        let key = format!(
            "webhook-endpoints:{}:{}",
            owner.partner_id,
            crate::webhooks::owner_key(owner)
        );
        Box::pin(async move {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    /// Serialization failures and deadlocks are conflicts; a server or network that
    /// cannot serve us is unavailable (the request may be retried); anything else — an
    /// unexpected reply — is internal.
    fn database_error(db: &dyn DatabaseError, message: String) -> RepoError {
        match db.code().unwrap_or_default().get(..2) {
            // Serialization failure and deadlock: another transaction won the race.
            Some("40") => RepoError::Conflict(
                "a concurrent change got in the way; read again and retry".to_owned(),
            ),
            // Connection exception, insufficient resources (too many connections, disk
            // full), operator intervention (shutdown, starting up), system error.
            Some("08" | "53" | "57" | "58") => RepoError::Unavailable(message),
            _ => RepoError::Internal(message),
        }
    }

    fn unique_violation(e: &sqlx::Error) -> Option<String> {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Some(db.constraint().unwrap_or_default().to_owned())
            }
            _ => None,
        }
    }

    fn opt_time(row: &Self::Row, column: &str) -> Result<Option<OffsetDateTime>, sqlx::Error> {
        row.try_get(column)
    }

    fn json(
        row: &Self::Row,
        column: &str,
        _what: &str,
    ) -> Result<Result<serde_json::Value, RepoError>, sqlx::Error> {
        row.try_get(column).map(Ok)
    }

    fn bind_json(q: &mut QueryBuilder<Self>, json: serde_json::Value) {
        q.push_bind(json);
    }
}

/// Maps a driver error onto the port's [`RepoError`]: unique violations are conflicts;
/// what a database error means otherwise, [`Dialect::database_error`] says; a network or
/// pool that cannot serve us is unavailable (the request may be retried); anything else —
/// a value that does not decode — is internal.
pub fn map_err<D: Dialect>(e: sqlx::Error) -> RepoError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return RepoError::Conflict("it already exists".to_owned());
            }
            D::database_error(db.as_ref(), e.to_string())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => RepoError::Unavailable(e.to_string()),
        sqlx::Error::RowNotFound => RepoError::NotFound,
        _ => RepoError::Internal(e.to_string()),
    }
}

/// Runs `q` on `conn`: how many rows it changed.
pub async fn execute<D: Dialect>(
    conn: &mut D::Connection,
    mut q: QueryBuilder<D>,
) -> Result<u64, RepoError> {
    D::execute(conn, &mut q).await.map_err(map_err::<D>)
}

/// Runs a write that may violate a unique index: `taken` says what a violation of the
/// index [`Dialect::unique_violation`] names means.
pub async fn execute_unique<D: Dialect>(
    conn: &mut D::Connection,
    mut q: QueryBuilder<D>,
    taken: impl FnOnce(&str) -> RepoError,
) -> Result<u64, RepoError> {
    D::execute(conn, &mut q)
        .await
        .map_err(|e| match D::unique_violation(&e) {
            Some(index) => taken(&index),
            None => map_err::<D>(e),
        })
}

/// Runs `q` on `conn`: its rows.
pub async fn fetch_all<D: Dialect>(
    conn: &mut D::Connection,
    mut q: QueryBuilder<D>,
) -> Result<Vec<D::Row>, RepoError> {
    D::fetch_all(conn, &mut q).await.map_err(map_err::<D>)
}

/// Runs `q` on `conn`: its first row, if any.
pub async fn fetch_optional<D: Dialect>(
    conn: &mut D::Connection,
    mut q: QueryBuilder<D>,
) -> Result<Option<D::Row>, RepoError> {
    D::fetch_optional(conn, &mut q).await.map_err(map_err::<D>)
}

/// One page of the children `items` selects (overfetched by one, see
/// [`PageRequest::fetch_limit`]), decoded by `decode` and paged by `id`: `NotFound`
/// unless `parent` — the parent row as the caller may see it — finds a row.
pub async fn page_of_children<D: Dialect, T>(
    conn: &mut D::Connection,
    parent: QueryBuilder<D>,
    items: QueryBuilder<D>,
    page: &PageRequest,
    decode: fn(&D::Row) -> Result<T, RepoError>,
    id: fn(&T) -> &str,
) -> Result<Page<T>, RepoError> {
    if fetch_optional(conn, parent).await?.is_none() {
        return Err(RepoError::NotFound);
    }
    let items = fetch_all(conn, items)
        .await?
        .iter()
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(items, page, id))
}

/// Binds pushed one after another, `, `-separated, where the query stands: a `VALUES`
/// row, or the right side of `SET (…) = (…)`.
pub struct Binds<'q, D: Dialect> {
    q: &'q mut QueryBuilder<D>,
    first: bool,
}

impl<D: Dialect> std::fmt::Debug for Binds<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binds").field("sql", &self.q.sql()).finish()
    }
}

impl<'q, D: Dialect> Binds<'q, D> {
    /// Binds that follow what `q` holds so far.
    pub fn new(q: &'q mut QueryBuilder<D>) -> Self {
        Binds { q, first: true }
    }

    fn next(&mut self) -> &mut QueryBuilder<D> {
        if !self.first {
            self.q.push(", ");
        }
        self.first = false;
        self.q
    }

    /// Binds a value both databases store alike.
    pub fn bind<'t, T: Arg<'t>>(&mut self, value: T) -> &mut Self {
        D::bind(self.next(), value);
        self
    }

    /// Binds a time, or `NULL`.
    pub fn time(&mut self, time: impl Into<Option<OffsetDateTime>>) -> &mut Self {
        D::bind_time(self.next(), time.into());
        self
    }

    /// Binds a JSON value.
    pub fn json(&mut self, json: serde_json::Value) -> &mut Self {
        D::bind_json(self.next(), json);
        self
    }
}

/// `INSERT INTO <into> VALUES (…)`: one row of binds, written by `row`.
pub fn insert_row<D: Dialect>(into: &str, row: impl FnOnce(&mut Binds<'_, D>)) -> QueryBuilder<D> {
    let mut q = QueryBuilder::new(format!("INSERT INTO {into} VALUES ("));
    row(&mut Binds::new(&mut q));
    q.push(")");
    q
}

/// `INSERT INTO <into> VALUES (…), …`: one row of binds for each of `items`, each written
/// by `row`; `None` when there are no items.
pub fn insert_rows<D: Dialect, I: IntoIterator>(
    into: &str,
    items: I,
    mut row: impl FnMut(&mut Binds<'_, D>, I::Item),
) -> Option<QueryBuilder<D>> {
    let mut items = items.into_iter().peekable();
    items.peek()?;
    let mut q = QueryBuilder::new(format!("INSERT INTO {into} VALUES "));
    for (i, item) in items.enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        row(&mut Binds::new(&mut q), item);
        q.push(")");
    }
    Some(q)
}

/// A time as the SQLite schema stores it: INTEGER microseconds since 1970-01-01 UTC,
/// which sort and compare as times (see the migration). Finer digits are dropped, as
/// PostgreSQL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Micros(pub OffsetDateTime);

impl From<OffsetDateTime> for Micros {
    fn from(time: OffsetDateTime) -> Self {
        Micros(time)
    }
}

impl Type<Sqlite> for Micros {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Micros {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        let micros = i64::try_from((self.0 - OffsetDateTime::UNIX_EPOCH).whole_microseconds())?;
        <i64 as Encode<Sqlite>>::encode(micros, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Micros {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        Ok(Micros(OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(micros) * 1000,
        )?))
    }
}
