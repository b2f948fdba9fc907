//! Rows to the core's types and back. Every stored value is parsed again through the
//! core's constructors, so a row that breaks an invariant is reported as `Internal`
//! rather than handed to the rules.

use domain_core::RepoError;
use domain_core::model::DomainEvent;
use domain_core::stored::{self, StoredDomain, StoredEvent, StoredKey};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteRow, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Row, Type};
use time::OffsetDateTime;

use crate::error::map_err;
use domain_core::stored::corrupt;

/// One stored verdict: (domain id, check kind, JSON).
pub(crate) fn check(row: &SqliteRow) -> Result<(String, String, serde_json::Value), RepoError> {
    let json: String = get(row, "verdict")?;
    let verdict: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| corrupt("verdict", e))?;
    Ok((get(row, "domain_id")?, get(row, "kind")?, verdict))
}

/// A domain's row (the columns of [`store_sql::domain_columns`]), for
/// [`stored::domains`](domain_core::stored::domains).
pub(crate) fn domain(row: &SqliteRow) -> Result<StoredDomain, RepoError> {
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
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_verified_at: opt_time(row, "last_verified_at")?,
        failing_since: opt_time(row, "failing_since")?,
        next_check_at: time(row, "next_check_at")?,
        version: get(row, "version")?,
        zone_label: get(row, "dkim_label")?,
        return_path: get(row, "return_path")?,
        return_path_set_at: opt_time(row, "return_path_set_at")?,
        return_path_verified: get(row, "return_path_verified")?,
        return_path_failing_since: opt_time(row, "return_path_failing_since")?,
    })
}

/// A DKIM key's row and the id of its domain.
pub(crate) fn key(row: &SqliteRow) -> Result<(String, StoredKey), RepoError> {
    let key = StoredKey {
        selector: get(row, "selector")?,
        idx: get(row, "idx")?,
        state: get(row, "state")?,
        algorithm: get(row, "algorithm")?,
        mode: get(row, "mode")?,
        public_key: get(row, "public_key")?,
        sealed_private: get(row, "sealed_private")?,
        created_at: time(row, "created_at")?,
        activated_at: opt_time(row, "activated_at")?,
        retired_at: opt_time(row, "retired_at")?,
        removed_at: opt_time(row, "removed_at")?,
    };
    Ok((get(row, "domain_id")?, key))
}

/// A timeline event.
pub(crate) fn event(row: &SqliteRow) -> Result<DomainEvent, RepoError> {
    let detail: String = get(row, "detail")?;
    stored::event(StoredEvent {
        id: get(row, "id")?,
        domain_id: get(row, "domain_id")?,
        at: time(row, "at")?,
        actor: get(row, "actor")?,
        kind: get(row, "kind")?,
        message: get(row, "message")?,
        detail: serde_json::from_str(&detail).map_err(|e| corrupt("event detail", e))?,
    })
}

/// One column; a value of the wrong type is `Internal` (via [`map_err`]).
pub(crate) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, RepoError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column).map_err(map_err)
}

pub(crate) fn time(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, RepoError> {
    get::<Micros>(row, column).map(|m| m.0)
}

pub(crate) fn opt_time(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, RepoError> {
    get::<Option<Micros>>(row, column).map(|m| m.map(|m| m.0))
}

/// A time as the schema stores it: INTEGER microseconds since 1970-01-01 UTC, which sort
/// and compare as times (see the migration). Finer digits are dropped, as Postgres does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Micros(pub(crate) OffsetDateTime);

impl Micros {
    /// `Some` time as `Some(Micros)`, for nullable columns.
    pub(crate) fn opt(t: Option<OffsetDateTime>) -> Option<Micros> {
        t.map(Micros)
    }
}

impl Type<Sqlite> for Micros {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Micros {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        let micros = i64::try_from((self.0 - OffsetDateTime::UNIX_EPOCH).whole_microseconds())?;
        <i64 as Encode<Sqlite>>::encode(micros, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Micros {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        Ok(Micros(OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(micros) * 1000,
        )?))
    }
}
