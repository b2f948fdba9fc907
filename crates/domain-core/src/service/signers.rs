//! Opened signing keys, cached per selector in front of the [`KeyStore`].
//!
//! Opening a sealed key and parsing it for signing costs far more than a signature, and a
//! platform signs every message, so opened keys are kept — each entry on its own: the
//! least recently used one makes room when the cache is full, a removed selector or a
//! deleted domain is forgotten at once, and an entry is reloaded from the store after
//! [`SignerCache::MAX_AGE`], which bounds how long another instance can hold the key of a
//! domain deleted here. Which key may sign is still decided from the store on every
//! request; the cache only saves the opening.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::cache::LruCache;
use crate::crypto::{KeyRow, MasterKey};
use crate::error::{Error, Result};
use crate::model::{Domain, DomainId};
use crate::ports::KeyStore;
use crate::records::dkim::Algorithm;
use crate::rotation::SelectorKey;
use crate::signer::DkimSigner;

/// The key store, decorated: sealed keys in, opened signers out.
pub struct SignerCache {
    keys: Arc<dyn KeyStore>,
    master: Arc<MasterKey>,
    capacity: usize,
    entries: LruCache<Slot, Arc<DkimSigner>>,
}

/// An opened key: the domain, the generation and the algorithm name it.
type Slot = (DomainId, u32, Algorithm);

crate::debug_fields!(SignerCache { capacity, entries = len() });

impl SignerCache {
    /// How many opened keys are kept by default.
    pub const DEFAULT_CAPACITY: usize = 10_000;
    /// How long an opened key is used before it is read from the store again.
    pub const MAX_AGE: Duration = Duration::minutes(10);

    /// A cache in front of `keys`, opening them with `master`.
    pub fn new(keys: Arc<dyn KeyStore>, master: Arc<MasterKey>) -> Self {
        Self::with_capacity(keys, master, Self::DEFAULT_CAPACITY)
    }

    /// A cache holding at most `capacity` opened keys.
    pub fn with_capacity(keys: Arc<dyn KeyStore>, master: Arc<MasterKey>, capacity: usize) -> Self {
        SignerCache {
            keys,
            master,
            capacity: capacity.max(1),
            entries: LruCache::new(capacity, Self::MAX_AGE),
        }
    }

    /// The signers of `domain`'s active keys, one per algorithm (RSA first), opened from
    /// the store unless cached.
    pub async fn active_signers(
        &self,
        domain: &Domain,
        now: OffsetDateTime,
    ) -> Result<Vec<Arc<DkimSigner>>> {
        let mut signers = Vec::new();
        for key in domain.keys.active_keys() {
            signers.push(self.signer(domain, key, now).await?);
        }
        Ok(signers)
    }

    async fn signer(
        &self,
        domain: &Domain,
        key: &SelectorKey,
        now: OffsetDateTime,
    ) -> Result<Arc<DkimSigner>> {
        let slot = (domain.id.clone(), key.index, key.algorithm());
        if let Some(signer) = self.entries.get(&slot, now) {
            return Ok(signer);
        }
        let epoch = self.entries.epoch();
        let selector = &key.selector;
        let sealed = self.keys.sealed_key(&domain.id, selector).await?;
        let row = KeyRow {
            domain: &domain.id,
            generation: key.index,
            selector,
        };
        let private = self.master.open(&sealed, &row).map_err(|e| {
            Error::Internal(format!("opening the key of {} {selector}: {e}", domain.id))
        })?;
        let signer = DkimSigner::new(&private, &domain.name, selector).map_err(|e| {
            Error::Internal(format!("loading the key of {} {selector}: {e}", domain.id))
        })?;
        Ok(self.entries.insert(slot, Arc::new(signer), now, epoch))
    }

    /// Forgets the opened keys of one generation (removed or no longer signing).
    pub fn forget_generation(&self, domain: &DomainId, generation: u32) {
        // Keys sort by domain, then generation: the smallest slot starts the group.
        let first = (domain.clone(), generation, Algorithm::ALL[0]);
        self.entries
            .forget_from(&first, |(id, g, _)| id == domain && *g == generation);
    }

    /// Forgets every opened key of a domain (deleted).
    pub fn forget_domain(&self, domain: &DomainId) {
        let first = (domain.clone(), 0, Algorithm::ALL[0]);
        self.entries.forget_from(&first, |(id, _, _)| id == domain);
    }

    /// How many opened keys are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no opened key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use futures::executor::block_on;

    use super::*;
    use crate::crypto::SealedKey;
    use crate::error::RepoError;
    use crate::name::Selector;
    use crate::testing;

    /// A key store holding every domain's sealed key and counting the reads.
    struct CountingKeys {
        master: Arc<MasterKey>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl KeyStore for CountingKeys {
        async fn sealed_key(
            &self,
            id: &DomainId,
            selector: &Selector,
        ) -> std::result::Result<SealedKey, RepoError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let row = KeyRow {
                domain: id,
                generation: 1,
                selector,
            };
            self.master
                .seal(&testing::key(0).private, &row)
                .map_err(|e| RepoError::Internal(e.to_string()))
        }
    }

    fn cache(capacity: usize) -> (SignerCache, Arc<CountingKeys>) {
        let (master, _) = MasterKey::generate().unwrap();
        let master = Arc::new(master);
        let keys = Arc::new(CountingKeys {
            master: master.clone(),
            reads: AtomicUsize::new(0),
        });
        (
            SignerCache::with_capacity(keys.clone(), master, capacity),
            keys,
        )
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn each_entry_is_evicted_on_its_own_least_recently_used_first() {
        let (cache, keys) = cache(2);
        let [a, b, c] =
            ["a.example.com", "b.example.com", "c.example.com"].map(|n| testing::domain(n, t0()));
        block_on(async {
            cache.active_signers(&a, t0()).await.unwrap();
            cache.active_signers(&b, t0()).await.unwrap();
            // `a` is used again, so `b` is the least recently used when `c` needs room.
            cache.active_signers(&a, t0()).await.unwrap();
            cache.active_signers(&c, t0()).await.unwrap();
            assert_eq!(cache.len(), 2);
            assert_eq!(keys.reads.load(Ordering::SeqCst), 3);
            cache.active_signers(&a, t0()).await.unwrap();
            assert_eq!(keys.reads.load(Ordering::SeqCst), 3, "a stayed");
            cache.active_signers(&b, t0()).await.unwrap();
            assert_eq!(keys.reads.load(Ordering::SeqCst), 4, "b was evicted");
        });
    }

    #[test]
    fn removed_and_deleted_keys_are_forgotten_and_old_ones_reloaded() {
        let (cache, keys) = cache(10);
        let a = testing::domain("a.example.com", t0());
        let b = testing::domain("b.example.com", t0());
        block_on(async {
            cache.active_signers(&a, t0()).await.unwrap();
            cache.active_signers(&b, t0()).await.unwrap();
            cache.forget_generation(&a.id, a.keys.active().index);
            cache.forget_domain(&b.id);
            assert!(cache.is_empty());
            cache.active_signers(&a, t0()).await.unwrap();
            assert_eq!(keys.reads.load(Ordering::SeqCst), 3);
            let later = t0() + SignerCache::MAX_AGE;
            cache.active_signers(&a, later).await.unwrap();
            assert_eq!(
                keys.reads.load(Ordering::SeqCst),
                4,
                "reloaded after MAX_AGE"
            );
        });
    }
}
