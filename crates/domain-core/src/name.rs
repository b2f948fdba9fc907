//! Names and inputs, parsed once at the edge: a value of these types is valid by
//! construction (parse, don't validate).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::macros::{named_enum, text_newtype};

/// Longest domain name in presentation form without the trailing dot (RFC 1035 §2.3.4:
/// 255 octets on the wire, which is 253 characters of text).
const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// A sender domain: lower-case A-labels, no trailing dot, at most 253 octets, at least
/// two labels of letters, digits and inner hyphens, not an IP literal and not itself a
/// public suffix (`com`, `co.uk`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Parses what a user typed: trims it, drops one trailing dot, lower-cases it and
    /// converts internationalised labels to A-labels (UTS 46).
    pub fn parse(input: &str) -> Result<Self, InputError> {
        Self::parse_with(input, SuffixRule::Refuse)
    }

    /// Reads a name a store kept: the same rules as [`DomainName::parse`] except the
    /// public-suffix one, since the list changes over time and a name accepted years ago
    /// must still load after an update of the list.
    pub fn from_stored(input: &str) -> Result<Self, InputError> {
        Self::parse_with(input, SuffixRule::Ignore)
    }

    fn parse_with(input: &str, suffix: SuffixRule) -> Result<Self, InputError> {
        let ascii = to_ascii_name(input, "domain")?;
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(InputError::new(format!(
                "`{ascii}` has a single label; use a full domain such as `mail.{ascii}.com`"
            )));
        }
        for label in &labels {
            check_ldh_label(label)?;
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(InputError::new(format!(
                "`{ascii}` ends in a numeric label, which no top-level domain has"
            )));
        }
        if suffix == SuffixRule::Refuse && psl::suffix_str(&ascii) == Some(ascii.as_str()) {
            return Err(InputError::new(format!(
                "`{ascii}` is a public suffix, under which anyone can register names; \
                 add a domain you own, such as `example.{ascii}`"
            )));
        }
        Ok(DomainName(ascii))
    }

    /// A name from a constant of this crate, already in normal form (a test holds each
    /// such constant to `parse`).
    pub(crate) fn from_trusted(s: &'static str) -> Self {
        DomainName(s.to_owned())
    }

    /// The organizational domain (RFC 7489 §3.2): the public suffix plus one label.
    pub fn organizational_domain(&self) -> DomainName {
        match psl::domain_str(&self.0) {
            Some(org) if org != self.0 => DomainName(org.to_owned()),
            _ => self.clone(),
        }
    }
}

text_newtype!(DomainName, "The name in A-label form.", deserialize: DomainName::parse);

impl TryFrom<&str> for DomainName {
    type Error = InputError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        DomainName::parse(value)
    }
}

/// Whether a name may be a public suffix: never for new input, but names already stored
/// are read back whatever the list says today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SuffixRule {
    Refuse,
    Ignore,
}

/// A DKIM selector (RFC 6376 §3.1): one or more dot-separated labels of letters, digits
/// and inner hyphens, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Selector(String);

impl Selector {
    /// Parses a selector.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(InputError::new("a DKIM selector must not be empty"));
        }
        if s.len() > 63 {
            return Err(InputError::new(
                "a DKIM selector must be at most 63 characters long",
            ));
        }
        for label in s.split('.') {
            check_ldh_label(label)
                .map_err(|e| InputError::new(format!("selector `{s}`: {}", e.message())))?;
        }
        Ok(Selector(s))
    }

    /// The `n`-th selector of a domain under `base`: `base` for the first key, then
    /// `base2`, `base3`, … (docs/api.md, "Rotation"). `n` starts at 1.
    pub fn numbered(base: &Selector, n: u32) -> Selector {
        if n <= 1 {
            base.clone()
        } else {
            Selector(format!("{}{n}", base.0))
        }
    }

    /// A selector from a constant of this crate (a test holds each such constant to
    /// `parse`).
    pub(crate) fn from_trusted(s: &'static str) -> Self {
        Selector(s.to_owned())
    }

    /// The DNS name of the key record: `<selector>._domainkey.<domain>`.
    pub fn record_host(&self, domain: &DomainName) -> String {
        format!("{}._domainkey.{}", self.0, domain)
    }
}

text_newtype!(Selector, "The selector as text.", deserialize: Selector::parse);

/// The label of a domain's return-path (MAIL FROM) host: one DNS label of letters, digits
/// and inner hyphens, lower-cased, so that the host is `<label>.<domain>`
/// (`bounces` gives `bounces.mail.example.com`).
///
/// One label, not `_`-prefixed, keeps the host clear of every record the domain publishes
/// for us: the DMARC record sits at `_dmarc.<domain>`, DKIM keys at least two labels below
/// `_domainkey.<domain>`, and SPF at the domain itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ReturnPathLabel(String);

impl ReturnPathLabel {
    /// Parses a label a user typed: trimmed and lower-cased.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let label = input.trim().to_ascii_lowercase();
        if label.is_empty() {
            return Err(InputError::new(
                "the return path must not be empty; use a label such as `bounces`, or `null` for none",
            ));
        }
        if label.contains('.') {
            return Err(InputError::new(format!(
                "the return path is one label, such as `bounces`, which gives `bounces.<domain>`; `{label}` has several"
            )));
        }
        if label.starts_with('_') {
            return Err(InputError::new(format!(
                "`{label}` starts with `_`, which is reserved for records such as `_domainkey` and `_dmarc`; use a label such as `bounces`"
            )));
        }
        check_ldh_label(&label)
            .map_err(|e| InputError::new(format!("the return path: {}", e.message())))?;
        Ok(ReturnPathLabel(label))
    }

    /// The return-path host under `domain`: `<label>.<domain>`, or an error when it would
    /// be longer than a domain name may be.
    pub fn host(&self, domain: &DomainName) -> Result<DomainName, InputError> {
        let host = format!("{}.{domain}", self.0);
        if host.len() > MAX_NAME_LEN {
            return Err(InputError::new(format!(
                "`{host}` is {} characters long; the limit is {MAX_NAME_LEN}: use a shorter return path",
                host.len()
            )));
        }
        // The label and the domain are each valid, so the name is: only its length was
        // left to check.
        Ok(DomainName(host))
    }
}

text_newtype!(ReturnPathLabel, "The label.");

named_enum! {
    /// What receivers should do with mail failing DMARC (RFC 7489 §6.3 `p=`), named by
    /// its tag value; [`ALL`](Self::ALL) goes from the mildest.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum DmarcPolicy {
        /// Monitor only.
        #[default]
        None => "none",
        /// Treat failing mail as suspicious (spam folder).
        Quarantine => "quarantine",
        /// Refuse failing mail.
        Reject => "reject",
    }
}

impl DmarcPolicy {
    /// Parses `none`, `quarantine` or `reject` (any case, as RFC 7489's ABNF allows).
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let name = input.trim().to_ascii_lowercase();
        Self::from_name(&name).ok_or_else(|| {
            InputError::new(format!(
                "`{name}` is not a DMARC policy; use `none`, `quarantine` or `reject`"
            ))
        })
    }
}

/// The address DMARC aggregate reports go to: a strict RFC 5322 addr-spec that cannot
/// change the meaning of the DMARC record it is written into.
///
/// The local part is a dot-atom, or a quoted string of visible characters; the domain
/// part is a [`DomainName`]. `;`, whitespace and control characters are refused
/// everywhere. In the `mailto:` URI every character outside `A-Z a-z 0-9 - . _ ~ @ + =`
/// is percent-encoded, which covers `,` and `!` (RFC 7489 §6.2) and `%`, `?`, `#`
/// (RFC 6068).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RuaAddress(String);

impl RuaAddress {
    /// Parses an e-mail address for DMARC reports.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        Self::parse_with(input, SuffixRule::Refuse)
    }

    /// Reads an address a store kept (see [`DomainName::from_stored`]).
    pub fn from_stored(input: &str) -> Result<Self, InputError> {
        Self::parse_with(input, SuffixRule::Ignore)
    }

    fn parse_with(input: &str, suffix: SuffixRule) -> Result<Self, InputError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(InputError::new("the report address must not be empty"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == ';')
        {
            return Err(InputError::new(format!(
                "the report address must not contain {}; it would change the DMARC record",
                describe_char(c)
            )));
        }
        let s = s.strip_prefix("mailto:").unwrap_or(s);
        let at = s.rfind('@').ok_or_else(|| {
            InputError::new("the report address needs an `@`, as in `dmarc-reports@example.com`")
        })?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        check_local_part(local)?;
        let domain = DomainName::parse_with(domain, suffix)
            .map_err(|e| InputError::new(format!("the report address domain: {}", e.message())))?;
        Ok(RuaAddress(format!("{local}@{domain}")))
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// The `mailto:` URI for a DMARC `rua=` tag.
    pub fn to_mailto_uri(&self) -> String {
        let mut uri = String::from("mailto:");
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~@+=".contains(&b) {
                uri.push(b as char);
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri
    }
}

text_newtype!(RuaAddress, "The address.", deserialize: RuaAddress::parse);

/// Normalises a name to lower-case A-labels without the trailing dot, with DNS length
/// limits, refusing IP literals. `what` names the value in messages.
fn to_ascii_name(input: &str, what: &str) -> Result<String, InputError> {
    let trimmed = input.trim();
    let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if name.is_empty() {
        return Err(InputError::new(format!("the {what} must not be empty")));
    }
    let unbracketed = name.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Err(InputError::new(format!(
            "`{name}` is an IP address; a sender {what} must be a domain name"
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(InputError::new(format!(
            "the {what} must not contain {}",
            describe_char(c)
        )));
    }
    let ascii = idna::domain_to_ascii_cow(name.as_bytes(), idna::AsciiDenyList::EMPTY)
        .map_err(|_| {
            InputError::new(format!(
                "`{name}` is not a valid internationalised domain name (UTS 46)"
            ))
        })?
        .into_owned();
    if ascii.len() > MAX_NAME_LEN {
        return Err(InputError::new(format!(
            "the {what} is {} characters long; the limit is {MAX_NAME_LEN}",
            ascii.len()
        )));
    }
    Ok(ascii)
}

/// Letters, digits and hyphens, 1–63 octets, no hyphen at either end (RFC 1035 §2.3.1,
/// RFC 5891 §4.2.3.1).
fn check_ldh_label(label: &str) -> Result<(), InputError> {
    if label.is_empty() {
        return Err(InputError::new(
            "a name must not contain an empty label (two dots in a row, or a leading dot)",
        ));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(InputError::new(format!(
            "the label `{label}` is {} characters long; the limit is {MAX_LABEL_LEN}",
            label.len()
        )));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(InputError::new(format!(
            "the label `{label}` contains {}; only letters, digits and hyphens are allowed",
            describe_char(c)
        )));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(InputError::new(format!(
            "the label `{label}` starts or ends with a hyphen"
        )));
    }
    Ok(())
}

/// RFC 5322 §3.4.1 local part: dot-atom, or a quoted string of visible characters
/// without `"` or `\` (quoted pairs are refused: nobody needs them for a report inbox).
fn check_local_part(local: &str) -> Result<(), InputError> {
    if local.is_empty() {
        return Err(InputError::new(
            "the report address has nothing before the `@`",
        ));
    }
    if local.len() > 64 {
        return Err(InputError::new(
            "the part of the report address before the `@` is longer than 64 characters",
        ));
    }
    if let Some(inner) = local
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        if inner.is_empty() {
            return Err(InputError::new(
                "the report address has an empty quoted local part",
            ));
        }
        if let Some(c) = inner
            .chars()
            .find(|c| !c.is_ascii_graphic() || *c == '"' || *c == '\\')
        {
            return Err(InputError::new(format!(
                "the quoted local part of the report address must not contain {}",
                describe_char(c)
            )));
        }
        return Ok(());
    }
    const ATEXT_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    for atom in local.split('.') {
        if atom.is_empty() {
            return Err(InputError::new(
                "the report address has a dot at the start or end of its local part, or two dots in a row",
            ));
        }
        if let Some(c) = atom
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(*c)))
        {
            return Err(InputError::new(format!(
                "the report address must not contain {} before the `@`",
                describe_char(c)
            )));
        }
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\r' | '\n' => "a line break".to_owned(),
        ';' => "`;`".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c if c.is_whitespace() => format!("the whitespace character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_dmarc_policy_reads_back_from_its_name() {
        for policy in DmarcPolicy::ALL {
            assert_eq!(DmarcPolicy::parse(policy.as_str()).unwrap(), policy);
        }
    }

    /// Parses `input` and compares: `Ok(shown)` with what `show` makes of the value,
    /// `Err(fragment)` with a part of the message.
    #[track_caller]
    fn check_parse<T: std::fmt::Debug>(
        parsed: Result<T, InputError>,
        show: impl Fn(&T) -> String,
        input: &str,
        expected: Result<&str, &str>,
    ) {
        match (parsed, expected) {
            (Ok(value), Ok(want)) => assert_eq!(show(&value), want, "input {input:?}"),
            (Err(e), Err(fragment)) => assert!(
                e.message().contains(fragment),
                "input {input:?}: message {:?} lacks {fragment:?}",
                e.message()
            ),
            (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[track_caller]
    fn check_domain(input: &str, expected: Result<&str, &str>) {
        check_parse(DomainName::parse(input), |n| n.to_string(), input, expected);
    }

    #[test]
    fn domain_names_are_normalised() {
        check_domain("  Mail.Example.COM.  ", Ok("mail.example.com"));
        check_domain("mail.example.com", Ok("mail.example.com"));
        check_domain("bücher.example", Ok("xn--bcher-kva.example"));
        check_domain("MÜNCHEN.de", Ok("xn--mnchen-3ya.de"));
        check_domain("example.co.uk", Ok("example.co.uk"));
        check_domain("a-b.example.com", Ok("a-b.example.com"));
        check_domain("xn--bcher-kva.example", Ok("xn--bcher-kva.example"));
    }

    #[test]
    fn domain_names_are_refused_with_a_reason() {
        check_domain("", Err("must not be empty"));
        check_domain(".", Err("must not be empty"));
        check_domain("localhost", Err("single label"));
        check_domain("com", Err("single label"));
        check_domain("co.uk", Err("public suffix"));
        check_domain("github.io", Err("public suffix"));
        check_domain("192.0.2.1", Err("IP address"));
        check_domain("[2001:db8::1]", Err("IP address"));
        check_domain("2001:db8::1", Err("IP address"));
        check_domain("-bad.example.com", Err("hyphen"));
        check_domain("bad-.example.com", Err("hyphen"));
        check_domain("a..example.com", Err("empty label"));
        check_domain("under_score.example.com", Err("`_`"));
        check_domain("mail example.com", Err("a space"));
        check_domain("mail.example.com;v=spf1", Err("`;`"));
        check_domain("mail\nexample.com", Err("line break"));
        check_domain(
            &format!("{}.example.com", "a".repeat(64)),
            Err("limit is 63"),
        );
        check_domain(
            &format!("{}example.com", "abcdefghi.".repeat(25)),
            Err("limit is 253"),
        );
        check_domain("example.123", Err("numeric label"));
    }

    #[test]
    fn stored_names_load_whatever_the_suffix_list_says_now() {
        // `github.io` became a public suffix long after many such names existed.
        assert!(DomainName::parse("github.io").is_err());
        assert_eq!(
            DomainName::from_stored("github.io").unwrap().as_str(),
            "github.io"
        );
        assert!(DomainName::from_stored("bad name.example").is_err());
        assert_eq!(
            RuaAddress::from_stored("r@github.io").unwrap().as_str(),
            "r@github.io"
        );
    }

    #[test]
    fn organizational_domain_uses_the_public_suffix_list() {
        let d = DomainName::parse("mail.example.co.uk").unwrap();
        assert_eq!(d.organizational_domain().as_str(), "example.co.uk");
        let d = DomainName::parse("example.com").unwrap();
        assert_eq!(d.organizational_domain().as_str(), "example.com");
        let d = DomainName::parse("a.b.c.example.com").unwrap();
        assert_eq!(d.organizational_domain().as_str(), "example.com");
    }

    #[test]
    fn selectors_count_up() {
        let base = Selector::parse("scaisend").unwrap();
        assert_eq!(Selector::numbered(&base, 1).as_str(), "scaisend");
        assert_eq!(Selector::numbered(&base, 2).as_str(), "scaisend2");
        assert_eq!(Selector::numbered(&base, 17).as_str(), "scaisend17");
        let d = DomainName::parse("mail.example.com").unwrap();
        assert_eq!(base.record_host(&d), "scaisend._domainkey.mail.example.com");
    }

    #[test]
    fn selectors_are_refused_with_a_reason() {
        assert!(Selector::parse("").is_err());
        assert!(Selector::parse("a b").is_err());
        assert!(Selector::parse("-a").is_err());
        assert!(Selector::parse("a;b").is_err());
        assert_eq!(Selector::parse("S1.Mail").unwrap().as_str(), "s1.mail");
    }

    #[test]
    fn dmarc_policy_parses_the_three_values() {
        assert_eq!(DmarcPolicy::parse("none").unwrap(), DmarcPolicy::None);
        assert_eq!(
            DmarcPolicy::parse("Quarantine").unwrap(),
            DmarcPolicy::Quarantine
        );
        assert_eq!(DmarcPolicy::parse("REJECT").unwrap(), DmarcPolicy::Reject);
        let e = DmarcPolicy::parse("block").unwrap_err();
        assert!(e.message().contains("`none`, `quarantine` or `reject`"));
    }

    #[track_caller]
    fn check_rua(input: &str, expected: Result<&str, &str>) {
        check_parse(
            RuaAddress::parse(input),
            RuaAddress::to_mailto_uri,
            input,
            expected,
        );
    }

    #[test]
    fn rua_addresses_become_safe_mailto_uris() {
        check_rua(
            "dmarc-reports@example.com",
            Ok("mailto:dmarc-reports@example.com"),
        );
        check_rua(" Reports@Example.COM ", Ok("mailto:Reports@example.com"));
        check_rua("a!b@example.com", Ok("mailto:a%21b@example.com"));
        check_rua("\"a,b\"@example.com", Ok("mailto:%22a%2Cb%22@example.com"));
        check_rua("100%@example.com", Ok("mailto:100%25@example.com"));
        check_rua("x?y#z@example.com", Ok("mailto:x%3Fy%23z@example.com"));
        check_rua("r@bücher.example", Ok("mailto:r@xn--bcher-kva.example"));
        check_rua("mailto:r@example.com", Ok("mailto:r@example.com"));
    }

    #[test]
    fn rua_addresses_that_could_inject_tags_are_refused() {
        check_rua("a@example.com; p=none", Err("`;`"));
        check_rua("a@example.com;p=none", Err("`;`"));
        check_rua("a@exa mple.com", Err("a space"));
        check_rua("a@example.com\r\nrua=x", Err("line break"));
        check_rua("a\u{7}@example.com", Err("control character"));
        check_rua("a,b@example.com", Err("`,`"));
        check_rua("example.com", Err("needs an `@`"));
        check_rua("@example.com", Err("nothing before"));
        check_rua("a..b@example.com", Err("two dots"));
        check_rua("a@com", Err("single label"));
        check_rua("a@192.0.2.1", Err("IP address"));
        check_rua("\"a\\b\"@example.com", Err("`\\`"));
        check_rua("", Err("must not be empty"));
    }

    #[track_caller]
    fn check_return_path(input: &str, expected: Result<&str, &str>) {
        check_parse(
            ReturnPathLabel::parse(input),
            |l| l.to_string(),
            input,
            expected,
        );
    }

    #[test]
    fn return_path_labels_are_one_ldh_label() {
        check_return_path("bounces", Ok("bounces"));
        check_return_path(" Bounces ", Ok("bounces"));
        check_return_path("rp-1", Ok("rp-1"));
        check_return_path("xn--bcher-kva", Ok("xn--bcher-kva"));
        check_return_path("", Err("must not be empty"));
        check_return_path("bounces.mail", Err("one label"));
        check_return_path("_dmarc", Err("reserved"));
        check_return_path("_domainkey", Err("reserved"));
        check_return_path("-bounces", Err("hyphen"));
        check_return_path("bounces-", Err("hyphen"));
        check_return_path("bou nces", Err("a space"));
        check_return_path("bounces;", Err("`;`"));
        check_return_path("bücher", Err("only letters, digits and hyphens"));
        check_return_path(&"a".repeat(64), Err("limit is 63"));
        check_return_path(&"a".repeat(63), Ok(&"a".repeat(63)));
    }

    #[test]
    fn the_return_path_host_keeps_within_the_name_length() {
        let label = ReturnPathLabel::parse("bounces").unwrap();
        let domain = DomainName::parse("mail.example.com").unwrap();
        assert_eq!(
            label.host(&domain).unwrap().as_str(),
            "bounces.mail.example.com"
        );
        // 245 characters leave room for `bounces.` (8) but not for a ninth.
        let long = DomainName::parse(&format!(
            "{}.example.com",
            [&"a".repeat(57); 4].map(String::as_str).join(".")
        ))
        .unwrap();
        assert_eq!(long.as_str().len(), 243);
        assert_eq!(label.host(&long).unwrap().as_str().len(), 251);
        let longer = ReturnPathLabel::parse("bounces-xyz").unwrap();
        assert!(
            longer
                .host(&long)
                .unwrap_err()
                .message()
                .contains("limit is 253")
        );
    }

    proptest! {
        /// Any accepted return-path label gives a host that parses as a domain name, lies
        /// directly below the domain, and is none of the hosts of the domain's own records.
        #[test]
        fn return_path_hosts_never_collide_with_the_domains_records(
            input in "[a-zA-Z0-9_.\\-]{0,12}",
            selector in "[a-z][a-z0-9]{0,8}(\\.[a-z][a-z0-9]{0,4})?",
        ) {
            let domain = DomainName::parse("mail.example.com").unwrap();
            if let Ok(label) = ReturnPathLabel::parse(&input) {
                let host = label.host(&domain).unwrap();
                prop_assert_eq!(DomainName::parse(host.as_str()).unwrap(), host.clone());
                prop_assert_eq!(host.as_str().split_once('.').map(|(_, d)| d), Some(domain.as_str()));
                prop_assert_ne!(host.as_str(), domain.as_str());
                prop_assert_ne!(host.to_string(), crate::records::dmarc::DmarcRecord::host(&domain));
                let selector = Selector::parse(&selector).unwrap();
                prop_assert_ne!(host.to_string(), selector.record_host(&domain));
                prop_assert_eq!(ReturnPathLabel::parse(label.as_str()).unwrap(), label);
            }
        }

        /// Whatever a user types, parsing either fails with a message or yields a name
        /// that parses back to itself: normalisation is idempotent.
        #[test]
        fn domain_parse_is_idempotent(input in "[a-zA-Z0-9.\\-]{1,40}") {
            if let Ok(name) = DomainName::parse(&input) {
                prop_assert_eq!(DomainName::parse(name.as_str()).unwrap(), name);
            }
        }

        /// A mailto URI built from any accepted address contains none of the characters
        /// that separate DMARC tags or URIs.
        #[test]
        fn mailto_uris_never_carry_separators(local in "[!-~]{1,20}", domain in "[a-z]{1,10}\\.com") {
            if let Ok(addr) = RuaAddress::parse(&format!("{local}@{domain}")) {
                let uri = addr.to_mailto_uri();
                prop_assert!(!uri.contains(';'));
                prop_assert!(!uri[7..].contains(','));
                prop_assert!(!uri[7..].contains('!'));
                prop_assert!(!uri.contains(' '));
            }
        }
    }
}
