//! The send-time decision (docs/sending.md; the product page's "What happens if the domain isn't
//! verified"): may this tenant send from this `From:` domain, with which key, and with
//! which MAIL FROM domain?

use serde::Serialize;

use crate::alignment::{Aligned, AlignmentModes, alignment};
use crate::macros::named_enum;
use crate::model::Domain;
use crate::name::{DomainName, Selector};
use crate::records::dkim::Algorithm;
use crate::verify::CheckKind;

named_enum! {
    /// Which kind of API key the send came with, named `live` or `test` in the API.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KeyMode {
        /// `sg_live_*`: real delivery.
        Live => "live",
        /// `sg_test_*`: sandbox, nothing is delivered.
        Test => "test",
    }
}

impl KeyMode {
    /// Reads what [`as_str`](Self::as_str) wrote.
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_name(s)
    }
}

/// What the sending pipeline must do with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SendDecision {
    /// Deliver, signed by `selector` of `signing_domain` (and by the domain's other
    /// active keys: one signature per algorithm), with MAIL FROM in
    /// `envelope.mail_from_domain`.
    Deliver {
        /// The `d=` of the signatures.
        signing_domain: DomainName,
        /// The `s=` of the RSA signature: the active selector.
        selector: Selector,
        /// Every signature's selector and algorithm, RSA first.
        selectors: Vec<(Algorithm, Selector)>,
        /// The MAIL FROM domain and the alignment the message gets.
        envelope: Envelope,
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

/// How a message from a domain goes out: its MAIL FROM (return-path) domain, and the
/// DMARC alignment its identifiers get (docs/sending.md, "The return path").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The domain of the MAIL FROM address: the domain's return-path host while it is
    /// verified, else the platform's return path.
    pub mail_from_domain: DomainName,
    /// Whether the DKIM `d=` (the domain itself) and the MAIL FROM domain align with the
    /// `From:` domain under the domain's DMARC modes.
    pub alignment: Aligned,
}

/// The envelope of mail from `domain`, signed by the domain itself, when the platform's
/// return path is `platform_return_path`. A return path in its grace period is still
/// verified, and still used; after it, mail falls back to the platform's.
pub fn envelope(domain: &Domain, platform_return_path: &DomainName) -> Envelope {
    let mail_from_domain = domain
        .return_path
        .as_ref()
        .filter(|r| r.verified)
        .map_or(platform_return_path, |r| &r.host)
        .clone();
    let modes = AlignmentModes::from_verdict(domain.checks.get(CheckKind::Dmarc));
    Envelope {
        alignment: alignment(&domain.name, Some(&domain.name), &mail_from_domain, modes),
        mail_from_domain,
    }
}

/// Decides for a send from a domain, given the domains of that name the tenant may use
/// (its own and its partner's shared ones, from `DomainRepo::find_sendable`), and the
/// platform's return path for domains without a verified one of their own.
///
/// The tenant's own domain, when it has one of that name, decides alone: a deactivated or
/// unverified own domain is not bypassed by a partner's shared domain of the same name.
/// Otherwise the shared one decides. Deliverable means active and verified; a deactivated
/// domain rejects; anything else (unknown, unverified) is accepted and then failed.
pub fn decide(
    mode: KeyMode,
    candidates: &[Domain],
    platform_return_path: &DomainName,
) -> SendDecision {
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
            envelope: envelope(d, platform_return_path),
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

    fn platform() -> DomainName {
        DomainName::parse("bounces.scaisend.scailabs.ai").unwrap()
    }

    fn decision(candidates: &[Domain]) -> &'static str {
        match decide(KeyMode::Live, candidates, &platform()) {
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
        assert_eq!(
            decide(KeyMode::Test, &[], &platform()),
            SendDecision::Sandbox
        );
    }

    fn return_path(d: &mut Domain, verified: bool) {
        let label = crate::name::ReturnPathLabel::parse("bounces").unwrap();
        d.set_return_path(Some(label), OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        d.return_path.as_mut().unwrap().verified = verified;
    }

    #[test]
    fn mail_from_is_the_verified_return_path_else_the_platforms() {
        let mut d = domain(false, true, true);
        let deliver = |d: &Domain| match decide(KeyMode::Live, std::slice::from_ref(d), &platform())
        {
            SendDecision::Deliver { envelope, .. } => envelope,
            other => panic!("{other:?}"),
        };
        let platform_envelope = deliver(&d);
        assert_eq!(platform_envelope.mail_from_domain, platform());
        assert_eq!(
            platform_envelope.alignment,
            Aligned {
                dkim: true,
                spf: false
            }
        );
        // Set but not verified yet (or failing past its grace): the platform's.
        return_path(&mut d, false);
        assert_eq!(deliver(&d), platform_envelope);
        return_path(&mut d, true);
        let own = deliver(&d);
        assert_eq!(own.mail_from_domain.as_str(), "bounces.mail.example.com");
        assert_eq!(
            own.alignment,
            Aligned {
                dkim: true,
                spf: true
            }
        );
        // A published `aspf=s` makes the return path, a subdomain, unaligned.
        d.checks.insert(testing::dmarc_verdict(
            "mail.example.com",
            "v=DMARC1; p=reject; aspf=s",
        ));
        let strict = deliver(&d);
        assert_eq!(strict.mail_from_domain.as_str(), "bounces.mail.example.com");
        assert!(!strict.alignment.spf && strict.alignment.dkim);
    }

    #[test]
    fn decision_names_are_the_serde_tags_and_modes_read_back() {
        let decisions = [
            SendDecision::Deliver {
                signing_domain: DomainName::parse("mail.example.com").unwrap(),
                selector: Selector::parse("scaisend").unwrap(),
                selectors: vec![(Algorithm::RsaSha256, Selector::parse("scaisend").unwrap())],
                envelope: Envelope {
                    mail_from_domain: DomainName::parse("bounces.example.net").unwrap(),
                    alignment: Aligned {
                        dkim: true,
                        spf: false,
                    },
                },
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
