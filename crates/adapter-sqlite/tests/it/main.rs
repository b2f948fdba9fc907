//! The store contract run against SQLite, plus what only this adapter has.
//!
//! Each case gets a database file of its own in a temporary directory, removed when the
//! case ends: real files, so that WAL, locking between connections and the busy timeout
//! are what production sees.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use adapter_sqlite::{PoolConfig, SetupError, SqliteStore};
use async_trait::async_trait;
use domain_core::model::Scope;
use domain_core::ports::{DomainRepo, KeyPool, KeyStore, WebhookRepo};
use repo_contract::{Backend, Cell, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{AssertSqlSafe, Row};
use tempfile::TempDir;

repo_contract::contract_tests!(SqliteBackend);

/// A migrated store on a new file in a directory of its own.
struct SqliteBackend {
    store: SqliteStore,
    /// A pool of the test's own on the same file, to look under the store and to tamper
    /// with rows.
    raw: SqlitePool,
    _dir: TempDir,
}

fn url_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[async_trait]
impl Store for SqliteBackend {
    async fn fresh() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("domains.db");
        let store = adapter_sqlite::connect(&url_of(&path))
            .await
            .expect("the store creates its file");
        adapter_sqlite::migrate(&store)
            .await
            .expect("the migrations apply to an empty database");
        let raw = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
            .await
            .expect("a second pool opens the file");
        SqliteBackend {
            store,
            raw,
            _dir: dir,
        }
    }

    fn repo(&self) -> Arc<dyn DomainRepo> {
        Arc::new(self.store.clone())
    }

    fn key_store(&self) -> Arc<dyn KeyStore> {
        Arc::new(self.store.clone())
    }

    fn key_pool(&self) -> Arc<dyn KeyPool> {
        Arc::new(self.store.clone())
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn webhooks(&self) -> Arc<dyn WebhookRepo> {
        Arc::new(self.store.clone())
    }

    async fn execute(&self, sql: &str) -> u64 {
        sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected()
    }

    async fn dump(&self) -> Vec<Cell> {
        let tables =
            sqlx::query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
                .fetch_all(&self.raw)
                .await
                .expect("the schema reads");
        let mut cells = Vec::new();
        for table in tables {
            let table: String = table.get("name");
            // `table_xinfo`, unlike `table_info`, lists generated columns too.
            let columns = sqlx::query("SELECT name FROM pragma_table_xinfo(?1)")
                .bind(&table)
                .fetch_all(&self.raw)
                .await
                .expect("the columns read");
            for column in columns {
                let column: String = column.get("name");
                // Blobs as they are, text as UTF-8, numbers as SQLite prints them.
                let sql = format!(
                    "SELECT CAST(\"{column}\" AS BLOB) AS v FROM \"{table}\" WHERE \"{column}\" IS NOT NULL"
                );
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.raw)
                    .await
                    .expect("a column reads");
                for row in rows {
                    cells.push(Cell {
                        table: table.clone(),
                        column: column.clone(),
                        bytes: row.get("v"),
                    });
                }
            }
        }
        cells
    }

    async fn close(&self) {
        self.store.close().await;
    }

    async fn unreachable() -> (Arc<dyn DomainRepo>, Arc<dyn KeyStore>) {
        // A file in a directory that does not exist cannot be created: SQLITE_CANTOPEN.
        let missing = std::env::temp_dir()
            .join(format!("scaisend-missing-{}", ulid_like()))
            .join("no/such/dir/domains.db");
        let config = PoolConfig {
            max_connections: 2,
            acquire_timeout: Duration::from_millis(500),
        };
        let store =
            adapter_sqlite::connect_lazy(&url_of(&missing), &config).expect("a well-formed URL");
        (Arc::new(store.clone()), Arc::new(store))
    }
}

/// A name no other run uses.
fn ulid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Zero set-up: the file is created on first start, in WAL mode; what was written is
/// there after a restart; migrating again changes nothing; bad URLs and unusable paths
/// are told apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_created_in_wal_mode_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    assert!(!path.exists());
    let store = adapter_sqlite::connect(&url_of(&path)).await.unwrap();
    adapter_sqlite::migrate(&store).await.unwrap();
    assert!(path.exists(), "connect creates the file");
    let raw = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");

    let domain = repo_contract::fixtures::new_domain(
        repo_contract::fixtures::tenant("p1", "t1"),
        "restart.example.com",
    );
    store.insert(&domain, &[]).await.unwrap();
    store.close().await;

    let reopened = adapter_sqlite::connect(&url_of(&path)).await.unwrap();
    adapter_sqlite::migrate(&reopened)
        .await
        .expect("a second migration run is a no-op");
    let applied: i64 = sqlx::query("SELECT count(*) AS n FROM _sqlx_migrations")
        .fetch_one(&raw)
        .await
        .unwrap()
        .get("n");
    assert_eq!(
        applied,
        shipped_migrations(),
        "each migration is applied once"
    );
    assert_eq!(
        reopened
            .get(&Scope::System, &domain.id)
            .await
            .unwrap()
            .version,
        0
    );

    assert!(matches!(
        adapter_sqlite::connect("postgres://nope").await,
        Err(SetupError::InvalidUrl(..))
    ));
    let missing = dir.path().join("no/such/dir/x.db");
    assert!(matches!(
        adapter_sqlite::connect(&url_of(&missing)).await,
        Err(SetupError::Connect(..))
    ));
}

/// The number of migrations this store ships.
fn shipped_migrations() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite");
    let files = std::fs::read_dir(dir).expect("the migrations folder exists");
    files
        .filter(|f| {
            f.as_ref()
                .is_ok_and(|f| f.path().extension().is_some_and(|e| e == "sql"))
        })
        .count() as i64
}

/// The key pool's writes commit without waiting for the disk (the create that uses a
/// key commits durably after its take, and so makes the take durable too), but no
/// connection goes back to the pool that way: after puts, takes, and takes cancelled at
/// any point, the pool's one connection commits with `synchronous = FULL` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_pools_quick_commits_leave_every_connection_durable() {
    let dir = tempfile::tempdir().unwrap();
    let url = url_of(&dir.path().join("pool.db"));
    let store = adapter_sqlite::connect_with(&url, &PoolConfig::with_connections(1))
        .await
        .unwrap();
    adapter_sqlite::migrate(&store).await.unwrap();
    let synchronous = || async {
        sqlx::query("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get::<i64, _>(0)
    };
    const FULL: i64 = 2;
    assert_eq!(synchronous().await, FULL, "what the adapter opens with");

    for i in 0..40 {
        let key = domain_core::ports::PooledKey {
            id: format!("{i:02}"),
            kind: "rsa-2048".to_owned(),
            public_key: domain_core::testing::key(0).public.clone(),
            sealed: domain_core::crypto::SealedKey::from_bytes(vec![7; 64]),
        };
        store.put(&key).await.unwrap();
    }
    assert_eq!(synchronous().await, FULL, "after the puts");
    assert_eq!(store.take("rsa-2048").await.unwrap().unwrap().id, "00");
    assert_eq!(synchronous().await, FULL, "after a take");

    // Takes dropped after one poll, then two, and so on: some are cut off between
    // lowering the setting and restoring it, whose connection must then be closed.
    let mut finished = 0;
    for limit in 0..30 {
        let mut take = store.take("rsa-2048");
        let mut polls = 0;
        let taken = std::future::poll_fn(|cx| {
            if polls == limit {
                return std::task::Poll::Ready(None);
            }
            polls += 1;
            take.as_mut().poll(cx).map(Some)
        })
        .await;
        drop(take);
        if let Some(taken) = taken {
            assert!(taken.unwrap().is_some());
            finished += 1;
        }
        assert_eq!(
            synchronous().await,
            FULL,
            "after a take dropped after {limit} polls"
        );
    }
    assert!(
        (1..30).contains(&finished),
        "some takes were cut off and some finished ({finished} of 30)"
    );
}
