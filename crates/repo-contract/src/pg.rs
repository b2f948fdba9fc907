//! Fresh PostgreSQL databases for tests: each test gets its own, created on the server
//! of `DATABASE_URL` (`.cargo/config.toml` points it at the local server; the
//! environment overrides it) and dropped when the value is, passed or failed. A server
//! that cannot be reached fails the test, saying how to start it.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Where the tests create their databases when `DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database on the test server that is dropped when this value is, also when the case
/// panicked.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database named `scaisend_test_<ulid>`.
    pub async fn create() -> Self {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {admin_url}: {e}\n\
                 The Postgres adapter's tests need a running server. Start the local one with\n\
                 \x20   pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
                 or set DATABASE_URL to a server where the user may create databases."
            )
        });
        let name = format!(
            "scaisend_test_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = admin.close().await;
        TestDatabase { admin_url, name }
    }

    /// `DATABASE_URL` with this database in place of the one it names.
    pub fn url(&self) -> String {
        let (base, query) = match self.admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (self.admin_url.as_str(), String::new()),
        };
        let authority = base.find("://").map_or(0, |i| i + 3);
        let base = match base[authority..].find('/') {
            Some(slash) => &base[..authority + slash],
            None => base,
        };
        format!("{base}/{}{query}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run while a runtime unwinds; a thread with a runtime
        // of its own drops the database. FORCE ends the store's pooled connections.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "warning: the test database {} was not dropped: {dropped:?}",
                self.name
            );
        }
    }
}
