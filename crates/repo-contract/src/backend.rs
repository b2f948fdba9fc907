//! What an adapter's test binary provides to run the contract.

use std::sync::Arc;

use async_trait::async_trait;
use domain_core::ports::{DomainRepo, KeyPool, KeyStore, WebhookRepo};

/// One stored value, for the cases that read the database byte by byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The value: bytes as stored, text as UTF-8, anything else as the database prints it.
    /// NULLs are left out.
    pub bytes: Vec<u8>,
}

/// A store under test, as the ports show it: what every implementation of the ports
/// provides, the in-memory fake of the core's unit tests included.
#[async_trait]
pub trait Store: Send + Sync + Sized + 'static {
    /// A migrated, empty store of its own (its own database or file), so that cases run
    /// side by side without seeing each other. Panics, saying how to fix it, when the
    /// database cannot be reached: a contract that was not run must not pass.
    async fn fresh() -> Self;

    /// The store as the core sees it.
    fn repo(&self) -> Arc<dyn DomainRepo>;

    /// The same store as the signer sees it.
    fn key_store(&self) -> Arc<dyn KeyStore>;

    /// The same store as the key pool sees it.
    fn key_pool(&self) -> Arc<dyn KeyPool>;
}

/// A database-backed store under test and the hooks the contract needs beside the ports.
#[async_trait]
pub trait Backend: Store {
    /// Runs one statement written in the SQL that SQLite and Postgres share (literals
    /// inline), returning the number of rows it changed. For cases that tamper with rows.
    async fn execute(&self, sql: &str) -> u64;

    /// Every non-NULL value of every row of every table, migrations' bookkeeping included.
    async fn dump(&self) -> Vec<Cell>;

    /// The same store as the webhook use cases see it.
    fn webhooks(&self) -> Arc<dyn WebhookRepo>;

    /// Closes the store's connections; the store stays in use by the case.
    async fn close(&self);

    /// A store of the same kind whose database cannot be reached, and whose operations
    /// give up quickly.
    async fn unreachable() -> (Arc<dyn DomainRepo>, Arc<dyn KeyStore>);
}
