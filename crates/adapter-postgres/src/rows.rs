//! Rows to the core's types and back. Every stored value is parsed again through the
//! core's constructors, so a row that breaks an invariant is reported as `Internal`
//! rather than handed to the rules.

use domain_core::RepoError;
use domain_core::keys::SealedKey;
use domain_core::model::{Actor, Checks, Domain, DomainEvent, DomainId, EventId, EventKind, Owner};
use domain_core::name::{DmarcPolicy, DomainName, RuaAddress, Selector};
use domain_core::records::dkim::DkimPublicKey;
use domain_core::rotation::{DkimKey, DkimKeys, KeyState};
use domain_core::verify::Verdict;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::{corrupt, map_err};

/// The columns of `domains` that [`domain`] reads, in a `SELECT`.
macro_rules! domain_columns {
    () => {
        "id, name, partner_id, tenant_id, dmarc_policy, dmarc_rua, is_active, verified, \
         dkim_rotation_days, created_at, updated_at, last_verified_at, failing_since, \
         next_check_at, version"
    };
}
pub(crate) use domain_columns;

/// The columns of `dkim_keys` that [`key`] reads.
pub(crate) const KEY_COLUMNS: &str = "domain_id, selector, idx, state, public_key, \
     sealed_private, created_at, activated_at, retired_at, removed_at";

/// The columns of `domain_events` that [`event`] reads.
pub(crate) const EVENT_COLUMNS: &str = "id, domain_id, at, actor, kind, message, detail";

/// The check kinds as stored, with the field of [`Checks`] each one fills.
pub(crate) fn checks_as_rows(
    checks: &Checks,
) -> Result<Vec<(&'static str, serde_json::Value)>, RepoError> {
    [
        ("dkim", &checks.dkim),
        ("spf", &checks.spf),
        ("dmarc", &checks.dmarc),
    ]
    .into_iter()
    .filter_map(|(kind, verdict)| verdict.as_ref().map(|v| (kind, v)))
    .map(|(kind, v)| {
        serde_json::to_value(v)
            .map(|json| (kind, json))
            .map_err(|e| RepoError::Internal(format!("a verdict does not encode: {e}")))
    })
    .collect()
}

/// Puts one stored verdict into its place in `checks`.
pub(crate) fn add_check(checks: &mut Checks, row: &PgRow) -> Result<(), RepoError> {
    let kind: String = get(row, "kind")?;
    let json: serde_json::Value = get(row, "verdict")?;
    let verdict: Verdict = serde_json::from_value(json).map_err(|e| corrupt("verdict", e))?;
    let slot = match kind.as_str() {
        "dkim" => &mut checks.dkim,
        "spf" => &mut checks.spf,
        "dmarc" => &mut checks.dmarc,
        other => return Err(corrupt("check kind", format!("`{other}`"))),
    };
    *slot = Some(verdict);
    Ok(())
}

/// A domain from its row, its keys and its checks.
pub(crate) fn domain(row: &PgRow, keys: Vec<DkimKey>, checks: Checks) -> Result<Domain, RepoError> {
    let id: String = get(row, "id")?;
    let name: String = get(row, "name")?;
    let policy: String = get(row, "dmarc_policy")?;
    let rua: Option<String> = get(row, "dmarc_rua")?;
    let rotation_days: Option<i64> = get(row, "dkim_rotation_days")?;
    Ok(Domain {
        id: DomainId::parse(&id).map_err(|e| corrupt("domain id", e))?,
        name: DomainName::parse(&name).map_err(|e| corrupt("domain name", e))?,
        owner: Owner {
            partner_id: get(row, "partner_id")?,
            tenant_id: get(row, "tenant_id")?,
        },
        dmarc_policy: DmarcPolicy::parse(&policy).map_err(|e| corrupt("DMARC policy", e))?,
        dmarc_rua: rua
            .map(|r| RuaAddress::parse(&r))
            .transpose()
            .map_err(|e| corrupt("DMARC report address", e))?,
        is_active: get(row, "is_active")?,
        verified: get(row, "verified")?,
        keys: DkimKeys::from_stored(keys).map_err(|e| corrupt(&format!("DKIM keys of {id}"), e))?,
        checks,
        dkim_rotation_days: rotation_days
            .map(u32::try_from)
            .transpose()
            .map_err(|e| corrupt("rotation period", e))?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_verified_at: get(row, "last_verified_at")?,
        failing_since: get(row, "failing_since")?,
        next_check_at: get(row, "next_check_at")?,
        version: get(row, "version")?,
    })
}

/// A DKIM key and the id of its domain.
pub(crate) fn key(row: &PgRow) -> Result<(String, DkimKey), RepoError> {
    let domain_id: String = get(row, "domain_id")?;
    let selector: String = get(row, "selector")?;
    let idx: i64 = get(row, "idx")?;
    let state: String = get(row, "state")?;
    let public_key: Vec<u8> = get(row, "public_key")?;
    let sealed: Option<Vec<u8>> = get(row, "sealed_private")?;
    let key = DkimKey {
        selector: Selector::parse(&selector).map_err(|e| corrupt("selector", e))?,
        index: u32::try_from(idx).map_err(|e| corrupt("selector number", e))?,
        state: KeyState::from_stored(&state)
            .ok_or_else(|| corrupt("key state", format!("`{state}`")))?,
        public_key: DkimPublicKey::from_der(&public_key).map_err(|e| corrupt("public key", e))?,
        sealed: sealed.map(SealedKey::from_bytes),
        created_at: get(row, "created_at")?,
        activated_at: get(row, "activated_at")?,
        retired_at: get(row, "retired_at")?,
        removed_at: get(row, "removed_at")?,
    };
    Ok((domain_id, key))
}

/// A timeline event.
pub(crate) fn event(row: &PgRow) -> Result<DomainEvent, RepoError> {
    let id: String = get(row, "id")?;
    let domain_id: String = get(row, "domain_id")?;
    let actor: String = get(row, "actor")?;
    let kind: String = get(row, "kind")?;
    Ok(DomainEvent {
        id: EventId::parse(&id).map_err(|e| corrupt("event id", e))?,
        domain_id: DomainId::parse(&domain_id).map_err(|e| corrupt("domain id", e))?,
        at: get(row, "at")?,
        actor: Actor::from_stored(&actor),
        kind: EventKind::from_stored(&kind)
            .ok_or_else(|| corrupt("event kind", format!("`{kind}`")))?,
        message: get(row, "message")?,
        detail: get(row, "detail")?,
    })
}

/// One column; a value of the wrong type is `Internal` (via [`map_err`]).
pub(crate) fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, RepoError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(map_err)
}
