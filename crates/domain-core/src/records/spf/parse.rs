//! Parsing SPF records found in DNS (RFC 7208 §4.6, §12).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    Directive, DomainSpec, DualCidr, MacroString, Mechanism, Modifier, Qualifier, SpfRecord, Term,
};
use crate::records::{RecordError, TxtRecord};

impl TxtRecord for SpfRecord {
    /// Parses one SPF record. Any syntax error makes the whole record invalid, which
    /// check_host reports as `permerror` (RFC 7208 §4.6).
    fn parse(text: &str) -> Result<Self, RecordError> {
        if !SpfRecord::is_spf(text) {
            return Err(RecordError::new(
                "an SPF record must start with `v=spf1` followed by a space",
            ));
        }
        let mut terms = Vec::new();
        let (mut redirects, mut exps) = (0, 0);
        // Terms are separated by one or more SP; no other whitespace is allowed.
        for word in text[6..].split(' ').filter(|w| !w.is_empty()) {
            let term = parse_term(word)?;
            match &term {
                Term::Modifier(Modifier::Redirect(_)) => redirects += 1,
                Term::Modifier(Modifier::Exp(_)) => exps += 1,
                _ => {}
            }
            terms.push(term);
        }
        if redirects > 1 || exps > 1 {
            return Err(RecordError::new(
                "`redirect=` and `exp=` may each appear only once (RFC 7208 §6)",
            ));
        }
        Ok(SpfRecord { terms })
    }
}

fn parse_term(word: &str) -> Result<Term, RecordError> {
    // A modifier is `name=`; a mechanism's name ends at `:` or `/` (RFC 7208 §4.6.1).
    let name_end = word.find(['=', ':', '/']).unwrap_or(word.len());
    if word[name_end..].starts_with('=') {
        return parse_modifier(&word[..name_end], &word[name_end + 1..], word);
    }
    parse_directive(word).map(Term::Directive)
}

fn parse_modifier(name: &str, value: &str, word: &str) -> Result<Term, RecordError> {
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid_name {
        return Err(RecordError::new(format!(
            "`{word}` is neither a mechanism nor a valid modifier"
        )));
    }
    let modifier = if name.eq_ignore_ascii_case("redirect") {
        Modifier::Redirect(DomainSpec::parse(value)?)
    } else if name.eq_ignore_ascii_case("exp") {
        Modifier::Exp(DomainSpec::parse(value)?)
    } else {
        Modifier::Unknown {
            name: name.to_owned(),
            value: MacroString::parse(value)?,
        }
    };
    Ok(Term::Modifier(modifier))
}

fn parse_directive(word: &str) -> Result<Directive, RecordError> {
    let (qualifier, rest) = match word.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &word[1..]),
        Some(b'-') => (Qualifier::Fail, &word[1..]),
        Some(b'~') => (Qualifier::SoftFail, &word[1..]),
        Some(b'?') => (Qualifier::Neutral, &word[1..]),
        _ => (Qualifier::Pass, word),
    };
    let name_end = rest.find([':', '/']).unwrap_or(rest.len());
    let (name, args) = rest.split_at(name_end);
    let unknown = || RecordError::new(format!("`{word}` is not a known SPF mechanism"));
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if args.is_empty() => Mechanism::All,
        "all" => {
            return Err(RecordError::new(format!(
                "`{word}`: `all` takes no argument"
            )));
        }
        "include" => Mechanism::Include(required_spec(word, args)?),
        "exists" => Mechanism::Exists(required_spec(word, args)?),
        "ptr" => Mechanism::Ptr(optional_spec(word, args)?),
        "a" => {
            let (spec, cidr) = spec_and_cidr(word, args)?;
            Mechanism::A { domain: spec, cidr }
        }
        "mx" => {
            let (spec, cidr) = spec_and_cidr(word, args)?;
            Mechanism::Mx { domain: spec, cidr }
        }
        "ip4" => {
            let net = args.strip_prefix(':').ok_or_else(unknown)?;
            let (addr, prefix) = split_prefix(net);
            let addr = parse_ipv4(addr).ok_or_else(|| {
                RecordError::new(format!("`{word}`: `{addr}` is not an IPv4 address"))
            })?;
            let prefix = prefix.map(|p| cidr_length(word, p, 32)).transpose()?;
            Mechanism::Ip4 { addr, prefix }
        }
        "ip6" => {
            let net = args.strip_prefix(':').ok_or_else(unknown)?;
            let (addr, prefix) = split_prefix(net);
            let addr: Ipv6Addr = addr.parse().map_err(|_| {
                RecordError::new(format!("`{word}`: `{addr}` is not an IPv6 address"))
            })?;
            let prefix = prefix.map(|p| cidr_length(word, p, 128)).transpose()?;
            Mechanism::Ip6 { addr, prefix }
        }
        _ => return Err(unknown()),
    };
    Ok(Directive {
        qualifier,
        mechanism,
    })
}

fn required_spec(word: &str, args: &str) -> Result<DomainSpec, RecordError> {
    optional_spec(word, args)?
        .ok_or_else(|| RecordError::new(format!("`{word}` needs `:` and a domain")))
}

fn optional_spec(word: &str, args: &str) -> Result<Option<DomainSpec>, RecordError> {
    if args.is_empty() {
        return Ok(None);
    }
    let spec = args
        .strip_prefix(':')
        .ok_or_else(|| RecordError::new(format!("`{word}` has an unexpected `{args}`")))?;
    DomainSpec::parse(spec)
        .map(Some)
        .map_err(|e| RecordError::new(format!("`{word}`: {}", e.message())))
}

/// Splits `[:domain-spec][/v4][//v6]`. The CIDR suffix is taken from the end, since a
/// domain-spec may itself contain `/` inside macros.
fn spec_and_cidr(word: &str, args: &str) -> Result<(Option<DomainSpec>, DualCidr), RecordError> {
    let mut rest = args;
    let mut cidr = DualCidr::default();
    if let Some((head, v6)) = rest.rsplit_once("//")
        && is_digits(v6)
    {
        cidr.v6 = Some(cidr_length(word, v6, 128)?);
        rest = head;
    }
    if let Some((head, v4)) = rest.rsplit_once('/')
        && is_digits(v4)
    {
        cidr.v4 = Some(cidr_length(word, v4, 32)?);
        rest = head;
    }
    if rest.ends_with('/') || (rest.contains('/') && !rest.starts_with(':')) {
        return Err(RecordError::new(format!(
            "`{word}` has an invalid prefix length"
        )));
    }
    Ok((optional_spec(word, rest)?, cidr))
}

fn split_prefix(net: &str) -> (&str, Option<&str>) {
    match net.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (net, None),
    }
}

/// `"/" ("0" / %x31-39 0*2DIGIT)` within `0..=max`: no leading zeros.
fn cidr_length(word: &str, digits: &str, max: u8) -> Result<u8, RecordError> {
    let bad = || {
        RecordError::new(format!(
            "`{word}` has the prefix length `/{digits}`; it must be a number from 0 to {max} without leading zeros"
        ))
    };
    if !is_digits(digits) || (digits.len() > 1 && digits.starts_with('0')) {
        return Err(bad());
    }
    digits
        .parse::<u8>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(bad)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Dotted-quad only: four decimal octets (RFC 7208 `ip4-network`).
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 || !parts.iter().all(|p| is_digits(p) && p.len() <= 3) {
        return None;
    }
    s.parse().ok()
}
