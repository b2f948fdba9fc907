//! The DKIM key state machine (docs/api.md, "Rotation").
//!
//! ```text
//!   rotate            record seen in DNS          remove selector
//!  ───────► pending ─────────────────────► active ───► retiring ─────────► removed
//!              │        (old active becomes retiring)                        ▲
//!              └──────────────────── cancel ─────────────────────────────────┘
//! ```
//!
//! Invariants, held by construction and checked by a property test: exactly one key is
//! active; at most one is pending; selectors are unique and their numbers only grow;
//! signing moves to a new selector only after its record was seen in DNS.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::InputError;
use crate::name::Selector;
use crate::records::dkim::DkimPublicKey;

/// How often a domain's DKIM key is rotated automatically: 1 to
/// [`MAX_DAYS`](Self::MAX_DAYS) days. Serialized as the number of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RotationPeriod(u32);

impl RotationPeriod {
    /// The longest period, ten years: a key older than that is a key nobody rotates.
    pub const MAX_DAYS: u32 = 3650;

    /// A period of `days` days; zero (which would rotate on every monitor round) and
    /// more than [`MAX_DAYS`](Self::MAX_DAYS) are refused.
    pub fn from_days(days: u32) -> Result<Self, InputError> {
        if (1..=Self::MAX_DAYS).contains(&days) {
            Ok(RotationPeriod(days))
        } else {
            Err(InputError::new(format!(
                "`dkim_rotation_days` must be between 1 and {}",
                Self::MAX_DAYS
            )))
        }
    }

    /// The number of days.
    pub fn days(self) -> u32 {
        self.0
    }

    /// The period as a duration.
    pub fn duration(self) -> time::Duration {
        time::Duration::days(i64::from(self.0))
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Created, its record not yet seen in DNS; does not sign.
    Pending,
    /// Signs mail.
    Active,
    /// No longer signs; still published so that mail in flight stays verifiable.
    Retiring,
    /// Withdrawn; its private key is destroyed. Its TXT record should be deleted.
    Removed,
}

impl KeyState {
    /// Every state, in the order of a key's life.
    pub const ALL: [KeyState; 4] = [
        KeyState::Pending,
        KeyState::Active,
        KeyState::Retiring,
        KeyState::Removed,
    ];

    /// The snake_case name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Removed => "removed",
        }
    }

    /// Reads what [`KeyState::as_str`] wrote.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One DKIM key of a domain.
#[derive(Debug, Clone)]
pub struct SelectorKey {
    /// The selector (`scaisend`, `scaisend2`, …).
    pub selector: Selector,
    /// The selector's number: 1 for `scaisend`, 2 for `scaisend2`, …
    pub index: u32,
    /// The state.
    pub state: KeyState,
    /// The public key, published in DNS.
    pub public_key: DkimPublicKey,
    /// The sealed private key; `None` once removed (destroyed).
    pub sealed: Option<SealedKey>,
    /// When the key was created.
    pub created_at: OffsetDateTime,
    /// When it started signing.
    pub activated_at: Option<OffsetDateTime>,
    /// When it stopped signing.
    pub retired_at: Option<OffsetDateTime>,
    /// When it was removed or cancelled.
    pub removed_at: Option<OffsetDateTime>,
}

/// A new key to add, its private half already sealed for its selector.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The selector, from [`KeyRing::next_selector`] (or the base for the first key).
    pub selector: Selector,
    /// The selector's number.
    pub index: u32,
    /// The public key.
    pub public_key: DkimPublicKey,
    /// The sealed private key.
    pub sealed: SealedKey,
}

/// An illegal transition, or stored keys that break an invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// A rotation is already pending.
    #[error("a rotation to `{0}` is already pending; publish its record and verify, or cancel it")]
    AlreadyPending(Selector),
    /// The selector is the active one.
    #[error(
        "`{0}` is the active selector and signs mail; rotate first, then remove it once it is retiring"
    )]
    ActiveSelector(Selector),
    /// No key has this selector.
    #[error("the domain has no DKIM selector `{0}`")]
    UnknownSelector(Selector),
    /// The selector was already removed.
    #[error("the selector `{0}` was already removed")]
    AlreadyRemoved(Selector),
    /// The selector is not pending, so it cannot be promoted.
    #[error("the selector `{0}` is not pending")]
    NotPending(Selector),
    /// The new key's number is not the next one.
    #[error("the new selector must be number {expected}, not {got}")]
    NotNext {
        /// The number it must have.
        expected: u32,
        /// The number it has.
        got: u32,
    },
    /// Stored keys break an invariant.
    #[error("stored DKIM keys are inconsistent: {0}")]
    Inconsistent(String),
}

/// What removing a selector did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A retiring key was removed.
    Retired,
    /// A pending key was cancelled.
    Cancelled,
}

/// The keys of one domain.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<SelectorKey>,
}

impl KeyRing {
    /// The keys of a new domain: one active key.
    pub fn new(first: NewKey, now: OffsetDateTime) -> Self {
        KeyRing {
            keys: vec![SelectorKey {
                selector: first.selector,
                index: first.index,
                state: KeyState::Active,
                public_key: first.public_key,
                sealed: Some(first.sealed),
                created_at: now,
                activated_at: Some(now),
                retired_at: None,
                removed_at: None,
            }],
        }
    }

    /// Keys read back from a store, checked against the invariants.
    pub fn from_stored(mut keys: Vec<SelectorKey>) -> Result<Self, RotationError> {
        keys.sort_by_key(|k| k.index);
        let count = |s: KeyState| keys.iter().filter(|k| k.state == s).count();
        if count(KeyState::Active) != 1 {
            return Err(RotationError::Inconsistent(format!(
                "{} active keys",
                count(KeyState::Active)
            )));
        }
        if count(KeyState::Pending) > 1 {
            return Err(RotationError::Inconsistent(
                "several pending keys".to_owned(),
            ));
        }
        if keys.windows(2).any(|w| w[0].index == w[1].index) {
            return Err(RotationError::Inconsistent(
                "duplicate selector numbers".to_owned(),
            ));
        }
        if let Some(k) = keys
            .iter()
            .find(|k| (k.state == KeyState::Removed) != k.sealed.is_none())
        {
            return Err(RotationError::Inconsistent(format!(
                "selector `{}` is {} but its private key is {}",
                k.selector,
                k.state.as_str(),
                if k.sealed.is_some() {
                    "present"
                } else {
                    "missing"
                }
            )));
        }
        Ok(KeyRing { keys })
    }

    /// Every key, oldest first, removed ones included.
    pub fn all(&self) -> &[SelectorKey] {
        &self.keys
    }

    /// The key that signs.
    pub fn active(&self) -> &SelectorKey {
        // `new` and `from_stored` guarantee exactly one active key and every transition
        // keeps it so; the fallback only avoids a panic path.
        self.keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .unwrap_or(&self.keys[0])
    }

    /// The pending key, if a rotation is under way.
    pub fn pending(&self) -> Option<&SelectorKey> {
        self.keys.iter().find(|k| k.state == KeyState::Pending)
    }

    /// A key by selector.
    pub fn get(&self, selector: &Selector) -> Option<&SelectorKey> {
        self.keys.iter().find(|k| &k.selector == selector)
    }

    /// The number and selector the next key gets: one more than any key ever had, so
    /// selectors are never reused.
    pub fn next_selector(&self, base: &Selector) -> (u32, Selector) {
        let next = self.keys.iter().map(|k| k.index).max().unwrap_or(0) + 1;
        (next, Selector::numbered(base, next))
    }

    /// Adds a pending key. Fails while another rotation is pending.
    pub fn start_rotation(
        &mut self,
        key: NewKey,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        if let Some(p) = self.pending() {
            return Err(RotationError::AlreadyPending(p.selector.clone()));
        }
        let expected = self.keys.iter().map(|k| k.index).max().unwrap_or(0) + 1;
        if key.index != expected || self.get(&key.selector).is_some() {
            return Err(RotationError::NotNext {
                expected,
                got: key.index,
            });
        }
        self.keys.push(SelectorKey {
            selector: key.selector,
            index: key.index,
            state: KeyState::Pending,
            public_key: key.public_key,
            sealed: Some(key.sealed),
            created_at: now,
            activated_at: None,
            retired_at: None,
            removed_at: None,
        });
        Ok(())
    }

    /// Makes the pending key `selector` active — to be called only once its record was
    /// seen in DNS — and the previously active key retiring.
    pub fn promote(
        &mut self,
        selector: &Selector,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        match self.get(selector).map(|k| k.state) {
            Some(KeyState::Pending) => {}
            Some(_) => return Err(RotationError::NotPending(selector.clone())),
            None => return Err(RotationError::UnknownSelector(selector.clone())),
        }
        for key in &mut self.keys {
            if key.state == KeyState::Active {
                key.state = KeyState::Retiring;
                key.retired_at = Some(now);
            } else if &key.selector == selector {
                key.state = KeyState::Active;
                key.activated_at = Some(now);
            }
        }
        Ok(())
    }

    /// Removes a retiring selector or cancels a pending one; destroys its private key.
    /// The active selector cannot be removed.
    pub fn remove(
        &mut self,
        selector: &Selector,
        now: OffsetDateTime,
    ) -> Result<Removal, RotationError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| &k.selector == selector)
            .ok_or_else(|| RotationError::UnknownSelector(selector.clone()))?;
        let removal = match key.state {
            KeyState::Active => return Err(RotationError::ActiveSelector(selector.clone())),
            KeyState::Removed => return Err(RotationError::AlreadyRemoved(selector.clone())),
            KeyState::Pending => Removal::Cancelled,
            KeyState::Retiring => Removal::Retired,
        };
        key.state = KeyState::Removed;
        key.sealed = None;
        key.removed_at = Some(now);
        Ok(removal)
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SealedKey;
    use crate::testing;
    use proptest::prelude::*;
    use time::Duration;

    fn base() -> Selector {
        Selector::parse("scaisend").unwrap()
    }

    #[test]
    fn every_key_state_reads_back_from_its_name() {
        for state in KeyState::ALL {
            assert_eq!(KeyState::from_stored(state.as_str()), Some(state));
            assert_eq!(serde_json::json!(state), state.as_str());
        }
        assert_eq!(KeyState::from_stored("revoked"), None);
    }

    #[test]
    fn a_rotation_period_is_one_day_to_ten_years() {
        assert_eq!(RotationPeriod::from_days(1).unwrap().days(), 1);
        assert_eq!(
            RotationPeriod::from_days(3650).unwrap().duration(),
            Duration::days(3650)
        );
        for days in [0, 3651, u32::MAX] {
            let err = RotationPeriod::from_days(days).unwrap_err();
            assert!(err.message().contains("between 1 and 3650"), "{err}");
        }
        let json = serde_json::to_value(RotationPeriod::from_days(90).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!(90),
            "serialized as the number of days"
        );
    }

    proptest! {
        #[test]
        fn a_rotation_period_keeps_exactly_the_days_in_range(days in any::<u32>()) {
            match RotationPeriod::from_days(days) {
                Ok(period) => {
                    prop_assert!((1..=RotationPeriod::MAX_DAYS).contains(&days));
                    prop_assert_eq!(period.days(), days);
                }
                Err(_) => prop_assert!(days == 0 || days > RotationPeriod::MAX_DAYS),
            }
        }
    }

    fn new_key(keys: &KeyRing, n: usize) -> NewKey {
        let (index, selector) = keys.next_selector(&base());
        NewKey {
            selector,
            index,
            public_key: testing::key(n % 3).public.clone(),
            sealed: SealedKey::from_bytes(vec![n as u8; 40]),
        }
    }

    fn fresh() -> KeyRing {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        KeyRing::new(
            NewKey {
                selector: base(),
                index: 1,
                public_key: testing::key(0).public.clone(),
                sealed: SealedKey::from_bytes(vec![0; 40]),
            },
            t0,
        )
    }

    #[test]
    fn a_rotation_walks_through_every_state() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let mut keys = fresh();
        assert_eq!(keys.active().selector.as_str(), "scaisend");
        keys.start_rotation(new_key(&keys, 1), t).unwrap();
        let pending = keys.pending().unwrap().selector.clone();
        assert_eq!(pending.as_str(), "scaisend2");
        // Signing stays on the old key while the new one is pending.
        assert_eq!(keys.active().selector.as_str(), "scaisend");
        keys.promote(&pending, t + Duration::hours(1)).unwrap();
        assert_eq!(keys.active().selector.as_str(), "scaisend2");
        assert_eq!(keys.get(&base()).unwrap().state, KeyState::Retiring);
        assert_eq!(keys.remove(&base(), t).unwrap(), Removal::Retired);
        let old = keys.get(&base()).unwrap();
        assert_eq!(old.state, KeyState::Removed);
        assert!(
            old.sealed.is_none(),
            "the private key is destroyed on removal"
        );
        // The next rotation never reuses a number.
        let (n, s) = keys.next_selector(&base());
        assert_eq!((n, s.as_str()), (3, "scaisend3"));
    }

    #[test]
    fn illegal_transitions_are_errors() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let mut keys = fresh();
        assert_eq!(
            keys.remove(&base(), t).unwrap_err(),
            RotationError::ActiveSelector(base())
        );
        keys.start_rotation(new_key(&keys, 1), t).unwrap();
        let second = new_key(&keys, 2);
        assert!(matches!(
            keys.start_rotation(second, t),
            Err(RotationError::AlreadyPending(_))
        ));
        assert_eq!(
            keys.promote(&base(), t).unwrap_err(),
            RotationError::NotPending(base())
        );
        let unknown = Selector::parse("nope").unwrap();
        assert!(matches!(
            keys.remove(&unknown, t),
            Err(RotationError::UnknownSelector(_))
        ));
        let pending = keys.pending().unwrap().selector.clone();
        assert_eq!(keys.remove(&pending, t).unwrap(), Removal::Cancelled);
        assert!(matches!(
            keys.remove(&pending, t),
            Err(RotationError::AlreadyRemoved(_))
        ));
        assert!(matches!(
            keys.promote(&pending, t),
            Err(RotationError::NotPending(_))
        ));
    }

    #[test]
    fn stored_keys_are_checked() {
        let mut keys = fresh().keys;
        keys[0].state = KeyState::Retiring;
        assert!(KeyRing::from_stored(keys).is_err());
        let mut keys = fresh().keys;
        keys[0].sealed = None;
        assert!(KeyRing::from_stored(keys).is_err());
        assert!(KeyRing::from_stored(fresh().keys).is_ok());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Rotate,
        /// Verify, with or without the pending record published.
        Verify {
            published: bool,
        },
        Remove(usize),
        CancelPending,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Rotate),
            any::<bool>().prop_map(|published| Op::Verify { published }),
            (0usize..6).prop_map(Op::Remove),
            Just(Op::CancelPending),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_under_any_sequence(ops in proptest::collection::vec(op(), 0..40)) {
            let t = OffsetDateTime::UNIX_EPOCH;
            let mut keys = fresh();
            // Selectors whose records were "seen in DNS": the first, published by the
            // admin before verifying, plus every pending one verified as published.
            let mut seen = vec![base()];
            let mut max_index = 1;
            for (i, op) in ops.into_iter().enumerate() {
                let before_active = keys.active().selector.clone();
                match op {
                    Op::Rotate => { let _ = keys.start_rotation(new_key(&keys, i), t); }
                    Op::Verify { published } => {
                        if let Some(p) = keys.pending().map(|k| k.selector.clone()) && published {
                            seen.push(p.clone());
                            keys.promote(&p, t).unwrap();
                        }
                    }
                    Op::Remove(n) => {
                        if let Some(s) = keys.all().get(n).map(|k| k.selector.clone()) {
                            let _ = keys.remove(&s, t);
                        }
                    }
                    Op::CancelPending => {
                        if let Some(p) = keys.pending().map(|k| k.selector.clone()) {
                            prop_assert_eq!(keys.remove(&p, t).unwrap(), Removal::Cancelled);
                        }
                    }
                }
                let all = keys.all();
                prop_assert_eq!(all.iter().filter(|k| k.state == KeyState::Active).count(), 1);
                prop_assert!(all.iter().filter(|k| k.state == KeyState::Pending).count() <= 1);
                let mut selectors: Vec<_> = all.iter().map(|k| k.selector.clone()).collect();
                selectors.dedup();
                prop_assert_eq!(selectors.len(), all.len());
                prop_assert!(all.windows(2).all(|w| w[0].index < w[1].index));
                let newest = all.iter().map(|k| k.index).max().unwrap();
                prop_assert!(newest >= max_index);
                max_index = newest;
                let active = keys.active().selector.clone();
                if active != before_active {
                    prop_assert!(seen.contains(&active), "signing moved to unseen {active}");
                }
                prop_assert!(all.iter().all(|k| (k.state == KeyState::Removed) == k.sealed.is_none()));
                prop_assert!(KeyRing::from_stored(all.to_vec()).is_ok());
            }
        }
    }
}
