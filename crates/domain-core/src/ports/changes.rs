//! What other instances change: the feed a shared store offers, so that this instance's
//! caches forget a changed domain at once instead of when their entries expire.

use async_trait::async_trait;

use crate::model::DomainId;
use crate::name::DomainName;

/// A domain that was created, changed or deleted, here or by another instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainChange {
    /// Which domain.
    pub id: DomainId,
    /// Its name: what send-time decisions are cached under.
    pub name: DomainName,
}

/// What a [`ChangeFeed`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// One domain changed.
    Changed(DomainChange),
    /// Changes may have been missed (the feed's connection dropped and came back, or a
    /// notification could not be read): whatever was cached may be stale.
    Lost,
}

/// The changes of a store shared by several instances (PostgreSQL's `LISTEN`). A store
/// that serves one process (SQLite) has none: every change goes through this instance.
#[async_trait]
pub trait ChangeFeed: Send {
    /// Waits for the next change. Never fails: a broken connection is reported as
    /// [`FeedEvent::Lost`] once, and the feed reconnects by itself (with a pause between
    /// attempts) before it reports anything else.
    async fn next(&mut self) -> FeedEvent;
}
