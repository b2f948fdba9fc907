//! The sending pipeline's side: may a message be sent from this domain, and its DKIM
//! signature.

use std::sync::Arc;

use super::{DomainService, Result};
use crate::access::Caller;
use crate::error::{Error, InputError};
use crate::model::Domain;
use crate::name::DomainName;
use crate::ports::{PoolError, offload};
use crate::sending::{self, KeyMode, SendDecision};
use crate::signer::{self, DkimSignature};

/// The largest message signed on the caller's thread (with cheap keys); larger ones go to
/// the CPU pool. Hashing 64 KiB takes tens of microseconds.
pub const INLINE_SIGN_MAX_BYTES: usize = 64 * 1024;

/// The most messages one [`DomainService::sign_batch`] takes.
pub const SIGN_BATCH_MAX_MESSAGES: usize = 100;

/// A send-time question (docs/sending.md).
#[derive(Debug, Clone)]
pub struct SenderQuery {
    /// The sending tenant.
    pub tenant_id: String,
    /// Its partner.
    pub partner_id: String,
    /// The `From:` address.
    pub from: String,
    /// Live or test key.
    pub key_mode: KeyMode,
}

/// A message to sign for a tenant (docs/sending.md).
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The sending tenant.
    pub tenant_id: String,
    /// Its partner.
    pub partner_id: String,
    /// The RFC 5322 message; its `From:` domain picks the key.
    pub message: Vec<u8>,
}

impl DomainService {
    /// The send-time decision for the sending pipeline (docs/sending.md).
    pub async fn authorize_sender(
        &self,
        caller: &Caller,
        query: &SenderQuery,
    ) -> Result<SendDecision> {
        caller.check_service()?;
        if query.key_mode == KeyMode::Test {
            return Ok(SendDecision::Sandbox);
        }
        let name = signer::mailbox_domain(&query.from)
            .map_err(|e| Error::invalid("from", InputError::new(e.to_string())))?;
        let candidates = self
            .candidates(&query.partner_id, &query.tenant_id, &name)
            .await?;
        Ok(sending::decide(
            query.key_mode,
            &candidates,
            &self.config.default_return_path,
        ))
    }

    /// Signs a message with the active key of its `From:` domain (docs/sending.md). Only
    /// what the send-time decision would deliver is signed; anything else is a `409`
    /// with the decision's reason. The signing itself — canonicalization, hashing, the
    /// private-key operation — runs on the caller's thread when it is cheap (a message of
    /// at most [`INLINE_SIGN_MAX_BYTES`], keys of at most 2048 bits or Ed25519: about a
    /// quarter of a millisecond of CPU, which handing it to another thread and back would
    /// add a third to), and on the CPU pool otherwise, so that a large message or a
    /// 4096-bit key never holds up a thread that serves requests.
    pub async fn sign(&self, caller: &Caller, req: SignRequest) -> Result<DkimSignature> {
        caller.check_service()?;
        let job = self.signing_job(req).await?;
        if job.is_cheap() {
            return job.sign();
        }
        let name = job.name.to_string();
        offload(self.ports.cpu.as_ref(), move || job.sign())
            .await
            .map_err(|e| pool_error(e, &name))?
    }

    /// Signs up to [`SIGN_BATCH_MAX_MESSAGES`] messages, each as [`sign`](Self::sign)
    /// would (docs/sending.md, `dkim/sign-batch`): the answers come in the order of the
    /// requests. What is wrong with one message (unreadable, or its domain may not sign:
    /// [`Error::Invalid`] or [`Error::Conflict`]) is that message's answer; what is wrong
    /// with the service (the store, a saturated CPU pool) fails the whole batch.
    ///
    /// The messages are signed one after another, where [`sign`](Self::sign) would sign
    /// each: a cheap one on the caller's thread, the executor given a turn before each
    /// so that a batch holds a thread that serves requests for one signature at a time;
    /// an expensive one on the CPU pool. Handing the whole batch to the pool in one job
    /// was tried first: on a 2-core VM each hand-off left a core idle while the pool's
    /// thread was woken, 12–16 % of the machine in all (docs/benchmarks.md).
    pub async fn sign_batch(
        &self,
        caller: &Caller,
        requests: Vec<SignRequest>,
    ) -> Result<Vec<Result<DkimSignature>>> {
        caller.check_service()?;
        check_batch_size(requests.len())?;
        let mut jobs = Vec::with_capacity(requests.len());
        for request in requests {
            jobs.push(match self.signing_job(request).await {
                Err(e) if !e.is_about_the_request() => return Err(e),
                job => job,
            });
        }
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            let answer = match job {
                Ok(job) if job.is_cheap() => {
                    YieldNow(false).await;
                    job.sign()
                }
                Ok(job) => offload(self.ports.cpu.as_ref(), move || job.sign())
                    .await
                    .map_err(|e| pool_error(e, "a batch"))?,
                Err(e) => Err(e),
            };
            answers.push(answer);
        }
        Ok(answers)
    }

    /// What signing `req` takes: its `From:` domain, that domain's active signers if it
    /// may sign, the time, and the message.
    async fn signing_job(&self, req: SignRequest) -> Result<SigningJob> {
        let name = signer::from_domain(&req.message)
            .map_err(|e| Error::invalid("message", InputError::new(e.to_string())))?;
        let candidates = self
            .candidates(&req.partner_id, &req.tenant_id, &name)
            .await?;
        let domain = sending::deliverable(&candidates).map_err(|refusal| {
            Error::Conflict(format!(
                "{name} may not sign: {}",
                refusal.reason().unwrap_or(sending::NOT_VERIFIED)
            ))
        })?;
        let now = self.now();
        let signers = self.signers.active_signers(domain, now).await?;
        Ok(SigningJob {
            name,
            signers,
            message: req.message,
            now,
        })
    }

    /// The domains of `name` the tenant may send from, cached for at most
    /// [`ServiceConfig::decision_ttl`](super::ServiceConfig::decision_ttl).
    async fn candidates(
        &self,
        partner_id: &str,
        tenant_id: &str,
        name: &DomainName,
    ) -> Result<Arc<[Domain]>> {
        Ok(self
            .sendable
            .candidates(
                self.ports.repo.as_ref(),
                partner_id,
                tenant_id,
                name,
                self.now(),
            )
            .await?)
    }
}

/// Refuses a batch of no messages or of more than [`SIGN_BATCH_MAX_MESSAGES`]
/// ([`DomainService::sign_batch`]; an adapter that reads a batch checks its size with
/// this before it reads each message).
pub fn check_batch_size(messages: usize) -> Result<()> {
    if (1..=SIGN_BATCH_MAX_MESSAGES).contains(&messages) {
        return Ok(());
    }
    Err(Error::invalid(
        "messages",
        InputError::new(format!(
            "send from 1 to {SIGN_BATCH_MAX_MESSAGES} messages, not {messages}"
        )),
    ))
}

/// One message ready to sign, with the keys that sign it.
struct SigningJob {
    name: DomainName,
    signers: Vec<Arc<signer::DkimSigner>>,
    message: Vec<u8>,
    now: time::OffsetDateTime,
}

impl SigningJob {
    /// Whether signing it costs little enough to do on a thread that serves requests.
    fn is_cheap(&self) -> bool {
        self.message.len() <= INLINE_SIGN_MAX_BYTES && self.signers.iter().all(|s| s.is_cheap())
    }

    fn sign(self) -> Result<DkimSignature> {
        let signers: Vec<&signer::DkimSigner> = self.signers.iter().map(AsRef::as_ref).collect();
        signer::sign_all(&signers, &self.message, self.now)
            .map_err(|e| Error::invalid("message", InputError::new(e.to_string())))
    }
}

/// The CPU pool's refusal as the service's error.
fn pool_error(e: PoolError, what: &str) -> Error {
    match e {
        PoolError::Busy => Error::Unavailable(e.to_string()),
        PoolError::Failed => Error::Internal(format!("signing for {what}: {e}")),
    }
}

/// Gives the executor a turn once before going on: the task wakes itself and returns
/// pending, so that other tasks queued on this thread run first (tokio puts a task that
/// woke itself while being polled at the back of its worker's queue, as its own
/// `yield_now` does). Written here because the core depends on no runtime.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn yielding_wakes_itself_once_and_then_goes_on() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(counting.clone());
        let mut cx = Context::from_waker(&waker);
        let mut yielding = std::pin::pin!(YieldNow(false));
        assert_eq!(yielding.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            1,
            "woken to be polled again"
        );
        assert_eq!(yielding.as_mut().poll(&mut cx), Poll::Ready(()));
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
    }
}
