//! SPF records (RFC 7208): the typed model of a record, its parser and builder, the
//! merge of our `include:` into a record a domain already has, and [`check_host`], the
//! evaluation of a domain's records for a client address.
//!
//! ```text
//! record     = version terms *SP                       ; RFC 7208 §12
//! version    = "v=spf1"
//! terms      = *( 1*SP ( directive / modifier ) )
//! directive  = [ qualifier ] mechanism
//! qualifier  = "+" / "-" / "?" / "~"
//! mechanism  = ( all / include / a / mx / ptr / ip4 / ip6 / exists )
//! modifier   = redirect / explanation / unknown-modifier
//! ```

mod build;
mod check_host;
mod expand;
mod macros;
mod parse;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{BitAnd, BitOr, Not};

pub use check_host::{
    IncludeStep, MAX_DNS_LOOKUPS, MAX_NAMES_PER_TERM, MAX_VOID_LOOKUPS, MatchedTerm, RedirectStep,
    SpfEvaluation, SpfProblem, SpfQuery, SpfResult, SpfTrace, TermRef, VoidLookup, check_host,
};
pub use macros::{DomainSpec, MacroLetter, MacroString, MacroToken};

/// A parsed SPF record: its terms, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    /// Directives and modifiers, in the order they appear.
    pub terms: Vec<Term>,
}

/// One term of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A qualified mechanism.
    Directive(Directive),
    /// A `name=value` modifier.
    Modifier(Modifier),
}

/// `directive = [ qualifier ] mechanism`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The result when the mechanism matches (`+` when omitted).
    pub qualifier: Qualifier,
    /// The mechanism.
    pub mechanism: Mechanism,
}

/// The qualifier of a directive (RFC 7208 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// `+`: pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`: always matches.
    All,
    /// `include:<domain-spec>`: matches when the included record passes.
    Include(DomainSpec),
    /// `a[:<domain-spec>][<dual-cidr>]`: the client's address is one of the name's A/AAAA.
    A {
        /// The name to look up; the current domain when absent.
        domain: Option<DomainSpec>,
        /// Prefix lengths to compare with.
        cidr: DualCidr,
    },
    /// `mx[:<domain-spec>][<dual-cidr>]`: the client is one of the name's MX hosts.
    Mx {
        /// The name whose MX to look up; the current domain when absent.
        domain: Option<DomainSpec>,
        /// Prefix lengths to compare with.
        cidr: DualCidr,
    },
    /// `ptr[:<domain-spec>]`: the client's validated reverse name lies under the domain.
    Ptr(Option<DomainSpec>),
    /// `ip4:<network>[/<len>]`.
    Ip4 {
        /// The network address.
        addr: Ipv4Addr,
        /// The prefix length (32 when absent).
        prefix: Option<u8>,
    },
    /// `ip6:<network>[/<len>]`.
    Ip6 {
        /// The network address.
        addr: Ipv6Addr,
        /// The prefix length (128 when absent).
        prefix: Option<u8>,
    },
    /// `exists:<domain-spec>`: matches when the name has an A record.
    Exists(DomainSpec),
}

/// `dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DualCidr {
    /// The IPv4 prefix length (32 when absent).
    pub v4: Option<u8>,
    /// The IPv6 prefix length (128 when absent).
    pub v6: Option<u8>,
}

/// A modifier (RFC 7208 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// `redirect=<domain-spec>`: evaluate another domain's record when nothing matched.
    Redirect(DomainSpec),
    /// `exp=<domain-spec>`: where the explanation for a `fail` is published.
    Exp(DomainSpec),
    /// Any other `name=macro-string`, which evaluation ignores.
    Unknown {
        /// The modifier name.
        name: String,
        /// Its value.
        value: MacroString,
    },
}

impl Mechanism {
    /// Whether evaluating this mechanism queries DNS and so counts toward the limit of
    /// 10 (RFC 7208 §4.6.4: `include`, `a`, `mx`, `ptr`, `exists`; `redirect` too).
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }

    /// For `ip4:` and `ip6:`, the first and last address of the network; `None` for the
    /// other mechanisms.
    pub fn network_range(&self) -> Option<(IpAddr, IpAddr)> {
        match *self {
            Mechanism::Ip4 { addr, prefix } => {
                let (first, last) = span(u32::from(addr), v4_mask(prefix.unwrap_or(32)));
                Some((Ipv4Addr::from(first).into(), Ipv4Addr::from(last).into()))
            }
            Mechanism::Ip6 { addr, prefix } => {
                let (first, last) = span(u128::from(addr), v6_mask(prefix.unwrap_or(128)));
                Some((Ipv6Addr::from(first).into(), Ipv6Addr::from(last).into()))
            }
            _ => None,
        }
    }
}

/// The network mask of an IPv4 prefix length; lengths over 32 mask the whole address.
fn v4_mask(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

/// The first and last address (as bits) of the network of `addr` under `mask`.
fn span<T>(addr: T, mask: T) -> (T, T)
where
    T: Copy + BitAnd<Output = T> + BitOr<Output = T> + Not<Output = T>,
{
    let first = addr & mask;
    (first, first | !mask)
}

/// The network mask of an IPv6 prefix length; lengths over 128 mask the whole address.
fn v6_mask(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

impl SpfRecord {
    /// The `redirect=` modifier, if any.
    pub fn redirect(&self) -> Option<&DomainSpec> {
        self.terms.iter().find_map(|t| match t {
            Term::Modifier(Modifier::Redirect(d)) => Some(d),
            _ => None,
        })
    }

    /// The `exp=` modifier, if any.
    pub fn exp(&self) -> Option<&DomainSpec> {
        self.terms.iter().find_map(|t| match t {
            Term::Modifier(Modifier::Exp(d)) => Some(d),
            _ => None,
        })
    }

    /// The directives, in order.
    pub fn directives(&self) -> impl Iterator<Item = &Directive> {
        self.terms.iter().filter_map(|t| match t {
            Term::Directive(d) => Some(d),
            Term::Modifier(_) => None,
        })
    }

    /// Whether the text of a TXT record is an SPF record: `v=spf1` followed by a space
    /// or nothing (RFC 7208 §4.5). Records that are not are ignored, not errors.
    pub fn is_spf(text: &str) -> bool {
        let t = text.as_bytes();
        t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && (t.len() == 6 || t[6] == b' ')
    }
}
