//! Finding the domain of the `From:` address (RFC 5322 §3.4, §3.6.2), the domain whose
//! key signs the message and that DMARC aligns with.
//!
//! This is not a full address parser: it reads just enough of the grammar — comments,
//! quoted strings, angle brackets, obsolete routes, groups (RFC 6854) and RFC 2047
//! encoded words — to find each addr-spec's domain without being fooled by an `@` or a
//! `<` inside a display name. Whatever it cannot read unambiguously (two angle
//! addresses in one mailbox, unbalanced quotes, mailboxes in different domains) is
//! refused: a sender must not get a signature for a domain other than the one a
//! receiver's DMARC check will see.

use super::SignError;
use super::message::{normalize_line_endings, parse};
use crate::name::DomainName;

/// The domain of the single `From:` header field's address, in A-label form.
///
/// The message must have exactly one `From:` field; all the mailboxes it lists (usually
/// one) must be in the same domain, which must be a [`DomainName`] (no address
/// literals, no public suffixes). Display names, comments, quoted local parts, angle
/// brackets and encoded words are handled; internationalised domains (RFC 6532) come
/// back as A-labels.
pub fn from_domain(message: &[u8]) -> Result<DomainName, SignError> {
    let message = normalize_line_endings(message);
    let parsed = parse(&message)?;
    let from = super::single_from(&parsed)?;
    domain_of_mailbox_list(from.value)
}

/// The domain of a `From:` field's value — `alerts@mail.example.com`, or
/// `Alerts <alerts@mail.example.com>` — read by the same rules as [`from_domain`], so the
/// send-time decision and the signer always agree on which domain a sender uses.
pub fn mailbox_domain(value: &str) -> Result<DomainName, SignError> {
    domain_of_mailbox_list(value.as_bytes())
}

/// A lexical token of an address field, with comments and whitespace already dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Atoms, dot-atoms, encoded words and domain literals, as written.
    Word(Vec<u8>),
    /// A quoted string (its content does not matter here, only that it is not a word
    /// that could hold an `@`).
    Quoted,
    /// One of `< > , : ; @`.
    Special(u8),
}

fn unreadable(reason: &'static str) -> SignError {
    SignError::FromAddress(reason)
}

fn domain_of_mailbox_list(value: &[u8]) -> Result<DomainName, SignError> {
    let tokens = lex(value)?;
    let mut domains: Vec<DomainName> = Vec::new();
    let mut in_group = false;
    let mut mailbox: Vec<Token> = Vec::new();
    let mut in_angle = false;
    for token in tokens {
        match token {
            Token::Special(b'<') if !in_angle => {
                in_angle = true;
                mailbox.push(token);
            }
            Token::Special(b'>') if in_angle => {
                in_angle = false;
                mailbox.push(token);
            }
            Token::Special(b'<' | b'>') => {
                return Err(unreadable("its angle brackets are unbalanced"));
            }
            // A colon outside angle brackets ends a group's display name (RFC 6854).
            Token::Special(b':') if !in_angle => {
                if in_group {
                    return Err(unreadable("it has a group inside a group"));
                }
                in_group = true;
                mailbox.clear();
            }
            // Commas inside angle brackets separate an obsolete route's domains.
            Token::Special(b',') if !in_angle => {
                domains.extend(domain_of_mailbox(&mailbox)?);
                mailbox.clear();
            }
            Token::Special(b';') if !in_angle && in_group => {
                domains.extend(domain_of_mailbox(&mailbox)?);
                mailbox.clear();
                in_group = false;
            }
            other => mailbox.push(other),
        }
    }
    if in_angle {
        return Err(unreadable("its angle brackets are unbalanced"));
    }
    if in_group {
        return Err(unreadable("a group is not closed with `;`"));
    }
    domains.extend(domain_of_mailbox(&mailbox)?);
    let Some(first) = domains.first() else {
        return Err(unreadable("it lists no address"));
    };
    if domains.iter().any(|d| d != first) {
        return Err(unreadable(
            "it lists addresses in different domains, so no one domain can sign for them",
        ));
    }
    Ok(first.clone())
}

/// The domain of one mailbox (`[display-name] <addr-spec>` or `addr-spec`); `None` for
/// an empty list element, which the obsolete syntax allows.
fn domain_of_mailbox(tokens: &[Token]) -> Result<Option<DomainName>, SignError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let opens: Vec<usize> = positions(tokens, b'<');
    let addr = match opens.as_slice() {
        [] => tokens,
        [open] => {
            let close = tokens
                .iter()
                .position(|t| *t == Token::Special(b'>'))
                .filter(|&c| c > *open)
                .ok_or_else(|| unreadable("its angle brackets are unbalanced"))?;
            if close + 1 != tokens.len() {
                return Err(unreadable(
                    "something follows the address in angle brackets",
                ));
            }
            let inner = &tokens[open + 1..close];
            // An obsolete route (`<@relay.example,@other.example:user@example.com>`)
            // ends at the last colon.
            match inner.iter().rposition(|t| *t == Token::Special(b':')) {
                Some(colon) => &inner[colon + 1..],
                None => inner,
            }
        }
        _ => {
            return Err(unreadable(
                "a mailbox has more than one address in angle brackets",
            ));
        }
    };
    let ats = positions(addr, b'@');
    let [at] = ats.as_slice() else {
        return Err(unreadable(if ats.is_empty() {
            "the address has no `@`"
        } else {
            "the address has more than one `@` outside quotes"
        }));
    };
    let local = &addr[..*at];
    if local.is_empty() || local.iter().any(|t| matches!(t, Token::Special(_))) {
        return Err(unreadable("the address has no readable local part"));
    }
    let domain = match &addr[at + 1..] {
        [Token::Word(w)] => w,
        [] => return Err(unreadable("the address has no domain")),
        _ => return Err(unreadable("the address domain is not a single name")),
    };
    if domain.first() == Some(&b'[') {
        return Err(unreadable(
            "the address domain is an address literal, which has no DKIM key",
        ));
    }
    let domain = std::str::from_utf8(domain)
        .map_err(|_| unreadable("the address domain is neither ASCII nor UTF-8"))?;
    DomainName::parse(domain)
        .map(Some)
        .map_err(SignError::FromDomain)
}

fn positions(tokens: &[Token], special: u8) -> Vec<usize> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == Token::Special(special))
        .map(|(i, _)| i)
        .collect()
}

/// Splits a field value into tokens. Folding CRLFs, WSP and comments separate tokens
/// and are dropped.
fn lex(value: &[u8]) -> Result<Vec<Token>, SignError> {
    let mut tokens = Vec::new();
    let mut word: Vec<u8> = Vec::new();
    let mut i = 0;
    let end_word = |word: &mut Vec<u8>, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while i < value.len() {
        let b = value[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                end_word(&mut word, &mut tokens);
                i += 1;
            }
            b'(' => {
                end_word(&mut word, &mut tokens);
                i = skip_comment(value, i)?;
            }
            b')' => return Err(unreadable("its parentheses are unbalanced")),
            b'"' => {
                end_word(&mut word, &mut tokens);
                i = skip_quoted(value, i)?;
                tokens.push(Token::Quoted);
            }
            b'<' | b'>' | b',' | b':' | b';' | b'@' => {
                end_word(&mut word, &mut tokens);
                tokens.push(Token::Special(b));
                i += 1;
            }
            b'[' => {
                let close = value[i..]
                    .iter()
                    .position(|&c| c == b']')
                    .ok_or_else(|| unreadable("its square brackets are unbalanced"))?;
                word.extend_from_slice(&value[i..=i + close]);
                i += close + 1;
            }
            b'=' if word.is_empty() && value.get(i + 1) == Some(&b'?') => {
                // An encoded word is opaque: specials inside it (which sloppy encoders
                // leave unencoded) must not split the field.
                let len = encoded_word_len(&value[i..]).unwrap_or(1);
                word.extend_from_slice(&value[i..i + len]);
                i += len;
            }
            _ => {
                word.push(b);
                i += 1;
            }
        }
    }
    end_word(&mut word, &mut tokens);
    Ok(tokens)
}

/// Returns the index just after the comment that starts at `start`. Comments nest and
/// may hold quoted pairs (RFC 5322 §3.2.2).
fn skip_comment(value: &[u8], start: usize) -> Result<usize, SignError> {
    let mut depth = 0usize;
    let mut i = start;
    while i < value.len() {
        match value[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(unreadable("a comment is not closed"))
}

/// Returns the index just after the quoted string that starts at `start`.
fn skip_quoted(value: &[u8], start: usize) -> Result<usize, SignError> {
    let mut i = start + 1;
    while i < value.len() {
        match value[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(unreadable("a quoted string is not closed"))
}

/// The length of the RFC 2047 encoded word (`=?charset?encoding?text?=`) that `s` starts
/// with, if it does; encoded words hold no whitespace.
fn encoded_word_len(s: &[u8]) -> Option<usize> {
    let mut question_marks = 0;
    for (i, &b) in s.iter().enumerate().skip(2) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => return None,
            b'?' => {
                question_marks += 1;
                if question_marks >= 3 && s.get(i + 1) == Some(&b'=') {
                    return Some(i + 2);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(from_value: &str, expected: Result<&str, &str>) {
        let message = format!("To: x@example.org\r\nFrom:{from_value}\r\n\r\nbody\r\n");
        let got = from_domain(message.as_bytes());
        match (got, expected) {
            (Ok(d), Ok(e)) => assert_eq!(d.as_str(), e, "From:{from_value}"),
            (Err(err), Err(e)) => assert!(
                err.to_string().contains(e),
                "From:{from_value}: `{err}` should contain `{e}`"
            ),
            (got, expected) => panic!("From:{from_value}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn plain_and_named_addresses() {
        check(" alerts@mail.example.com", Ok("mail.example.com"));
        check(" Alerts@Mail.Example.COM", Ok("mail.example.com"));
        check(" <alerts@example.com>", Ok("example.com"));
        check(" Alerts <alerts@example.com>", Ok("example.com"));
        check(" \"Alerts, Inc.\" <alerts@example.com>", Ok("example.com"));
        check(
            " \"Quoted \\\" <evil@attacker.example>\" <a@example.com>",
            Ok("example.com"),
        );
        check(" \"a@b\"@example.com", Ok("example.com"));
        check(" \"weird \\\"@\\\" local\"@example.com", Ok("example.com"));
        check("alerts@example.com", Ok("example.com"));
        check(" alerts@example.com.", Ok("example.com"));
    }

    #[test]
    fn comments_and_folding() {
        check(" alerts@example.com (Alerts)", Ok("example.com"));
        check(
            " (comment <x@attacker.example>) alerts@example.com",
            Ok("example.com"),
        );
        check(
            " Alerts (nested (comment) @here) <alerts@example.com>",
            Ok("example.com"),
        );
        check(" Alerts\r\n <alerts@example.com>", Ok("example.com"));
        check(" alerts@ (c) example.com", Ok("example.com"));
        check(" Name\r\n\t<alerts\r\n @example.com>", Ok("example.com"));
    }

    #[test]
    fn display_names_cannot_smuggle_an_address() {
        check(" ceo@bank.example <alerts@example.com>", Ok("example.com"));
        check(" =?utf-8?Q?J=C3=B6rg?= <j@example.com>", Ok("example.com"));
        check(" =?utf-8?B?SsO2cmc=?= <j@example.com>", Ok("example.com"));
        // Sloppy encoders leave commas and `@` unencoded; the word stays opaque.
        check(
            " =?utf-8?Q?Doe,_John_@_Bank?= <j@example.com>",
            Ok("example.com"),
        );
        check(
            " Bank <ceo@bank.example> <alerts@example.com>",
            Err("more than one address in angle brackets"),
        );
        check(" <alerts@example.com> trailing", Err("something follows"));
    }

    #[test]
    fn lists_groups_and_routes() {
        check(" a@example.com, b@example.com", Ok("example.com"));
        check(" a@example.com, , B@EXAMPLE.com,", Ok("example.com"));
        check(" a@example.com, b@other.example", Err("different domains"));
        check(" Team: a@example.com, b@example.com;", Ok("example.com"));
        check(" Undisclosed:;", Err("no address"));
        check(" Team: a@example.com", Err("not closed"));
        check(
            " <@relay.example,@other.example:alerts@example.com>",
            Ok("example.com"),
        );
    }

    #[test]
    fn international_domains_become_a_labels() {
        let message = "From: Jörg <jörg@bücher.example.com>\r\n\r\n";
        assert_eq!(
            from_domain(message.as_bytes()).unwrap().as_str(),
            "xn--bcher-kva.example.com"
        );
    }

    #[test]
    fn unusable_addresses_are_refused() {
        check("", Err("no address"));
        check(" Alerts", Err("no `@`"));
        check(" alerts@", Err("no domain"));
        check(" @example.com", Err("no readable local part"));
        check(" a@b@example.com", Err("more than one `@`"));
        check(" alerts@[192.0.2.1]", Err("address literal"));
        check(" alerts@localhost", Err("single label"));
        check(" alerts@co.uk", Err("public suffix"));
        check(" alerts@exa mple.com", Err("not a single name"));
        check(
            " (unclosed alerts@example.com",
            Err("comment is not closed"),
        );
        check(
            " \"unclosed alerts@example.com",
            Err("quoted string is not closed"),
        );
        check(" alerts@example.com)", Err("parentheses"));
        check(" <alerts@example.com", Err("angle brackets"));
        check(" alerts@example.com>", Err("angle brackets"));
        check(" alerts@[192.0.2.1", Err("square brackets"));
    }

    #[test]
    fn the_message_needs_exactly_one_from() {
        let none = from_domain(b"To: a@example.com\r\n\r\nhi").unwrap_err();
        assert_eq!(none, SignError::NoFrom);
        let two = from_domain(b"From: a@example.com\r\nFrom: b@example.com\r\n\r\n").unwrap_err();
        assert_eq!(two, SignError::SeveralFrom(2));
        // Case-insensitive names, LF-only input, no body separator.
        assert_eq!(
            from_domain(b"FROM: a@Example.com\nSubject: x")
                .unwrap()
                .as_str(),
            "example.com"
        );
    }

    #[test]
    fn non_utf8_domains_are_refused_not_mangled() {
        let err = from_domain(b"From: a@caf\xe9.example\r\n\r\n").unwrap_err();
        assert!(err.to_string().contains("neither ASCII nor UTF-8"), "{err}");
    }
}
