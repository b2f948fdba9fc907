//! The zones found for names, and their authoritative nameservers, remembered briefly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hickory_resolver::proto::rr::Name;

use crate::upstream::Upstream;

/// How many names and zones are remembered before expired entries are dropped.
const MAX_ENTRIES: usize = 4096;

/// A zone and the servers that hold it.
pub(crate) struct Zone {
    pub(crate) servers: Vec<Upstream>,
}

/// Successful discoveries only: a failed one is tried again on the next lookup, so a
/// zone that just got its nameservers is never reported as unreachable from memory.
pub(crate) struct ZoneCache {
    ttl: Duration,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The apex of the zone a looked-up name is in.
    by_name: HashMap<Name, (Instant, Name)>,
    /// The servers of a zone, by apex.
    by_apex: HashMap<Name, (Instant, Arc<Zone>)>,
}

impl ZoneCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        ZoneCache {
            ttl,
            inner: Mutex::default(),
        }
    }

    /// The zone `name` is known to be in, if remembered and fresh.
    pub(crate) fn zone_of(&self, name: &Name) -> Option<Arc<Zone>> {
        let entries = self.entries();
        let now = Instant::now();
        let (until, apex) = entries.by_name.get(name)?;
        if *until <= now {
            return None;
        }
        self.fresh(&entries, apex, now)
    }

    /// The zone at `apex`, if remembered and fresh.
    pub(crate) fn zone(&self, apex: &Name) -> Option<Arc<Zone>> {
        self.fresh(&self.entries(), apex, Instant::now())
    }

    /// Remembers that `name` is in the zone at `apex`.
    pub(crate) fn remember_name(&self, name: &Name, apex: &Name) {
        let now = Instant::now();
        let until = now + self.ttl;
        let mut entries = self.entries();
        entries.make_room(now);
        entries.by_name.insert(name.clone(), (until, apex.clone()));
    }

    /// Remembers the servers of the zone at `apex`.
    pub(crate) fn remember_zone(&self, apex: &Name, zone: Arc<Zone>) {
        let now = Instant::now();
        let until = now + self.ttl;
        let mut entries = self.entries();
        entries.make_room(now);
        entries.by_apex.insert(apex.clone(), (until, zone));
    }

    fn fresh(&self, entries: &Entries, apex: &Name, now: Instant) -> Option<Arc<Zone>> {
        let (until, zone) = entries.by_apex.get(apex)?;
        (*until > now).then(|| zone.clone())
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        // The maps stay consistent whatever panicked while holding the lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Entries {
    /// Keeps memory bounded whatever names are looked up: drop what expired, and if
    /// that is not enough, everything (it is only a cache).
    fn make_room(&mut self, now: Instant) {
        if self.by_name.len() < MAX_ENTRIES && self.by_apex.len() < MAX_ENTRIES {
            return;
        }
        self.by_name.retain(|_, (until, _)| *until > now);
        self.by_apex.retain(|_, (until, _)| *until > now);
        if self.by_name.len() >= MAX_ENTRIES || self.by_apex.len() >= MAX_ENTRIES {
            self.by_name.clear();
            self.by_apex.clear();
        }
    }
}
