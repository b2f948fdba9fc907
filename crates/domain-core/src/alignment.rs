//! DMARC identifier alignment (RFC 7489 §3.1): whether the domains that DKIM and SPF
//! authenticate are the `From:` domain's, as a receiver applying DMARC will judge them.
//!
//! A key design decision: the alignment modes come from the domain's last conclusive
//! DMARC verdict, which records the `adkim=`/`aspf=` tags of the record in force (its
//! own, or the organizational domain's it inherits). Without one — no DMARC check yet,
//! or no valid record — the modes are relaxed, RFC 7489's default, and what a receiver
//! would apply if a record appeared. A mode changed in DNS is seen at the next
//! verification, like every other record.

use serde::Serialize;

use crate::name::DomainName;
use crate::records::dmarc::{Alignment as Mode, DmarcRecord};
use crate::verify::Verdict;

/// The alignment modes a domain's DMARC record asks for (`adkim=`, `aspf=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlignmentModes {
    /// `adkim=`: how the DKIM `d=` must match the `From:` domain.
    pub dkim: Mode,
    /// `aspf=`: how the MAIL FROM domain must match the `From:` domain.
    pub spf: Mode,
}

impl Default for AlignmentModes {
    /// Relaxed for both, RFC 7489's default.
    fn default() -> Self {
        AlignmentModes {
            dkim: Mode::Relaxed,
            spf: Mode::Relaxed,
        }
    }
}

impl AlignmentModes {
    /// The modes of a record, its absent tags taking the default.
    pub fn of(record: &DmarcRecord) -> Self {
        AlignmentModes {
            dkim: record.adkim.unwrap_or(Mode::Relaxed),
            spf: record.aspf.unwrap_or(Mode::Relaxed),
        }
    }

    /// The modes as a DMARC verdict keeps them in its `details`: `{"adkim": "r",
    /// "aspf": "s"}`.
    pub fn to_details(self) -> serde_json::Value {
        serde_json::json!({ "adkim": self.dkim.as_str(), "aspf": self.spf.as_str() })
    }

    /// The modes in force for a domain, read from its last DMARC verdict: the record's
    /// tags when the verdict passed, relaxed otherwise (no record applies, or the
    /// verdict predates the tags being recorded).
    pub fn from_verdict(dmarc: Option<&Verdict>) -> Self {
        let Some(v) = dmarc.filter(|v| v.passed()) else {
            return Self::default();
        };
        let mode = |tag: &str| {
            v.details
                .get(tag)
                .and_then(|m| m.as_str())
                .and_then(|m| {
                    [Mode::Relaxed, Mode::Strict]
                        .into_iter()
                        .find(|x| x.as_str() == m)
                })
                .unwrap_or(Mode::Relaxed)
        };
        AlignmentModes {
            dkim: mode("adkim"),
            spf: mode("aspf"),
        }
    }
}

/// Whether the DKIM and SPF identifiers of a message align with its `From:` domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Aligned {
    /// The DKIM signature's `d=` aligns.
    pub dkim: bool,
    /// The MAIL FROM domain (what SPF authenticates) aligns.
    pub spf: bool,
}

/// Whether `other` aligns with the `From:` domain `from` in `mode` (RFC 7489 §3.1.1,
/// §3.1.2): strict asks for the same name, relaxed for the same organizational domain
/// (§3.2, by the public suffix list).
pub fn aligned(from: &DomainName, other: &DomainName, mode: Mode) -> bool {
    match mode {
        Mode::Strict => from == other,
        Mode::Relaxed => from.organizational_domain() == other.organizational_domain(),
    }
}

/// The alignment of a message from `from`, signed with `d=` `dkim_domain` (`None`:
/// unsigned) and sent with MAIL FROM in `mail_from`, under `modes`.
pub fn alignment(
    from: &DomainName,
    dkim_domain: Option<&DomainName>,
    mail_from: &DomainName,
    modes: AlignmentModes,
) -> Aligned {
    Aligned {
        dkim: dkim_domain.is_some_and(|d| aligned(from, d, modes.dkim)),
        spf: aligned(from, mail_from, modes.spf),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::verify::CheckStatus;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    const RELAXED: AlignmentModes = AlignmentModes {
        dkim: Mode::Relaxed,
        spf: Mode::Relaxed,
    };

    #[test]
    fn relaxed_alignment_compares_organizational_domains() {
        let from = name("mail.example.com");
        for (other, relaxed, strict) in [
            ("mail.example.com", true, true),
            ("bounces.mail.example.com", true, false),
            ("example.com", true, false),
            ("other.example.com", true, false),
            ("bounces.scaisend.scailabs.ai", false, false),
            ("example.co.uk", false, false),
            ("mail.example.com.evil.example", false, false),
        ] {
            let other = name(other);
            assert_eq!(aligned(&from, &other, Mode::Relaxed), relaxed, "{other}");
            assert_eq!(aligned(&from, &other, Mode::Strict), strict, "{other}");
        }
        // Under a multi-label public suffix the organizational domain has three labels.
        let uk = name("mail.example.co.uk");
        assert!(aligned(&uk, &name("bounces.example.co.uk"), Mode::Relaxed));
        assert!(!aligned(&uk, &name("other.co.uk"), Mode::Relaxed));
    }

    #[test]
    fn a_return_path_below_the_domain_aligns_unless_aspf_is_strict() {
        let from = name("mail.example.com");
        let ours = name("bounces.mail.example.com");
        let platform = name("bounces.scaisend.scailabs.ai");
        assert_eq!(
            alignment(&from, Some(&from), &ours, RELAXED),
            Aligned {
                dkim: true,
                spf: true
            }
        );
        let strict_spf = AlignmentModes {
            spf: Mode::Strict,
            ..RELAXED
        };
        assert_eq!(
            alignment(&from, Some(&from), &ours, strict_spf),
            Aligned {
                dkim: true,
                spf: false
            },
            "a relaxed-only return path under aspf=s"
        );
        assert!(!alignment(&from, Some(&from), &platform, RELAXED).spf);
        assert!(!alignment(&from, None, &ours, RELAXED).dkim, "unsigned");
    }

    fn dmarc_verdict(status: CheckStatus, record: &str) -> Verdict {
        Verdict {
            status,
            ..crate::testing::dmarc_verdict("example.com", record)
        }
    }

    #[test]
    fn the_modes_come_from_a_passing_dmarc_verdict_and_default_to_relaxed() {
        let strict = dmarc_verdict(CheckStatus::Verified, "v=DMARC1; p=none; aspf=s");
        assert_eq!(
            AlignmentModes::from_verdict(Some(&strict)),
            AlignmentModes {
                dkim: Mode::Relaxed,
                spf: Mode::Strict
            }
        );
        let both = dmarc_verdict(CheckStatus::Verified, "v=DMARC1; p=none; adkim=s; aspf=s");
        assert_eq!(AlignmentModes::from_verdict(Some(&both)).dkim, Mode::Strict);
        let mut old = both.clone();
        old.details = serde_json::Value::Null;
        assert_eq!(
            AlignmentModes::from_verdict(Some(&old)),
            RELAXED,
            "no tags kept"
        );
        let failing = dmarc_verdict(CheckStatus::Invalid, "v=DMARC1; p=none; aspf=s");
        assert_eq!(AlignmentModes::from_verdict(Some(&failing)), RELAXED);
        assert_eq!(AlignmentModes::from_verdict(None), RELAXED);
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("mail"),
            Just("bounces"),
            Just("a"),
            Just("example"),
            Just("other")
        ]
        .prop_map(str::to_owned)
    }

    fn domain() -> impl Strategy<Value = DomainName> {
        (
            prop::collection::vec(label(), 0..3),
            prop_oneof![
                Just("example.com"),
                Just("example.co.uk"),
                Just("other.org")
            ],
        )
            .prop_map(|(labels, base)| {
                let mut parts = labels;
                parts.push(base.to_owned());
                DomainName::parse(&parts.join(".")).unwrap()
            })
    }

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Relaxed), Just(Mode::Strict)]
    }

    proptest! {
        /// Alignment is reflexive and symmetric; strict implies relaxed; relaxed holds
        /// exactly when the organizational domains are equal.
        #[test]
        fn alignment_rules_hold(a in domain(), b in domain(), m in mode()) {
            prop_assert!(aligned(&a, &a, m));
            prop_assert_eq!(aligned(&a, &b, m), aligned(&b, &a, m));
            if aligned(&a, &b, Mode::Strict) {
                prop_assert!(aligned(&a, &b, Mode::Relaxed));
            }
            prop_assert_eq!(
                aligned(&a, &b, Mode::Relaxed),
                a.organizational_domain() == b.organizational_domain()
            );
        }

        /// A return-path host directly below the `From:` domain always aligns relaxed,
        /// never strict; the platform's own return path never aligns for a tenant's
        /// domain.
        #[test]
        fn a_return_path_below_the_from_domain(from in domain(), label in label(), dkim in mode()) {
            let rp = name(&format!("{label}.{from}"));
            let platform = name("bounces.scaisend.scailabs.ai");
            let relaxed = alignment(&from, Some(&from), &rp, AlignmentModes { dkim, spf: Mode::Relaxed });
            let strict = alignment(&from, Some(&from), &rp, AlignmentModes { dkim, spf: Mode::Strict });
            prop_assert!(relaxed.dkim && relaxed.spf);
            prop_assert!(strict.dkim && !strict.spf);
            prop_assert!(!alignment(&from, Some(&from), &platform, RELAXED).spf);
        }
    }
}
