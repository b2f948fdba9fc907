//! The aggregate as stores keep it — plain strings, integers, bytes and times — and the
//! one place that turns those values back into valid domain types.
//!
//! Every store adapter decodes its rows into these structs (the SQL and the column types
//! are the adapter's business) and calls [`domain`] and [`event`]: the rules about what a
//! stored row must hold live here once, not once per database. A row that breaks an
//! invariant is `RepoError::Internal`, never handed to the rules.

use time::OffsetDateTime;

use crate::error::RepoError;
use crate::keys::SealedKey;
use crate::model::{Actor, Checks, Domain, DomainEvent, DomainId, EventId, EventKind, Owner};
use crate::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use crate::records::dkim::DkimPublicKey;
use crate::rotation::{DkimKey, DkimKeys, KeyState};
use crate::verify::Verdict;

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
    /// SubjectPublicKeyInfo DER.
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

/// The kinds of stored checks, as the store names them.
pub const CHECK_KINDS: [&str; 3] = ["dkim", "spf", "dmarc"];

/// A domain from its row, its keys' rows and its stored verdicts (check kind, JSON).
pub fn domain(
    row: StoredDomain,
    keys: Vec<StoredKey>,
    checks: Vec<(String, serde_json::Value)>,
) -> Result<Domain, RepoError> {
    let keys = keys.into_iter().map(key).collect::<Result<Vec<_>, _>>()?;
    let mut stored_checks = Checks::default();
    for (kind, json) in checks {
        let verdict: Verdict = serde_json::from_value(json).map_err(|e| corrupt("verdict", e))?;
        let slot = match kind.as_str() {
            "dkim" => &mut stored_checks.dkim,
            "spf" => &mut stored_checks.spf,
            "dmarc" => &mut stored_checks.dmarc,
            other => return Err(corrupt("check kind", format!("`{other}`"))),
        };
        *slot = Some(verdict);
    }
    Ok(Domain {
        id: DomainId::parse(&row.id).map_err(|e| corrupt("domain id", e))?,
        name: DomainName::from_stored(&row.name).map_err(|e| corrupt("domain name", e))?,
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
        keys: DkimKeys::from_stored(keys)
            .map_err(|e| corrupt(&format!("DKIM keys of {}", row.id), e))?,
        checks: stored_checks,
        dkim_rotation_days: row
            .dkim_rotation_days
            .map(u32::try_from)
            .transpose()
            .map_err(|e| corrupt("rotation period", e))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_verified_at: row.last_verified_at,
        failing_since: row.failing_since,
        next_check_at: row.next_check_at,
        version: row.version,
    })
}

fn key(row: StoredKey) -> Result<DkimKey, RepoError> {
    Ok(DkimKey {
        selector: Selector::parse(&row.selector).map_err(|e| corrupt("selector", e))?,
        index: u32::try_from(row.idx).map_err(|e| corrupt("selector number", e))?,
        state: KeyState::from_stored(&row.state)
            .ok_or_else(|| corrupt("key state", format!("`{}`", row.state)))?,
        public_key: DkimPublicKey::from_der(&row.public_key)
            .map_err(|e| corrupt("public key", e))?,
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
pub fn check_rows(checks: &Checks) -> Result<Vec<(&'static str, serde_json::Value)>, RepoError> {
    CHECK_KINDS
        .into_iter()
        .zip([&checks.dkim, &checks.spf, &checks.dmarc])
        .filter_map(|(kind, verdict)| verdict.as_ref().map(|v| (kind, v)))
        .map(|(kind, v)| {
            serde_json::to_value(v)
                .map(|json| (kind, json))
                .map_err(|e| RepoError::Internal(format!("a verdict does not encode: {e}")))
        })
        .collect()
}

/// The error for a stored value that does not decode.
pub fn corrupt(what: &str, e: impl std::fmt::Display) -> RepoError {
    RepoError::Internal(format!("stored {what} is invalid: {e}"))
}
