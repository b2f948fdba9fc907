//! The send-time decision (docs/sending.md; the product page's "What happens if the domain isn't
//! verified"): may this tenant send from this `From:` domain, and with which key?

use serde::Serialize;

use crate::model::Domain;
use crate::name::{DomainName, Selector};
use crate::records::dkim::Algorithm;

/// Which kind of API key the send came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// `sg_live_*`: real delivery.
    Live,
    /// `sg_test_*`: sandbox, nothing is delivered.
    Test,
}

impl KeyMode {
    /// Both modes.
    pub const ALL: [KeyMode; 2] = [KeyMode::Live, KeyMode::Test];

    /// The name used in the API: `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Live => "live",
            KeyMode::Test => "test",
        }
    }

    /// Reads what [`as_str`](Self::as_str) wrote.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What the sending pipeline must do with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SendDecision {
    /// Deliver, signed by `selector` of `signing_domain` (and by the domain's other
    /// active keys: one signature per algorithm).
    Deliver {
        /// The `d=` of the signatures.
        signing_domain: DomainName,
        /// The `s=` of the RSA signature: the active selector.
        selector: Selector,
        /// Every signature's selector and algorithm, RSA first.
        selectors: Vec<(Algorithm, Selector)>,
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

/// The reason the product page's table gives for an unverified or unknown domain.
pub const NOT_VERIFIED: &str = "domain not verified";
/// The reason for a deactivated domain.
pub const INACTIVE: &str = "domain inactive";

/// Decides for a send from a domain, given the domains of that name the tenant may use
/// (its own and its partner's shared ones, from `DomainRepo::find_sendable`).
///
/// The tenant's own domain, when it has one of that name, decides alone: a deactivated or
/// unverified own domain is not bypassed by a partner's shared domain of the same name.
/// Otherwise the shared one decides. Deliverable means active and verified; a deactivated
/// domain rejects; anything else (unknown, unverified) is accepted and then failed.
pub fn decide(mode: KeyMode, candidates: &[Domain]) -> SendDecision {
    if mode == KeyMode::Test {
        return SendDecision::Sandbox;
    }
    match deliverable(candidates) {
        Ok(d) => SendDecision::Deliver {
            signing_domain: d.name.clone(),
            selector: d.keys.active().selector.clone(),
            selectors: d
                .keys
                .active_keys()
                .map(|k| (k.algorithm(), k.selector.clone()))
                .collect(),
        },
        Err(refusal) => refusal,
    }
}

/// The domain a live send signs with, or the decision that refuses it: the rule of
/// [`decide`], also used by the signer so that it never signs what may not be sent.
pub fn deliverable(candidates: &[Domain]) -> Result<&Domain, SendDecision> {
    // The tenant's own domain takes precedence; a shared one counts only without it.
    let deciding = candidates
        .iter()
        .find(|d| !d.is_shared())
        .or_else(|| candidates.iter().find(|d| d.is_shared()));
    match deciding {
        Some(d) if d.is_active && d.verified => Ok(d),
        Some(d) if !d.is_active => Err(SendDecision::Reject {
            reason: INACTIVE.to_owned(),
        }),
        _ => Err(SendDecision::AcceptThenFail {
            reason: NOT_VERIFIED.to_owned(),
        }),
    }
}

impl SendDecision {
    /// The name of every kind of decision, as [`name`](Self::name) gives them.
    pub const NAMES: [&'static str; 4] = ["deliver", "accept_then_fail", "reject", "sandbox"];

    /// The snake_case name of the decision, used in the API.
    pub fn name(&self) -> &'static str {
        match self {
            SendDecision::Deliver { .. } => Self::NAMES[0],
            SendDecision::AcceptThenFail { .. } => Self::NAMES[1],
            SendDecision::Reject { .. } => Self::NAMES[2],
            SendDecision::Sandbox => Self::NAMES[3],
        }
    }

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

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::model::Owner;
    use crate::testing;

    fn domain(shared: bool, active: bool, verified: bool) -> Domain {
        let mut d = testing::domain("mail.example.com", OffsetDateTime::UNIX_EPOCH);
        d.owner = Owner {
            partner_id: "p1".to_owned(),
            tenant_id: (!shared).then(|| "t1".to_owned()),
        };
        d.is_active = active;
        d.verified = verified;
        d
    }

    fn decision(candidates: &[Domain]) -> &'static str {
        match decide(KeyMode::Live, candidates) {
            SendDecision::Deliver { .. } => "deliver",
            SendDecision::AcceptThenFail { .. } => "accept_then_fail",
            SendDecision::Reject { .. } => "reject",
            SendDecision::Sandbox => "sandbox",
        }
    }

    #[test]
    fn the_tenants_own_domain_takes_precedence_over_a_shared_one() {
        let shared_ok = domain(true, true, true);
        // A deactivated own domain rejects, even with a deliverable shared one.
        assert_eq!(
            decision(&[shared_ok.clone(), domain(false, false, true)]),
            "reject"
        );
        // An unverified own domain fails, even with a deliverable shared one.
        assert_eq!(
            decision(&[domain(false, true, false), shared_ok.clone()]),
            "accept_then_fail"
        );
        // A deliverable own domain signs as itself, not as the shared one.
        let own = domain(false, true, true);
        let both = [shared_ok.clone(), own];
        let picked = deliverable(&both).map(Domain::is_shared);
        assert_eq!(picked, Ok(false), "the own domain signs");
        // Without an own domain, the shared one decides.
        assert_eq!(decision(std::slice::from_ref(&shared_ok)), "deliver");
        assert_eq!(decision(&[domain(true, false, true)]), "reject");
        assert_eq!(decision(&[]), "accept_then_fail");
        assert_eq!(decide(KeyMode::Test, &[]), SendDecision::Sandbox);
    }

    #[test]
    fn decision_names_are_the_serde_tags_and_modes_read_back() {
        let decisions = [
            SendDecision::Deliver {
                signing_domain: DomainName::parse("mail.example.com").unwrap(),
                selector: Selector::parse("scaisend").unwrap(),
                selectors: vec![(Algorithm::RsaSha256, Selector::parse("scaisend").unwrap())],
            },
            SendDecision::AcceptThenFail {
                reason: NOT_VERIFIED.to_owned(),
            },
            SendDecision::Reject {
                reason: INACTIVE.to_owned(),
            },
            SendDecision::Sandbox,
        ];
        // One of each, in the order of `NAMES`.
        for (d, name) in decisions.iter().zip(SendDecision::NAMES) {
            assert_eq!(d.name(), name);
            assert_eq!(serde_json::json!(d)["decision"], name);
        }
        for mode in KeyMode::ALL {
            assert_eq!(KeyMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(KeyMode::parse("Live"), None);
    }
}
