//! Bytes found in DNS as text: shown losslessly, and read as a record's text only when
//! they can be one.
//!
//! A TXT character-string may hold any octet (RFC 1035 §3.3.14): NUL, other control
//! characters, bytes that are not UTF-8. None of those belongs in a DKIM, SPF or DMARC
//! record, and some cannot even be stored (PostgreSQL's `text` and `jsonb` refuse NUL).
//! So what was found is shown in the style of RFC 1035 §5.1 master files — `\DDD` (the
//! byte's value in decimal) for each byte of a control character or of anything that is
//! not UTF-8, `\\` for a backslash, every other character as itself — which loses
//! nothing and can be stored anywhere; and a record holding such bytes is read as an
//! error that names them, never as text.

use super::RecordError;

/// Shows `bytes` as text: UTF-8 characters as themselves, except that each byte of a
/// control character (C0, DEL, C1), of a bidirectional formatting character, or of a
/// sequence that is not UTF-8 is written `\DDD` (three decimal digits), and a backslash
/// `\\`. The result holds no control character and [`unescape`] gives `bytes` back.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if must_escape(c) {
                let mut buf = [0; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    push_decimal(&mut out, byte);
                }
            } else {
                out.push(c);
            }
        }
        for &byte in chunk.invalid() {
            push_decimal(&mut out, byte);
        }
    }
    out
}

/// The bytes [`escape`] was given, or `None` for text it cannot have written (a lone
/// backslash, `\` followed by anything but `\` or three digits, a value above 255).
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let escaped = &rest[at + 1..];
        if let Some(after) = escaped.strip_prefix('\\') {
            out.push(b'\\');
            rest = after;
            continue;
        }
        let digits = escaped.get(..3)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push(digits.parse::<u8>().ok()?);
        rest = &escaped[3..];
    }
    out.extend_from_slice(rest.as_bytes());
    Some(out)
}

/// The text of a record whose bytes are `bytes`, or why they cannot be a DKIM, SPF or
/// DMARC record: bytes that are not UTF-8, or a control character other than the tab,
/// carriage return and line feed the records' grammars treat as white space (RFC 6376
/// §2.8 FWS). The error shows the offending bytes as [`escape`] does, so that they can
/// be found in what `found` shows.
pub fn record_text(bytes: Vec<u8>) -> Result<String, RecordError> {
    // The first offending byte is named, whichever kind it is.
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        if let Some((at, c)) = valid
            .char_indices()
            .find(|&(_, c)| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        {
            let what = if c == '\0' {
                "a NUL byte"
            } else {
                "a control character"
            };
            let mut buf = [0; 4];
            return Err(RecordError::new(format!(
                "the record holds {what} (`{}` at octet {}), which no DKIM, SPF or DMARC record may contain",
                escape(c.encode_utf8(&mut buf).as_bytes()),
                offset + at + 1
            )));
        }
        offset += valid.len();
        if !chunk.invalid().is_empty() {
            return Err(not_utf8(chunk.invalid(), offset));
        }
    }
    String::from_utf8(bytes).map_err(|e| not_utf8(&[], e.utf8_error().valid_up_to()))
}

fn not_utf8(bytes: &[u8], offset: usize) -> RecordError {
    RecordError::new(format!(
        "the record holds bytes that are not UTF-8 text (`{}` at octet {})",
        escape(bytes),
        offset + 1
    ))
}

/// Characters written as `\DDD` although they are UTF-8: control characters, and the
/// bidirectional formatting characters, which would make text that is shown read
/// differently from what it holds.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_decimal(out: &mut String, byte: u8) {
    out.push('\\');
    out.push(char::from(b'0' + byte / 100));
    out.push(char::from(b'0' + byte / 10 % 10));
    out.push(char::from(b'0' + byte % 10));
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(bytes: &[u8], shown: &str) {
        assert_eq!(escape(bytes), shown, "{bytes:?}");
        assert_eq!(unescape(shown).as_deref(), Some(bytes), "{shown}");
    }

    #[test]
    fn escapes_as_master_files_do() {
        check(b"v=DKIM1; p=abc", "v=DKIM1; p=abc");
        check(b"", "");
        check(b"a\0b", "a\\000b");
        check(b"\x00\x01\x1f\x7f", "\\000\\001\\031\\127");
        check(b"tab\there\r\n", "tab\\009here\\013\\010");
        check(b"back\\slash", "back\\\\slash");
        check(b"\\000", "\\\\000");
        // Bytes that are not UTF-8, alone, at the end, and inside a sequence.
        check(&[0xff, 0xfe, b'v'], "\\255\\254v");
        check(&[b'a', 0xe2, 0x82], "a\\226\\130");
        // UTF-8 stays as it is, except C1 controls and bidirectional formatting.
        check("bücher ✓".as_bytes(), "bücher ✓");
        check("\u{85}".as_bytes(), "\\194\\133");
        check("a\u{202E}b".as_bytes(), "a\\226\\128\\174b");
    }

    #[test]
    fn text_that_escape_cannot_have_written_is_refused() {
        for text in ["\\", "a\\", "\\00", "\\0a0", "\\256", "\\999", "\\x"] {
            assert_eq!(unescape(text), None, "{text}");
        }
    }

    #[test]
    fn a_record_with_bytes_no_record_may_hold_is_an_error_naming_them() {
        let error = |bytes: &[u8]| {
            record_text(bytes.to_vec())
                .expect_err("refused")
                .message()
                .to_owned()
        };
        assert_eq!(
            error(b"v=spf1 \0-all"),
            "the record holds a NUL byte (`\\000` at octet 8), which no DKIM, SPF or DMARC record may contain"
        );
        assert!(
            error(b"v=DMARC1;\x1bp=none").contains("a control character (`\\027` at octet 10)")
        );
        assert!(error("v=DMARC1;\u{9b}".as_bytes()).contains("`\\194\\155`"));
        assert_eq!(
            error(&[b'v', b'=', 0xc3]),
            "the record holds bytes that are not UTF-8 text (`\\195` at octet 3)"
        );
        assert!(error(&[b'v', 0xff, b'x']).contains("`\\255` at octet 2"));
        // The first offending byte is the one named.
        assert!(error(b"v=\0\xff").contains("a NUL byte"));
        assert!(error(b"v=\xff\0").contains("not UTF-8"));
        // The records' own white space, and any other UTF-8, is left to their parsers.
        for ok in [
            "v=DKIM1;\tk=rsa;\r\n p=",
            "v=DMARC1; p=none; rua=mailto:a@bücher.example",
        ] {
            assert_eq!(record_text(ok.as_bytes().to_vec()).as_deref(), Ok(ok));
        }
    }

    proptest! {
        #[test]
        fn escaping_loses_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(unescape(&escape(&bytes)), Some(bytes));
        }

        #[test]
        fn escaped_text_holds_no_control_character(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let shown = escape(&bytes);
            prop_assert!(!shown.chars().any(|c| c.is_control()), "{:?}", shown);
        }

        #[test]
        fn ordinary_text_is_shown_as_itself(text in "[ -\\[\\]-~]{0,200}") {
            prop_assert_eq!(escape(text.as_bytes()), text);
        }

        #[test]
        fn record_text_accepts_exactly_text_without_forbidden_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let allowed = std::str::from_utf8(&bytes).is_ok_and(|t| {
                !t.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
            });
            prop_assert_eq!(record_text(bytes.clone()).is_ok(), allowed);
        }
    }
}
