//! The send-time decision (contract §6, the seed's "What happens if the domain isn't
//! verified"): may this tenant send from this `From:` domain, and with which key?

use serde::Serialize;

use crate::model::Domain;
use crate::name::{DomainName, Selector};

/// Which kind of API key the send came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// `sg_live_*`: real delivery.
    Live,
    /// `sg_test_*`: sandbox, nothing is delivered.
    Test,
}

/// What the sending pipeline must do with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SendDecision {
    /// Deliver, signed by `selector` of `signing_domain`.
    Deliver {
        /// The `d=` of the signature.
        signing_domain: DomainName,
        /// The `s=` of the signature: the active selector.
        selector: Selector,
    },
    /// Accept the request (`202`) but fail the message: the domain is not verified or not
    /// the tenant's.
    AcceptThenFail {
        /// `domain not verified`.
        reason: String,
    },
    /// Refuse at queue time: the domain is deactivated.
    Reject {
        /// Why.
        reason: String,
    },
    /// Test key: accept without a domain check; nothing is delivered.
    Sandbox,
}

/// The reason the seed's table gives for an unverified or unknown domain.
pub const NOT_VERIFIED: &str = "domain not verified";
/// The reason for a deactivated domain.
pub const INACTIVE: &str = "domain inactive";

/// Decides for a send from a domain, given the domains of that name the tenant may use
/// (its own and its partner's shared ones, from `DomainRepo::find_sendable`).
///
/// A deliverable domain wins — the tenant's own before a shared one — then a deactivated
/// one rejects; anything else (unknown, unverified) is accepted and then failed.
pub fn decide(mode: KeyMode, candidates: &[Domain]) -> SendDecision {
    if mode == KeyMode::Test {
        return SendDecision::Sandbox;
    }
    match deliverable(candidates) {
        Ok(d) => SendDecision::Deliver {
            signing_domain: d.name.clone(),
            selector: d.keys.active().selector.clone(),
        },
        Err(refusal) => refusal,
    }
}

/// The domain a live send signs with, or the decision that refuses it: the rule of
/// [`decide`], also used by the signer so that it never signs what may not be sent.
pub fn deliverable(candidates: &[Domain]) -> Result<&Domain, SendDecision> {
    let mut ordered: Vec<&Domain> = candidates.iter().collect();
    // Own domains before shared ones.
    ordered.sort_by_key(|d| d.is_shared());
    if let Some(d) = ordered.iter().find(|d| d.is_active && d.verified) {
        return Ok(d);
    }
    if ordered.iter().any(|d| !d.is_active) {
        return Err(SendDecision::Reject {
            reason: INACTIVE.to_owned(),
        });
    }
    Err(SendDecision::AcceptThenFail {
        reason: NOT_VERIFIED.to_owned(),
    })
}

impl SendDecision {
    /// The reason, for the decisions that have one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            SendDecision::AcceptThenFail { reason } | SendDecision::Reject { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }
}
