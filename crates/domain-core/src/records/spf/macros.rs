//! SPF macro strings and domain-specs (RFC 7208 §7, §12).
//!
//! ```text
//! domain-spec   = macro-string domain-end
//! domain-end    = ( "." toplabel [ "." ] ) / macro-expand
//! toplabel      = ( *alphanum ALPHA *alphanum ) /
//!                 ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
//! macro-string  = *( macro-expand / macro-literal )
//! macro-expand  = ( "%{" macro-letter transformers *delimiter "}" )
//!                 / "%%" / "%_" / "%-"
//! macro-literal = %x21-24 / %x26-7E
//! macro-letter  = "s" / "l" / "o" / "d" / "i" / "p" / "h" / "c" / "r" / "t" / "v"
//! transformers  = *DIGIT [ "r" ]
//! delimiter     = "." / "-" / "+" / "," / "/" / "_" / "="
//! ```

use std::fmt;

use crate::records::RecordError;

/// A macro string: literal text and macros, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MacroString {
    pub(super) tokens: Vec<MacroToken>,
}

/// One piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MacroToken {
    /// Literal text.
    Literal(String),
    /// `%%`: a percent sign.
    Percent,
    /// `%_`: a space.
    Space,
    /// `%-`: a URL-encoded space (`%20`).
    UrlSpace,
    /// `%{…}`: a macro.
    Macro {
        /// Which value to expand.
        letter: MacroLetter,
        /// Written in upper case: the expansion is URL-escaped (§7.3).
        url_escape: bool,
        /// Keep only this many right-hand parts (§7.3 transformers).
        digits: Option<u32>,
        /// Reverse the parts before keeping them.
        reverse: bool,
        /// The delimiters to split on (`.` when empty).
        delimiters: String,
    },
}

/// The value a macro expands to (RFC 7208 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacroLetter {
    /// `s`: the sender (`<sender>`).
    Sender,
    /// `l`: the local part of the sender.
    Local,
    /// `o`: the domain of the sender.
    SenderDomain,
    /// `d`: the current domain.
    Domain,
    /// `i`: the client IP (IPv6 as dot-separated nibbles).
    Ip,
    /// `p`: the validated domain name of the client IP.
    ValidatedName,
    /// `v`: `in-addr` or `ip6`.
    IpVersion,
    /// `h`: the HELO/EHLO domain.
    Helo,
    /// `c`: the client IP in readable form (explanations only).
    ClientIp,
    /// `r`: the domain of the receiving host (explanations only).
    Receiver,
    /// `t`: the current timestamp (explanations only).
    Timestamp,
}

impl MacroLetter {
    fn from_char(c: char) -> Option<Self> {
        Some(match c.to_ascii_lowercase() {
            's' => MacroLetter::Sender,
            'l' => MacroLetter::Local,
            'o' => MacroLetter::SenderDomain,
            'd' => MacroLetter::Domain,
            'i' => MacroLetter::Ip,
            'p' => MacroLetter::ValidatedName,
            'v' => MacroLetter::IpVersion,
            'h' => MacroLetter::Helo,
            'c' => MacroLetter::ClientIp,
            'r' => MacroLetter::Receiver,
            't' => MacroLetter::Timestamp,
            _ => return None,
        })
    }

    /// The letter, lower-case.
    pub fn as_char(self) -> char {
        match self {
            MacroLetter::Sender => 's',
            MacroLetter::Local => 'l',
            MacroLetter::SenderDomain => 'o',
            MacroLetter::Domain => 'd',
            MacroLetter::Ip => 'i',
            MacroLetter::ValidatedName => 'p',
            MacroLetter::IpVersion => 'v',
            MacroLetter::Helo => 'h',
            MacroLetter::ClientIp => 'c',
            MacroLetter::Receiver => 'r',
            MacroLetter::Timestamp => 't',
        }
    }

    /// Whether the letter may appear only in explanation text (`c`, `r`, `t`).
    pub fn explanation_only(self) -> bool {
        matches!(
            self,
            MacroLetter::ClientIp | MacroLetter::Receiver | MacroLetter::Timestamp
        )
    }
}

/// Where a macro string appears, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A term of a record: no spaces, no `c`/`r`/`t`.
    Term,
    /// The text of an explanation record: spaces and every letter allowed.
    Explanation,
}

impl MacroString {
    /// Parses the value of an unknown modifier.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        Self::parse_in(text, Context::Term)
    }

    /// Parses the text of an explanation record (RFC 7208 §6.2), where spaces and the
    /// `c`, `r`, `t` macros are allowed.
    pub fn parse_explanation(text: &str) -> Result<Self, RecordError> {
        Self::parse_in(text, Context::Explanation)
    }

    fn parse_in(text: &str, context: Context) -> Result<Self, RecordError> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                let allowed = match context {
                    Context::Term => ('!'..='~').contains(&c),
                    Context::Explanation => (' '..='~').contains(&c),
                };
                if !allowed {
                    return Err(RecordError::new(format!(
                        "`{text}` contains {}, which SPF does not allow here",
                        describe(c)
                    )));
                }
                literal.push(c);
                continue;
            }
            if !literal.is_empty() {
                tokens.push(MacroToken::Literal(std::mem::take(&mut literal)));
            }
            match chars.next() {
                Some('%') => tokens.push(MacroToken::Percent),
                Some('_') => tokens.push(MacroToken::Space),
                Some('-') => tokens.push(MacroToken::UrlSpace),
                Some('{') => {
                    let mut body = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => body.push(c),
                            None => {
                                return Err(RecordError::new(format!(
                                    "`{text}` has a macro `%{{` that is never closed"
                                )));
                            }
                        }
                    }
                    tokens.push(parse_macro_body(text, &body, context)?);
                }
                Some(other) => {
                    return Err(RecordError::new(format!(
                        "`{text}` has `%{other}`; a `%` must start `%{{…}}`, `%%`, `%_` or `%-`"
                    )));
                }
                None => {
                    return Err(RecordError::new(format!("`{text}` ends with a lone `%`")));
                }
            }
        }
        if !literal.is_empty() {
            tokens.push(MacroToken::Literal(literal));
        }
        Ok(MacroString { tokens })
    }

    /// The tokens, in order.
    pub fn tokens(&self) -> &[MacroToken] {
        &self.tokens
    }

    /// Whether the string holds no macro, so it expands to itself.
    pub fn is_literal(&self) -> bool {
        self.tokens
            .iter()
            .all(|t| matches!(t, MacroToken::Literal(_)))
    }
}

fn parse_macro_body(text: &str, body: &str, context: Context) -> Result<MacroToken, RecordError> {
    let bad = |why: &str| RecordError::new(format!("`{text}` has the macro `%{{{body}}}`, {why}"));
    let mut chars = body.chars();
    let first = chars
        .next()
        .ok_or_else(|| bad("which names no macro letter"))?;
    let letter = MacroLetter::from_char(first)
        .ok_or_else(|| bad("whose letter is not one of s, l, o, d, i, p, h, c, r, t, v"))?;
    if context == Context::Term && letter.explanation_only() {
        return Err(bad("whose letter is allowed only in explanation text"));
    }
    let rest: String = chars.collect();
    let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let digits = if digits_len == 0 {
        None
    } else {
        let n: u32 = rest[..digits_len]
            .parse()
            .map_err(|_| bad("whose digit transformer is too large"))?;
        if n == 0 {
            return Err(bad("whose digit transformer is zero"));
        }
        Some(n)
    };
    let rest = &rest[digits_len..];
    let (reverse, delimiters) = match rest.strip_prefix(['r', 'R']) {
        Some(d) => (true, d),
        None => (false, rest),
    };
    if let Some(c) = delimiters.chars().find(|c| !".-+,/_=".contains(*c)) {
        return Err(bad(&format!(
            "with `{c}` where a delimiter (. - + , / _ =) belongs"
        )));
    }
    Ok(MacroToken::Macro {
        letter,
        url_escape: first.is_ascii_uppercase(),
        digits,
        reverse,
        delimiters: delimiters.to_owned(),
    })
}

impl fmt::Display for MacroString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tokens {
            match t {
                MacroToken::Literal(s) => f.write_str(s)?,
                MacroToken::Percent => f.write_str("%%")?,
                MacroToken::Space => f.write_str("%_")?,
                MacroToken::UrlSpace => f.write_str("%-")?,
                MacroToken::Macro {
                    letter,
                    url_escape,
                    digits,
                    reverse,
                    delimiters,
                } => {
                    let l = letter.as_char();
                    let l = if *url_escape {
                        l.to_ascii_uppercase()
                    } else {
                        l
                    };
                    write!(f, "%{{{l}")?;
                    if let Some(d) = digits {
                        write!(f, "{d}")?;
                    }
                    if *reverse {
                        f.write_str("r")?;
                    }
                    write!(f, "{delimiters}}}")?;
                }
            }
        }
        Ok(())
    }
}

/// A domain-spec: a macro string that ends in a top-level label or a macro.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainSpec(pub(super) MacroString);

impl DomainSpec {
    /// Parses a domain-spec.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        if text.is_empty() {
            return Err(RecordError::new("an empty domain name where SPF needs one"));
        }
        let macro_string = MacroString::parse(text)?;
        // domain-end may also be a macro-expand, which includes `%%`, `%_` and `%-`.
        if let Some(MacroToken::Literal(tail)) = macro_string.tokens.last() {
            let tail = tail.strip_suffix('.').unwrap_or(tail);
            let ends_well = tail
                .rsplit_once('.')
                .is_some_and(|(_, top)| is_toplabel(top));
            if !ends_well {
                return Err(RecordError::new(format!(
                    "`{text}` does not end in a valid top-level label (such as `.com`)"
                )));
            }
        }
        Ok(DomainSpec(macro_string))
    }

    /// A domain-spec for a plain domain name, such as our include host.
    pub fn for_domain(domain: &crate::name::DomainName) -> Self {
        DomainSpec(MacroString {
            tokens: vec![MacroToken::Literal(domain.as_str().to_owned())],
        })
    }

    /// The macro string.
    pub fn macro_string(&self) -> &MacroString {
        &self.0
    }

    /// The literal domain name, when the spec holds no macro.
    pub fn as_literal(&self) -> Option<String> {
        self.0.is_literal().then(|| self.0.to_string())
    }
}

impl fmt::Display for DomainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub(super) fn is_toplabel(label: &str) -> bool {
    let b = label.as_bytes();
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return false;
    }
    if b.contains(&b'-') {
        b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric()
    } else {
        b.iter().any(u8::is_ascii_alphabetic)
    }
}

fn describe(c: char) -> String {
    if c == ' ' {
        "a space".to_owned()
    } else if c.is_control() || !c.is_ascii() {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}
