//! Loading a zone file (RFC 1035 §5) into the server: the records a zone-file fragment
//! describes, read by hickory's own zone-file parser, so that a test can check what a
//! DNS server that loaded the file would serve.

use hickory_server::proto::rr::{Name, RData};
use hickory_server::proto::serialize::txt::Parser;

use crate::record::key_of;
use crate::{Error, Record, Soa};

/// The records of a zone file, as `(owner name, record)` pairs in DNSSEC's canonical
/// order of names (RFC 4034 §6.1), then by type; relative names are taken relative to `origin`.
///
/// `$INCLUDE` is refused, so a file cannot make the test read another one. Note that
/// hickory 0.26's lexer decodes `\DDD` escapes wrongly (as bit-shifted digits rather than
/// a decimal octet), so files whose values need `\DDD` do not load right; `\"` and `\\`
/// do.
pub fn parse_zone_file(text: &str, origin: &str) -> Result<Vec<(String, Record)>, Error> {
    if text
        .lines()
        .any(|l| l.trim_start().to_ascii_uppercase().starts_with("$INCLUDE"))
    {
        return Err(Error::ZoneFile("$INCLUDE is not supported".to_owned()));
    }
    let origin = crate::record::fqdn(origin)?;
    let (_, sets) = Parser::new(text, None, Some(origin))
        .parse()
        .map_err(|e| Error::ZoneFile(e.to_string()))?;
    let mut records = Vec::new();
    for set in sets.values() {
        for record in set.records_without_rrsigs() {
            records.push((key_of(&record.name), from_rdata(&record.data)?));
        }
    }
    Ok(records)
}

/// The record of one parsed RDATA.
fn from_rdata(data: &RData) -> Result<Record, Error> {
    let name = |n: &Name| key_of(n);
    Ok(match data {
        RData::TXT(txt) => Record::txt_strings(txt.txt_data.iter()),
        RData::A(a) => Record::A(a.0),
        RData::AAAA(aaaa) => Record::Aaaa(aaaa.0),
        RData::MX(mx) => Record::mx(mx.preference, name(&mx.exchange)),
        RData::CNAME(target) => Record::Cname(name(&target.0)),
        RData::PTR(target) => Record::Ptr(name(&target.0)),
        RData::NS(target) => Record::Ns(name(&target.0)),
        RData::SOA(soa) => Record::Soa(Soa {
            mname: name(&soa.mname),
            rname: name(&soa.rname),
            serial: soa.serial,
            minimum: soa.minimum,
        }),
        other => {
            return Err(Error::ZoneFile(format!(
                "records of type {} are not supported",
                other.record_type()
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_names_and_split_strings_load() {
        let records = parse_zone_file(
            "; a comment\n\
             mail.example.com. 3600 IN TXT \"v=spf1 \" \"-all\"\n\
             _dmarc.mail 300 IN TXT \"a\\\"b\\\\c; (d)\"\n\
             @ 3600 IN MX 10 mx.example.com.\n",
            "example.com",
        )
        .unwrap();
        assert_eq!(
            records,
            [
                ("example.com".to_owned(), Record::mx(10, "mx.example.com")),
                (
                    "mail.example.com".to_owned(),
                    Record::txt_strings(["v=spf1 ", "-all"])
                ),
                (
                    "_dmarc.mail.example.com".to_owned(),
                    Record::txt_strings(["a\"b\\c; (d)"])
                ),
            ]
        );
    }

    #[test]
    fn broken_files_and_includes_are_refused() {
        for text in [
            "mail.example.com. 3600 IN TXT \"unclosed\n",
            "$INCLUDE /etc/passwd\n",
            "mail.example.com. 3600 IN NOSUCHTYPE x\n",
        ] {
            assert!(
                matches!(
                    parse_zone_file(text, "example.com"),
                    Err(Error::ZoneFile(_))
                ),
                "{text}"
            );
        }
    }
}
