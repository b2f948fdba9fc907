//! The records to publish as a BIND zone-file fragment (RFC 1035 §5), for DNS providers
//! that import zone files and for operators who keep their zones in files.
//!
//! Three choices make the fragment safe to paste anywhere in a zone file, or to
//! `$INCLUDE`:
//!
//! - Owner names are absolute, with the trailing dot, and every record carries its TTL
//!   and class. The fragment has no `$ORIGIN` or `$TTL` directive, because pasted into the
//!   middle of a zone file such a directive would change how every line after it is read.
//! - A TXT value is written as quoted character-strings of at most 255 octets each (RFC
//!   1035 §3.3.14), split where [`value_chunks`] splits it, so a 2048-bit DKIM key is
//!   never cut off at 255 characters. Receivers join the strings without separators
//!   (RFC 6376 §3.6.2.2, RFC 7208 §3.3).
//! - Inside the quotes `"` and `\` are escaped with a backslash, and every octet that is
//!   not printable ASCII as `\DDD` (RFC 1035 §5.1), so the file is ASCII whatever a
//!   value holds and a value can never end its string, its line or start a comment.
//!
//! Records with `action: remove` are not records to serve: they are listed in a comment
//! as ones to delete, so that importing the file can never re-create them.

use std::fmt::Write as _;

use super::{DnsRecordSpec, RecordAction, RecordType};
use crate::name::DomainName;
use crate::records::value_chunks;

/// The TTL of every record in the fragment, in seconds: an hour, the usual default of DNS
/// providers. Verification asks the authoritative servers directly, so a shorter TTL
/// would not make a fix visible to it any sooner.
pub const ZONE_FILE_TTL: u32 = 3600;

/// The zone-file fragment of `domain`'s records: one line per record to publish, in the
/// order of `records`, after comments naming the domain and the zone to put them in.
pub fn zone_file(domain: &DomainName, records: &[DnsRecordSpec]) -> String {
    let zone = domain.organizational_domain();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "; ScaiSend sender domain {domain}");
    let _ = writeln!(
        out,
        "; The records to publish, for the zone {zone}. Owner names are absolute, so these"
    );
    let _ = writeln!(
        out,
        "; lines read the same wherever they are pasted or $INCLUDEd."
    );
    let (publish, remove): (Vec<&DnsRecordSpec>, Vec<&DnsRecordSpec>) = records
        .iter()
        .partition(|r| r.action == RecordAction::Publish);
    for r in &publish {
        let _ = writeln!(out, "; {}", describe(r));
        let _ = writeln!(out, "{} {ZONE_FILE_TTL} IN {}", owner(&r.host), rdata(r));
    }
    if !remove.is_empty() {
        let _ = writeln!(
            out,
            "; Delete these records at your DNS provider (removed DKIM selectors); they are"
        );
        let _ = writeln!(out, "; not part of this file:");
        for r in &remove {
            let _ = writeln!(out, ";   {} {}", owner(&r.host), r.record_type.as_str());
        }
    }
    out
}

/// What a record is for, as its comment line says it.
fn describe(r: &DnsRecordSpec) -> String {
    match r.key_state {
        Some(state) => format!("{} ({} key)", r.purpose.as_str(), state.as_str()),
        None => r.purpose.as_str().to_owned(),
    }
}

/// An owner name in absolute form. Our hosts are letters, digits, hyphens, underscores
/// and dots; anything else is escaped as `\DDD` rather than trusted, so that a name can
/// never carry a `;`, a quote or a space into the line.
fn owner(host: &str) -> String {
    let mut out = String::with_capacity(host.len() + 1);
    for b in host.trim_end_matches('.').bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\{b:03}");
        }
    }
    out.push('.');
    out
}

/// The type and data of a record: one arm per record type.
fn rdata(r: &DnsRecordSpec) -> String {
    match r.record_type {
        RecordType::Txt => format!("TXT {}", character_strings(&r.value)),
        // A target is one of our names (`<selector>.<label>.<zone>`), written absolute and
        // escaped like an owner name.
        RecordType::Cname => format!("CNAME {}", owner(&r.value)),
        // Our bounce host, absolute; a row without a preference gets the one we ask for.
        RecordType::Mx => format!(
            "MX {} {}",
            r.priority.unwrap_or(crate::verify::BOUNCE_MX_PREFERENCE),
            owner(&r.value)
        ),
    }
}

/// A TXT value as quoted character-strings of at most 255 octets, separated by spaces.
fn character_strings(value: &str) -> String {
    value_chunks(value)
        .iter()
        .map(|chunk| quoted(chunk.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One `<character-string>` in quotes (RFC 1035 §5.1): `"` and `\` escaped with a
/// backslash, every octet that is not printable ASCII as `\DDD`.
fn quoted(octets: &[u8]) -> String {
    let mut out = String::with_capacity(octets.len() + 2);
    out.push('"');
    for &b in octets {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::RecordStatus;
    use crate::records::MAX_CHARACTER_STRING;
    use crate::rotation::KeyState;
    use crate::verify::CheckKind;
    use proptest::prelude::*;

    fn record(host: &str, value: &str, action: RecordAction) -> DnsRecordSpec {
        let zone = DomainName::parse("example.com").unwrap();
        DnsRecordSpec {
            purpose: CheckKind::Spf,
            record_type: RecordType::Txt,
            priority: None,
            name: super::super::relative_name(host, &zone),
            host: host.to_owned(),
            zone,
            value: value.to_owned(),
            action,
            status: RecordStatus::NotChecked,
            key_state: None,
        }
    }

    fn domain() -> DomainName {
        DomainName::parse("mail.example.com").unwrap()
    }

    /// The record lines of a fragment (comments and blank lines left out).
    fn record_lines(file: &str) -> Vec<&str> {
        file.lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .collect()
    }

    /// Reads the quoted character-strings of a TXT line back into octets, by RFC 1035
    /// §5.1's rules, independently of how they were written.
    fn unquote(line: &str) -> Vec<Vec<u8>> {
        let data = line.split_once(" IN TXT ").expect("a TXT line").1;
        let bytes = data.as_bytes();
        let mut strings = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b' ' => i += 1,
                b'"' => {
                    let mut s = Vec::new();
                    i += 1;
                    loop {
                        match bytes[i] {
                            b'"' => break,
                            b'\\' if bytes[i + 1].is_ascii_digit() => {
                                let ddd = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap();
                                s.push(ddd.parse::<u8>().unwrap());
                                i += 4;
                            }
                            b'\\' => {
                                s.push(bytes[i + 1]);
                                i += 2;
                            }
                            b => {
                                s.push(b);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    strings.push(s);
                }
                other => panic!("unexpected {:?} outside a string in {line}", other as char),
            }
        }
        strings
    }

    #[test]
    fn a_fragment_has_one_absolute_line_per_record_to_publish() {
        let rows = [
            record(
                "scaisend._domainkey.mail.example.com",
                "v=DKIM1; k=rsa; p=AAAA",
                RecordAction::Publish,
            ),
            record(
                "mail.example.com",
                "v=spf1 include:scaisend.scailabs.ai ~all",
                RecordAction::Publish,
            ),
            record(
                "old._domainkey.mail.example.com",
                "v=DKIM1; k=rsa; p=BBBB",
                RecordAction::Remove,
            ),
        ];
        let file = zone_file(&domain(), &rows);
        assert_eq!(
            record_lines(&file),
            [
                "scaisend._domainkey.mail.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p=AAAA\"",
                "mail.example.com. 3600 IN TXT \"v=spf1 include:scaisend.scailabs.ai ~all\"",
            ]
        );
        assert!(file.contains("for the zone example.com."), "{file}");
        // The removed selector is named only in a comment, as one to delete.
        assert!(
            file.contains(";   old._domainkey.mail.example.com. TXT"),
            "{file}"
        );
        assert!(!file.contains("BBBB"), "{file}");
    }

    #[test]
    fn dkim_rows_say_which_key_they_are() {
        let mut row = record(
            "s._domainkey.example.com",
            "v=DKIM1; p=",
            RecordAction::Publish,
        );
        row.purpose = CheckKind::Dkim;
        row.key_state = Some(KeyState::Pending);
        assert!(zone_file(&domain(), &[row]).contains("; dkim (pending key)\n"));
    }

    #[test]
    fn long_values_are_split_into_255_octet_strings() {
        let value = format!("v=DKIM1; k=rsa; p={}", "A".repeat(380));
        let file = zone_file(
            &domain(),
            &[record("mail.example.com", &value, RecordAction::Publish)],
        );
        let strings = unquote(record_lines(&file)[0]);
        assert_eq!(
            strings.iter().map(Vec::len).collect::<Vec<_>>(),
            [255, value.len() - 255]
        );
        assert_eq!(strings.concat(), value.as_bytes());
    }

    #[test]
    fn quotes_backslashes_and_other_octets_are_escaped() {
        for (value, written) in [
            ("a\"b", "\"a\\\"b\""),
            ("a\\b", "\"a\\\\b\""),
            ("a;b (c)", "\"a;b (c)\""),
            ("tab\there", "\"tab\\009here\""),
            ("line\nbreak", "\"line\\010break\""),
            ("é", "\"\\195\\169\""),
            ("", "\"\""),
        ] {
            let file = zone_file(
                &domain(),
                &[record("mail.example.com", value, RecordAction::Publish)],
            );
            let line = record_lines(&file)[0];
            assert_eq!(
                line,
                format!("mail.example.com. 3600 IN TXT {written}"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_cname_slot_is_a_cname_line_with_an_absolute_target() {
        let slot = DnsRecordSpec {
            purpose: CheckKind::Dkim,
            record_type: RecordType::Cname,
            ..record(
                "scaisend._domainkey.mail.example.com",
                "scaisend.0123456789abcdef.dkim.example.net",
                RecordAction::Publish,
            )
        };
        let file = zone_file(&domain(), &[slot]);
        assert_eq!(
            record_lines(&file),
            [format!(
                "scaisend._domainkey.mail.example.com. {ZONE_FILE_TTL} IN CNAME scaisend.0123456789abcdef.dkim.example.net."
            )]
        );
    }

    #[test]
    fn a_return_path_mx_is_an_mx_line_with_its_preference() {
        let mx = DnsRecordSpec {
            purpose: CheckKind::ReturnPath,
            record_type: RecordType::Mx,
            priority: Some(10),
            ..record(
                "bounces.mail.example.com",
                "feedback.scaisend.scailabs.ai",
                RecordAction::Publish,
            )
        };
        let file = zone_file(&domain(), &[mx]);
        assert_eq!(
            record_lines(&file),
            [format!(
                "bounces.mail.example.com. {ZONE_FILE_TTL} IN MX 10 feedback.scaisend.scailabs.ai."
            )]
        );
    }

    #[test]
    fn owner_names_cannot_break_the_line() {
        assert_eq!(owner("a b;c.example.com."), "a\\032b\\059c.example.com.");
        assert_eq!(owner("_dmarc.example.com"), "_dmarc.example.com.");
    }

    proptest! {
        /// Whatever a value holds, its line is ASCII, its strings fit in 255 octets, and
        /// reading the strings back gives the value's octets.
        #[test]
        fn any_value_reads_back_from_its_line(value in "(\\PC|[\"\\\\;()\t\n]){0,700}") {
            let file = zone_file(&domain(), &[record("mail.example.com", &value, RecordAction::Publish)]);
            prop_assert!(file.is_ascii());
            let lines = record_lines(&file);
            prop_assert_eq!(lines.len(), 1);
            let strings = unquote(lines[0]);
            prop_assert!(strings.iter().all(|s| s.len() <= MAX_CHARACTER_STRING));
            prop_assert_eq!(strings.concat(), value.as_bytes());
        }
    }
}
