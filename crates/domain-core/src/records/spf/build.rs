//! Building SPF records, and merging our include into an existing one.

use std::fmt;

use super::{Directive, DomainSpec, Mechanism, Modifier, Qualifier, SpfRecord, Term};

impl SpfRecord {
    /// The record we suggest to a domain without one:
    /// `v=spf1 include:<include_host> ~all`.
    pub fn ours(include_host: &DomainSpec) -> Self {
        Self::include_then_all(include_host, Qualifier::SoftFail)
    }

    /// The record we suggest for a host that sends nothing but our mail, a return-path
    /// host: `v=spf1 include:<include_host> -all`, so that receivers fail anyone else
    /// who uses it as MAIL FROM.
    pub fn ours_only(include_host: &DomainSpec) -> Self {
        Self::include_then_all(include_host, Qualifier::Fail)
    }

    fn include_then_all(include_host: &DomainSpec, all: Qualifier) -> Self {
        SpfRecord {
            terms: vec![
                Term::Directive(Directive {
                    qualifier: Qualifier::Pass,
                    mechanism: Mechanism::Include(include_host.clone()),
                }),
                Term::Directive(Directive {
                    qualifier: all,
                    mechanism: Mechanism::All,
                }),
            ],
        }
    }

    /// This record with `include:<include_host>` added, so that a domain keeps one SPF
    /// record (two records are a permanent error for every receiver). The include goes
    /// right before the first `all` — after it, it would never be reached — or after the
    /// last mechanism when there is no `all`. A record that already includes the host
    /// with the `+` qualifier before any `all` is returned unchanged; an include of the
    /// host that cannot pass (another qualifier, or after `all`) is replaced.
    pub fn with_include(&self, include_host: &DomainSpec) -> SpfRecord {
        let is_ours =
            |m: &Mechanism| matches!(m, Mechanism::Include(spec) if same_host(spec, include_host));
        let reached = self
            .directives()
            .take_while(|d| d.mechanism != Mechanism::All)
            .any(|d| d.qualifier == Qualifier::Pass && is_ours(&d.mechanism));
        if reached {
            return self.clone();
        }
        let mut terms: Vec<Term> = self
            .terms
            .iter()
            .filter(|t| !matches!(t, Term::Directive(d) if is_ours(&d.mechanism)))
            .cloned()
            .collect();
        let at = terms
            .iter()
            .position(|t| matches!(t, Term::Directive(d) if d.mechanism == Mechanism::All))
            .or_else(|| {
                terms
                    .iter()
                    .rposition(|t| matches!(t, Term::Directive(_)))
                    .map(|last| last + 1)
            })
            .unwrap_or(0);
        terms.insert(
            at,
            Term::Directive(Directive {
                qualifier: Qualifier::Pass,
                mechanism: Mechanism::Include(include_host.clone()),
            }),
        );
        SpfRecord { terms }
    }
}

impl fmt::Display for SpfRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=spf1")?;
        for term in &self.terms {
            write!(f, " {term}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Directive(d) => write!(f, "{d}"),
            Term::Modifier(m) => write!(f, "{m}"),
        }
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.qualifier.symbol(), self.mechanism)
    }
}

impl Qualifier {
    /// The qualifier as written; `+` is written as nothing, its default.
    pub fn symbol(self) -> &'static str {
        match self {
            Qualifier::Pass => "",
            Qualifier::Fail => "-",
            Qualifier::SoftFail => "~",
            Qualifier::Neutral => "?",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mechanism::All => f.write_str("all"),
            Mechanism::Include(d) => write!(f, "include:{d}"),
            Mechanism::A { domain, cidr } => {
                write_named(f, "a", domain.as_ref())?;
                write_cidr(f, cidr.v4, cidr.v6)
            }
            Mechanism::Mx { domain, cidr } => {
                write_named(f, "mx", domain.as_ref())?;
                write_cidr(f, cidr.v4, cidr.v6)
            }
            Mechanism::Ptr(domain) => write_named(f, "ptr", domain.as_ref()),
            Mechanism::Ip4 { addr, prefix } => {
                write!(f, "ip4:{addr}")?;
                write_cidr(f, *prefix, None)
            }
            Mechanism::Ip6 { addr, prefix } => {
                write!(f, "ip6:{addr}")?;
                write_cidr(f, *prefix, None)
            }
            Mechanism::Exists(d) => write!(f, "exists:{d}"),
        }
    }
}

/// Whether two domain-specs name the same host: equal as written, or the same literal
/// name up to case and a trailing dot.
fn same_host(a: &DomainSpec, b: &DomainSpec) -> bool {
    if a == b {
        return true;
    }
    match (a.as_literal(), b.as_literal()) {
        (Some(a), Some(b)) => a
            .trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.')),
        _ => false,
    }
}

/// A mechanism's name and, when it names one, its `:domain-spec`.
fn write_named(f: &mut fmt::Formatter<'_>, name: &str, domain: Option<&DomainSpec>) -> fmt::Result {
    f.write_str(name)?;
    match domain {
        Some(d) => write!(f, ":{d}"),
        None => Ok(()),
    }
}

/// A term's prefix lengths: `/prefix` (the IPv4 one of `a` and `mx`, the only one of
/// `ip4` and `ip6`), then `//v6` (the IPv6 one of `a` and `mx`).
fn write_cidr(f: &mut fmt::Formatter<'_>, prefix: Option<u8>, v6: Option<u8>) -> fmt::Result {
    if let Some(p) = prefix {
        write!(f, "/{p}")?;
    }
    if let Some(p) = v6 {
        write!(f, "//{p}")?;
    }
    Ok(())
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Modifier::Redirect(d) => write!(f, "redirect={d}"),
            Modifier::Exp(d) => write!(f, "exp={d}"),
            Modifier::Unknown { name, value } => write!(f, "{name}={value}"),
        }
    }
}
