//! The webhook store: endpoints, the outbox, deliveries with leases, and attempts.

use std::collections::HashMap;

use async_trait::async_trait;
use domain_core::RepoError;
use domain_core::model::{Owner, Page, PageRequest};
use domain_core::ports::WebhookRepo;
use domain_core::stored::conflict;
use domain_core::webhook::stored::{
    StoredAttempt, StoredEndpoint, StoredMessage, event_rows, state_after,
};
use domain_core::webhook::{
    Attempt, DeliveryOutcome, DueDelivery, Endpoint, EndpointId, OutboxMessage,
};
use sqlx::QueryBuilder;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use store_sql::webhooks as q;
use time::OffsetDateTime;

use crate::error::map_err;
use crate::rows::{Micros, get, opt_time, time};
use crate::store::{BEGIN_WRITE, SqliteStore};

/// Stores `outbox` and fans each message out to its owner's endpoints, inside the
/// caller's transaction.
pub(crate) async fn write_outbox(
    tx: &mut SqliteConnection,
    outbox: &[OutboxMessage],
) -> Result<(), RepoError> {
    for m in outbox {
        insert_message(tx, m).await?;
        q::fan_out::<Sqlite>(m.id.as_str(), None)
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

async fn insert_message(tx: &mut SqliteConnection, m: &OutboxMessage) -> Result<(), RepoError> {
    sqlx::query(
        "INSERT INTO webhook_messages (id, partner_id, tenant_id, event_type, payload, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(m.id.as_str())
    .bind(&m.owner.partner_id)
    .bind(&m.owner.tenant_id)
    .bind(m.event_type.as_str())
    .bind(&m.payload)
    .bind(Micros(m.created_at))
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

fn endpoint_row(row: &SqliteRow) -> Result<StoredEndpoint, RepoError> {
    Ok(StoredEndpoint {
        id: get(row, "id")?,
        partner_id: get(row, "partner_id")?,
        tenant_id: get(row, "tenant_id")?,
        url: get(row, "url")?,
        description: get(row, "description")?,
        all_events: get(row, "all_events")?,
        enabled: get(row, "enabled")?,
        disabled_reason: get(row, "disabled_reason")?,
        secret: get(row, "secret")?,
        previous_secret: get(row, "previous_secret")?,
        previous_secret_until: opt_time(row, "previous_secret_until")?,
        failing_since: opt_time(row, "failing_since")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn message_row(row: &SqliteRow) -> Result<OutboxMessage, RepoError> {
    StoredMessage {
        id: get(row, "id")?,
        partner_id: get(row, "partner_id")?,
        tenant_id: get(row, "tenant_id")?,
        event_type: get(row, "event_type")?,
        payload: get(row, "payload")?,
        created_at: time(row, "created_at")?,
    }
    .into_message()
}

fn attempt_row(row: &SqliteRow) -> Result<Attempt, RepoError> {
    StoredAttempt {
        id: get(row, "id")?,
        message_id: get(row, "message_id")?,
        endpoint_id: get(row, "endpoint_id")?,
        event_type: get(row, "event_type")?,
        attempt: get(row, "attempt")?,
        at: time(row, "at")?,
        status: get(row, "status")?,
        error: get(row, "error")?,
        latency_ms: get(row, "latency_ms")?,
        next_attempt_at: opt_time(row, "next_attempt_at")?,
    }
    .into_attempt()
}

/// The endpoints of `rows` with their listed event types.
async fn load_endpoints(
    conn: &mut SqliteConnection,
    rows: &[SqliteRow],
) -> Result<Vec<Endpoint>, RepoError> {
    let stored = rows
        .iter()
        .map(endpoint_row)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<String> = stored.iter().map(|e| e.id.clone()).collect();
    let mut types: HashMap<String, Vec<String>> = HashMap::new();
    for row in q::endpoint_events::<Sqlite>(&ids)
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
    {
        types
            .entry(get(&row, "endpoint_id")?)
            .or_default()
            .push(get(&row, "event_type")?);
    }
    stored
        .into_iter()
        .map(|e| {
            let listed = types.remove(&e.id).unwrap_or_default();
            e.into_endpoint(&listed)
        })
        .collect()
}

async fn write_endpoint_events(
    tx: &mut SqliteConnection,
    endpoint: &Endpoint,
) -> Result<(), RepoError> {
    sqlx::query("DELETE FROM webhook_endpoint_events WHERE endpoint_id = ?1")
        .bind(endpoint.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    if let Some(mut insert) =
        q::insert_endpoint_events::<Sqlite>(endpoint.id.as_str(), &event_rows(endpoint))
    {
        insert.build().execute(&mut *tx).await.map_err(map_err)?;
    }
    Ok(())
}

impl SqliteStore {
    async fn fetch_endpoints(
        &self,
        mut query: QueryBuilder<Sqlite>,
    ) -> Result<Vec<Endpoint>, RepoError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let rows = query.build().fetch_all(&mut *tx).await.map_err(map_err)?;
        let endpoints = load_endpoints(&mut tx, &rows).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(endpoints)
    }
}

#[async_trait]
impl WebhookRepo for SqliteStore {
    async fn create_endpoint(&self, e: &Endpoint, max_per_owner: u32) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let count: i64 = get(
            &q::endpoint_count::<Sqlite>(&e.owner)
                .build()
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?,
            "n",
        )?;
        if count >= i64::from(max_per_owner) {
            return Err(RepoError::Conflict(format!(
                "the owner has {count} endpoints already"
            )));
        }
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, partner_id, tenant_id, url, description, all_events, \
             enabled, disabled_reason, secret, previous_secret, previous_secret_until, failing_since, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .bind(e.id.as_str())
        .bind(&e.owner.partner_id)
        .bind(&e.owner.tenant_id)
        .bind(e.url.as_str())
        .bind(&e.description)
        .bind(event_rows(e).is_empty())
        .bind(e.enabled)
        .bind(&e.disabled_reason)
        .bind(e.secret.as_bytes())
        .bind(e.previous.as_ref().map(|p| p.secret.as_bytes()))
        .bind(Micros::opt(e.previous.as_ref().map(|p| p.until)))
        .bind(Micros::opt(e.failing_since))
        .bind(Micros(e.created_at))
        .bind(Micros(e.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|err| match crate::error::violated_unique(&err) {
            Some(_) => RepoError::Conflict(format!("endpoint id {} is taken", e.id)),
            None => map_err(err),
        })?;
        write_endpoint_events(&mut tx, e).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<Endpoint, RepoError> {
        self.fetch_endpoints(q::endpoint(owner, id.as_str()))
            .await?
            .pop()
            .ok_or(RepoError::NotFound)
    }

    async fn endpoints(
        &self,
        owner: &Owner,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>, RepoError> {
        let items = self.fetch_endpoints(q::endpoints(owner, page)).await?;
        Ok(Page::from_overfetch(items, page, |e| e.id.as_str()))
    }

    async fn update_endpoint(&self, e: &Endpoint) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let updated = sqlx::query(
            "UPDATE webhook_endpoints SET url = ?3, description = ?4, all_events = ?5, enabled = ?6, \
             disabled_reason = ?7, secret = ?8, previous_secret = ?9, previous_secret_until = ?10, \
             failing_since = ?11, updated_at = ?12 \
             WHERE id = ?1 AND partner_id = ?2 AND owner_key = ?13",
        )
        .bind(e.id.as_str())
        .bind(&e.owner.partner_id)
        .bind(e.url.as_str())
        .bind(&e.description)
        .bind(event_rows(e).is_empty())
        .bind(e.enabled)
        .bind(&e.disabled_reason)
        .bind(e.secret.as_bytes())
        .bind(e.previous.as_ref().map(|p| p.secret.as_bytes()))
        .bind(Micros::opt(e.previous.as_ref().map(|p| p.until)))
        .bind(Micros::opt(e.failing_since))
        .bind(Micros(e.updated_at))
        .bind(q::owner_key(&e.owner))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if updated.rows_affected() == 0 {
            return Err(RepoError::NotFound);
        }
        write_endpoint_events(&mut tx, e).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let deleted = q::delete_endpoint::<Sqlite>(owner, id.as_str())
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if deleted.rows_affected() == 0 {
            return Err(RepoError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn enqueue_for(&self, m: &OutboxMessage, to: &EndpointId) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        insert_message(&mut tx, m).await?;
        let queued = q::fan_out::<Sqlite>(m.id.as_str(), Some(to.as_str()))
            .build()
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if queued.rows_affected() == 0 {
            return Err(RepoError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, RepoError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Under the one write lock, as the monitor's claim: two claimers take turns.
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let claimed = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = ?3, lease_expires_at = ?4 \
             WHERE (message_id, endpoint_id) IN ( \
                 SELECT d.message_id, d.endpoint_id FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND e.enabled \
                 AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?1) \
                 ORDER BY d.next_attempt_at, d.message_id LIMIT ?2) \
             RETURNING message_id, endpoint_id, attempts",
        )
        .bind(Micros(now))
        .bind(i64::from(limit))
        .bind(owner)
        .bind(Micros(lease_until))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let mut due = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let message_id: String = get(row, "message_id")?;
            let endpoint_id: String = get(row, "endpoint_id")?;
            let attempts: i64 = get(row, "attempts")?;
            let message = message_row(
                &q::message::<Sqlite>(&message_id)
                    .build()
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?,
            )?;
            let rows = q::endpoint_by_id::<Sqlite>(&endpoint_id)
                .build()
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
            let endpoint = load_endpoints(&mut tx, &rows)
                .await?
                .pop()
                .ok_or(RepoError::NotFound)?;
            due.push(DueDelivery {
                message,
                endpoint,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            });
        }
        tx.commit().await.map_err(map_err)?;
        Ok(due)
    }

    async fn record_attempt(
        &self,
        a: &Attempt,
        outcome: &DeliveryOutcome,
        owner: &str,
    ) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let released = sqlx::query(
            "UPDATE webhook_deliveries SET state = ?4, attempts = ?5, next_attempt_at = ?6, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE message_id = ?1 AND endpoint_id = ?2 AND lease_owner = ?3",
        )
        .bind(a.message_id.as_str())
        .bind(a.endpoint_id.as_str())
        .bind(owner)
        .bind(state_after(outcome))
        .bind(i64::from(a.attempt))
        .bind(Micros::opt(a.next_attempt_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if released.rows_affected() == 0 {
            return Err(conflict::not_lease_holder());
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (id, message_id, endpoint_id, event_type, attempt, at, \
             status, error, latency_ms, next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .bind(a.id.as_str())
        .bind(a.message_id.as_str())
        .bind(a.endpoint_id.as_str())
        .bind(a.event_type.as_str())
        .bind(i64::from(a.attempt))
        .bind(Micros(a.at))
        .bind(a.status.map(i64::from))
        .bind(&a.error)
        .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
        .bind(Micros::opt(a.next_attempt_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = \
             CASE WHEN ?3 THEN NULL ELSE COALESCE(failing_since, ?2) END WHERE id = ?1",
        )
        .bind(a.endpoint_id.as_str())
        .bind(Micros(a.at))
        .bind(a.succeeded())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if let DeliveryOutcome::Disable { reason, notify } = outcome {
            sqlx::query(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2, updated_at = ?3 \
                 WHERE id = ?1",
            )
            .bind(a.endpoint_id.as_str())
            .bind(reason)
            .bind(Micros(a.at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            write_outbox(&mut tx, std::slice::from_ref(notify)).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn attempts(
        &self,
        owner: &Owner,
        id: &EndpointId,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, RepoError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let visible = q::endpoint::<Sqlite>(owner, id.as_str())
            .build()
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if visible.is_none() {
            return Err(RepoError::NotFound);
        }
        let rows = q::attempts::<Sqlite>(id.as_str(), page)
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let items = rows
            .iter()
            .map(attempt_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page, |a| a.id.as_str()))
    }
}
