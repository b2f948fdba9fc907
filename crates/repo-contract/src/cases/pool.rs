//! The key pool: keys come out oldest first, by kind, and each exactly once, also when
//! takers race.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain_core::crypto::SealedKey;
use domain_core::ports::{KeyPool, PooledKey};
use domain_core::testing;

use crate::fixtures::race;

/// A pooled key with id `id` (ids order the pool) of `kind`; the sealed bytes are opaque
/// to the store.
fn pooled(id: &str, kind: &str) -> PooledKey {
    PooledKey {
        id: id.to_owned(),
        kind: kind.to_owned(),
        public_key: testing::key(0).public.clone(),
        sealed: SealedKey::from_bytes(format!("sealed {id}").into_bytes()),
    }
}

/// Keys are counted and taken per kind, the oldest (lowest id) first, each once; an
/// empty pool answers `None`.
pub async fn pooled_keys_come_out_once_oldest_first_by_kind(pool: Arc<dyn KeyPool>) {
    for (id, kind) in [("02", "rsa-2048"), ("01", "rsa-2048"), ("03", "ed25519")] {
        pool.put(&pooled(id, kind)).await.unwrap();
    }
    assert_eq!(pool.pooled("rsa-2048").await.unwrap(), 2);
    assert_eq!(pool.pooled("ed25519").await.unwrap(), 1);
    assert_eq!(pool.pooled("rsa-4096").await.unwrap(), 0);
    let first = pool.take("rsa-2048").await.unwrap().expect("a key");
    assert_eq!(first.id, "01");
    assert_eq!(first.kind, "rsa-2048");
    assert_eq!(first.public_key, testing::key(0).public);
    assert_eq!(first.sealed.as_bytes(), b"sealed 01");
    assert_eq!(pool.take("rsa-2048").await.unwrap().unwrap().id, "02");
    assert!(pool.take("rsa-2048").await.unwrap().is_none());
    assert_eq!(pool.pooled("rsa-2048").await.unwrap(), 0);
    assert_eq!(pool.take("ed25519").await.unwrap().unwrap().id, "03");
    assert!(pool.take("rsa-4096").await.unwrap().is_none());
}

/// How many keys the racers share.
const KEYS: usize = 24;
/// How many take at once.
const TAKERS: usize = 8;

/// Takers start together and take until the pool is empty: every key is handed out, and
/// none twice.
pub async fn concurrent_takers_get_each_pooled_key_once(pool: Arc<dyn KeyPool>) {
    for i in 0..KEYS {
        pool.put(&pooled(&format!("{i:02}"), "rsa-2048"))
            .await
            .unwrap();
    }
    let taken = race(TAKERS, |_, start| {
        let pool = pool.clone();
        async move {
            start.wait().await;
            let mut mine = Vec::new();
            while let Some(key) = pool.take("rsa-2048").await.unwrap() {
                mine.push(key.id);
            }
            mine
        }
    })
    .await;
    let all: Vec<String> = taken.into_iter().flatten().collect();
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), KEYS, "each key once: {all:?}");
    assert_eq!(distinct.len(), KEYS);
    assert_eq!(pool.pooled("rsa-2048").await.unwrap(), 0);
}
