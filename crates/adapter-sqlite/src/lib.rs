//! `adapter-sqlite`: the store of sender domains in one SQLite file, the zero-set-up
//! default. [`SqliteStore`] implements the core's
//! [`DomainRepo`](domain_core::ports::DomainRepo) and
//! [`KeyStore`](domain_core::ports::KeyStore) ports with sqlx; the schema lives in
//! `migrations/sqlite` and is embedded in the binary.
//!
//! A key design decision made in this crate is that it serves exactly one process: every
//! write is a `BEGIN IMMEDIATE` transaction, which takes SQLite's single write lock up
//! front, so writers queue on the lock (WAL keeps readers going meanwhile) and a guarded
//! write or a monitor claim sees no other writer between its check and its change. The
//! contract is the same as Postgres's — optimistic versions, scoped queries, expiring
//! leases — but several app instances need the Postgres store.

mod error;
mod store;
mod webhooks;

pub use store::{PoolConfig, SetupError, SqliteStore};
