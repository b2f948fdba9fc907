//! Rows to the core's types and back. Every stored value is parsed again through the
//! core's constructors, so a row that breaks an invariant is reported as `Internal`
//! rather than handed to the rules.

use domain_core::RepoError;
use domain_core::model::DomainEvent;
use domain_core::stored::{self, StoredDomain, StoredEvent, StoredKey};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::map_err;

/// One stored verdict: (domain id, check kind, JSON).
pub(crate) fn check(row: &PgRow) -> Result<(String, String, serde_json::Value), RepoError> {
    let verdict: serde_json::Value = get(row, "verdict")?;
    Ok((get(row, "domain_id")?, get(row, "kind")?, verdict))
}

/// A domain's row (the columns of [`store_sql::domain_columns`]), for
/// [`stored::domains`](domain_core::stored::domains).
pub(crate) fn domain(row: &PgRow) -> Result<StoredDomain, RepoError> {
    Ok(StoredDomain {
        id: get(row, "id")?,
        name: get(row, "name")?,
        partner_id: get(row, "partner_id")?,
        tenant_id: get(row, "tenant_id")?,
        dmarc_policy: get(row, "dmarc_policy")?,
        dmarc_rua: get(row, "dmarc_rua")?,
        is_active: get(row, "is_active")?,
        verified: get(row, "verified")?,
        dkim_rotation_days: get(row, "dkim_rotation_days")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_verified_at: get(row, "last_verified_at")?,
        failing_since: get(row, "failing_since")?,
        next_check_at: get(row, "next_check_at")?,
        version: get(row, "version")?,
        zone_label: get(row, "dkim_label")?,
        return_path: get(row, "return_path")?,
        return_path_set_at: get(row, "return_path_set_at")?,
        return_path_verified: get(row, "return_path_verified")?,
        return_path_failing_since: get(row, "return_path_failing_since")?,
    })
}

/// A DKIM key's row and the id of its domain.
pub(crate) fn key(row: &PgRow) -> Result<(String, StoredKey), RepoError> {
    let key = StoredKey {
        selector: get(row, "selector")?,
        idx: get(row, "idx")?,
        state: get(row, "state")?,
        algorithm: get(row, "algorithm")?,
        mode: get(row, "mode")?,
        public_key: get(row, "public_key")?,
        sealed_private: get(row, "sealed_private")?,
        created_at: get(row, "created_at")?,
        activated_at: get(row, "activated_at")?,
        retired_at: get(row, "retired_at")?,
        removed_at: get(row, "removed_at")?,
    };
    Ok((get(row, "domain_id")?, key))
}

/// A timeline event.
pub(crate) fn event(row: &PgRow) -> Result<DomainEvent, RepoError> {
    stored::event(StoredEvent {
        id: get(row, "id")?,
        domain_id: get(row, "domain_id")?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        kind: get(row, "kind")?,
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
