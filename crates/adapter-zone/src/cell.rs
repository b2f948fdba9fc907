//! The snapshot being served, swapped by the application while queries are answered.

use std::sync::{Arc, RwLock};

use domain_core::zone::ZoneSnapshot;

/// The zone the server answers from: a shared cell holding the current snapshot.
///
/// A query takes the current snapshot once and answers from it alone, so an answer never
/// mixes two snapshots. The lock is held only to clone or replace an `Arc`, never while
/// answering, so a reader cannot hold up a writer for longer than that. Clones share the
/// cell.
#[derive(Debug, Clone)]
pub struct ZoneCell {
    current: Arc<RwLock<Arc<ZoneSnapshot>>>,
}

impl ZoneCell {
    /// A cell serving `snapshot`.
    pub fn new(snapshot: ZoneSnapshot) -> Self {
        ZoneCell {
            current: Arc::new(RwLock::new(Arc::new(snapshot))),
        }
    }

    /// The snapshot queries are answered from now.
    pub fn current(&self) -> Arc<ZoneSnapshot> {
        // A poisoned lock still holds a whole snapshot: replacing it is a single store.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `snapshot` from the next query on and returns the one it replaces.
    pub fn replace(&self, snapshot: ZoneSnapshot) -> Arc<ZoneSnapshot> {
        let snapshot = Arc::new(snapshot);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *current, snapshot)
    }
}

#[cfg(test)]
mod tests {
    use domain_core::name::DomainName;
    use domain_core::zone::{ZoneAnswer, ZoneConfig};

    use super::*;

    #[test]
    fn a_replaced_snapshot_is_served_to_every_clone() {
        let config =
            ZoneConfig::for_apex(DomainName::parse("dkim.example.net").expect("a valid name"));
        let cell = ZoneCell::new(ZoneSnapshot::empty(config.clone()));
        let other = cell.clone();
        let held = cell.current();
        let name = "s.a.dkim.example.net";

        let old = other.replace(ZoneSnapshot::new(
            config,
            2,
            [(name.to_owned(), "v=DKIM1; p=".to_owned())],
        ));

        assert_eq!(old.serial(), 1);
        assert_eq!(cell.current().serial(), 2);
        assert!(matches!(cell.current().lookup(name), ZoneAnswer::Txt(_)));
        // A query that took the old snapshot keeps answering from it to the end.
        assert_eq!(held.lookup(name), ZoneAnswer::NxDomain);
    }
}
