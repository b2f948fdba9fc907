//! The `relaxed` canonicalization algorithms of RFC 6376 §3.4.2 (header fields) and
//! §3.4.4 (body).
//!
//! Both work on a message whose line endings are already CRLF (see
//! [`super::message::normalize_line_endings`]) and write into a [`Sink`], so the body can
//! stream into a hash without being copied.

/// Where canonical bytes go: a hash context, or a buffer in tests.
pub(crate) trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// RFC 6376 §2.8: `WSP = SP / HTAB`. Nothing else (not form feed, not vertical tab) counts.
fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Writes one header field in relaxed canonical form (RFC 6376 §3.4.2):
///
/// > Convert all header field names (not the header field values) to lowercase.
/// > Unfold all header field continuation lines as described in [RFC5322] […].
/// > Convert all sequences of one or more WSP characters to a single SP character.
/// > Delete all WSP characters at the end of each unfolded header field value.
/// > Delete any WSP characters remaining before and after the colon separating the
/// > header field name from the header field value.
///
/// `name` is the field name without the colon or any WSP before it; `value` is
/// everything after the colon up to (not including) the CRLF that ends the field, with
/// its folding CRLFs. The CRLF that ends the canonical field is written only if
/// `terminate` is set: the DKIM-Signature field itself is hashed without it (§3.7).
pub(crate) fn relaxed_header(name: &[u8], value: &[u8], terminate: bool, out: &mut impl Sink) {
    let mut lower = [0u8; 64];
    for chunk in name.chunks(lower.len()) {
        let buf = &mut lower[..chunk.len()];
        buf.copy_from_slice(chunk);
        buf.make_ascii_lowercase();
        out.put(buf);
    }
    out.put(b":");

    // Unfolding removes the CR and LF of each fold, leaving the WSP that follows it;
    // leading WSP is dropped (after the colon), inner runs become one SP, and a run
    // is only written once a non-WSP byte follows, which drops trailing WSP.
    let mut started = false;
    let mut pending_space = false;
    let mut run_start = None;
    for (i, &b) in value.iter().enumerate() {
        if b == b'\r' || b == b'\n' || is_wsp(b) {
            if let Some(start) = run_start.take() {
                out.put(&value[start..i]);
            }
            if is_wsp(b) && started {
                pending_space = true;
            }
        } else if run_start.is_none() {
            if pending_space {
                out.put(b" ");
                pending_space = false;
            }
            started = true;
            run_start = Some(i);
        }
    }
    if let Some(start) = run_start {
        out.put(&value[start..]);
    }
    if terminate {
        out.put(b"\r\n");
    }
}

/// Writes a body in relaxed canonical form (RFC 6376 §3.4.4):
///
/// > Ignore all whitespace at the end of lines. […] Reduce all sequences of WSP within
/// > a line to a single SP character. […] Ignore all empty lines at the end of the
/// > message body. […] If the body is non-empty but does not end with a CRLF, a CRLF
/// > is added.
///
/// An empty body (or one of blank lines only) canonicalizes to nothing at all, whose
/// SHA-256 is `47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=` (RFC 4871 errata 1376, the
/// consensus of the 2008 interop event; mail-auth does the same). `body` must use CRLF
/// line endings; a final line without one is still a line.
pub(crate) fn relaxed_body(body: &[u8], out: &mut impl Sink) {
    // Empty lines are only written once a later line has content, which is what drops
    // the empty lines at the end.
    let mut pending_empty_lines = 0usize;
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(raw) = lines.next() {
        // The segment after the last LF is a line only if it is not empty.
        if lines.peek().is_none() && raw.is_empty() {
            break;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut has_content = false;
        let mut pending_space = false;
        let mut run_start = None;
        for (i, &b) in line.iter().enumerate() {
            if is_wsp(b) {
                if let Some(start) = run_start.take() {
                    out.put(&line[start..i]);
                }
                pending_space = true;
            } else if run_start.is_none() {
                if !has_content {
                    for _ in 0..pending_empty_lines {
                        out.put(b"\r\n");
                    }
                    pending_empty_lines = 0;
                    has_content = true;
                }
                if pending_space {
                    out.put(b" ");
                    pending_space = false;
                }
                run_start = Some(i);
            }
        }
        if let Some(start) = run_start {
            out.put(&line[start..]);
        }
        if has_content {
            out.put(b"\r\n");
        } else {
            pending_empty_lines += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> String {
        let mut out = Vec::new();
        relaxed_header(name.as_bytes(), value.as_bytes(), true, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn body(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        relaxed_body(input, &mut out);
        out
    }

    /// RFC 6376 §3.4.5, the example message
    ///
    /// ```text
    /// A: <SP> X <CRLF>
    /// B <SP> : <SP> Y <HTAB><CRLF>
    ///                 <HTAB> Z <SP><SP><CRLF>
    /// <CRLF>
    /// <SP> C <SP><CRLF>
    /// D <SP><HTAB><SP> E <CRLF>
    /// <CRLF>
    /// <CRLF>
    /// ```
    ///
    /// whose relaxed canonical form is `a:X`, `b:Y <SP> Z` and the body ` C`, `D <SP> E`.
    #[test]
    fn rfc6376_section_3_4_5_example() {
        let message: &[u8] = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
        let parsed = crate::signer::message::parse(message).unwrap();
        let mut headers = Vec::new();
        for h in &parsed.headers {
            relaxed_header(h.name, h.value, true, &mut headers);
        }
        assert_eq!(headers, b"a:X\r\nb:Y Z\r\n");
        assert_eq!(body(parsed.body), b" C\r\nD E\r\n");
    }

    #[test]
    fn header_fields() {
        let cases: &[(&str, &str, &str)] = &[
            ("Subject", " Hello", "subject:Hello\r\n"),
            ("SUBJECT", "Hello", "subject:Hello\r\n"),
            ("Subject", "  a \t b  ", "subject:a b\r\n"),
            (
                "Subject",
                " folded\r\n over\r\n\t three lines ",
                "subject:folded over three lines\r\n",
            ),
            (
                "Subject",
                " trailing fold \r\n ",
                "subject:trailing fold\r\n",
            ),
            ("Subject", "", "subject:\r\n"),
            ("Subject", " \t ", "subject:\r\n"),
            ("Subject", "\r\n x", "subject:x\r\n"),
            // Only SP and HTAB are WSP: a form feed is an ordinary character.
            ("Subject", " a\x0cb", "subject:a\x0cb\r\n"),
            (
                "To",
                " a@example.com,\r\n  b@example.com",
                "to:a@example.com, b@example.com\r\n",
            ),
            (
                "X-Long-Name-Over-Sixty-Four-Characters-Long-For-The-Chunked-Lowercaser-X",
                "v",
                "x-long-name-over-sixty-four-characters-long-for-the-chunked-lowercaser-x:v\r\n",
            ),
        ];
        for (name, value, expected) in cases {
            assert_eq!(header(name, value), *expected, "{name}:{value:?}");
        }
    }

    #[test]
    fn header_bytes_are_not_utf8_checked() {
        let mut out = Vec::new();
        relaxed_header(b"Subject", b" caf\xe9  \xff", true, &mut out);
        assert_eq!(out, b"subject:caf\xe9 \xff\r\n");
    }

    #[test]
    fn unterminated_header_for_the_signature_field() {
        let mut out = Vec::new();
        relaxed_header(b"DKIM-Signature", b" v=1; b=", false, &mut out);
        assert_eq!(out, b"dkim-signature:v=1; b=");
    }

    #[test]
    fn bodies() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"\r\n", b""),
            (b"\r\n\r\n\r\n", b""),
            (b" \r\n\t\r\n", b""),
            (b"a", b"a\r\n"),
            (b"a\r\n", b"a\r\n"),
            (b"a\r\n\r\n\r\n", b"a\r\n"),
            (b"a  \t \r\n", b"a\r\n"),
            (b"\t\ta", b" a\r\n"),
            (b"a\r\n\r\nb", b"a\r\n\r\nb\r\n"),
            (b"a\r\n \r\nb\r\n", b"a\r\n\r\nb\r\n"),
            (b"x \t y\tz", b"x y z\r\n"),
            (b"caf\xc3\xa9 \xe9\r\n", b"caf\xc3\xa9 \xe9\r\n"),
            (b"\x0c\r\n", b"\x0c\r\n"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                body(input),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
