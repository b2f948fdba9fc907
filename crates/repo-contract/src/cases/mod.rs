//! The cases, grouped by what they hold the store to.

pub(crate) mod concurrency;
pub(crate) mod crud;
pub(crate) mod leases;
pub(crate) mod outage;
pub(crate) mod pool;
pub(crate) mod scope;
pub(crate) mod security;
pub(crate) mod webhooks;
