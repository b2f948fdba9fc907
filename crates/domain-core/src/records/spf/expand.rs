//! Macro expansion (RFC 7208 §7.3) and the names it produces (§4.3, §4.8).
//!
//! Expansion itself is pure: the one value that needs DNS, `%{p}`, is looked up by the
//! evaluator beforehand and handed in as [`MacroValues::validated`].

use std::fmt::Write as _;
use std::net::IpAddr;

use super::macros::is_toplabel;
use super::{MacroLetter, MacroString, MacroToken};

/// Longest domain name in text form without the trailing dot (RFC 1035: 255 octets on
/// the wire).
const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// The values the macro letters stand for during one evaluation.
#[derive(Debug, Clone, Copy)]
pub(super) struct MacroValues<'a> {
    /// `l`: the sender's local part (`postmaster` when it has none).
    pub local: &'a str,
    /// `o`: the sender's domain.
    pub sender_domain: &'a str,
    /// `d`: the domain whose record is being evaluated.
    pub domain: &'a str,
    /// `i`, `c`, `v`: the client address, IPv4-mapped addresses already unwrapped.
    pub ip: IpAddr,
    /// `h`.
    pub helo: Option<&'a str>,
    /// `r`.
    pub receiver: Option<&'a str>,
    /// `t`.
    pub timestamp: Option<u64>,
    /// `p`, when the string uses it and it was looked up.
    pub validated: Option<&'a str>,
}

/// Expands a macro string (RFC 7208 §7.3). Infallible: the parser has already rejected
/// every string that could not be expanded.
pub(super) fn expand(ms: &MacroString, v: &MacroValues<'_>) -> String {
    let mut out = String::new();
    for token in ms.tokens() {
        match token {
            MacroToken::Literal(s) => out.push_str(s),
            MacroToken::Percent => out.push('%'),
            MacroToken::Space => out.push(' '),
            MacroToken::UrlSpace => out.push_str("%20"),
            MacroToken::Macro {
                letter,
                url_escape,
                digits,
                reverse,
                delimiters,
            } => {
                let value = letter_value(*letter, v);
                let value = transform(&value, *digits, *reverse, delimiters);
                if *url_escape {
                    url_escape_into(&mut out, &value);
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    out
}

/// Whether a macro string uses `%{p}`, whose value costs DNS queries.
pub(super) fn uses_validated_name(ms: &MacroString) -> bool {
    ms.tokens().iter().any(|t| {
        matches!(
            t,
            MacroToken::Macro {
                letter: MacroLetter::ValidatedName,
                ..
            }
        )
    })
}

/// Turns the expansion of a domain-spec into a name to query: drops the trailing dot,
/// shortens a name over 253 characters by removing labels from the left (§4.8), and
/// returns `None` when what is left cannot be a DNS name (an empty label, a label over
/// 63 octets), which RFC 7208 leaves undefined and which we treat as a name that does
/// not exist.
pub(super) fn target_name(expanded: &str) -> Option<String> {
    let mut name = expanded.strip_suffix('.').unwrap_or(expanded);
    while name.len() > MAX_NAME_LEN {
        name = name.split_once('.')?.1;
    }
    let well_formed = !name.is_empty()
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= MAX_LABEL_LEN);
    well_formed.then(|| name.to_owned())
}

/// Whether `domain` (without trailing dot) may start an evaluation (§4.3): a well-formed
/// name of at least two labels whose last label is a top-level label, so that domain
/// literals (`[192.0.2.1]`), IP addresses and single labels give `none`.
pub(super) fn is_checkable_domain(domain: &str) -> bool {
    domain.len() <= MAX_NAME_LEN
        && target_name(domain).is_some()
        && domain
            .rsplit_once('.')
            .is_some_and(|(_, top)| is_toplabel(top))
}

/// `i` for IPv6: the 32 nibbles, dot-separated, most significant first, written in upper
/// case as in the examples of RFC 7208 §7.4 (DNS names are case-insensitive).
fn ip6_nibbles(ip: std::net::Ipv6Addr) -> String {
    let mut s = String::with_capacity(64);
    for byte in ip.octets() {
        for nibble in [byte >> 4, byte & 0xf] {
            if !s.is_empty() {
                s.push('.');
            }
            s.push(char::from_digit(u32::from(nibble), 16).map_or('0', |c| c.to_ascii_uppercase()));
        }
    }
    s
}

fn letter_value(letter: MacroLetter, v: &MacroValues<'_>) -> String {
    match letter {
        MacroLetter::Sender => format!("{}@{}", v.local, v.sender_domain),
        MacroLetter::Local => v.local.to_owned(),
        MacroLetter::SenderDomain => v.sender_domain.to_owned(),
        MacroLetter::Domain => v.domain.to_owned(),
        MacroLetter::Ip => match v.ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => ip6_nibbles(ip),
        },
        MacroLetter::ValidatedName => v.validated.unwrap_or("unknown").to_owned(),
        MacroLetter::IpVersion => match v.ip {
            IpAddr::V4(_) => "in-addr".to_owned(),
            IpAddr::V6(_) => "ip6".to_owned(),
        },
        // RFC 7208 §7.3 recommends "unknown" for a value the checker does not know.
        MacroLetter::Helo => v.helo.unwrap_or("unknown").to_owned(),
        MacroLetter::ClientIp => v.ip.to_string(),
        MacroLetter::Receiver => v.receiver.unwrap_or("unknown").to_owned(),
        MacroLetter::Timestamp => v.timestamp.unwrap_or(0).to_string(),
    }
}

/// Splits on the delimiters (`.` by default), optionally reverses, keeps the rightmost
/// `digits` parts and joins them with dots (§7.3).
fn transform(value: &str, digits: Option<u32>, reverse: bool, delimiters: &str) -> String {
    if digits.is_none() && !reverse && delimiters.is_empty() {
        return value.to_owned();
    }
    let delimiters = if delimiters.is_empty() {
        "."
    } else {
        delimiters
    };
    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
    if reverse {
        parts.reverse();
    }
    let keep = digits.map_or(parts.len(), |d| parts.len().min(d as usize));
    parts[parts.len() - keep..].join(".")
}

/// URL-escapes everything outside RFC 3986's unreserved set, byte by byte (§7.3).
fn url_escape_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ip: &str) -> MacroValues<'static> {
        MacroValues {
            local: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            helo: None,
            receiver: None,
            timestamp: None,
            validated: None,
        }
    }

    fn check(spec: &str, ip: &str, expected: &str) {
        let ms = MacroString::parse_explanation(spec).unwrap();
        assert_eq!(expand(&ms, &values(ip)), expected, "{spec}");
    }

    /// The examples of RFC 7208 §7.4.
    #[test]
    fn rfc_examples() {
        let v4 = "192.0.2.3";
        check("%{s}", v4, "strong-bad@email.example.com");
        check("%{o}", v4, "email.example.com");
        check("%{d}", v4, "email.example.com");
        check("%{d4}", v4, "email.example.com");
        check("%{d3}", v4, "email.example.com");
        check("%{d2}", v4, "example.com");
        check("%{d1}", v4, "com");
        check("%{dr}", v4, "com.example.email");
        check("%{d2r}", v4, "example.email");
        check("%{l}", v4, "strong-bad");
        check("%{l-}", v4, "strong.bad");
        check("%{lr}", v4, "strong-bad");
        check("%{lr-}", v4, "bad.strong");
        check("%{l1r-}", v4, "strong");
        check(
            "%{ir}.%{v}._spf.%{d2}",
            v4,
            "3.2.0.192.in-addr._spf.example.com",
        );
        check("%{lr-}.lp._spf.%{d2}", v4, "bad.strong.lp._spf.example.com");
        check(
            "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
            v4,
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
        );
        check(
            "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
            v4,
            "3.2.0.192.in-addr.strong.lp._spf.example.com",
        );
        check(
            "%{d2}.trusted-domains.example.net",
            v4,
            "example.com.trusted-domains.example.net",
        );
        check(
            "%{ir}.%{v}._spf.%{d2}",
            "2001:db8::cb01",
            "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com",
        );
    }

    #[test]
    fn upper_case_letters_are_url_escaped_and_escapes_expand() {
        check("%{L}", "192.0.2.3", "strong-bad");
        check("%{S}", "192.0.2.3", "strong-bad%40email.example.com");
        check("a%%b%_c%-d", "192.0.2.3", "a%b c%20d");
        check(
            "%{c} %{r} %{t} %{h} %{p}",
            "2001:db8::1",
            "2001:db8::1 unknown 0 unknown unknown",
        );
    }

    #[test]
    fn long_names_lose_labels_on_the_left() {
        let long = format!("{}.example.com", ["abcdefghij"; 30].join("."));
        let name = target_name(&long).unwrap();
        assert!(
            name.len() <= MAX_NAME_LEN && long.ends_with(&name),
            "{name}"
        );
        assert_eq!(target_name("a..example.com"), None);
        assert_eq!(target_name(&format!("{}.com", "x".repeat(64))), None);
        assert_eq!(target_name("example.com."), Some("example.com".to_owned()));
        assert_eq!(target_name(""), None);
    }

    #[test]
    fn checkable_domains() {
        assert!(is_checkable_domain("example.com"));
        assert!(is_checkable_domain("xn--bcher-kva.example"));
        for bad in [
            "example",
            "[192.0.2.1]",
            "192.0.2.1",
            "a..example.com",
            "",
            "example.com.",
        ] {
            assert!(!is_checkable_domain(bad), "{bad}");
        }
    }
}
