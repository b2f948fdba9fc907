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
        let message = req.message;
        let cheap = message.len() <= INLINE_SIGN_MAX_BYTES && signers.iter().all(|s| s.is_cheap());
        let sign = move || {
            let signers: Vec<&signer::DkimSigner> = signers.iter().map(AsRef::as_ref).collect();
            signer::sign_all(&signers, &message, now)
        };
        let signed = if cheap {
            sign()
        } else {
            offload(self.ports.cpu.as_ref(), sign)
                .await
                .map_err(|e| match e {
                    PoolError::Busy => Error::Unavailable(e.to_string()),
                    PoolError::Failed => Error::Internal(format!("signing for {name}: {e}")),
                })?
        };
        signed.map_err(|e| Error::invalid("message", InputError::new(e.to_string())))
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
