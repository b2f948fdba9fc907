//! The webhook store: endpoints, the outbox, deliveries with leases, and attempts. The
//! statements are [`store_sql::webhooks`]'; what is SQLite's own here is that every write
//! takes the write lock up front, and claims take turns under it.

use async_trait::async_trait;
use domain_core::RepoError;
use domain_core::model::{Owner, Page, PageRequest};
use domain_core::ports::WebhookRepo;
use domain_core::webhook::{
    Attempt, DeliveryOutcome, DueDelivery, Endpoint, EndpointId, OutboxMessage,
};
use sqlx::sqlite::Sqlite;
use store_sql::Micros;
use store_sql::webhooks as q;
use time::OffsetDateTime;

use crate::error::map_err;
use crate::store::{BEGIN_WRITE, SqliteStore};

#[async_trait]
impl WebhookRepo for SqliteStore {
    async fn create_endpoint(&self, e: &Endpoint, max_per_owner: u32) -> Result<(), RepoError> {
        // Under the write lock, creates of one owner take turns: two cannot both pass the
        // count.
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        q::create_endpoint::<Sqlite>(&mut tx, e, max_per_owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<Endpoint, RepoError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let mut found =
            q::fetch_endpoints(&mut *tx, q::endpoint::<Sqlite>(owner, id.as_str())).await?;
        tx.commit().await.map_err(map_err)?;
        found.pop().ok_or(RepoError::NotFound)
    }

    async fn endpoints(
        &self,
        owner: &Owner,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>, RepoError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let items = q::fetch_endpoints(&mut *tx, q::endpoints::<Sqlite>(owner, page)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Page::from_overfetch(items, page, |e| e.id.as_str()))
    }

    async fn update_endpoint(&self, e: &Endpoint) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        q::update_endpoint::<Sqlite>(&mut tx, e).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_endpoint(&self, owner: &Owner, id: &EndpointId) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        let delete = q::delete_endpoint::<Sqlite>(owner, id.as_str());
        if store_sql::dialect::execute(&mut *tx, delete).await? == 0 {
            return Err(RepoError::NotFound);
        }
        tx.commit().await.map_err(map_err)
    }

    async fn enqueue_for(&self, m: &OutboxMessage, to: &EndpointId) -> Result<(), RepoError> {
        let mut tx = self.pool().begin_with(BEGIN_WRITE).await.map_err(map_err)?;
        q::enqueue_for::<Sqlite>(&mut tx, m, to.as_str()).await?;
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
        let due = q::claimed::<Sqlite>(&mut tx, &claimed).await?;
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
        q::record_attempt::<Sqlite>(&mut tx, a, outcome, owner).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn attempts(
        &self,
        owner: &Owner,
        id: &EndpointId,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, RepoError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let attempts = q::attempts_of::<Sqlite>(&mut tx, owner, id.as_str(), page).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(attempts)
    }
}
