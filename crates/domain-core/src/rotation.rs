//! A domain's DKIM keys and their state machine (docs/api.md, "Rotation").
//!
//! Keys come in generations: a rotation creates one generation holding one key per
//! algorithm the domain signs with (`rsa-sha256`, and `ed25519-sha256` when asked for),
//! and every key of a generation moves through the states together:
//!
//! ```text
//!   rotate          published and confirmed        remove / retire_after
//!  ───────► pending ─────────────────────► active ───► retiring ─────────► removed
//!              │        (old active becomes retiring)                        ▲
//!              └──────────────────── cancel ─────────────────────────────────┘
//! ```
//!
//! A generation is published in one of two modes. In TXT mode its selectors are numbered
//! by generation (`scaisend`, `scaisend2`, …) and never reused; the tenant publishes each
//! key's TXT record. In CNAME mode the tenant points two fixed slots per algorithm
//! (`scaisend` and `scaisend2`) at our zone once, and generations take turns in them.
//!
//! Invariants, held by construction and checked by a property test: exactly one
//! generation is active; at most one is pending; every generation signs with RSA and
//! holds one key per algorithm; the keys that are not removed have distinct selectors;
//! generation numbers only grow; a removed key has no private key; signing moves to a new
//! generation only after its records were seen (TXT) or its slots confirmed (CNAME).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::InputError;
use crate::macros::named_enum;
use crate::name::Selector;
use crate::records::dkim::{Algorithm, DkimPublicKey};

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

named_enum! {
    /// Where a key is in its life; [`ALL`](Self::ALL) is in the order of a key's life.
    /// Named in snake_case in the API and the store.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum KeyState {
        /// Created, its record not yet seen in DNS; does not sign.
        Pending => "pending",
        /// Signs mail.
        Active => "active",
        /// No longer signs; still published so that mail in flight stays verifiable.
        Retiring => "retiring",
        /// Withdrawn; its private key is destroyed. Its TXT record should be deleted.
        Removed => "removed",
    }
}

impl KeyState {
    /// Reads what [`KeyState::as_str`] wrote.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::from_name(s)
    }
}

named_enum! {
    /// How a generation's keys are published, named so in the API and the store.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
    #[serde(rename_all = "snake_case")]
    pub enum DkimMode {
        /// The tenant publishes each key's TXT record; a rotation asks for a new one.
        #[default]
        Txt => "txt",
        /// The tenant points two slots per algorithm at our zone once; we serve the keys.
        Cname => "cname",
    }
}

impl DkimMode {
    /// Reads what [`as_str`](Self::as_str) wrote.
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_name(s)
    }
}

/// The selector of the key of `algorithm` numbered `n` under `base`: `base` for 1, then
/// `base2`, `base3`, …; Ed25519 keys add `-ed25519` (`scaisend-ed25519`). In TXT mode `n`
/// is the generation; in CNAME mode it is the slot, 1 or 2.
pub fn selector_for(base: &Selector, n: u32, algorithm: Algorithm) -> Result<Selector, InputError> {
    let numbered = Selector::numbered(base, n);
    match algorithm {
        Algorithm::RsaSha256 => Selector::parse(numbered.as_str()),
        Algorithm::Ed25519Sha256 => Selector::parse(&format!("{numbered}-ed25519")),
    }
}

/// The CNAME slots of a domain signing with `algorithms`: two per algorithm.
pub fn cname_slots(base: &Selector, algorithms: &[Algorithm]) -> Vec<Selector> {
    algorithms
        .iter()
        .flat_map(|a| (1..=2).filter_map(move |n| selector_for(base, n, *a).ok()))
        .collect()
}

/// One DKIM key of a domain.
#[derive(Debug, Clone)]
pub struct SelectorKey {
    /// The selector (`scaisend`, `scaisend2`, `scaisend-ed25519`, …).
    pub selector: Selector,
    /// The generation the key belongs to: 1 for the first, then one more per rotation.
    pub index: u32,
    /// How its generation is published.
    pub mode: DkimMode,
    /// The state (the same for every key of a generation).
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

impl SelectorKey {
    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.public_key.algorithm()
    }

    /// Whether it is not removed: it signs, will sign, or is still published.
    pub fn is_live(&self) -> bool {
        self.state != KeyState::Removed
    }
}

/// A new key to add, its private half already sealed for its row.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The selector, from [`KeyRing::next_generation`] (or [`selector_for`]).
    pub selector: Selector,
    /// The public key.
    pub public_key: DkimPublicKey,
    /// The sealed private key.
    pub sealed: SealedKey,
}

/// A new generation: its number, how it is published, and one key per algorithm.
#[derive(Debug, Clone)]
pub struct NewGeneration {
    /// The generation number, from [`KeyRing::next_generation`] (1 for a new domain).
    pub index: u32,
    /// How it is published.
    pub mode: DkimMode,
    /// One key per algorithm, RSA among them.
    pub keys: Vec<NewKey>,
}

/// The number and selectors of a domain's next generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextGeneration {
    /// The generation number.
    pub index: u32,
    /// One selector per algorithm, in the order asked for.
    pub selectors: Vec<(Algorithm, Selector)>,
}

/// An illegal transition, or stored keys that break an invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// A rotation is already pending.
    #[error("a rotation to `{0}` is already pending; publish its record and verify, or cancel it")]
    AlreadyPending(Selector),
    /// The selector belongs to the active generation.
    #[error(
        "`{0}` is an active selector and signs mail; rotate first, then remove it once it is retiring"
    )]
    ActiveSelector(Selector),
    /// No key has this selector.
    #[error("the domain has no DKIM selector `{0}`")]
    UnknownSelector(Selector),
    /// The selector was already removed.
    #[error("the selector `{0}` was already removed")]
    AlreadyRemoved(Selector),
    /// The generation is not pending, so it cannot be promoted.
    #[error("generation {0} is not pending")]
    NotPending(u32),
    /// The new generation's number is not the next one.
    #[error("the new generation must be number {expected}, not {got}")]
    NotNext {
        /// The number it must have.
        expected: u32,
        /// The number it has.
        got: u32,
    },
    /// A generation without an RSA key, or with two keys of one algorithm.
    #[error("a generation holds exactly one key per algorithm, RSA among them")]
    BadAlgorithms,
    /// Both CNAME slots are taken: the previous key is still retiring.
    #[error("both CNAME slots are in use until `{0}` has retired; rotate after that")]
    SlotsBusy(Selector),
    /// A selector is already used by a key that is not removed.
    #[error("the selector `{0}` is in use")]
    SelectorInUse(Selector),
    /// The selector base leaves no room for the selector.
    #[error("no valid selector under this base: {0}")]
    BadSelector(String),
    /// Stored keys break an invariant.
    #[error("stored DKIM keys are inconsistent: {0}")]
    Inconsistent(String),
}

/// What removing a selector did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A retiring generation was removed.
    Retired,
    /// A pending generation was cancelled.
    Cancelled,
}

/// The keys of one domain, oldest generation first, each generation's keys in algorithm
/// order (RSA first).
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<SelectorKey>,
}

impl KeyRing {
    /// The keys of a new domain: one active generation.
    pub fn new(first: NewGeneration, now: OffsetDateTime) -> Result<Self, RotationError> {
        let mut ring = KeyRing { keys: Vec::new() };
        ring.add(first, KeyState::Active, now)?;
        Ok(ring)
    }

    /// Keys read back from a store, checked against the invariants.
    pub fn from_stored(mut keys: Vec<SelectorKey>) -> Result<Self, RotationError> {
        keys.sort_by_key(|k| (k.index, k.algorithm()));
        let ring = KeyRing { keys };
        ring.check()?;
        Ok(ring)
    }

    fn check(&self) -> Result<(), RotationError> {
        let bad = |why: String| Err(RotationError::Inconsistent(why));
        let generations: Vec<u32> = self.generations().collect();
        let in_state = |s: KeyState| {
            generations
                .iter()
                .filter(|g| self.state_of(**g) == Some(s))
                .count()
        };
        if in_state(KeyState::Active) != 1 {
            return bad(format!("{} active generations", in_state(KeyState::Active)));
        }
        if in_state(KeyState::Pending) > 1 {
            return bad("several pending generations".to_owned());
        }
        for g in &generations {
            let keys: Vec<&SelectorKey> = self.generation(*g).collect();
            let first = keys[0];
            if keys
                .iter()
                .any(|k| k.state != first.state || k.mode != first.mode)
            {
                return bad(format!("generation {g} mixes states or modes"));
            }
            let algorithms: Vec<Algorithm> = keys.iter().map(|k| k.algorithm()).collect();
            if !valid_algorithms(&algorithms) {
                return bad(format!("generation {g} has algorithms {algorithms:?}"));
            }
        }
        let live: Vec<&Selector> = self.live().map(|k| &k.selector).collect();
        if (1..live.len()).any(|i| live[..i].contains(&live[i])) {
            return bad("two live keys share a selector".to_owned());
        }
        if let Some(k) = self
            .keys
            .iter()
            .find(|k| (k.state == KeyState::Removed) != k.sealed.is_none())
        {
            return bad(format!(
                "selector `{}` is {} but its private key is {}",
                k.selector,
                k.state.as_str(),
                if k.sealed.is_some() {
                    "present"
                } else {
                    "missing"
                }
            ));
        }
        Ok(())
    }

    /// Every key, oldest first, removed ones included.
    pub fn all(&self) -> &[SelectorKey] {
        &self.keys
    }

    /// The keys that are not removed.
    pub fn live(&self) -> impl Iterator<Item = &SelectorKey> {
        self.keys.iter().filter(|k| k.is_live())
    }

    /// The generation numbers, oldest first.
    pub fn generations(&self) -> impl Iterator<Item = u32> + '_ {
        // The keys are ordered by generation, so a generation's keys are adjacent.
        self.keys
            .chunk_by(|a, b| a.index == b.index)
            .map(|generation| generation[0].index)
    }

    /// The keys of one generation, RSA first.
    pub fn generation(&self, index: u32) -> impl Iterator<Item = &SelectorKey> {
        self.keys.iter().filter(move |k| k.index == index)
    }

    fn state_of(&self, index: u32) -> Option<KeyState> {
        self.generation(index).next().map(|k| k.state)
    }

    fn in_state(&self, state: KeyState) -> impl Iterator<Item = &SelectorKey> {
        self.keys.iter().filter(move |k| k.state == state)
    }

    /// The keys that sign: the active generation's, RSA first.
    pub fn active_keys(&self) -> impl Iterator<Item = &SelectorKey> {
        self.in_state(KeyState::Active)
    }

    /// The active generation's RSA key, whose selector the API shows as `dkim_selector`.
    pub fn active(&self) -> &SelectorKey {
        // `new` and `from_stored` guarantee one active generation holding an RSA key, and
        // every transition keeps it so; the fallback only avoids a panic path.
        self.active_keys().next().unwrap_or(&self.keys[0])
    }

    /// The pending generation's keys, RSA first, if a rotation is under way.
    pub fn pending_keys(&self) -> impl Iterator<Item = &SelectorKey> {
        self.in_state(KeyState::Pending)
    }

    /// The pending generation's RSA key.
    pub fn pending(&self) -> Option<&SelectorKey> {
        self.pending_keys().next()
    }

    /// The live key with this selector, else the newest removed one that had it.
    pub fn get(&self, selector: &Selector) -> Option<&SelectorKey> {
        self.live()
            .find(|k| &k.selector == selector)
            .or_else(|| self.keys.iter().rev().find(|k| &k.selector == selector))
    }

    /// The newest generation that is not removed: the pending one if a rotation is under
    /// way, else the active one. What the domain is configured with.
    fn newest(&self) -> impl Iterator<Item = &SelectorKey> {
        let index = self.pending().unwrap_or(self.active()).index;
        self.generation(index)
    }

    /// How the domain publishes its keys: its newest generation's mode.
    pub fn mode(&self) -> DkimMode {
        self.newest().next().map(|k| k.mode).unwrap_or_default()
    }

    /// The algorithms the domain signs with: its newest generation's, RSA first.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.newest().map(SelectorKey::algorithm).collect()
    }

    /// The selectors of a new domain's first generation.
    pub fn first_generation(
        base: &Selector,
        mode: DkimMode,
        algorithms: &[Algorithm],
    ) -> Result<NextGeneration, RotationError> {
        KeyRing { keys: Vec::new() }.next_generation(base, mode, algorithms)
    }

    /// The number and selectors of the next generation, published in `mode` and signing
    /// with `algorithms`. In TXT mode the selectors are numbered by generation, so never
    /// reused; in CNAME mode they are the slot that no live key holds — both taken means
    /// the previous key is still retiring.
    pub fn next_generation(
        &self,
        base: &Selector,
        mode: DkimMode,
        algorithms: &[Algorithm],
    ) -> Result<NextGeneration, RotationError> {
        let index = self.keys.iter().map(|k| k.index).max().unwrap_or(0) + 1;
        let select = |n: u32| -> Result<Vec<(Algorithm, Selector)>, RotationError> {
            algorithms
                .iter()
                .map(|a| {
                    selector_for(base, n, *a)
                        .map(|s| (*a, s))
                        .map_err(|e| RotationError::BadSelector(e.to_string()))
                })
                .collect()
        };
        let selectors = match mode {
            DkimMode::Txt => select(index)?,
            DkimMode::Cname => {
                let mut blocker = None;
                let mut chosen = None;
                for slot in 1..=2 {
                    let selectors = select(slot)?;
                    let holder = self
                        .live()
                        .find(|k| selectors.iter().any(|(_, s)| *s == k.selector));
                    match holder {
                        None => {
                            chosen = Some(selectors);
                            break;
                        }
                        Some(h) if h.state != KeyState::Active => {
                            blocker = Some(h.selector.clone());
                        }
                        Some(_) => {}
                    }
                }
                match (chosen, blocker) {
                    (Some(selectors), _) => selectors,
                    (None, Some(holder)) => return Err(RotationError::SlotsBusy(holder)),
                    (None, None) => {
                        return Err(RotationError::BadSelector(
                            "both CNAME slots are held by the active keys".to_owned(),
                        ));
                    }
                }
            }
        };
        Ok(NextGeneration { index, selectors })
    }

    /// Adds a pending generation. Fails while another rotation is pending.
    pub fn start_rotation(
        &mut self,
        generation: NewGeneration,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        if let Some(p) = self.pending() {
            return Err(RotationError::AlreadyPending(p.selector.clone()));
        }
        let expected = self.keys.iter().map(|k| k.index).max().unwrap_or(0) + 1;
        if generation.index != expected {
            return Err(RotationError::NotNext {
                expected,
                got: generation.index,
            });
        }
        self.add(generation, KeyState::Pending, now)
    }

    fn add(
        &mut self,
        generation: NewGeneration,
        state: KeyState,
        now: OffsetDateTime,
    ) -> Result<(), RotationError> {
        let algorithms: Vec<Algorithm> = generation
            .keys
            .iter()
            .map(|k| k.public_key.algorithm())
            .collect();
        if !valid_algorithms(&algorithms) {
            return Err(RotationError::BadAlgorithms);
        }
        for (i, key) in generation.keys.iter().enumerate() {
            let taken = self.live().any(|k| k.selector == key.selector)
                || generation.keys[..i]
                    .iter()
                    .any(|k| k.selector == key.selector);
            if taken {
                return Err(RotationError::SelectorInUse(key.selector.clone()));
            }
        }
        let activated_at = (state == KeyState::Active).then_some(now);
        self.keys
            .extend(generation.keys.into_iter().map(|key| SelectorKey {
                selector: key.selector,
                index: generation.index,
                mode: generation.mode,
                state,
                public_key: key.public_key,
                sealed: Some(key.sealed),
                created_at: now,
                activated_at,
                retired_at: None,
                removed_at: None,
            }));
        self.keys.sort_by_key(|k| (k.index, k.algorithm()));
        Ok(())
    }

    /// Makes the pending generation `index` active — to be called only once its records
    /// were seen in DNS (TXT) or its slots confirmed (CNAME) — and the previously active
    /// generation retiring.
    pub fn promote(&mut self, index: u32, now: OffsetDateTime) -> Result<(), RotationError> {
        if self.state_of(index) != Some(KeyState::Pending) {
            return Err(RotationError::NotPending(index));
        }
        for key in &mut self.keys {
            if key.state == KeyState::Active {
                key.state = KeyState::Retiring;
                key.retired_at = Some(now);
            } else if key.index == index {
                key.state = KeyState::Active;
                key.activated_at = Some(now);
            }
        }
        Ok(())
    }

    /// Removes the retiring generation holding `selector`, or cancels the pending one;
    /// destroys its private keys. The active generation cannot be removed.
    pub fn remove(
        &mut self,
        selector: &Selector,
        now: OffsetDateTime,
    ) -> Result<Removal, RotationError> {
        let key = self
            .get(selector)
            .ok_or_else(|| RotationError::UnknownSelector(selector.clone()))?;
        let removal = match key.state {
            KeyState::Active => return Err(RotationError::ActiveSelector(selector.clone())),
            KeyState::Removed => return Err(RotationError::AlreadyRemoved(selector.clone())),
            KeyState::Pending => Removal::Cancelled,
            KeyState::Retiring => Removal::Retired,
        };
        let index = key.index;
        for key in self.keys.iter_mut().filter(|k| k.index == index) {
            key.state = KeyState::Removed;
            key.sealed = None;
            key.removed_at = Some(now);
        }
        Ok(removal)
    }
}

/// Checks the algorithms a domain is asked to sign with: `rsa-sha256`, alone or with
/// `ed25519-sha256`, each once.
pub fn check_algorithms(algorithms: &[Algorithm]) -> Result<(), InputError> {
    if valid_algorithms(algorithms) {
        Ok(())
    } else if !algorithms.contains(&Algorithm::RsaSha256) {
        Err(InputError::new(
            "`rsa-sha256` is required: major receivers still verify only RSA; use [\"rsa-sha256\"] or [\"rsa-sha256\", \"ed25519-sha256\"]",
        ))
    } else {
        Err(InputError::new("list each algorithm once"))
    }
}

/// Exactly one key per algorithm, RSA among them: major receivers still require RSA.
fn valid_algorithms(algorithms: &[Algorithm]) -> bool {
    algorithms.contains(&Algorithm::RsaSha256)
        && (1..algorithms.len()).all(|i| !algorithms[..i].contains(&algorithms[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
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

    const RSA: Algorithm = Algorithm::RsaSha256;
    const ED: Algorithm = Algorithm::Ed25519Sha256;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
    }

    /// The keys of a domain's next generation in `mode` with `algorithms`.
    fn next(keys: &KeyRing, mode: DkimMode, algorithms: &[Algorithm]) -> NewGeneration {
        let next = keys.next_generation(&base(), mode, algorithms).unwrap();
        testing::generation(&next, mode)
    }

    fn fresh_in(mode: DkimMode, algorithms: &[Algorithm]) -> KeyRing {
        let first = KeyRing::first_generation(&base(), mode, algorithms).unwrap();
        KeyRing::new(testing::generation(&first, mode), t0()).unwrap()
    }

    fn fresh() -> KeyRing {
        fresh_in(DkimMode::Txt, &[RSA])
    }

    fn selectors(
        keys: impl Iterator<Item = impl std::ops::Deref<Target = SelectorKey>>,
    ) -> Vec<String> {
        keys.map(|k| k.selector.to_string()).collect()
    }

    /// A ring of RSA and Ed25519 keys in `mode` after one rotation, checking the
    /// selectors on the way: generation 1 signs with `scaisend` and `scaisend-ed25519`,
    /// generation 2 (`scaisend2`, `scaisend2-ed25519`) starts pending and is promoted.
    fn second_generation_of_both(mode: DkimMode) -> KeyRing {
        let t = t0();
        let mut keys = fresh_in(mode, &[RSA, ED]);
        assert_eq!(
            selectors(keys.active_keys()),
            ["scaisend", "scaisend-ed25519"]
        );
        assert_eq!(keys.algorithms(), [RSA, ED]);
        keys.start_rotation(next(&keys, mode, &[RSA, ED]), t)
            .unwrap();
        assert_eq!(
            selectors(keys.pending_keys()),
            ["scaisend2", "scaisend2-ed25519"]
        );
        keys.promote(2, t).unwrap();
        keys
    }

    #[test]
    fn a_rotation_walks_through_every_state() {
        let t = t0();
        let mut keys = fresh();
        assert_eq!(keys.active().selector.as_str(), "scaisend");
        keys.start_rotation(next(&keys, DkimMode::Txt, &[RSA]), t)
            .unwrap();
        let pending = keys.pending().unwrap().index;
        assert_eq!(keys.pending().unwrap().selector.as_str(), "scaisend2");
        // Signing stays on the old key while the new one is pending.
        assert_eq!(keys.active().selector.as_str(), "scaisend");
        keys.promote(pending, t + Duration::hours(1)).unwrap();
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
        let n = keys
            .next_generation(&base(), DkimMode::Txt, &[RSA])
            .unwrap();
        assert_eq!(n.index, 3);
        assert_eq!(n.selectors[0].1.as_str(), "scaisend3");
    }

    #[test]
    fn each_algorithm_has_its_own_selector_and_a_generation_moves_together() {
        let t = t0();
        let mut keys = second_generation_of_both(DkimMode::Txt);
        assert_eq!(
            selectors(keys.active_keys()),
            ["scaisend2", "scaisend2-ed25519"]
        );
        // Removing by either selector removes the whole generation.
        assert_eq!(
            keys.remove(&Selector::parse("scaisend-ed25519").unwrap(), t)
                .unwrap(),
            Removal::Retired
        );
        assert!(
            keys.generation(1)
                .all(|k| k.state == KeyState::Removed && k.sealed.is_none())
        );
        // Dropping Ed25519 is a rotation to RSA alone.
        keys.start_rotation(next(&keys, DkimMode::Txt, &[RSA]), t)
            .unwrap();
        assert_eq!(keys.algorithms(), [RSA]);
        assert_eq!(
            selectors(keys.active_keys()).len(),
            2,
            "still signing with both"
        );
    }

    #[test]
    fn ed25519_alone_or_twice_is_refused() {
        assert!(check_algorithms(&[RSA]).is_ok());
        assert!(check_algorithms(&[RSA, ED]).is_ok());
        let alone = check_algorithms(&[ED]).unwrap_err();
        assert!(alone.message().contains("rsa-sha256"), "{alone}");
        assert!(check_algorithms(&[RSA, RSA]).is_err());
        assert!(check_algorithms(&[]).is_err());
    }

    #[test]
    fn cname_generations_take_turns_in_two_slots() {
        let t = t0();
        // The next generation takes the other slot.
        let mut keys = second_generation_of_both(DkimMode::Cname);
        // While the first slot's keys retire, a third rotation has no slot.
        let busy = keys.next_generation(&base(), DkimMode::Cname, &[RSA, ED]);
        assert!(matches!(busy, Err(RotationError::SlotsBusy(_))), "{busy:?}");
        keys.remove(&base(), t).unwrap();
        // Once they are gone, the first slot is reused by generation 3.
        let third = keys
            .next_generation(&base(), DkimMode::Cname, &[RSA, ED])
            .unwrap();
        assert_eq!(third.index, 3);
        assert_eq!(third.selectors[0].1.as_str(), "scaisend");
        keys.start_rotation(testing::generation(&third, DkimMode::Cname), t)
            .unwrap();
        assert!(KeyRing::from_stored(keys.all().to_vec()).is_ok());
        assert_eq!(
            keys.get(&base()).unwrap().index,
            3,
            "the live key holds the slot"
        );
    }

    #[test]
    fn a_switch_to_cname_mode_takes_a_free_slot_and_back_to_txt_a_new_number() {
        let t = t0();
        let mut keys = fresh();
        // Generation 1 (TXT, `scaisend`) still signs: the CNAME generation takes slot 2.
        keys.start_rotation(next(&keys, DkimMode::Cname, &[RSA]), t)
            .unwrap();
        assert_eq!(keys.pending().unwrap().selector.as_str(), "scaisend2");
        assert_eq!(keys.mode(), DkimMode::Cname);
        keys.promote(2, t).unwrap();
        keys.remove(&base(), t).unwrap();
        // Back to TXT: numbered by generation, never a slot's name again.
        keys.start_rotation(next(&keys, DkimMode::Txt, &[RSA]), t)
            .unwrap();
        assert_eq!(keys.pending().unwrap().selector.as_str(), "scaisend3");
        assert_eq!(keys.mode(), DkimMode::Txt);
    }

    #[test]
    fn illegal_transitions_are_errors() {
        let t = t0();
        let mut keys = fresh();
        assert_eq!(
            keys.remove(&base(), t).unwrap_err(),
            RotationError::ActiveSelector(base())
        );
        keys.start_rotation(next(&keys, DkimMode::Txt, &[RSA]), t)
            .unwrap();
        let mut second = next(&keys, DkimMode::Txt, &[RSA]);
        second.index += 1;
        assert!(matches!(
            keys.start_rotation(second, t),
            Err(RotationError::AlreadyPending(_))
        ));
        assert_eq!(
            keys.promote(1, t).unwrap_err(),
            RotationError::NotPending(1)
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
            keys.promote(2, t),
            Err(RotationError::NotPending(2))
        ));
        // A generation must be the next number, and hold RSA.
        let mut skipped = next(&keys, DkimMode::Txt, &[RSA]);
        skipped.index += 5;
        assert!(matches!(
            keys.start_rotation(skipped, t),
            Err(RotationError::NotNext { .. })
        ));
        let mut ed_only = next(&keys, DkimMode::Txt, &[RSA, ED]);
        ed_only.keys.remove(0);
        assert_eq!(
            keys.start_rotation(ed_only, t).unwrap_err(),
            RotationError::BadAlgorithms
        );
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
        // A generation whose keys disagree on their state is refused.
        let mut dual = fresh_in(DkimMode::Txt, &[RSA, ED]).keys;
        dual[1].state = KeyState::Retiring;
        assert!(KeyRing::from_stored(dual).is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Rotate(DkimMode, bool),
        /// Verify, with or without the pending records published.
        Verify {
            published: bool,
        },
        Remove(usize),
        CancelPending,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                prop_oneof![Just(DkimMode::Txt), Just(DkimMode::Cname)],
                any::<bool>()
            )
                .prop_map(|(mode, ed)| Op::Rotate(mode, ed)),
            any::<bool>().prop_map(|published| Op::Verify { published }),
            (0usize..8).prop_map(Op::Remove),
            Just(Op::CancelPending),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_under_any_sequence(ops in proptest::collection::vec(op(), 0..30)) {
            let t = t0();
            let mut keys = fresh();
            // Generations whose records were "seen in DNS": the first, published by the
            // admin before verifying, plus every pending one verified as published.
            let mut seen = vec![1];
            let mut max_index = 1;
            for op in ops {
                let before_active = keys.active().index;
                match op {
                    Op::Rotate(mode, ed) => {
                        let algorithms: &[Algorithm] = if ed { &[RSA, ED] } else { &[RSA] };
                        if let Ok(n) = keys.next_generation(&base(), mode, algorithms) {
                            let _ = keys.start_rotation(testing::generation(&n, mode), t);
                        }
                    }
                    Op::Verify { published } => {
                        if let Some(p) = keys.pending().map(|k| k.index) && published {
                            seen.push(p);
                            keys.promote(p, t).unwrap();
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
                prop_assert!(KeyRing::from_stored(all.to_vec()).is_ok(), "{:?}", all);
                prop_assert!(keys.active_keys().next().is_some_and(|k| k.algorithm() == RSA));
                let newest = all.iter().map(|k| k.index).max().unwrap();
                prop_assert!(newest >= max_index);
                max_index = newest;
                let active = keys.active().index;
                if active != before_active {
                    prop_assert!(seen.contains(&active), "signing moved to unseen {active}");
                }
                // TXT selectors are never reused: each names one generation.
                let txt: Vec<(&Selector, u32)> = all
                    .iter()
                    .filter(|k| k.mode == DkimMode::Txt)
                    .map(|k| (&k.selector, k.index))
                    .collect();
                prop_assert!(txt.iter().all(|(s, i)| txt.iter().all(|(s2, i2)| s != s2 || i == i2)));
            }
        }
    }
}
