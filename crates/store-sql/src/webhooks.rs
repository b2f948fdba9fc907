//! The webhook store's statements both stores share, written once: endpoints, the
//! outbox and its fan-out, and what a delivery attempt records. How deliveries are
//! claimed (under SQLite's write lock, or PostgreSQL's `SKIP LOCKED`) is each database's
//! own: [`Dialect::CLAIM_DELIVERIES`].

use std::collections::HashMap;

use domain_core::RepoError;
use domain_core::model::{Owner, Page, PageRequest};
use domain_core::stored::conflict;
use domain_core::webhook::stored::{event_rows, state_after};
use domain_core::webhook::{Attempt, DeliveryOutcome, DueDelivery, Endpoint, OutboxMessage};
use sqlx::{Database, QueryBuilder};

use super::{Bind, Ids, push_page, select_where};
use crate::dialect::{
    Binds, Dialect, execute, execute_unique, fetch_all, fetch_optional, insert_row,
    page_of_children,
};
use crate::rows;

/// The columns of `webhook_endpoints` that [`rows::endpoint`] reads.
pub const ENDPOINT_COLUMNS: &str = "id, partner_id, tenant_id, url, description, all_events, \
     enabled, disabled_reason, secret, previous_secret, previous_secret_until, failing_since, \
     created_at, updated_at";

/// The columns of `webhook_messages` that [`rows::message`] reads.
pub const MESSAGE_COLUMNS: &str = "id, partner_id, tenant_id, event_type, payload, created_at";

/// The columns of `webhook_attempts` that [`rows::attempt`] reads.
pub const ATTEMPT_COLUMNS: &str = "id, message_id, endpoint_id, event_type, attempt, at, \
     status, error, latency_ms, next_attempt_at";

/// ` AND` the row belongs to `owner` (a tenant, or its partner's shared side): the
/// one place an endpoint's owner becomes SQL.
pub fn push_owner<DB: Database>(q: &mut QueryBuilder<DB>, owner: &Owner)
where
    String: Bind<DB>,
{
    q.push(" AND partner_id = ")
        .push_bind(owner.partner_id.clone())
        .push(" AND owner_key = ")
        .push_bind(owner_key(owner));
}

/// What the schema's generated `owner_key` column holds for `owner`.
pub fn owner_key(owner: &Owner) -> String {
    match &owner.tenant_id {
        Some(t) => format!("tenant:{t}"),
        None => "shared".to_owned(),
    }
}

/// `SELECT` of the endpoint `id` of `owner`.
pub fn endpoint<DB: Database>(owner: &Owner, id: &str) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = endpoint_by_id(id);
    push_owner(&mut q, owner);
    q
}

/// `SELECT` of the endpoint `id`, whoever owns it (for the delivery worker).
pub fn endpoint_by_id<DB: Database>(id: &str) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    select_where(ENDPOINT_COLUMNS, "webhook_endpoints", "id", id)
}

/// `SELECT` of a page of the endpoints of `owner`, in id order.
pub fn endpoints<DB: Database>(owner: &Owner, page: &PageRequest) -> QueryBuilder<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE 1 = 1"
    ));
    push_owner(&mut q, owner);
    push_page(&mut q, page, Ids::Ascending);
    q
}

/// `SELECT endpoint_id, event_type` of the listed types of the endpoints `ids`.
pub fn endpoint_events<DB: Database>(ids: &[String]) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(
        "SELECT endpoint_id, event_type FROM webhook_endpoint_events WHERE endpoint_id",
    );
    super::push_in(&mut q, ids);
    q.push(" ORDER BY endpoint_id, event_type");
    q
}

/// `SELECT COUNT(*) AS n` of the endpoints of `owner`.
pub fn endpoint_count<DB: Database>(owner: &Owner) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE 1 = 1");
    push_owner(&mut q, owner);
    q
}

/// `DELETE` of the endpoint `id` of `owner`; its events, deliveries and attempts go
/// with it by cascade.
pub fn delete_endpoint<DB: Database>(owner: &Owner, id: &str) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new("DELETE FROM webhook_endpoints WHERE id = ");
    q.push_bind(id.to_owned());
    push_owner(&mut q, owner);
    q
}

/// `INSERT INTO webhook_endpoint_events` of an endpoint's listed types (none: no
/// statement).
pub fn insert_endpoint_events<DB: Database>(
    id: &str,
    types: &[&'static str],
) -> Option<QueryBuilder<DB>>
where
    String: Bind<DB>,
{
    if types.is_empty() {
        return None;
    }
    let mut q = QueryBuilder::new("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) ");
    q.push_values(types, |mut row, t| {
        row.push_bind(id.to_owned()).push_bind((*t).to_owned());
    });
    Some(q)
}

/// Fans the stored message `message_id` out: a pending delivery, due at once, for
/// each enabled endpoint of its owner that receives its type — or, with `only`, for
/// that one endpoint of the owner whatever it subscribes to (a `webhook.test`).
pub fn fan_out<DB: Database>(message_id: &str, only: Option<&str>) -> QueryBuilder<DB>
where
    String: Bind<DB>,
{
    let mut q = QueryBuilder::new(
        "INSERT INTO webhook_deliveries (message_id, endpoint_id, state, attempts, next_attempt_at) \
         SELECT m.id, e.id, 'pending', 0, m.created_at \
         FROM webhook_messages m JOIN webhook_endpoints e \
         ON e.partner_id = m.partner_id AND e.owner_key = m.owner_key \
         WHERE m.id = ",
    );
    q.push_bind(message_id.to_owned());
    match only {
        Some(id) => {
            q.push(" AND e.id = ").push_bind(id.to_owned());
        }
        None => {
            q.push(
                " AND e.enabled AND (e.all_events OR EXISTS (SELECT 1 FROM webhook_endpoint_events x \
                 WHERE x.endpoint_id = e.id AND x.event_type = m.event_type))",
            );
        }
    }
    q
}

/// `SELECT` of a page of an endpoint's attempts, newest first.
pub fn attempts<DB: Database>(endpoint_id: &str, page: &PageRequest) -> QueryBuilder<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    let mut q = select_where(
        ATTEMPT_COLUMNS,
        "webhook_attempts",
        "endpoint_id",
        endpoint_id,
    );
    push_page(&mut q, page, Ids::Descending);
    q
}

/// Stores `outbox` and fans each message out to its owner's endpoints.
pub async fn write_outbox<D: Dialect>(
    conn: &mut D::Connection,
    outbox: &[OutboxMessage],
) -> Result<(), RepoError>
where
    String: Bind<D>,
{
    for m in outbox {
        insert_message::<D>(conn, m).await?;
        execute(conn, fan_out::<D>(m.id.as_str(), None)).await?;
    }
    Ok(())
}

/// Stores `m` and queues it for the endpoint `to` of its owner alone, whatever that
/// endpoint subscribes to (a `webhook.test`): `NotFound` if the owner has no such
/// endpoint.
pub async fn enqueue_for<D: Dialect>(
    conn: &mut D::Connection,
    m: &OutboxMessage,
    to: &str,
) -> Result<(), RepoError>
where
    String: Bind<D>,
{
    insert_message::<D>(conn, m).await?;
    if execute(conn, fan_out::<D>(m.id.as_str(), Some(to))).await? == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

async fn insert_message<D: Dialect>(
    conn: &mut D::Connection,
    m: &OutboxMessage,
) -> Result<(), RepoError> {
    let q = insert_row::<D>(&format!("webhook_messages ({MESSAGE_COLUMNS})"), |row| {
        row.bind(m.id.as_str())
            .bind(m.owner.partner_id.as_str())
            .bind(m.owner.tenant_id.as_deref())
            .bind(m.event_type.as_str())
            .bind(m.payload.as_str())
            .time(m.created_at);
    });
    execute(conn, q).await?;
    Ok(())
}

/// Runs `query` (a `SELECT` of [`ENDPOINT_COLUMNS`]) and reads the endpoints with their
/// listed event types.
pub async fn fetch_endpoints<D: Dialect>(
    conn: &mut D::Connection,
    query: QueryBuilder<D>,
) -> Result<Vec<Endpoint>, RepoError>
where
    String: Bind<D>,
{
    let rows = fetch_all(conn, query).await?;
    let stored = rows
        .iter()
        .map(rows::endpoint::<D>)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<String> = stored.iter().map(|e| e.id.clone()).collect();
    let mut types: HashMap<String, Vec<String>> = HashMap::new();
    for row in fetch_all(conn, endpoint_events::<D>(&ids)).await? {
        types
            .entry(rows::get::<D, _>(&row, "endpoint_id")?)
            .or_default()
            .push(rows::get::<D, _>(&row, "event_type")?);
    }
    stored
        .into_iter()
        .map(|e| {
            let listed = types.remove(&e.id).unwrap_or_default();
            e.into_endpoint(&listed)
        })
        .collect()
}

/// Creates an endpoint unless its owner has `max_per_owner` already. The caller makes
/// creates of one owner take turns ([`Dialect::lock_endpoints_of`]), so that two cannot
/// both pass the count.
pub async fn create_endpoint<D: Dialect>(
    conn: &mut D::Connection,
    e: &Endpoint,
    max_per_owner: u32,
) -> Result<(), RepoError>
where
    String: Bind<D>,
{
    let count: i64 = match fetch_optional(conn, endpoint_count::<D>(&e.owner)).await? {
        Some(row) => rows::get::<D, _>(&row, "n")?,
        None => 0,
    };
    if count >= i64::from(max_per_owner) {
        return Err(RepoError::Conflict(format!(
            "the owner has {count} endpoints already"
        )));
    }
    let q = insert_row::<D>(
        &format!(
            "webhook_endpoints (id, partner_id, tenant_id, created_at, {ENDPOINT_STATE_COLUMNS})"
        ),
        |row| {
            row.bind(e.id.as_str())
                .bind(e.owner.partner_id.as_str())
                .bind(e.owner.tenant_id.as_deref())
                .time(e.created_at);
            bind_endpoint_state(row, e);
        },
    );
    execute_unique(conn, q, |_| {
        RepoError::Conflict(format!("endpoint id {} is taken", e.id))
    })
    .await?;
    write_endpoint_events::<D>(conn, e).await
}

/// The columns of an endpoint that an update writes, in the order
/// [`bind_endpoint_state`] binds them; an insert writes the identity before them.
const ENDPOINT_STATE_COLUMNS: &str = "url, description, all_events, enabled, disabled_reason, \
     secret, previous_secret, previous_secret_until, failing_since, updated_at";

/// Binds the values of [`ENDPOINT_STATE_COLUMNS`] of `e`.
fn bind_endpoint_state<D: Dialect>(row: &mut Binds<'_, D>, e: &Endpoint) {
    row.bind(e.url.as_str())
        .bind(e.description.as_str())
        .bind(event_rows(e).is_empty())
        .bind(e.enabled)
        .bind(e.disabled_reason.as_deref())
        .bind(e.secret.as_bytes())
        .bind(e.previous.as_ref().map(|p| p.secret.as_bytes()))
        .time(e.previous.as_ref().map(|p| p.until))
        .time(e.failing_since)
        .time(e.updated_at);
}

/// Writes an endpoint of its owner: `NotFound` if the owner has no such endpoint.
pub async fn update_endpoint<D: Dialect>(
    conn: &mut D::Connection,
    e: &Endpoint,
) -> Result<(), RepoError>
where
    String: Bind<D>,
{
    let mut q = QueryBuilder::new(format!(
        "UPDATE webhook_endpoints SET ({ENDPOINT_STATE_COLUMNS}) = ("
    ));
    bind_endpoint_state(&mut Binds::new(&mut q), e);
    q.push(") WHERE id = ");
    D::bind(&mut q, e.id.as_str());
    push_owner(&mut q, &e.owner);
    if execute(conn, q).await? == 0 {
        return Err(RepoError::NotFound);
    }
    write_endpoint_events::<D>(conn, e).await
}

async fn write_endpoint_events<D: Dialect>(
    conn: &mut D::Connection,
    endpoint: &Endpoint,
) -> Result<(), RepoError>
where
    String: Bind<D>,
{
    let mut q = QueryBuilder::new("DELETE FROM webhook_endpoint_events WHERE endpoint_id = ");
    D::bind(&mut q, endpoint.id.as_str());
    execute(conn, q).await?;
    if let Some(insert) = insert_endpoint_events::<D>(endpoint.id.as_str(), &event_rows(endpoint)) {
        execute(conn, insert).await?;
    }
    Ok(())
}

/// The deliveries of the rows a claim returned (`message_id`, `endpoint_id`,
/// `attempts`), each with its message and endpoint.
pub async fn claimed<D: Dialect>(
    conn: &mut D::Connection,
    claimed: &[D::Row],
) -> Result<Vec<DueDelivery>, RepoError>
where
    String: Bind<D>,
{
    let mut due = Vec::with_capacity(claimed.len());
    for row in claimed {
        let message_id: String = rows::get::<D, _>(row, "message_id")?;
        let endpoint_id: String = rows::get::<D, _>(row, "endpoint_id")?;
        let attempts: i64 = rows::get::<D, _>(row, "attempts")?;
        let message = match fetch_optional(
            conn,
            select_where::<D>(MESSAGE_COLUMNS, "webhook_messages", "id", &message_id),
        )
        .await?
        {
            Some(row) => rows::message::<D>(&row)?,
            None => return Err(RepoError::NotFound),
        };
        let endpoint = fetch_endpoints(conn, endpoint_by_id::<D>(&endpoint_id))
            .await?
            .pop()
            .ok_or(RepoError::NotFound)?;
        due.push(DueDelivery {
            message,
            endpoint,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        });
    }
    Ok(due)
}

/// Records an attempt at a delivery whose lease `owner` holds: the delivery's next state
/// (its lease ended), the attempt in the endpoint's log, since when the endpoint fails
/// and, when the outcome says so, the endpoint disabled and its owner told.
pub async fn record_attempt<D: Dialect>(
    conn: &mut D::Connection,
    a: &Attempt,
    outcome: &DeliveryOutcome,
    owner: &str,
) -> Result<(), RepoError>
where
    String: Bind<D>,
{
    let mut q = QueryBuilder::new(
        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL, \
         (state, attempts, next_attempt_at) = (",
    );
    Binds::new(&mut q)
        .bind(state_after(outcome))
        .bind(i64::from(a.attempt))
        .time(a.next_attempt_at);
    q.push(") WHERE message_id = ");
    D::bind(&mut q, a.message_id.as_str());
    q.push(" AND endpoint_id = ");
    D::bind(&mut q, a.endpoint_id.as_str());
    q.push(" AND lease_owner = ");
    D::bind(&mut q, owner);
    if execute(conn, q).await? == 0 {
        return Err(conflict::not_lease_holder());
    }
    let q = insert_row::<D>(
        "webhook_attempts (id, message_id, endpoint_id, event_type, attempt, at, status, error, \
         latency_ms, next_attempt_at)",
        |row| {
            row.bind(a.id.as_str())
                .bind(a.message_id.as_str())
                .bind(a.endpoint_id.as_str())
                .bind(a.event_type.as_str())
                .bind(i64::from(a.attempt))
                .time(a.at)
                .bind(a.status.map(i64::from))
                .bind(a.error.as_deref())
                .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
                .time(a.next_attempt_at);
        },
    );
    execute(conn, q).await?;
    let mut q = QueryBuilder::new("UPDATE webhook_endpoints SET failing_since = ");
    if a.succeeded() {
        q.push("NULL");
    } else {
        q.push("COALESCE(failing_since, ");
        Binds::new(&mut q).time(a.at);
        q.push(")");
    }
    q.push(" WHERE id = ");
    D::bind(&mut q, a.endpoint_id.as_str());
    execute(conn, q).await?;
    if let DeliveryOutcome::Disable { reason, notify } = outcome {
        let mut q = QueryBuilder::new(
            "UPDATE webhook_endpoints SET enabled = FALSE, (disabled_reason, updated_at) = (",
        );
        Binds::new(&mut q).bind(reason.as_str()).time(a.at);
        q.push(") WHERE id = ");
        D::bind(&mut q, a.endpoint_id.as_str());
        execute(conn, q).await?;
        write_outbox::<D>(conn, std::slice::from_ref(notify)).await?;
    }
    Ok(())
}

/// A page of the attempts at an endpoint of `owner`, newest first: `NotFound` if the
/// owner has no such endpoint.
pub async fn attempts_of<D: Dialect>(
    conn: &mut D::Connection,
    owner: &Owner,
    id: &str,
    page: &PageRequest,
) -> Result<Page<Attempt>, RepoError>
where
    String: Bind<D>,
    i64: Bind<D>,
{
    page_of_children(
        conn,
        endpoint::<D>(owner, id),
        attempts::<D>(id, page),
        page,
        rows::attempt::<D>,
        |a| a.id.as_str(),
    )
    .await
}
