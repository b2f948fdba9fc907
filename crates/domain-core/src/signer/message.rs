//! Splitting an RFC 5322 message into header fields and a body.
//!
//! Messages arrive with CRLF or bare-LF line endings (or a mix); they are first brought
//! to CRLF, as RFC 6376 §5.3 requires of signers ("bare CR or LF characters […] MUST be
//! converted to the SMTP-standard CRLF sequence before the message is signed"), and
//! everything after that works on CRLF only. Bytes are bytes: 8-bit header values
//! (RFC 6532) and bodies are never decoded.

use std::borrow::Cow;

use super::SignError;

/// A header field as it appears in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The field name, without the colon or any WSP before the colon.
    pub name: &'a [u8],
    /// Everything after the colon up to the CRLF that ends the field, folding included.
    pub value: &'a [u8],
}

/// A message split at the blank line that ends its header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// The header fields, top to bottom. Written out as `name ":" value CRLF` each, they
    /// give back the header section, except for WSP between a name and its colon.
    pub headers: Vec<Field<'a>>,
    /// Whether a blank line ends the header section (a message without a body need not
    /// have one).
    pub separator: bool,
    /// The body: empty when there is no separator line.
    pub body: &'a [u8],
}

impl Parsed<'_> {
    /// How many fields are called `name` (case-insensitively).
    #[cfg(test)]
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }
}

/// Converts every bare CR and bare LF to CRLF; borrows when there is nothing to change,
/// which is the common case for mail that was built for SMTP.
pub(crate) fn normalize_line_endings(input: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = first_bare_line_ending(input) else {
        return Cow::Borrowed(input);
    };
    let mut out = Vec::with_capacity(input.len() + input.len() / 32 + 2);
    out.extend_from_slice(&input[..first]);
    let mut i = first;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                // A CRLF pair is one line ending; a CR alone becomes one too.
                i += if input.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn first_bare_line_ending(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' if input.get(i + 1) == Some(&b'\n') => i += 2,
            b'\r' | b'\n' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Splits a CRLF message (see [`normalize_line_endings`]) into fields and a body.
///
/// A line that starts with WSP continues the field above it; any other line before the
/// first blank line must be `name: value`, where the name is printable ASCII other than
/// `:` (RFC 5322 §3.6.8), optionally followed by WSP before the colon (the obsolete
/// syntax of §4.5). Anything else is refused rather than guessed at: a line that is not
/// a field could be the start of a body whose separator is missing, and verifiers would
/// not agree on what was signed.
pub(crate) fn parse(message: &[u8]) -> Result<Parsed<'_>, SignError> {
    let mut headers: Vec<Field<'_>> = Vec::new();
    // Where the value of the last field starts, to extend it over continuation lines.
    let mut value_start = 0;
    let mut pos = 0;
    let mut line_number = 0;
    while pos < message.len() {
        line_number += 1;
        let (line_end, next) = match message[pos..].iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let lf = pos + lf;
                // After normalization a CR precedes every LF; checking keeps this total.
                let end = if lf > pos && message[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                (end, lf + 1)
            }
            None => (message.len(), message.len()),
        };
        let line = &message[pos..line_end];
        if line.is_empty() && next > line_end {
            return Ok(Parsed {
                headers,
                separator: true,
                body: &message[next..],
            });
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            let Some(field) = headers.last_mut() else {
                return Err(SignError::MalformedHeader {
                    line: line_number,
                    reason: "the message starts with a continuation line",
                });
            };
            field.value = &message[value_start..line_end];
        } else {
            let colon = line.iter().position(|&b| b == b':').ok_or(SignError::MalformedHeader {
                line: line_number,
                reason: "it is not a header field (`Name: value`) and no blank line comes before it",
            })?;
            let name = trim_trailing_wsp(&line[..colon]);
            if name.is_empty() {
                return Err(SignError::MalformedHeader {
                    line: line_number,
                    reason: "the header field name is empty",
                });
            }
            if !name.iter().all(|&b| (33..=126).contains(&b)) {
                return Err(SignError::MalformedHeader {
                    line: line_number,
                    reason: "the header field name has characters other than printable ASCII",
                });
            }
            value_start = pos + colon + 1;
            headers.push(Field {
                name,
                value: &message[value_start..line_end],
            });
        }
        pos = next;
    }
    Ok(Parsed {
        headers,
        separator: false,
        body: &[],
    })
}

/// Removes the SP and HTAB of the whitespace-only lines at the end of a CRLF body, so
/// that they become empty lines.
///
/// RFC 6376 §3.4.4 ignores such lines either way (trailing whitespace goes first, then
/// trailing empty lines), so this changes no relaxed body hash and nothing a reader
/// sees. It is done because some verifiers hash whitespace-only trailing lines as
/// content — mail-auth 0.13.3 (Stalwart) does; rspamd before its 2025 fix, MimeKit and
/// postalsys/mailauth did — while every verifier gets trailing *empty* lines right.
pub(crate) fn empty_trailing_blank_lines(body: &[u8]) -> Cow<'_, [u8]> {
    let is_blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    // Where the blank tail starts: the first line after the last line with content (the
    // content line keeps its own trailing whitespace, which every verifier drops), or
    // the whole body if it has no content.
    let tail_start = match body.iter().rposition(|b| !is_blank(b)) {
        None => 0,
        Some(last) => match body[last..].iter().position(|&b| b == b'\n') {
            Some(lf) => last + lf + 1,
            None => return Cow::Borrowed(body),
        },
    };
    let tail = &body[tail_start..];
    if !tail.iter().any(|&b| b == b' ' || b == b'\t') {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..tail_start]);
    out.extend(tail.iter().filter(|&&b| b != b' ' && b != b'\t'));
    Cow::Owned(out)
}

fn trim_trailing_wsp(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(input: &[u8]) -> Vec<u8> {
        normalize_line_endings(input).into_owned()
    }

    #[test]
    fn trailing_whitespace_only_lines_are_emptied() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a\r\n", b"a\r\n"),
            (b"a  \r\n", b"a  \r\n"),
            (b"a\r\n\r\n\r\n", b"a\r\n\r\n\r\n"),
            (b"a \r\n \r\n\t\r\n", b"a \r\n\r\n\r\n"),
            (b"a\r\n  ", b"a\r\n"),
            (b"a \t", b"a \t"),
            (b" \r\n\t\r\n", b"\r\n\r\n"),
            (b"  ", b""),
            // Whitespace-only lines with content after them are content.
            (b"a\r\n \r\nb\r\n \r\n", b"a\r\n \r\nb\r\n\r\n"),
            (b" \r\nb", b" \r\nb"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                empty_trailing_blank_lines(input).as_ref(),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(matches!(
            empty_trailing_blank_lines(b"a\r\n\r\n"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn line_endings_become_crlf() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n"),
            (b"a\r\nb\nc\rd", b"a\r\nb\r\nc\r\nd"),
            (b"\n\n", b"\r\n\r\n"),
            (b"\r\r\n", b"\r\n\r\n"),
            (b"\n\r", b"\r\n\r\n"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalized(input), *expected, "{input:?}");
        }
        assert!(matches!(
            normalize_line_endings(b"a\r\nb"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(normalize_line_endings(b"a\nb"), Cow::Owned(_)));
    }

    fn names<'a>(p: &Parsed<'a>) -> Vec<(&'a str, &'a str)> {
        p.headers
            .iter()
            .map(|f| {
                (
                    std::str::from_utf8(f.name).unwrap(),
                    std::str::from_utf8(f.value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn splits_fields_and_body() {
        let m =
            b"From: a@example.com\r\nSubject: one\r\n two\r\nTo : b@example.com\r\n\r\nbody\r\n";
        let p = parse(m).unwrap();
        assert_eq!(
            names(&p),
            [
                ("From", " a@example.com"),
                ("Subject", " one\r\n two"),
                ("To", " b@example.com")
            ]
        );
        assert_eq!(p.body, b"body\r\n");
        assert!(p.separator);
        assert_eq!(p.count("subject"), 1);
        assert_eq!(p.count("FROM"), 1);
        assert_eq!(p.count("cc"), 0);
    }

    #[test]
    fn messages_without_a_body() {
        let p = parse(b"From: a@example.com\r\n").unwrap();
        assert_eq!(p.headers.len(), 1);
        assert!(!p.separator);
        assert!(p.body.is_empty());

        let p = parse(b"From: a@example.com").unwrap();
        assert_eq!(names(&p), [("From", " a@example.com")]);
        assert!(!p.separator);

        let p = parse(b"From: a@example.com\r\n\r\n").unwrap();
        assert!(p.separator);
        assert!(p.body.is_empty());

        let p = parse(b"").unwrap();
        assert!(p.headers.is_empty());
        assert!(!p.separator);
    }

    #[test]
    fn a_field_may_be_empty_or_8bit() {
        let p = parse(b"Subject:\r\nX: caf\xc3\xa9\xff\r\n\r\n\xe9").unwrap();
        assert_eq!(p.headers[0].value, b"");
        assert_eq!(p.headers[1].value, b" caf\xc3\xa9\xff");
        assert_eq!(p.body, b"\xe9");
    }

    #[test]
    fn whitespace_only_continuations_belong_to_the_field() {
        let p = parse(b"Subject: a\r\n \r\n\tb\r\nTo: c\r\n").unwrap();
        assert_eq!(names(&p), [("Subject", " a\r\n \r\n\tb"), ("To", " c")]);
    }

    #[test]
    fn malformed_header_sections_are_refused_with_the_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b" leading: fold\r\n", 1, "continuation"),
            (
                b"From: a@example.com\r\nnot a header\r\n\r\nbody",
                2,
                "not a header field",
            ),
            (
                b"From a@example.com Sat Jan  3 01:05:34 1996\r\nFrom: a@example.com\r\n",
                1,
                "printable ASCII",
            ),
            (b": no name\r\n", 1, "empty"),
            (b"Caf\xc3\xa9: x\r\n", 1, "printable ASCII"),
        ];
        for (input, line, reason) in cases {
            match parse(input) {
                Err(SignError::MalformedHeader { line: l, reason: r }) => {
                    assert_eq!(l, *line, "{input:?}");
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }
}
