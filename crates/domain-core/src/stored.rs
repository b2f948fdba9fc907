//! The aggregate as stores keep it — plain strings, integers, bytes and times — and the
//! one place that turns those values back into valid domain types.
//!
//! Every store adapter decodes its rows into these structs (the SQL and the column types
//! are the adapter's business) and calls [`domain`] and [`event`]: the rules about what a
//! stored row must hold live here once, not once per database. A row that breaks an
//! invariant is `RepoError::Internal`, never handed to the rules.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::crypto::SealedKey;
use crate::error::RepoError;
use crate::model::{
    Actor, Domain, DomainEvent, DomainId, EventId, EventKind, Owner, ReturnPath, ZoneLabel,
};
use crate::name::{DmarcPolicy, DomainName, ReturnPathLabel, RuaAddress, Selector};
use crate::records::dkim::{Algorithm, DkimPublicKey};
use crate::rotation::{DkimMode, KeyRing, KeyState, RotationPeriod, SelectorKey};
use crate::verify::{CheckKind, Verdict, Verdicts};

/// A row of the domains table.
#[derive(Debug, Clone)]
pub struct StoredDomain {
    /// `dom_<ULID>`.
    pub id: String,
    /// The name, A-labels.
    pub name: String,
    /// The owning partner.
    pub partner_id: String,
    /// The owning tenant; `None` for shared domains.
    pub tenant_id: Option<String>,
    /// `none`, `quarantine` or `reject`.
    pub dmarc_policy: String,
    /// The report address.
    pub dmarc_rua: Option<String>,
    /// Active flag.
    pub is_active: bool,
    /// Verified flag.
    pub verified: bool,
    /// Days between automatic rotations.
    pub dkim_rotation_days: Option<i64>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Last time all checks passed.
    pub last_verified_at: Option<OffsetDateTime>,
    /// Start of the monitor's grace period.
    pub failing_since: Option<OffsetDateTime>,
    /// The monitor's next check.
    pub next_check_at: OffsetDateTime,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// The label in our DKIM zone.
    pub zone_label: String,
    /// The return-path label; `None` without a return path.
    pub return_path: Option<String>,
    /// When the return path was set; present exactly when it is.
    pub return_path_set_at: Option<OffsetDateTime>,
    /// The return path is verified; never without one.
    pub return_path_verified: bool,
    /// Start of the return path's grace period; never without one.
    pub return_path_failing_since: Option<OffsetDateTime>,
}

/// The return-path columns of a domain as stores write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnPathColumns<'a> {
    /// `return_path`: the label.
    pub label: Option<&'a str>,
    /// `return_path_set_at`.
    pub set_at: Option<OffsetDateTime>,
    /// `return_path_verified`.
    pub verified: bool,
    /// `return_path_failing_since`.
    pub failing_since: Option<OffsetDateTime>,
}

/// The values of the return-path columns for `domain` (all empty without one).
pub fn return_path_columns(domain: &Domain) -> ReturnPathColumns<'_> {
    match &domain.return_path {
        Some(r) => ReturnPathColumns {
            label: Some(r.label.as_str()),
            set_at: Some(r.set_at),
            verified: r.verified,
            failing_since: r.failing_since,
        },
        None => ReturnPathColumns {
            label: None,
            set_at: None,
            verified: false,
            failing_since: None,
        },
    }
}

/// A row of the DKIM keys table.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The selector.
    pub selector: String,
    /// Its number.
    pub idx: i64,
    /// `pending`, `active`, `retiring` or `removed`.
    pub state: String,
    /// The DKIM algorithm (`rsa-sha256`, `ed25519-sha256`).
    pub algorithm: String,
    /// How its generation is published: `txt` or `cname`.
    pub mode: String,
    /// What the key's `p=` publishes (for RSA, SubjectPublicKeyInfo DER).
    pub public_key: Vec<u8>,
    /// The sealed private key; `None` once removed.
    pub sealed_private: Option<Vec<u8>>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When it started signing.
    pub activated_at: Option<OffsetDateTime>,
    /// When it stopped signing.
    pub retired_at: Option<OffsetDateTime>,
    /// When it was removed.
    pub removed_at: Option<OffsetDateTime>,
}

/// A row of the timeline.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// `evt_<ULID>`.
    pub id: String,
    /// The domain.
    pub domain_id: String,
    /// When.
    pub at: OffsetDateTime,
    /// `system` or a user's `sub`.
    pub actor: String,
    /// The event kind's name.
    pub kind: String,
    /// The sentence.
    pub message: String,
    /// Before/after.
    pub detail: serde_json::Value,
}

/// A stored verdict: the domain's id, the check kind ([`CheckKind::as_str`]) and the
/// verdict as JSON.
pub type StoredCheck = (String, String, serde_json::Value);

/// The domains of `rows`, in their order, each with its keys and verdicts picked out of
/// `keys` (domain id, key row; in selector order) and `checks`, which may hold the rows of
/// all of them as one query per table returns them.
pub fn domains(
    rows: Vec<StoredDomain>,
    keys: Vec<(String, StoredKey)>,
    checks: Vec<StoredCheck>,
) -> Result<Vec<Domain>, RepoError> {
    let mut keys_of: HashMap<String, Vec<StoredKey>> = HashMap::new();
    for (domain_id, key) in keys {
        keys_of.entry(domain_id).or_default().push(key);
    }
    let mut checks_of: HashMap<String, Vec<(String, serde_json::Value)>> = HashMap::new();
    for (domain_id, kind, verdict) in checks {
        checks_of
            .entry(domain_id)
            .or_default()
            .push((kind, verdict));
    }
    rows.into_iter()
        .map(|row| {
            let keys = keys_of.remove(&row.id).unwrap_or_default();
            let checks = checks_of.remove(&row.id).unwrap_or_default();
            domain(row, keys, checks)
        })
        .collect()
}

/// A domain from its row, its keys' rows and its stored verdicts (check kind, JSON).
pub fn domain(
    row: StoredDomain,
    keys: Vec<StoredKey>,
    checks: Vec<(String, serde_json::Value)>,
) -> Result<Domain, RepoError> {
    let keys = keys.into_iter().map(key).collect::<Result<Vec<_>, _>>()?;
    let name = DomainName::from_stored(&row.name).map_err(|e| corrupt("domain name", e))?;
    let return_path = return_path(&row, &name)?;
    let mut stored_checks = Verdicts::default();
    for (kind, json) in checks {
        let Some(check) = CheckKind::parse(&kind) else {
            return Err(corrupt("check kind", format!("`{kind}`")));
        };
        let verdict: Verdict =
            serde_json::from_value(json).map_err(|e| corrupt(&format!("{kind} verdict"), e))?;
        if verdict.record != check {
            return Err(corrupt(
                "verdict",
                format!("a `{}` verdict stored as `{kind}`", verdict.record.as_str()),
            ));
        }
        stored_checks.insert(verdict);
    }
    Ok(Domain {
        id: DomainId::parse(&row.id).map_err(|e| corrupt("domain id", e))?,
        name,
        owner: Owner {
            partner_id: row.partner_id,
            tenant_id: row.tenant_id,
        },
        dmarc_policy: DmarcPolicy::parse(&row.dmarc_policy)
            .map_err(|e| corrupt("DMARC policy", e))?,
        dmarc_rua: row
            .dmarc_rua
            .map(|r| RuaAddress::from_stored(&r))
            .transpose()
            .map_err(|e| corrupt("DMARC report address", e))?,
        is_active: row.is_active,
        verified: row.verified,
        keys: KeyRing::from_stored(keys)
            .map_err(|e| corrupt(&format!("DKIM keys of {}", row.id), e))?,
        zone_label: ZoneLabel::parse(&row.zone_label).map_err(|e| corrupt("zone label", e))?,
        checks: stored_checks,
        dkim_rotation_days: row
            .dkim_rotation_days
            .map(|days| {
                u32::try_from(days)
                    .map_err(|e| corrupt("rotation period", e))
                    .and_then(|d| {
                        RotationPeriod::from_days(d).map_err(|e| corrupt("rotation period", e))
                    })
            })
            .transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_verified_at: row.last_verified_at,
        failing_since: row.failing_since,
        next_check_at: row.next_check_at,
        version: row.version,
        return_path,
    })
}

/// The return path of a domain's row: all of its columns, or none but a `false` flag.
fn return_path(row: &StoredDomain, name: &DomainName) -> Result<Option<ReturnPath>, RepoError> {
    match (&row.return_path, row.return_path_set_at) {
        (None, None) if !row.return_path_verified && row.return_path_failing_since.is_none() => {
            Ok(None)
        }
        (Some(label), Some(set_at)) => {
            let label = ReturnPathLabel::parse(label).map_err(|e| corrupt("return path", e))?;
            Ok(Some(ReturnPath {
                host: label.host(name).map_err(|e| corrupt("return path", e))?,
                label,
                set_at,
                verified: row.return_path_verified,
                failing_since: row.return_path_failing_since,
            }))
        }
        _ => Err(corrupt(
            "return path",
            format!("the return-path columns of {} disagree", row.id),
        )),
    }
}

fn key(row: StoredKey) -> Result<SelectorKey, RepoError> {
    Ok(SelectorKey {
        selector: Selector::parse(&row.selector).map_err(|e| corrupt("selector", e))?,
        index: u32::try_from(row.idx).map_err(|e| corrupt("selector number", e))?,
        mode: DkimMode::parse(&row.mode)
            .ok_or_else(|| corrupt("key mode", format!("`{}`", row.mode)))?,
        state: KeyState::from_stored(&row.state)
            .ok_or_else(|| corrupt("key state", format!("`{}`", row.state)))?,
        public_key: Algorithm::parse(&row.algorithm)
            .ok_or_else(|| corrupt("key algorithm", format!("`{}`", row.algorithm)))
            .and_then(|algorithm| {
                DkimPublicKey::from_stored(algorithm, &row.public_key)
                    .map_err(|e| corrupt("public key", e))
            })?,
        sealed: row.sealed_private.map(SealedKey::from_bytes),
        created_at: row.created_at,
        activated_at: row.activated_at,
        retired_at: row.retired_at,
        removed_at: row.removed_at,
    })
}

/// A timeline event from its row.
pub fn event(row: StoredEvent) -> Result<DomainEvent, RepoError> {
    Ok(DomainEvent {
        id: EventId::parse(&row.id).map_err(|e| corrupt("event id", e))?,
        domain_id: DomainId::parse(&row.domain_id).map_err(|e| corrupt("domain id", e))?,
        at: row.at,
        actor: Actor::from_stored(&row.actor),
        kind: EventKind::from_stored(&row.kind)
            .ok_or_else(|| corrupt("event kind", format!("`{}`", row.kind)))?,
        message: row.message,
        detail: row.detail,
    })
}

/// The verdicts of a domain as rows: (check kind, JSON).
pub fn check_rows(checks: &Verdicts) -> Result<Vec<(&'static str, serde_json::Value)>, RepoError> {
    checks
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .map(|json| (v.record.as_str(), storable_json(json)))
                .map_err(|e| RepoError::Internal(format!("a verdict does not encode: {e}")))
        })
        .collect()
}

/// The `message` and `detail` of an event as stores write them (see [`storable_text`]).
pub fn event_columns(event: &DomainEvent) -> (String, serde_json::Value) {
    (
        storable_text(&event.message),
        storable_json(event.detail.clone()),
    )
}

/// Text as every store can hold it: a NUL, which PostgreSQL's `text` and `jsonb` refuse,
/// is written `\000` as [`escape`](crate::records::text::escape) shows it. The core
/// already shows DNS data escaped; this keeps a NUL from anywhere else (an error
/// message, say) from failing a write, so that both stores accept the same values.
pub fn storable_text(text: &str) -> String {
    text.replace('\0', "\\000")
}

/// A JSON value with [`storable_text`] applied to every string in it, keys included.
pub fn storable_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Value::String(storable_text(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(storable_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (storable_text(&k), storable_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The error for a stored value that does not decode.
pub fn corrupt(what: &str, e: impl std::fmt::Display) -> RepoError {
    RepoError::Internal(format!("stored {what} is invalid: {e}"))
}

/// Events are stored with the write of their domain; one that names another domain is a
/// caller's mistake, refused before anything is written.
pub fn events_belong(domain: &Domain, events: &[DomainEvent]) -> Result<(), RepoError> {
    match events.iter().find(|e| e.domain_id != domain.id) {
        Some(e) => Err(RepoError::Internal(format!(
            "event {} is about {}, not about {}",
            e.id, e.domain_id, domain.id
        ))),
        None => Ok(()),
    }
}

/// The errors a store reports when a write meets what is already there, worded once for
/// every store.
pub mod conflict {
    use crate::error::RepoError;
    use crate::model::DomainId;
    use crate::name::DomainName;

    /// The owner already has a domain of this name.
    pub fn name_taken(name: &DomainName) -> RepoError {
        RepoError::Conflict(format!("`{name}` is already a domain of this owner"))
    }

    /// A domain with this id exists.
    pub fn id_taken(id: &DomainId) -> RepoError {
        RepoError::Conflict(format!("a domain with id `{id}` already exists"))
    }

    /// An event with this id exists.
    pub fn event_id_taken() -> RepoError {
        RepoError::Conflict("an event with this id was already stored".to_owned())
    }

    /// The version the caller read is no longer the stored one.
    pub fn stale_version() -> RepoError {
        RepoError::Conflict(
            "the domain was changed by someone else since it was read; read it again".to_owned(),
        )
    }

    /// `release` by an instance that does not hold the lease.
    pub fn not_lease_holder() -> RepoError {
        RepoError::Conflict(
            "the lease is not held by this owner (it expired and was claimed again, or was never taken)"
                .to_owned(),
        )
    }
}

/// A key-pool row as both stores read it back: the columns of `key_pool`.
pub fn pooled_key(
    id: String,
    kind: String,
    algorithm: &str,
    public_key: &[u8],
    sealed_private: Vec<u8>,
) -> Result<crate::ports::PooledKey, RepoError> {
    let algorithm =
        Algorithm::parse(algorithm).ok_or_else(|| corrupt("pooled key algorithm", algorithm))?;
    let public_key = DkimPublicKey::from_stored(algorithm, public_key)
        .map_err(|e| corrupt("pooled public key", e))?;
    Ok(crate::ports::PooledKey {
        id,
        kind,
        public_key,
        sealed: SealedKey::from_bytes(sealed_private),
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::testing;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);

    fn domain_row(id: &str, name: &str) -> StoredDomain {
        StoredDomain {
            id: id.to_owned(),
            name: name.to_owned(),
            partner_id: "p1".to_owned(),
            tenant_id: Some("t1".to_owned()),
            dmarc_policy: "quarantine".to_owned(),
            dmarc_rua: None,
            is_active: true,
            verified: false,
            dkim_rotation_days: None,
            created_at: NOW,
            updated_at: NOW,
            last_verified_at: None,
            failing_since: None,
            next_check_at: NOW,
            version: 3,
            zone_label: "0123456789abcdef".to_owned(),
            return_path: None,
            return_path_set_at: None,
            return_path_verified: false,
            return_path_failing_since: None,
        }
    }

    fn key_row(domain_id: &str, key: usize) -> (String, StoredKey) {
        let row = StoredKey {
            selector: "scaisend".to_owned(),
            idx: 1,
            state: "active".to_owned(),
            algorithm: "rsa-sha256".to_owned(),
            mode: "txt".to_owned(),
            public_key: testing::key(key).public.p_bytes().to_vec(),
            sealed_private: Some(vec![7; 40]),
            created_at: NOW,
            activated_at: Some(NOW),
            retired_at: None,
            removed_at: None,
        };
        (domain_id.to_owned(), row)
    }

    fn ids() -> [String; 2] {
        let ids = crate::model::IdGenerator::new();
        [
            ids.domain_id(NOW).to_string(),
            ids.domain_id(NOW).to_string(),
        ]
    }

    #[test]
    fn domains_pick_their_own_keys_and_checks_out_of_shared_rows() {
        let [a, b] = ids();
        let verdict = serde_json::json!({
            "record": "dmarc",
            "host": "_dmarc.b.example.com",
            "status": "temporary_failure",
            "code": "dmarc_temporary_failure",
            "expected": null,
            "found": [],
            "message": "the lookup timed out",
        });
        let domains = domains(
            vec![
                domain_row(&b, "b.example.com"),
                domain_row(&a, "a.example.com"),
            ],
            vec![key_row(&a, 0), key_row(&b, 1)],
            vec![(b.clone(), "dmarc".to_owned(), verdict)],
        )
        .unwrap();

        assert_eq!(domains.len(), 2);
        assert_eq!(domains[0].id.as_str(), b, "the rows' order is kept");
        assert_eq!(domains[0].name.as_str(), "b.example.com");
        assert_eq!(domains[0].keys.active().public_key, testing::key(1).public);
        assert!(domains[0].checks.get(CheckKind::Dmarc).is_some());
        assert_eq!(domains[1].keys.active().public_key, testing::key(0).public);
        assert!(
            domains[1].checks.get(CheckKind::Dmarc).is_none(),
            "b's verdict is not a's"
        );
        assert_eq!(domains[1].version, 3);
    }

    #[test]
    fn a_domain_without_key_rows_is_corrupt_not_a_panic() {
        let [a, _] = ids();
        let err = domains(vec![domain_row(&a, "a.example.com")], vec![], vec![]).unwrap_err();
        assert!(matches!(err, RepoError::Internal(m) if m.contains("DKIM keys")));
    }

    #[test]
    fn a_stored_rotation_period_out_of_range_is_corrupt() {
        let [a, _] = ids();
        for days in [0, -1, i64::from(u32::MAX) + 1] {
            let mut row = domain_row(&a, "a.example.com");
            row.dkim_rotation_days = Some(days);
            let err = domains(vec![row], vec![key_row(&a, 0)], vec![]).unwrap_err();
            assert!(
                matches!(&err, RepoError::Internal(m) if m.contains("rotation period")),
                "{days}: {err:?}"
            );
        }
        let mut row = domain_row(&a, "a.example.com");
        row.dkim_rotation_days = Some(90);
        let got = domains(vec![row], vec![key_row(&a, 0)], vec![]).unwrap();
        assert_eq!(
            got[0].dkim_rotation_days.map(RotationPeriod::days),
            Some(90)
        );
    }

    #[test]
    fn a_return_path_reads_back_and_columns_that_disagree_are_corrupt() {
        let [a, _] = ids();
        let mut row = domain_row(&a, "a.example.com");
        row.return_path = Some("bounces".to_owned());
        row.return_path_set_at = Some(NOW);
        row.return_path_verified = true;
        let got = domains(vec![row.clone()], vec![key_row(&a, 0)], vec![]).unwrap();
        let rp = got[0].return_path.clone().unwrap();
        assert_eq!(rp.host.as_str(), "bounces.a.example.com");
        assert!(rp.verified);
        assert_eq!(
            return_path_columns(&got[0]),
            ReturnPathColumns {
                label: Some("bounces"),
                set_at: Some(NOW),
                verified: true,
                failing_since: None
            }
        );
        let corrupt_rows = [
            StoredDomain {
                return_path_set_at: None,
                ..row.clone()
            },
            StoredDomain {
                return_path: None,
                return_path_set_at: None,
                ..row.clone()
            },
            StoredDomain {
                return_path: Some("_dmarc".to_owned()),
                ..row.clone()
            },
        ];
        for bad in corrupt_rows {
            let err = domains(vec![bad.clone()], vec![key_row(&a, 0)], vec![]).unwrap_err();
            assert!(
                matches!(&err, RepoError::Internal(m) if m.contains("return path")),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn an_unknown_check_kind_is_corrupt() {
        let [a, _] = ids();
        let err = domains(
            vec![domain_row(&a, "a.example.com")],
            vec![key_row(&a, 0)],
            vec![(a.clone(), "bimi".to_owned(), serde_json::json!({}))],
        )
        .unwrap_err();
        assert!(matches!(err, RepoError::Internal(m) if m.contains("bimi")));
    }

    #[test]
    fn events_of_another_domain_are_refused() {
        let mine = testing::domain("a.example.com", NOW);
        let other = testing::domain("b.example.com", NOW);
        let ids = crate::model::IdGenerator::new();
        let event = |d: &Domain| DomainEvent {
            id: ids.event_id(NOW),
            domain_id: d.id.clone(),
            at: NOW,
            actor: Actor::System,
            kind: EventKind::Created,
            message: "created".to_owned(),
            detail: serde_json::Value::Null,
        };
        assert!(events_belong(&mine, &[event(&mine)]).is_ok());
        assert!(matches!(
            events_belong(&mine, &[event(&mine), event(&other)]),
            Err(RepoError::Internal(_))
        ));
    }
}
