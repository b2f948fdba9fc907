//! [`PgChangeFeed`]: the domains other instances change, from PostgreSQL's
//! `LISTEN`/`NOTIFY`. A trigger (`migrations/postgres/0009_change_feed.sql`) announces
//! every change of a domain at commit as `"<id> <name>"` on one channel.

use std::time::Duration;

use async_trait::async_trait;
use domain_core::model::DomainId;
use domain_core::name::DomainName;
use domain_core::ports::{ChangeFeed, DomainChange, FeedEvent};
use sqlx::postgres::{PgListener, PgPool};

use crate::PgStore;

/// The channel the trigger announces on.
pub const CHANNEL: &str = "scaisend_domain_changes";

/// How long a broken feed waits before it connects again.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// The change feed of a PostgreSQL store. It holds one connection of the store's pool
/// while it listens, and connects on the first [`ChangeFeed::next`].
#[derive(Debug)]
pub struct PgChangeFeed {
    pool: PgPool,
    listener: Option<PgListener>,
    /// Set while the feed is (re)connecting after a failure: what was announced meanwhile
    /// is gone, which is reported once the feed listens again.
    missed: bool,
}

impl PgChangeFeed {
    /// A feed over the store's pool.
    pub fn of(store: &PgStore) -> Self {
        PgChangeFeed {
            pool: store.pool().clone(),
            listener: None,
            // What was cached before the feed first listens may have changed unannounced:
            // the first connection reports `Lost` too.
            missed: true,
        }
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> FeedEvent {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match self.listen().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        if std::mem::take(&mut self.missed) {
                            return FeedEvent::Lost;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed: cannot listen; retrying");
                        self.missed = true;
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                    }
                }
                continue;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    return match parse(notification.payload()) {
                        Some(change) => FeedEvent::Changed(change),
                        // Not ours to read: forgetting everything is always safe.
                        None => FeedEvent::Lost,
                    };
                }
                // The connection dropped and the listener has already listened again on
                // a new one: what came in between is gone.
                Ok(None) => return FeedEvent::Lost,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed: connection lost; reconnecting");
                    self.listener = None;
                    self.missed = true;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        }
    }
}

/// Reads `"<id> <name>"`.
fn parse(payload: &str) -> Option<DomainChange> {
    let (id, name) = payload.split_once(' ')?;
    Some(DomainChange {
        id: DomainId::parse(id).ok()?,
        name: DomainName::from_stored(name).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_an_id_and_a_name() {
        let change = parse("dom_01JF0000000000000000000000 mail.example.com").unwrap();
        assert_eq!(change.id.as_str(), "dom_01JF0000000000000000000000");
        assert_eq!(change.name.as_str(), "mail.example.com");
        for bad in [
            "",
            "dom_01JF0000000000000000000000",
            "nope mail.example.com",
            "dom_01JF0000000000000000000000 -bad-",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
