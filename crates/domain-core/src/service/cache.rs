//! A bounded map in front of the store, shared by the caches of the use cases: opened
//! signing keys ([`SignerCache`](super::SignerCache)) and send-time candidates
//! ([`SendableCache`](super::SendableCache)).
//!
//! Each entry lives on its own: it expires `max_age` after it was loaded, and when the
//! map is full the least recently used entry makes room. Forgetting entries (because this
//! instance just changed what they were read from) also bumps an epoch, and a value read
//! from the store before that bump is not stored: a reader that raced a write cannot put
//! back what the write replaced.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use time::{Duration, OffsetDateTime};

/// A bounded, expiring, least-recently-used map.
pub(super) struct LruCache<K, V> {
    capacity: usize,
    max_age: Duration,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    map: BTreeMap<K, Entry<V>>,
    /// Entries by their last use, oldest first: the eviction order.
    order: BTreeMap<u64, K>,
    /// A counter that orders uses.
    clock: u64,
    /// Bumped by every forget; see [`LruCache::epoch`].
    epoch: u64,
}

struct Entry<V> {
    value: V,
    loaded_at: OffsetDateTime,
    used: u64,
}

/// Where a reader stood before it read the store: pass it back to
/// [`LruCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Epoch(u64);

impl<K: Ord + Clone, V: Clone> LruCache<K, V> {
    /// A map of at most `capacity` entries (at least one), each used for `max_age`.
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        LruCache {
            capacity: capacity.max(1),
            max_age,
            inner: Mutex::new(Inner {
                map: BTreeMap::new(),
                order: BTreeMap::new(),
                clock: 0,
                epoch: 0,
            }),
        }
    }

    /// The epoch to take before reading the store for a value to insert.
    pub(super) fn epoch(&self) -> Epoch {
        Epoch(self.lock().epoch)
    }

    /// The value of `key` if it was loaded less than `max_age` before `now`.
    pub(super) fn get(&self, key: &K, now: OffsetDateTime) -> Option<V> {
        let mut inner = self.lock();
        let entry = inner.map.get(key)?;
        if now - entry.loaded_at >= self.max_age {
            inner.remove(key);
            return None;
        }
        let value = entry.value.clone();
        inner.touch(key);
        Some(value)
    }

    /// Keeps `value` for `key`, loaded at `now`, unless something was forgotten since
    /// `seen` was taken (then the value may already be stale). Returns the value kept,
    /// which is an earlier one when another reader was first.
    pub(super) fn insert(&self, key: K, value: V, now: OffsetDateTime, seen: Epoch) -> V {
        let mut inner = self.lock();
        if inner.epoch != seen.0 {
            return value;
        }
        if let Some(entry) = inner.map.get(&key)
            && now - entry.loaded_at < self.max_age
        {
            let value = entry.value.clone();
            inner.touch(&key);
            return value;
        }
        inner.remove(&key);
        while inner.map.len() >= self.capacity {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            inner.map.remove(&oldest);
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.order.insert(used, key.clone());
        inner.map.insert(
            key,
            Entry {
                value: value.clone(),
                loaded_at: now,
                used,
            },
        );
        value
    }

    /// Forgets the entries from `start` on for as long as `within` holds: with keys
    /// ordered by what they group, one group (a domain's, a name's) in `log n`.
    pub(super) fn forget_from(&self, start: &K, within: impl Fn(&K) -> bool) {
        let mut inner = self.lock();
        inner.epoch += 1;
        let doomed: Vec<K> = inner
            .map
            .range(start..)
            .map(|(k, _)| k)
            .take_while(|k| within(k))
            .cloned()
            .collect();
        for key in &doomed {
            inner.remove(key);
        }
    }

    /// Forgets every entry (what they were read from may have changed unseen).
    pub(super) fn forget_all(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.map.clear();
        inner.order.clear();
    }

    /// How many entries are held.
    pub(super) fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock leaves a consistent map: every change above
        // keeps `map` and `order` in step before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Ord + Clone, V> Inner<K, V> {
    fn touch(&mut self, key: &K) {
        self.clock += 1;
        let used = self.clock;
        if let Some(entry) = self.map.get_mut(key) {
            let before = std::mem::replace(&mut entry.used, used);
            if let Some(k) = self.order.remove(&before) {
                self.order.insert(used, k);
            }
        }
    }

    fn remove(&mut self, key: &K) {
        if let Some(entry) = self.map.remove(key) {
            self.order.remove(&entry.used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(secs)
    }

    #[test]
    fn least_recently_used_goes_first_and_old_entries_expire() {
        let cache = LruCache::new(2, Duration::seconds(10));
        let e = cache.epoch();
        cache.insert("a", 1, t(0), e);
        cache.insert("b", 2, t(0), e);
        assert_eq!(cache.get(&"a", t(1)), Some(1));
        cache.insert("c", 3, t(1), e);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"b", t(1)), None, "b was least recently used");
        assert_eq!(cache.get(&"a", t(9)), Some(1));
        assert_eq!(cache.get(&"a", t(10)), None, "expired after max_age");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_value_read_before_a_forget_is_not_kept() {
        let cache = LruCache::new(10, Duration::seconds(10));
        let before = cache.epoch();
        cache.forget_from(&("x", 0), |k| k.0 == "x");
        assert_eq!(cache.insert(("x", 1), 1, t(0), before), 1);
        assert_eq!(cache.len(), 0, "stale read not stored");
        let now = cache.epoch();
        for (k, v) in [(("x", 1), 1), (("x", 2), 2), (("y", 1), 3)] {
            cache.insert(k, v, t(0), now);
        }
        cache.forget_from(&("x", 0), |k| k.0 == "x");
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&("y", 1), t(0)), Some(3));
    }
}
