//! The webhook use cases: endpoints managed through the API, and one delivery attempt
//! as the delivery worker makes it.

use std::sync::Arc;

use time::Duration;

use crate::access::Caller;
use crate::crypto::MasterKey;
use crate::error::{Error, FieldError, Result};
use crate::ids::IdGenerator;
use crate::model::{Page, PageRequest};
use crate::ports::{Clock, WebhookRepo, WebhookRequest, WebhookSender};
use crate::webhook::{
    Attempt, AttemptId, DEFAULT_MAX_ENDPOINTS, DeliveryOutcome, DueDelivery, EgressRules, Endpoint,
    EndpointChanges, EndpointId, EventFilter, MessageId, NewEndpoint, RetryPolicy, SECRET_OVERLAP,
    Secret, SecretOverlap, WebhookUrl, check_description, payload, signature,
};

/// Settings of the webhooks (docs/operations.md lists the variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Which targets are accepted.
    pub egress: EgressRules,
    /// The most endpoints per owner.
    pub max_endpoints: u32,
    /// The retry schedule.
    pub retry: RetryPolicy,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            egress: EgressRules::default(),
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            retry: RetryPolicy::default(),
            secret_overlap: SECRET_OVERLAP,
        }
    }
}

/// An endpoint with its signing secret, as the answer that shows the secret once.
#[derive(Debug, Clone)]
pub struct WithSecret {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The new secret.
    pub secret: Secret,
}

/// The webhook use cases.
pub struct WebhookService {
    repo: Arc<dyn WebhookRepo>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
    master: Arc<MasterKey>,
    config: WebhookConfig,
    ids: IdGenerator,
}

crate::debug_fields!(WebhookService { config, .. });

impl WebhookService {
    /// The use cases over their ports; secrets are sealed with `master`.
    pub fn new(
        repo: Arc<dyn WebhookRepo>,
        sender: Arc<dyn WebhookSender>,
        clock: Arc<dyn Clock>,
        master: Arc<MasterKey>,
        config: WebhookConfig,
    ) -> Self {
        WebhookService {
            repo,
            sender,
            clock,
            master,
            config,
            ids: IdGenerator::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Registers an endpoint and gives its first secret.
    pub async fn create(&self, caller: &Caller, new: NewEndpoint) -> Result<WithSecret> {
        let owner = caller.webhook_owner()?;
        let mut errors = Vec::new();
        let url = field(
            &mut errors,
            "url",
            WebhookUrl::parse(&new.url, &self.config.egress),
        );
        let events = field(&mut errors, "events", EventFilter::parse(&new.events));
        let description = new.description.unwrap_or_default();
        if let Err(e) = check_description(&description) {
            errors.push(e);
        }
        let (Some(url), Some(events), true) = (url, events, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let now = self.clock.now();
        let id = EndpointId::generate(&self.ids, now);
        let secret = Secret::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let endpoint = Endpoint {
            secret: self.seal(&secret, &id)?,
            id,
            owner,
            url,
            events,
            description,
            enabled: true,
            disabled_reason: None,
            previous: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.repo
            .create_endpoint(&endpoint, self.config.max_endpoints)
            .await
            .map_err(|e| match e {
                crate::RepoError::Conflict(_) => Error::Conflict(format!(
                    "an owner has at most {} webhook endpoints; delete one first",
                    self.config.max_endpoints
                )),
                other => other.into(),
            })?;
        Ok(WithSecret { endpoint, secret })
    }

    /// The caller's endpoints.
    pub async fn list(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Endpoint>> {
        Ok(self.repo.endpoints(&caller.webhook_owner()?, page).await?)
    }

    /// One of the caller's endpoints.
    pub async fn get(&self, caller: &Caller, id: &EndpointId) -> Result<Endpoint> {
        Ok(self.repo.endpoint(&caller.webhook_owner()?, id).await?)
    }

    /// Changes an endpoint. Enabling one that the service disabled clears the reason and
    /// its failure history; its waiting deliveries resume.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &EndpointId,
        changes: EndpointChanges,
    ) -> Result<Endpoint> {
        let mut endpoint = self.get(caller, id).await?;
        let mut errors = Vec::new();
        if let Some(url) = &changes.url
            && let Some(url) = field(
                &mut errors,
                "url",
                WebhookUrl::parse(url, &self.config.egress),
            )
        {
            endpoint.url = url;
        }
        if let Some(events) = &changes.events
            && let Some(events) = field(&mut errors, "events", EventFilter::parse(events))
        {
            endpoint.events = events;
        }
        if let Some(description) = changes.description {
            match check_description(&description) {
                Ok(()) => endpoint.description = description,
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        if let Some(enabled) = changes.enabled {
            if enabled && !endpoint.enabled {
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
            }
            endpoint.enabled = enabled;
        }
        endpoint.updated_at = self.clock.now();
        self.repo.update_endpoint(&endpoint).await?;
        Ok(endpoint)
    }

    /// Deletes an endpoint; its pending deliveries go with it.
    pub async fn delete(&self, caller: &Caller, id: &EndpointId) -> Result<()> {
        Ok(self
            .repo
            .delete_endpoint(&caller.webhook_owner()?, id)
            .await?)
    }

    /// Issues a new secret; the current one keeps signing beside it for the overlap.
    pub async fn rotate_secret(&self, caller: &Caller, id: &EndpointId) -> Result<WithSecret> {
        let mut endpoint = self.get(caller, id).await?;
        let now = self.clock.now();
        let secret = Secret::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let old = std::mem::replace(&mut endpoint.secret, self.seal(&secret, &endpoint.id)?);
        endpoint.previous = Some(SecretOverlap {
            secret: old,
            until: now + self.config.secret_overlap,
        });
        endpoint.updated_at = now;
        self.repo.update_endpoint(&endpoint).await?;
        Ok(WithSecret { endpoint, secret })
    }

    /// Queues a `webhook.test` for the endpoint.
    pub async fn test(&self, caller: &Caller, id: &EndpointId) -> Result<MessageId> {
        let endpoint = self.get(caller, id).await?;
        let message = payload::test(&self.ids, &endpoint, self.clock.now());
        self.repo.enqueue_for(&message, &endpoint.id).await?;
        Ok(message.id)
    }

    /// The endpoint's delivery attempts, newest first.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        id: &EndpointId,
        page: &PageRequest,
    ) -> Result<Page<Attempt>> {
        Ok(self
            .repo
            .attempts(&caller.webhook_owner()?, id, page)
            .await?)
    }

    /// Claims due deliveries for `lease_owner` for `lease`.
    pub async fn claim(
        &self,
        lease_owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        let now = self.clock.now();
        Ok(self
            .repo
            .claim_deliveries(now, lease_owner, now + lease, limit)
            .await?)
    }

    /// Makes one attempt of a claimed delivery: signs it with every live secret, sends
    /// it, and records the attempt and what follows — delivered, retried on the
    /// schedule, given up, or the endpoint disabled (on 410, or after failing for the
    /// whole retry window).
    pub async fn attempt(&self, lease_owner: &str, due: &DueDelivery) -> Result<Attempt> {
        let endpoint = &due.endpoint;
        let now = self.clock.now();
        let mut secrets = vec![self.open(&endpoint.secret, &endpoint.id)?];
        if let Some(previous) = &endpoint.previous
            && previous.until > now
        {
            secrets.push(self.open(&previous.secret, &endpoint.id)?);
        }
        let refs: Vec<&Secret> = secrets.iter().collect();
        let timestamp = now.unix_timestamp();
        let id = due.message.id.as_str();
        let request = WebhookRequest {
            url: endpoint.url.to_string(),
            id: id.to_owned(),
            timestamp,
            signature: signature::header(&refs, id, timestamp, due.message.payload.as_bytes()),
            body: due.message.payload.clone(),
        };
        let result = self.sender.send(&request).await;
        let done = self.clock.now();
        let mut attempt = Attempt {
            id: AttemptId::generate(&self.ids, done),
            message_id: due.message.id.clone(),
            endpoint_id: endpoint.id.clone(),
            event_type: due.message.event_type,
            attempt: due.attempts + 1,
            at: now,
            status: result.status,
            error: result.error,
            latency_ms: u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX),
            next_attempt_at: None,
        };
        let retry = &self.config.retry;
        let outcome = if attempt.succeeded() {
            DeliveryOutcome::Delivered
        } else if attempt.status == Some(410) {
            self.disable(endpoint, "the endpoint answered 410 Gone", done)
        } else if retry.exhausted(endpoint.failing_since.unwrap_or(now), done) {
            self.disable(
                endpoint,
                "every delivery failed for the whole retry window",
                done,
            )
        } else {
            match retry.next_attempt(due.message.created_at, done, attempt.attempt) {
                Some(next) => {
                    attempt.next_attempt_at = Some(next);
                    DeliveryOutcome::Retry
                }
                None => DeliveryOutcome::GiveUp,
            }
        };
        self.repo
            .record_attempt(&attempt, &outcome, lease_owner)
            .await?;
        Ok(attempt)
    }

    fn disable(
        &self,
        endpoint: &Endpoint,
        reason: &str,
        now: time::OffsetDateTime,
    ) -> DeliveryOutcome {
        DeliveryOutcome::Disable {
            reason: reason.to_owned(),
            notify: payload::disabled(&self.ids, endpoint, reason, now),
        }
    }

    fn seal(&self, secret: &Secret, id: &EndpointId) -> Result<crate::crypto::SealedKey> {
        self.master
            .seal_secret(secret.as_bytes(), id.as_str())
            .map_err(|e| Error::Internal(format!("sealing a webhook secret: {e}")))
    }

    fn open(&self, sealed: &crate::crypto::SealedKey, id: &EndpointId) -> Result<Secret> {
        self.master
            .open_secret(sealed, id.as_str())
            .map(Secret::from_bytes)
            .map_err(|e| Error::Internal(format!("opening the secret of {id}: {e}")))
    }
}

/// The value of a checked field, or its error recorded under `name`.
fn field<T>(
    errors: &mut Vec<FieldError>,
    name: &str,
    checked: std::result::Result<T, crate::error::InputError>,
) -> Option<T> {
    checked.map_err(|e| errors.push(e.for_field(name))).ok()
}
