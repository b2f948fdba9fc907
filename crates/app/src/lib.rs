//! `scaisend-domains`: the deployable binary's library — configuration, wiring of the
//! core with its adapters, the monitor loop, and the `serve`, `migrate`, `token` and
//! `check` commands.
//!
//! A key design decision made in this crate is that it is the only one that knows every
//! adapter: it picks the store from the database URL at run time (SQLite or Postgres
//! behind `Arc<dyn DomainRepo>`), and everything else depends inward on `domain-core`.

pub mod check;
pub mod config;
pub mod monitor;
pub mod secrets;
pub mod server;
pub mod webhooks;
mod wiring;
pub mod zone;

pub use wiring::{
    App, AppParts, BackgroundKeyGenerator, BlockingKeyGenerator, BlockingPool, ChangeFeeds,
    ChangeFollower, Store, dns_lookup, open_store,
};
