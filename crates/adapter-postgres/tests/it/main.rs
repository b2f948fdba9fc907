//! The store contract run against PostgreSQL, plus what only this adapter has.
//!
//! Each case gets a database of its own, `scaisend_test_<ulid>`, created on the server of
//! `DATABASE_URL` (`.cargo/config.toml` points it at the local server; the environment
//! overrides it) and dropped when the case ends, passed or failed. A server that cannot be
//! reached fails the tests, saying how to start it: a contract that was not run must not
//! look like one that passed.

use std::sync::Arc;
use std::time::Duration;

use adapter_postgres::{PgStore, PoolConfig, SetupError};
use async_trait::async_trait;
use domain_core::ports::{DomainRepo, KeyPool, KeyStore, WebhookRepo};
use repo_contract::pg::TestDatabase;
use repo_contract::{Backend, Cell, Store};
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

repo_contract::contract_tests!(PgBackend);

/// A fresh database with a migrated store on it, dropped with this value.
struct PgBackend {
    store: PgStore,
    /// A pool of the test's own, to look under the store and to tamper with rows.
    raw: PgPool,
    url: String,
    _database: TestDatabase,
}

#[async_trait]
impl Store for PgBackend {
    async fn fresh() -> Self {
        let database = TestDatabase::create().await;
        let url = database.url();
        let store = adapter_postgres::connect(&url)
            .await
            .expect("the store connects to its database");
        adapter_postgres::migrate(&store)
            .await
            .expect("the migrations apply to an empty database");
        let raw = PgPool::connect(&url).await.expect("a second pool connects");
        PgBackend {
            store,
            raw,
            url,
            _database: database,
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
impl Backend for PgBackend {
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
        let columns = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty \
             FROM information_schema.columns WHERE table_schema = 'public' \
             ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&self.raw)
        .await
        .expect("the catalogue reads");
        let mut cells = Vec::new();
        for column in &columns {
            let (table, name, ty): (String, String, String) =
                (column.get("t"), column.get("c"), column.get("ty"));
            // Bytes as they are; everything else as Postgres prints it.
            let value = if ty == "bytea" {
                format!("\"{name}\"")
            } else {
                format!("\"{name}\"::text")
            };
            let sql = format!("SELECT {value} AS v FROM \"{table}\" WHERE \"{name}\" IS NOT NULL");
            let rows = sqlx::query(AssertSqlSafe(sql))
                .fetch_all(&self.raw)
                .await
                .expect("a column reads");
            for row in rows {
                let bytes = if ty == "bytea" {
                    row.get::<Vec<u8>, _>("v")
                } else {
                    row.get::<String, _>("v").into_bytes()
                };
                cells.push(Cell {
                    table: table.clone(),
                    column: name.clone(),
                    bytes,
                });
            }
        }
        cells
    }

    async fn close(&self) {
        self.store.close().await;
    }

    async fn unreachable() -> (Arc<dyn DomainRepo>, Arc<dyn KeyStore>) {
        // Nothing listens on port 1; the pool retries refused connections until the
        // acquire timeout, which is kept short here.
        let config = PoolConfig {
            max_connections: 2,
            acquire_timeout: Duration::from_millis(500),
        };
        let store = adapter_postgres::connect_lazy("postgres://postgres@127.0.0.1:1/none", &config)
            .expect("a well-formed URL");
        (Arc::new(store.clone()), Arc::new(store))
    }
}

/// The Postgres-only part of set-up: migrating again changes nothing and data survives a
/// new connection, a bad URL and an unreachable server are told apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_again_is_harmless_and_setup_errors_say_why() {
    let backend = PgBackend::fresh().await;
    adapter_postgres::migrate(&backend.store)
        .await
        .expect("a second migration run is a no-op");
    let again = adapter_postgres::connect(&backend.url).await.unwrap();
    adapter_postgres::migrate(&again).await.unwrap();
    again.ping().await.unwrap();
    let applied: i64 = sqlx::query("SELECT count(*) AS n FROM _sqlx_migrations")
        .fetch_one(&backend.raw)
        .await
        .unwrap()
        .get("n");
    assert_eq!(
        applied,
        shipped_migrations(),
        "each migration is applied once"
    );

    assert!(matches!(
        adapter_postgres::connect("mysql://nope").await,
        Err(SetupError::InvalidUrl(..))
    ));
    let config = PoolConfig {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
    };
    assert!(matches!(
        adapter_postgres::connect_with("postgres://postgres@127.0.0.1:1/none", &config).await,
        Err(SetupError::Connect(..))
    ));
}

/// The number of migrations this store ships.
fn shipped_migrations() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/postgres");
    let files = std::fs::read_dir(dir).expect("the migrations folder exists");
    files
        .filter(|f| {
            f.as_ref()
                .is_ok_and(|f| f.path().extension().is_some_and(|e| e == "sql"))
        })
        .count() as i64
}
