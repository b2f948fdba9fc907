//! Rows to the core's types, once for both databases. Every stored value is parsed again
//! through the core's constructors, so a row that breaks an invariant is reported as
//! `Internal` rather than handed to the rules.

use domain_core::RepoError;
use domain_core::model::{Domain, DomainEvent};
use domain_core::ports::PooledKey;
use domain_core::stored::{self, StoredCheck, StoredDomain, StoredEvent, StoredKey, corrupt};
use domain_core::webhook::stored::{StoredAttempt, StoredEndpoint, StoredMessage};
use domain_core::webhook::{Attempt, OutboxMessage};
use time::OffsetDateTime;

use crate::dialect::{Dialect, Value};
use crate::part;

/// One column; a value of the wrong type is `Internal`, as
/// [`map_err`](crate::dialect::map_err) maps a decoding error.
pub fn get<'r, D: Dialect, T: Value<'r>>(row: &'r D::Row, column: &str) -> Result<T, RepoError> {
    D::get(row, column).map_err(decode_err)
}

/// A time in a column that holds one on every row.
pub fn time<D: Dialect>(row: &D::Row, column: &str) -> Result<OffsetDateTime, RepoError> {
    opt_time::<D>(row, column)?.ok_or_else(|| corrupt(column, "NULL where a time belongs"))
}

/// A time in a nullable column.
pub fn opt_time<D: Dialect>(
    row: &D::Row,
    column: &str,
) -> Result<Option<OffsetDateTime>, RepoError> {
    D::opt_time(row, column).map_err(decode_err)
}

/// JSON in a column; `what` names it if the stored text is not JSON.
fn json<D: Dialect>(
    row: &D::Row,
    column: &str,
    what: &str,
) -> Result<serde_json::Value, RepoError> {
    D::json(row, column, what).map_err(decode_err)?
}

fn decode_err(e: sqlx::Error) -> RepoError {
    RepoError::Internal(e.to_string())
}

/// The domains of the rows of one [`with_children`](crate::domain) statement, with their
/// keys and verdicts, in the order of their rows.
pub fn aggregates<D: Dialect>(rows: &[D::Row]) -> Result<Vec<Domain>, RepoError> {
    let (mut domains, mut keys, mut checks) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match get::<D, i32>(row, "part")? {
            part::DOMAIN => domains.push(domain::<D>(row)?),
            part::KEY => keys.push(key::<D>(row)?),
            part::CHECK => checks.push(check::<D>(row)?),
            other => return Err(corrupt("row part", other)),
        }
    }
    stored::domains(domains, keys, checks)
}

/// One stored verdict: (domain id, check kind, JSON).
pub fn check<D: Dialect>(row: &D::Row) -> Result<StoredCheck, RepoError> {
    let verdict = json::<D>(row, "verdict", "verdict")?;
    Ok((
        get::<D, _>(row, "domain_id")?,
        get::<D, _>(row, "kind")?,
        verdict,
    ))
}

/// A domain's row (the columns of [`domain_columns`](crate::domain_columns)), for
/// [`stored::domains`].
pub fn domain<D: Dialect>(row: &D::Row) -> Result<StoredDomain, RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    let opt_text = |column: &str| get::<D, Option<String>>(row, column);
    let flag = |column: &str| get::<D, bool>(row, column);
    Ok(StoredDomain {
        id: text("id")?,
        name: text("name")?,
        partner_id: text("partner_id")?,
        tenant_id: opt_text("tenant_id")?,
        dmarc_policy: text("dmarc_policy")?,
        dmarc_rua: opt_text("dmarc_rua")?,
        is_active: flag("is_active")?,
        verified: flag("verified")?,
        dkim_rotation_days: get::<D, _>(row, "dkim_rotation_days")?,
        created_at: time::<D>(row, "created_at")?,
        updated_at: time::<D>(row, "updated_at")?,
        last_verified_at: opt_time::<D>(row, "last_verified_at")?,
        failing_since: opt_time::<D>(row, "failing_since")?,
        next_check_at: time::<D>(row, "next_check_at")?,
        version: get::<D, _>(row, "version")?,
        zone_label: text("dkim_label")?,
        return_path: opt_text("return_path")?,
        return_path_set_at: opt_time::<D>(row, "return_path_set_at")?,
        return_path_verified: flag("return_path_verified")?,
        return_path_failing_since: opt_time::<D>(row, "return_path_failing_since")?,
    })
}

/// A DKIM key's row (the columns of [`KEY_COLUMNS`](crate::KEY_COLUMNS)) and the id of
/// its domain.
pub fn key<D: Dialect>(row: &D::Row) -> Result<(String, StoredKey), RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    let key = StoredKey {
        selector: text("selector")?,
        idx: get::<D, _>(row, "idx")?,
        state: text("state")?,
        algorithm: text("algorithm")?,
        mode: text("mode")?,
        public_key: get::<D, _>(row, "public_key")?,
        sealed_private: get::<D, _>(row, "sealed_private")?,
        created_at: time::<D>(row, "created_at")?,
        activated_at: opt_time::<D>(row, "activated_at")?,
        retired_at: opt_time::<D>(row, "retired_at")?,
        removed_at: opt_time::<D>(row, "removed_at")?,
    };
    Ok((text("domain_id")?, key))
}

/// A timeline event (the columns of [`EVENT_COLUMNS`](crate::EVENT_COLUMNS)).
pub fn event<D: Dialect>(row: &D::Row) -> Result<DomainEvent, RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    stored::event(StoredEvent {
        id: text("id")?,
        domain_id: text("domain_id")?,
        at: time::<D>(row, "at")?,
        actor: text("actor")?,
        kind: text("kind")?,
        message: text("message")?,
        detail: json::<D>(row, "detail", "event detail")?,
    })
}

/// A pooled key's row (the columns of [`POOL_COLUMNS`](crate::POOL_COLUMNS)): the stored
/// key, or why it is corrupt.
pub fn pooled_key<D: Dialect>(row: &D::Row) -> Result<PooledKey, RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    let public_key: Vec<u8> = get::<D, _>(row, "public_key")?;
    stored::pooled_key(
        text("id")?,
        text("kind")?,
        &text("algorithm")?,
        &public_key,
        get::<D, _>(row, "sealed_private")?,
    )
}

/// A webhook endpoint's row (the columns of
/// [`ENDPOINT_COLUMNS`](crate::webhooks::ENDPOINT_COLUMNS)), without its listed types.
pub fn endpoint<D: Dialect>(row: &D::Row) -> Result<StoredEndpoint, RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    Ok(StoredEndpoint {
        id: text("id")?,
        partner_id: text("partner_id")?,
        tenant_id: get::<D, _>(row, "tenant_id")?,
        url: text("url")?,
        description: text("description")?,
        all_events: get::<D, _>(row, "all_events")?,
        enabled: get::<D, _>(row, "enabled")?,
        disabled_reason: get::<D, _>(row, "disabled_reason")?,
        secret: get::<D, _>(row, "secret")?,
        previous_secret: get::<D, _>(row, "previous_secret")?,
        previous_secret_until: opt_time::<D>(row, "previous_secret_until")?,
        failing_since: opt_time::<D>(row, "failing_since")?,
        created_at: time::<D>(row, "created_at")?,
        updated_at: time::<D>(row, "updated_at")?,
    })
}

/// A stored webhook message (the columns of
/// [`MESSAGE_COLUMNS`](crate::webhooks::MESSAGE_COLUMNS)).
pub fn message<D: Dialect>(row: &D::Row) -> Result<OutboxMessage, RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    StoredMessage {
        id: text("id")?,
        partner_id: text("partner_id")?,
        tenant_id: get::<D, _>(row, "tenant_id")?,
        event_type: text("event_type")?,
        payload: text("payload")?,
        created_at: time::<D>(row, "created_at")?,
    }
    .into_message()
}

/// A delivery attempt (the columns of
/// [`ATTEMPT_COLUMNS`](crate::webhooks::ATTEMPT_COLUMNS)).
pub fn attempt<D: Dialect>(row: &D::Row) -> Result<Attempt, RepoError> {
    let text = |column: &str| get::<D, String>(row, column);
    StoredAttempt {
        id: text("id")?,
        message_id: text("message_id")?,
        endpoint_id: text("endpoint_id")?,
        event_type: text("event_type")?,
        attempt: get::<D, _>(row, "attempt")?,
        at: time::<D>(row, "at")?,
        status: get::<D, _>(row, "status")?,
        error: get::<D, _>(row, "error")?,
        latency_ms: get::<D, _>(row, "latency_ms")?,
        next_attempt_at: opt_time::<D>(row, "next_attempt_at")?,
    }
    .into_attempt()
}
