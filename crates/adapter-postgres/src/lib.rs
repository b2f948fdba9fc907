//! `adapter-postgres`: the store of sender domains on PostgreSQL. [`PgStore`] implements
//! the core's [`DomainRepo`](domain_core::ports::DomainRepo) and
//! [`KeyStore`](domain_core::ports::KeyStore) ports with sqlx; the schema lives in
//! `migrations/postgres` and is embedded in the binary.
//!
//! A key design decision made in this crate is that the database, not the process,
//! arbitrates between app instances: every update names the version it read, so of two
//! concurrent writers of one domain the second gets `Conflict` instead of overwriting the
//! first; and the monitor claims due domains with `FOR UPDATE SKIP LOCKED` under leases
//! that expire. Any number of stateless instances share one database without coordinating,
//! never check a domain twice at once, and pick up the claims of an instance that died.
//! What one instance caches of a domain, another's change makes stale: [`PgChangeFeed`]
//! announces every change to every instance (`LISTEN`/`NOTIFY`), so that they forget it
//! at once.

mod changes;
mod error;
mod store;
mod webhooks;

pub use changes::{CHANNEL, PgChangeFeed};
pub use store::{PgStore, PoolConfig, SetupError};
