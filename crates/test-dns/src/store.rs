//! The records a test published and how an authoritative server answers from them.

use std::collections::{BTreeMap, HashMap};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{RData, Record as WireRecord, RecordType};

use crate::Error;
use crate::record::{Failure, Record, RecordKind, fqdn, key_of};

/// How many CNAMEs the server follows inside one answer before it stops.
const MAX_CHAIN: usize = 8;

/// The published records, by lower-case name without the trailing dot, and the failures
/// injected per name.
#[derive(Debug, Default)]
pub(crate) struct Store {
    names: BTreeMap<String, Vec<(Record, RData)>>,
    failures: HashMap<String, Failure>,
}

/// What the server does with one query.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Send nothing back.
    Silence,
    /// Answer with this RCODE and nothing else, without the AA flag (a failure is not an
    /// authoritative statement about the data).
    Error(ResponseCode),
    /// An authoritative answer with this RCODE (NOERROR or NXDOMAIN here; a delegated
    /// zone's own when relayed).
    Answer(ResponseCode, Sections),
}

/// The sections of an answer.
#[derive(Debug)]
pub(crate) struct Sections {
    /// The records asked for, after the CNAME chain that leads to them.
    pub(crate) answers: Vec<WireRecord>,
    /// The zone's SOA in a negative answer.
    pub(crate) authorities: Vec<WireRecord>,
    /// The addresses of nameservers named in `answers` (glue).
    pub(crate) additionals: Vec<WireRecord>,
}

impl Store {
    pub(crate) fn publish(&mut self, name: &str, record: Record) -> Result<(), Error> {
        let key = key(name)?;
        let rdata = record.to_rdata()?;
        self.names.entry(key).or_default().push((record, rdata));
        Ok(())
    }

    pub(crate) fn replace(
        &mut self,
        name: &str,
        kind: RecordKind,
        records: Vec<Record>,
    ) -> Result<(), Error> {
        let key = key(name)?;
        // Convert everything first so that a bad record leaves the name untouched.
        let mut converted = Vec::with_capacity(records.len());
        for record in records {
            if record.kind() != kind {
                return Err(Error::KindMismatch);
            }
            let rdata = record.to_rdata()?;
            converted.push((record, rdata));
        }
        let entry = self.names.entry(key.clone()).or_default();
        entry.retain(|(r, _)| r.kind() != kind);
        entry.extend(converted);
        if entry.is_empty() {
            self.names.remove(&key);
        }
        Ok(())
    }

    pub(crate) fn delete_name(&mut self, name: &str) -> Result<(), Error> {
        self.names.remove(&key(name)?);
        Ok(())
    }

    pub(crate) fn set_failure(
        &mut self,
        name: &str,
        failure: Option<Failure>,
    ) -> Result<(), Error> {
        let key = key(name)?;
        match failure {
            Some(f) => self.failures.insert(key, f),
            None => self.failures.remove(&key),
        };
        Ok(())
    }

    /// The reply to one question, the way an authoritative server for every name it holds
    /// would give it.
    pub(crate) fn reply(&self, qname: &str, qtype: RecordType, ttl: u32) -> Reply {
        match self.failures.get(qname) {
            Some(Failure::Timeout) => return Reply::Silence,
            Some(Failure::ServFail) => return Reply::Error(ResponseCode::ServFail),
            Some(Failure::Refused) => return Reply::Error(ResponseCode::Refused),
            None => {}
        }
        let zone = self.zone_of(qname);
        let mut answers = Vec::new();
        let mut code = ResponseCode::NoError;
        let mut name = qname.to_owned();
        let mut answered = false;
        for _ in 0..MAX_CHAIN {
            let records = self.names.get(&name).map(Vec::as_slice).unwrap_or_default();
            let matching: Vec<&RData> = records
                .iter()
                .map(|(_, rdata)| rdata)
                .filter(|rdata| qtype == RecordType::ANY || rdata.record_type() == qtype)
                .collect();
            if !matching.is_empty() {
                answers.extend(matching.into_iter().map(|r| wire(&name, ttl, r)));
                answered = true;
                break;
            }
            let cname = records.iter().find_map(|(_, rdata)| match rdata {
                RData::CNAME(target) => Some((key_of(&target.0), rdata)),
                _ => None,
            });
            if let Some((target, rdata)) = cname {
                answers.push(wire(&name, ttl, rdata));
                // Like a real authoritative server, follow the alias only inside the zone
                // the question is in; a target elsewhere is left to the resolver.
                if self.zone_of(&target) != zone {
                    answered = true;
                    break;
                }
                name = target;
                continue;
            }
            if !self.exists(&name) {
                // RFC 6604: the RCODE describes the last name of the chain.
                code = ResponseCode::NXDomain;
            }
            break;
        }
        let mut authorities = Vec::new();
        if !answered {
            // RFC 2308: a negative answer carries the zone's SOA, the TTL of which bounds
            // negative caching, so the absence is reported exactly as a real zone would.
            if let Some((apex, soa)) = self.zone_of(&name).and_then(|apex| {
                let soa = self.soa(&apex)?;
                Some((apex, soa))
            }) {
                authorities.push(wire(&apex, ttl, soa));
            }
        }
        let additionals = self.glue(&answers, ttl);
        Reply::Answer(
            code,
            Sections {
                answers,
                authorities,
                additionals,
            },
        )
    }

    /// The A and AAAA records of the nameservers named in `answers` (glue).
    fn glue(&self, answers: &[WireRecord], ttl: u32) -> Vec<WireRecord> {
        let mut glue = Vec::new();
        for record in answers {
            let RData::NS(ns) = &record.data else {
                continue;
            };
            let target = key_of(&ns.0);
            if let Some(records) = self.names.get(&target) {
                glue.extend(
                    records
                        .iter()
                        .map(|(_, rdata)| rdata)
                        .filter(|r| matches!(r, RData::A(_) | RData::AAAA(_)))
                        .map(|r| wire(&target, ttl, r)),
                );
            }
        }
        glue
    }

    /// Whether the name exists: it holds records, or a name below it does (an empty
    /// non-terminal, RFC 8020).
    fn exists(&self, name: &str) -> bool {
        if self.names.contains_key(name) {
            return true;
        }
        if name.is_empty() {
            return !self.names.is_empty();
        }
        let suffix = format!(".{name}");
        self.names.keys().any(|k| k.ends_with(&suffix))
    }

    /// The apex of the zone `name` is in: the closest enclosing name holding an SOA
    /// record, if any.
    fn zone_of(&self, name: &str) -> Option<String> {
        let mut candidate = name;
        loop {
            if self.soa(candidate).is_some() {
                return Some(candidate.to_owned());
            }
            if candidate.is_empty() {
                return None;
            }
            candidate = candidate.split_once('.').map_or("", |(_, parent)| parent);
        }
    }

    fn soa(&self, name: &str) -> Option<&RData> {
        self.names
            .get(name)?
            .iter()
            .map(|(_, rdata)| rdata)
            .find(|r| matches!(r, RData::SOA(_)))
    }
}

fn key(name: &str) -> Result<String, Error> {
    Ok(key_of(&fqdn(name)?))
}

fn wire(name: &str, ttl: u32, rdata: &RData) -> WireRecord {
    // Every stored name parsed when it was published, so this only falls back to the
    // root for the root itself.
    let owner = fqdn(name).unwrap_or_else(|_| hickory_server::proto::rr::Name::root());
    WireRecord::from_rdata(owner, ttl, rdata.clone())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// Replies to `name`/`qtype` as `code answers/authorities/additionals`, the answers
    /// by owner and type.
    fn check(store: &Store, name: &str, qtype: RecordType, expected: &str) {
        let got = match store.reply(name, qtype, 60) {
            Reply::Silence => "silence".to_owned(),
            Reply::Error(code) => format!("{code:?}"),
            Reply::Answer(code, sections) => {
                let describe = |records: &[WireRecord]| -> String {
                    records
                        .iter()
                        .map(|r| format!("{} {}", key_of(&r.name), r.record_type()))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!(
                    "{code:?} [{}] [{}] [{}]",
                    describe(&sections.answers),
                    describe(&sections.authorities),
                    describe(&sections.additionals)
                )
            }
        };
        assert_eq!(got, expected, "{name} {qtype}");
    }

    fn store() -> Store {
        let mut store = Store::default();
        let publish = |store: &mut Store, name: &str, record: Record| {
            store.publish(name, record).expect("valid test record");
        };
        publish(
            &mut store,
            "Example.Test.",
            Record::soa("ns1.example.test", "h.example.test"),
        );
        publish(
            &mut store,
            "example.test",
            Record::Ns("ns1.example.test".into()),
        );
        publish(
            &mut store,
            "ns1.example.test",
            Record::A(Ipv4Addr::LOCALHOST),
        );
        publish(
            &mut store,
            "s._domainkey.example.test",
            Record::txt("v=DKIM1; p="),
        );
        publish(
            &mut store,
            "alias.example.test",
            Record::Cname("s._domainkey.example.test".into()),
        );
        publish(
            &mut store,
            "away.example.test",
            Record::Cname("elsewhere.test".into()),
        );
        publish(
            &mut store,
            "dangling.example.test",
            Record::Cname("none.example.test".into()),
        );
        publish(&mut store, "elsewhere.test", Record::txt("other"));
        store
    }

    #[test]
    fn answers_follow_the_rfcs() {
        use RecordType::{A, NS, SOA, TXT};
        let store = store();
        check(
            &store,
            "s._domainkey.example.test",
            TXT,
            "NoError [s._domainkey.example.test TXT] [] []",
        );
        check(
            &store,
            "s._domainkey.example.test",
            A,
            "NoError [] [example.test SOA] []",
        );
        check(
            &store,
            "_domainkey.example.test",
            TXT,
            "NoError [] [example.test SOA] []",
        );
        check(
            &store,
            "missing.example.test",
            TXT,
            "NXDomain [] [example.test SOA] []",
        );
        check(&store, "missing.test", TXT, "NXDomain [] [] []");
        check(
            &store,
            "example.test",
            SOA,
            "NoError [example.test SOA] [] []",
        );
        check(
            &store,
            "example.test",
            NS,
            "NoError [example.test NS] [] [ns1.example.test A]",
        );
        check(
            &store,
            "alias.example.test",
            TXT,
            "NoError [alias.example.test CNAME,s._domainkey.example.test TXT] [] []",
        );
        check(
            &store,
            "away.example.test",
            TXT,
            "NoError [away.example.test CNAME] [] []",
        );
        check(
            &store,
            "dangling.example.test",
            TXT,
            "NXDomain [dangling.example.test CNAME] [example.test SOA] []",
        );
    }

    #[test]
    fn failures_and_changes_apply_per_name() {
        let mut store = store();
        store
            .set_failure("s._domainkey.example.test", Some(Failure::ServFail))
            .unwrap();
        store
            .set_failure("Example.Test", Some(Failure::Refused))
            .unwrap();
        store
            .set_failure("away.example.test", Some(Failure::Timeout))
            .unwrap();
        check(
            &store,
            "s._domainkey.example.test",
            RecordType::TXT,
            "ServFail",
        );
        check(&store, "example.test", RecordType::SOA, "Refused");
        check(&store, "away.example.test", RecordType::TXT, "silence");
        store
            .set_failure("s._domainkey.example.test", None)
            .unwrap();
        store
            .replace(
                "s._domainkey.example.test",
                RecordKind::Txt,
                vec![Record::txt("new")],
            )
            .unwrap();
        check(
            &store,
            "s._domainkey.example.test",
            RecordType::TXT,
            "NoError [s._domainkey.example.test TXT] [] []",
        );
        store.delete_name("s._domainkey.example.test").unwrap();
        check(
            &store,
            "s._domainkey.example.test",
            RecordType::TXT,
            "NXDomain [] [example.test SOA] []",
        );
    }

    #[test]
    fn bad_records_are_refused_and_leave_the_name_alone() {
        let mut store = store();
        let long = Record::txt_strings([vec![b'x'; 256]]);
        assert_eq!(
            store.publish("a.example.test", long.clone()),
            Err(Error::CharacterStringTooLong(256))
        );
        assert_eq!(
            store.replace("elsewhere.test", RecordKind::Txt, vec![long]),
            Err(Error::CharacterStringTooLong(256))
        );
        assert_eq!(
            store.replace(
                "elsewhere.test",
                RecordKind::Txt,
                vec![Record::A(Ipv4Addr::LOCALHOST)]
            ),
            Err(Error::KindMismatch)
        );
        assert!(matches!(
            store.publish("a..b", Record::txt("x")),
            Err(Error::InvalidName(_))
        ));
        check(
            &store,
            "elsewhere.test",
            RecordType::TXT,
            "NoError [elsewhere.test TXT] [] []",
        );
        // Long values are split into 255-octet strings by `Record::txt`.
        assert_eq!(
            Record::txt(vec![b'x'; 600]),
            Record::Txt(vec![vec![b'x'; 255], vec![b'x'; 255], vec![b'x'; 90]])
        );
    }
}
