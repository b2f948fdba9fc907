//! Properties of the SPF model: what we build parses back to itself, and merging our
//! include never makes a second record nor hides the include behind `all`.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::records::TxtRecord;

/// A strategy for valid records, written as the builder writes them. Literal parts of
/// domain-specs stick to letters, digits and `-_.`, as real names do; everything else
/// the grammar allows (macros with transformers and delimiters, `%%`/`%_`/`%-`, unknown
/// modifiers, dual CIDR) is generated.
pub(super) fn record() -> impl Strategy<Value = SpfRecord> {
    let directive = (qualifier(), mechanism()).prop_map(|(qualifier, mechanism)| {
        Term::Directive(Directive {
            qualifier,
            mechanism,
        })
    });
    let unknown = ("[a-z][a-z0-9._-]{0,8}", unknown_value())
        .prop_filter("redirect and exp are not unknown modifiers", |(name, _)| {
            !name.eq_ignore_ascii_case("redirect") && !name.eq_ignore_ascii_case("exp")
        })
        .prop_map(|(name, value)| Term::Modifier(Modifier::Unknown { name, value }));
    (
        prop::collection::vec(prop_oneof![4 => directive, 1 => unknown], 0..8),
        prop::option::of(domain_spec()),
        prop::option::of(domain_spec()),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut terms, redirect, exp, at_r, at_e)| {
            // Each of `redirect=` and `exp=` at most once, anywhere in the record.
            if let Some(spec) = redirect {
                let at = at_r.index(terms.len() + 1);
                terms.insert(at, Term::Modifier(Modifier::Redirect(spec)));
            }
            if let Some(spec) = exp {
                let at = at_e.index(terms.len() + 1);
                terms.insert(at, Term::Modifier(Modifier::Exp(spec)));
            }
            SpfRecord { terms }
        })
}

fn qualifier() -> impl Strategy<Value = Qualifier> {
    prop_oneof![
        Just(Qualifier::Pass),
        Just(Qualifier::Fail),
        Just(Qualifier::SoftFail),
        Just(Qualifier::Neutral),
    ]
}

fn mechanism() -> impl Strategy<Value = Mechanism> {
    let cidr = (prop::option::of(0u8..=32), prop::option::of(0u8..=128))
        .prop_map(|(v4, v6)| DualCidr { v4, v6 });
    prop_oneof![
        Just(Mechanism::All),
        domain_spec().prop_map(Mechanism::Include),
        (prop::option::of(domain_spec()), cidr.clone())
            .prop_map(|(domain, cidr)| Mechanism::A { domain, cidr }),
        (prop::option::of(domain_spec()), cidr)
            .prop_map(|(domain, cidr)| Mechanism::Mx { domain, cidr }),
        prop::option::of(domain_spec()).prop_map(Mechanism::Ptr),
        (any::<u32>(), prop::option::of(0u8..=32)).prop_map(|(addr, prefix)| Mechanism::Ip4 {
            addr: Ipv4Addr::from(addr),
            prefix
        }),
        (any::<u128>(), prop::option::of(0u8..=128)).prop_map(|(addr, prefix)| {
            Mechanism::Ip6 {
                addr: Ipv6Addr::from(addr),
                prefix,
            }
        }),
        domain_spec().prop_map(Mechanism::Exists),
    ]
}

fn term_macro() -> impl Strategy<Value = MacroToken> {
    let letter = prop::sample::select(vec![
        MacroLetter::Sender,
        MacroLetter::Local,
        MacroLetter::SenderDomain,
        MacroLetter::Domain,
        MacroLetter::Ip,
        MacroLetter::ValidatedName,
        MacroLetter::IpVersion,
        MacroLetter::Helo,
    ]);
    (
        letter,
        any::<bool>(),
        prop::option::of(1u32..=130),
        any::<bool>(),
        "[.+,/_=-]{0,3}",
    )
        .prop_map(
            |(letter, url_escape, digits, reverse, delimiters)| MacroToken::Macro {
                letter,
                url_escape,
                digits,
                reverse,
                delimiters,
            },
        )
}

/// A domain-spec: dot-separated parts (labels or macro-expands), ending in a top-level
/// label after at least one dot, or in a macro-expand.
pub(super) fn domain_spec() -> impl Strategy<Value = DomainSpec> {
    let part = prop_oneof![
        3 => "[a-z0-9][a-z0-9_-]{0,7}".prop_map(|l| vec![MacroToken::Literal(l)]),
        2 => term_macro().prop_map(|m| vec![m]),
        1 => prop::sample::select(vec![MacroToken::Percent, MacroToken::Space, MacroToken::UrlSpace])
            .prop_map(|t| vec![t]),
    ];
    let end = prop_oneof![
        2 => prop::sample::select(vec!["com", "example", "xn--zckzah", "a1"])
            .prop_map(|top| Some(top.to_owned())),
        1 => Just(None),
    ];
    (prop::collection::vec(part, 0..4), end, any::<bool>()).prop_map(
        |(parts, end, trailing_dot)| {
            let mut pieces: Vec<Vec<MacroToken>> = parts;
            match end {
                Some(top) => {
                    let top = if trailing_dot { format!("{top}.") } else { top };
                    if pieces.is_empty() {
                        pieces.push(vec![MacroToken::Literal("example".to_owned())]);
                    }
                    pieces.push(vec![MacroToken::Literal(top)]);
                }
                None => pieces.push(vec![MacroToken::Macro {
                    letter: MacroLetter::Domain,
                    url_escape: false,
                    digits: None,
                    reverse: false,
                    delimiters: String::new(),
                }]),
            }
            let mut tokens = Vec::new();
            for (i, piece) in pieces.into_iter().enumerate() {
                if i > 0 {
                    tokens.push(MacroToken::Literal(".".to_owned()));
                }
                tokens.extend(piece);
            }
            DomainSpec(MacroString {
                tokens: merge_literals(tokens),
            })
        },
    )
}

fn unknown_value() -> impl Strategy<Value = MacroString> {
    let token = prop_oneof![
        "[!-$&-~]{1,8}".prop_map(MacroToken::Literal),
        term_macro(),
        Just(MacroToken::Percent),
    ];
    prop::collection::vec(token, 0..4).prop_map(|tokens| MacroString {
        tokens: merge_literals(tokens),
    })
}

/// Joins adjacent literals, as the parser does, so that generated values compare equal
/// to parsed ones.
fn merge_literals(tokens: Vec<MacroToken>) -> Vec<MacroToken> {
    let mut out: Vec<MacroToken> = Vec::new();
    for token in tokens {
        if let (Some(MacroToken::Literal(prev)), MacroToken::Literal(next)) =
            (out.last_mut(), &token)
        {
            prev.push_str(next);
        } else {
            out.push(token);
        }
    }
    out
}

fn include_host() -> DomainSpec {
    DomainSpec::parse("scaisend.scailabs.ai").unwrap()
}

fn first_all(r: &SpfRecord) -> Option<usize> {
    r.terms
        .iter()
        .position(|t| matches!(t, Term::Directive(d) if d.mechanism == Mechanism::All))
}

#[test]
fn our_suggestions_end_softly_for_a_domain_and_hard_for_a_return_path() {
    let include = DomainSpec::parse("scaisend.scailabs.ai").unwrap();
    let domain = SpfRecord::ours(&include);
    let return_path = SpfRecord::ours_only(&include);
    assert_eq!(
        domain.to_string(),
        "v=spf1 include:scaisend.scailabs.ai ~all"
    );
    assert_eq!(
        return_path.to_string(),
        "v=spf1 include:scaisend.scailabs.ai -all"
    );
    for record in [domain, return_path] {
        assert_eq!(SpfRecord::parse(&record.to_string()).unwrap(), record);
        assert_eq!(record.with_include(&include), record, "already ours");
    }
}

proptest! {
    #[test]
    fn built_records_parse_back(r in record()) {
        crate::testing::parses_back(r)?;
    }

    #[test]
    fn merging_our_include_keeps_one_record_with_it_before_all(r in record()) {
        let host = include_host();
        let merged = r.with_include(&host);
        let text = merged.to_string();
        // One record: it still parses, and it says `v=spf1` once.
        prop_assert_eq!(SpfRecord::parse(&text), Ok(merged.clone()));
        prop_assert_eq!(text.matches("v=spf1").count(), 1);
        let ours = merged.terms.iter().position(|t| matches!(
            t,
            Term::Directive(Directive { qualifier: Qualifier::Pass, mechanism: Mechanism::Include(h) }) if *h == host
        ));
        prop_assert!(ours.is_some(), "{}", text);
        if let (Some(ours), Some(all)) = (ours, first_all(&merged)) {
            prop_assert!(ours < all, "{}", text);
        }
        // The other terms are kept, in order.
        let others = |r: &SpfRecord| -> Vec<Term> {
            r.terms.iter().filter(|t| !matches!(t, Term::Directive(d) if matches!(&d.mechanism, Mechanism::Include(h) if *h == host))).cloned().collect()
        };
        prop_assert_eq!(others(&merged), others(&r));
        // Merging twice changes nothing more.
        prop_assert_eq!(merged.with_include(&host), merged);
    }
}

#[test]
fn merge_examples() {
    let check = |before: &str, after: &str| {
        let r = SpfRecord::parse(before).unwrap();
        assert_eq!(
            r.with_include(&include_host()).to_string(),
            after,
            "{before}"
        );
    };
    check(
        "v=spf1 include:_spf.google.com ~all",
        "v=spf1 include:_spf.google.com include:scaisend.scailabs.ai ~all",
    );
    check(
        "v=spf1 ip4:192.0.2.1",
        "v=spf1 ip4:192.0.2.1 include:scaisend.scailabs.ai",
    );
    check(
        "v=spf1 mx redirect=_spf.example.com",
        "v=spf1 mx include:scaisend.scailabs.ai redirect=_spf.example.com",
    );
    check("v=spf1", "v=spf1 include:scaisend.scailabs.ai");
    check(
        "v=spf1 include:SCAISEND.scailabs.ai. -all",
        "v=spf1 include:SCAISEND.scailabs.ai. -all",
    );
    // Unreachable or non-passing includes of ours are replaced by one that passes.
    check(
        "v=spf1 -all include:scaisend.scailabs.ai",
        "v=spf1 include:scaisend.scailabs.ai -all",
    );
    check(
        "v=spf1 ~include:scaisend.scailabs.ai a -all",
        "v=spf1 a include:scaisend.scailabs.ai -all",
    );
}

#[test]
fn network_ranges() {
    let range = |term: &str| {
        let record = SpfRecord::parse(&format!("v=spf1 {term}")).unwrap();
        let directive = record.directives().next().unwrap();
        directive
            .mechanism
            .network_range()
            .map(|(first, last)| (first.to_string(), last.to_string()))
    };
    for (term, first_and_last) in [
        ("ip4:192.0.2.77/24", Some(("192.0.2.0", "192.0.2.255"))),
        ("ip4:192.0.2.77", Some(("192.0.2.77", "192.0.2.77"))),
        ("ip4:192.0.2.77/0", Some(("0.0.0.0", "255.255.255.255"))),
        ("ip6:2001:db8::/126", Some(("2001:db8::", "2001:db8::3"))),
        ("ip6:2001:db8::1", Some(("2001:db8::1", "2001:db8::1"))),
        ("a:example.com/24", None),
    ] {
        let expected = first_and_last.map(|(first, last)| (first.to_owned(), last.to_owned()));
        assert_eq!(range(term), expected, "{term}");
    }
}
