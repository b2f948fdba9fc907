//! From a query's bytes to the answer's bytes, and nothing else: no sockets, no clock, no
//! rate limit. The server decides whether to send what this builds.
//!
//! Answers are minimal (RFC 1034 answers, no additional records but OPT) and never
//! partial: when an answer does not fit the UDP size the client can take, it is replaced
//! by one with TC set and no records at all, so no client ever caches half an RRset.

use std::iter;
use std::net::SocketAddr;

use domain_core::records::value_chunks;
use domain_core::zone::{ZoneAnswer, ZoneConfig, ZoneSnapshot};
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::ProtoError;
use hickory_server::proto::op::OpCode;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{NS, SOA, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::Request;
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};

/// The SOA's refresh, retry and expire timers, in seconds: RIPE-203's values for a
/// stable zone. No secondary transfers this zone (every instance builds it from the
/// store, and transfers are refused), so they only have to be sensible.
const SOA_REFRESH: i32 = 86_400;
const SOA_RETRY: i32 = 7_200;
const SOA_EXPIRE: i32 = 3_600_000;

/// The UDP size of a client without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP_SIZE: u16 = 512;

/// How a message arrived, which decides how large its answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// A message that gets an answer.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A header could be read, the rest could not: FORMERR (NOTIMP for an opcode other
    /// than QUERY), with the header's id and no question.
    Unreadable(Metadata),
    /// A message read whole.
    Request(Box<Request>),
}

impl Incoming {
    /// Reads a message from `src`. Nothing answers a message of fewer than 12 octets (it
    /// has no id to answer with) or a response (answering responses would let two
    /// servers bounce one message between them for ever).
    pub(crate) fn read(bytes: &[u8], src: SocketAddr, transport: Transport) -> Option<Incoming> {
        let header = Header::read(&mut BinDecoder::new(bytes)).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let protocol = match transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        };
        Some(match Request::from_bytes(bytes.to_vec(), src, protocol) {
            Ok(request) => Incoming::Request(Box::new(request)),
            Err(_) => Incoming::Unreadable(header.metadata),
        })
    }
}

/// An answer ready to send, and its response code for the metrics.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) bytes: Vec<u8>,
    pub(crate) rcode: &'static str,
}

/// Answers `incoming` from `zone`. Over UDP the answer takes at most what the client
/// announced and at most `udp_payload` octets (512 without EDNS).
pub(crate) fn answer(
    incoming: &Incoming,
    zone: &ZoneSnapshot,
    transport: Transport,
    udp_payload: u16,
) -> Answer {
    let request = match incoming {
        Incoming::Unreadable(metadata) => {
            let code = if metadata.op_code == OpCode::Query {
                ResponseCode::FormErr
            } else {
                ResponseCode::NotImp
            };
            return header_only(metadata, code);
        }
        Incoming::Request(request) => request,
    };
    let Reply {
        mut metadata,
        answers,
        authorities,
    } = reply(request, zone);
    let edns = response_edns(request, udp_payload);
    let limit = match transport {
        Transport::Udp if request.edns.is_some() => request.max_payload().min(udp_payload),
        Transport::Udp => PLAIN_UDP_SIZE,
        Transport::Tcp => u16::MAX,
    };
    let full = emit(
        &request.queries,
        edns.as_ref(),
        metadata,
        &answers,
        &authorities,
    );
    let bytes = match full {
        Ok(bytes) if bytes.len() <= usize::from(limit) => Ok(bytes),
        Ok(_) => {
            metadata.truncation = true;
            emit(&request.queries, edns.as_ref(), metadata, &[], &[])
        }
        Err(e) => Err(e),
    };
    match bytes {
        Ok(bytes) => Answer {
            bytes,
            rcode: rcode_label(metadata.response_code),
        },
        Err(e) => {
            tracing::warn!(error = %e, "a zone answer could not be encoded");
            header_only(&request.metadata, ResponseCode::ServFail)
        }
    }
}

/// What the server sends instead of an answer the rate limit withholds (a "slip"): the
/// question with TC set and no records, no larger than the query, so that a genuine
/// client asks again over TCP.
pub(crate) fn truncated(incoming: &Incoming, udp_payload: u16) -> Vec<u8> {
    match incoming {
        Incoming::Unreadable(metadata) => {
            let mut metadata = Metadata::response_from_request(metadata);
            metadata.truncation = true;
            encode_header(metadata)
        }
        Incoming::Request(request) => {
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.truncation = true;
            let edns = response_edns(request, udp_payload);
            emit(&request.queries, edns.as_ref(), metadata, &[], &[])
                .unwrap_or_else(|_| encode_header(metadata))
        }
    }
}

/// The response code as the metrics label it: a closed set.
fn rcode_label(code: ResponseCode) -> &'static str {
    match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "OTHER",
    }
}

/// An answer's header and records, before encoding.
struct Reply {
    metadata: Metadata,
    answers: Vec<Record>,
    authorities: Vec<Record>,
}

impl Reply {
    fn error(mut metadata: Metadata, code: ResponseCode) -> Reply {
        metadata.response_code = code;
        Reply {
            metadata,
            answers: Vec::new(),
            authorities: Vec::new(),
        }
    }
}

/// What the zone answers to `request`, as the module doc and docs/operations.md say.
fn reply(request: &Request, zone: &ZoneSnapshot) -> Reply {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    // RFC 6891 §6.1.3: an EDNS version we do not speak gets BADVERS (with our OPT, which
    // says we speak version 0).
    if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
        return Reply::error(metadata, ResponseCode::BADVERS);
    }
    if request.metadata.op_code != OpCode::Query {
        return Reply::error(metadata, ResponseCode::NotImp);
    }
    let [query] = request.queries.queries() else {
        return Reply::error(metadata, ResponseCode::FormErr);
    };
    let qtype = query.query_type();
    if qtype == RecordType::OPT {
        // OPT is a pseudo-record; it cannot be asked for (RFC 6891 §6.1.1).
        return Reply::error(metadata, ResponseCode::FormErr);
    }
    if query.query_class() != DNSClass::IN {
        return Reply::error(metadata, ResponseCode::Refused);
    }
    let apex = match ApexRecords::of(zone) {
        Ok(apex) => apex,
        Err(e) => {
            tracing::warn!(error = %e, "the zone's apex records could not be built");
            return Reply::error(metadata, ResponseCode::ServFail);
        }
    };
    let owner = Name::from(query.name().clone());
    // Label by label first: as text, a label holding a dot (`a\.dkim`) would look like
    // two labels, and a name beside the zone like one inside it.
    let found = if apex.name.zone_of(&owner) {
        zone.lookup(&owner.to_ascii())
    } else {
        ZoneAnswer::OutOfZone
    };
    // Outside the zone we are no authority (AA stays clear) and never recurse. Zone
    // transfers are refused too: every instance builds the zone from the store.
    if found == ZoneAnswer::OutOfZone || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return Reply::error(metadata, ResponseCode::Refused);
    }
    metadata.authoritative = true;
    let ttl = apex.ttl;
    let (answers, code) = match found {
        ZoneAnswer::Apex => match qtype {
            // RFC 8482: ANY gets one RRset, not everything the name holds.
            RecordType::SOA | RecordType::ANY => (vec![apex.soa.clone()], ResponseCode::NoError),
            RecordType::NS => (apex.ns.clone(), ResponseCode::NoError),
            _ => (Vec::new(), ResponseCode::NoError),
        },
        ZoneAnswer::Txt(values) => match qtype {
            RecordType::TXT | RecordType::ANY => (
                values.iter().map(|v| txt(&owner, ttl, v)).collect(),
                ResponseCode::NoError,
            ),
            _ => (Vec::new(), ResponseCode::NoError),
        },
        // An empty non-terminal exists with no records: NODATA. (Out of zone was refused
        // above.)
        ZoneAnswer::EmptyNonTerminal | ZoneAnswer::OutOfZone => (Vec::new(), ResponseCode::NoError),
        ZoneAnswer::NxDomain => (Vec::new(), ResponseCode::NXDomain),
    };
    metadata.response_code = code;
    // A negative answer (NODATA or NXDOMAIN) carries the SOA, whose TTL and minimum are
    // how long resolvers cache it (RFC 2308 §3).
    let authorities = if answers.is_empty() {
        vec![apex.soa]
    } else {
        Vec::new()
    };
    Reply {
        metadata,
        answers,
        authorities,
    }
}

/// The apex's SOA and NS records for one snapshot.
struct ApexRecords {
    name: Name,
    ttl: u32,
    soa: Record,
    ns: Vec<Record>,
}

impl ApexRecords {
    fn of(zone: &ZoneSnapshot) -> Result<ApexRecords, ProtoError> {
        let config = zone.config();
        let ttl = ttl(config);
        let apex = fqdn(config.apex.as_str())?;
        let nameservers = config
            .nameservers
            .iter()
            .map(|ns| fqdn(ns.as_str()))
            .collect::<Result<Vec<Name>, _>>()?;
        // Without a configured nameserver the apex names itself, so the SOA stays valid.
        let mname = nameservers.first().cloned().unwrap_or_else(|| apex.clone());
        let soa = SOA::new(
            mname,
            fqdn(&config.hostmaster())?,
            zone.serial(),
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            ttl,
        );
        Ok(ApexRecords {
            name: apex.clone(),
            ttl,
            soa: Record::from_rdata(apex.clone(), ttl, RData::SOA(soa)),
            ns: nameservers
                .into_iter()
                .map(|ns| Record::from_rdata(apex.clone(), ttl, RData::NS(NS(ns))))
                .collect(),
        })
    }
}

/// The zone's TTL in seconds, at most 2^31 − 1 (RFC 2181 §8).
fn ttl(config: &ZoneConfig) -> u32 {
    u32::try_from(config.ttl.as_secs()).map_or(i32::MAX as u32, |s| s.min(i32::MAX as u32))
}

fn fqdn(name: &str) -> Result<Name, ProtoError> {
    let mut name = Name::from_ascii(name)?;
    name.set_fqdn(true);
    Ok(name)
}

/// One TXT record holding `value`, split into character-strings of at most 255 octets.
fn txt(owner: &Name, ttl: u32, value: &str) -> Record {
    let chunks = value_chunks(value);
    Record::from_rdata(owner.clone(), ttl, RData::TXT(TXT::new(chunks)))
}

/// Our OPT record, if the client sent one: our UDP size, version 0, and the client's DO
/// bit copied back (RFC 3225 §3); the zone is unsigned, so it changes nothing.
fn response_edns(request: &Request, udp_payload: u16) -> Option<Edns> {
    request.edns.as_ref().map(|theirs| {
        let mut ours = Edns::new();
        ours.set_max_payload(udp_payload)
            .set_version(0)
            .set_dnssec_ok(theirs.flags().dnssec_ok);
        ours
    })
}

fn emit(
    queries: &Queries,
    edns: Option<&Edns>,
    metadata: Metadata,
    answers: &[Record],
    authorities: &[Record],
) -> Result<Vec<u8>, ProtoError> {
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    MessageResponseBuilder::new(queries, edns)
        .build(
            metadata,
            answers.iter(),
            authorities.iter(),
            iter::empty(),
            iter::empty(),
        )
        .destructive_emit(&mut encoder)?;
    Ok(bytes)
}

/// A reply with `code` and no question, for a request that could not be read or answer
/// that could not be encoded.
fn header_only(request: &Metadata, code: ResponseCode) -> Answer {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = code;
    Answer {
        bytes: encode_header(metadata),
        rcode: rcode_label(code),
    }
}

fn encode_header(metadata: Metadata) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12);
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    // Twelve octets into a growing buffer: this cannot fail.
    let _ = header.emit(&mut BinEncoder::new(&mut bytes));
    bytes
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain_core::name::DomainName;
    use hickory_server::proto::op::{Message, Query};
    use proptest::prelude::*;

    use super::*;

    const SLOT: &str = "s1.abc.dkim.example.net.";
    const TWO_VALUES: &str = "s2.abc.dkim.example.net.";

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).expect("a valid name")
    }

    /// A zone with a long key (three character-strings) at one slot and two records at
    /// another, under an empty non-terminal `abc`.
    fn zone() -> ZoneSnapshot {
        let config = ZoneConfig {
            apex: name("dkim.example.net"),
            nameservers: vec![name("ns1.example.org"), name("ns2.example.org")],
            ttl: Duration::from_secs(300),
        };
        ZoneSnapshot::new(
            config,
            42,
            [
                (SLOT.to_owned(), long_value()),
                (TWO_VALUES.to_owned(), "v=DKIM1; p=AAAA".to_owned()),
                (TWO_VALUES.to_owned(), "v=DKIM1; p=BBBB".to_owned()),
            ],
        )
    }

    fn long_value() -> String {
        format!("v=DKIM1; k=rsa; p={}", "Q".repeat(600))
    }

    fn query(qname: &str, qtype: RecordType) -> Message {
        let mut message = Message::new(4321, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(
            Name::from_ascii(qname).expect("a name"),
            qtype,
        ));
        message
    }

    fn with_edns(mut message: Message, payload: u16, version: u8) -> Message {
        let mut edns = Edns::new();
        edns.set_max_payload(payload).set_version(version);
        message.set_edns(edns);
        message
    }

    fn bytes_to(zone: &ZoneSnapshot, bytes: &[u8], transport: Transport) -> Option<Answer> {
        let src = SocketAddr::from(([127, 0, 0, 1], 5353));
        Incoming::read(bytes, src, transport).map(|i| answer(&i, zone, transport, 1232))
    }

    fn ask_over(message: &Message, transport: Transport) -> (Message, &'static str) {
        let bytes = message.to_vec().expect("encodable");
        let answer = bytes_to(&zone(), &bytes, transport).expect("answered");
        let reply = Message::from_vec(&answer.bytes).expect("a readable answer");
        assert_eq!(reply.metadata.id, message.metadata.id);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert!(!reply.metadata.recursion_available, "we never recurse");
        assert!(reply.additionals.is_empty(), "minimal responses");
        (reply, answer.rcode)
    }

    /// Asks over TCP, where every answer fits.
    fn ask(message: &Message) -> Message {
        ask_over(message, Transport::Tcp).0
    }

    fn txt_strings(record: &Record) -> Vec<Vec<u8>> {
        match &record.data {
            RData::TXT(txt) => txt.txt_data.iter().map(|s| s.to_vec()).collect(),
            other => panic!("not TXT: {other:?}"),
        }
    }

    fn soa_of(record: &Record) -> &SOA {
        match &record.data {
            RData::SOA(soa) => soa,
            other => panic!("not SOA: {other:?}"),
        }
    }

    /// The answer's code, authority flag and section sizes, for table tests.
    fn shape(reply: &Message) -> (ResponseCode, bool, usize, usize) {
        (
            reply.metadata.response_code,
            reply.metadata.authoritative,
            reply.answers.len(),
            reply.authorities.len(),
        )
    }

    #[test]
    fn each_name_and_type_gets_its_answer() {
        use RecordType::*;
        use ResponseCode::*;
        for (qname, qtype, expected) in [
            ("dkim.example.net.", SOA, (NoError, true, 1, 0)),
            ("dkim.example.net.", NS, (NoError, true, 2, 0)),
            ("dkim.example.net.", ANY, (NoError, true, 1, 0)),
            ("dkim.example.net.", A, (NoError, true, 0, 1)),
            ("dkim.example.net.", TXT, (NoError, true, 0, 1)),
            (SLOT, TXT, (NoError, true, 1, 0)),
            (SLOT, ANY, (NoError, true, 1, 0)),
            (SLOT, A, (NoError, true, 0, 1)),
            (SLOT, CNAME, (NoError, true, 0, 1)),
            (TWO_VALUES, TXT, (NoError, true, 2, 0)),
            ("abc.dkim.example.net.", TXT, (NoError, true, 0, 1)),
            ("nope.abc.dkim.example.net.", TXT, (NXDomain, true, 0, 1)),
            ("x.s1.abc.dkim.example.net.", TXT, (NXDomain, true, 0, 1)),
            ("ns1.dkim.example.net.", A, (NXDomain, true, 0, 1)),
            ("example.net.", SOA, (Refused, false, 0, 0)),
            ("www.example.com.", A, (Refused, false, 0, 0)),
            ("xdkim.example.net.", TXT, (Refused, false, 0, 0)),
            // One label holding a dot, beside the zone: as text it looks inside.
            ("a\\.dkim.example.net.", TXT, (Refused, false, 0, 0)),
            ("s1\\.abc.dkim.example.net.", TXT, (NXDomain, true, 0, 1)),
            (".", NS, (Refused, false, 0, 0)),
            ("dkim.example.net.", AXFR, (Refused, false, 0, 0)),
            ("dkim.example.net.", IXFR, (Refused, false, 0, 0)),
            ("dkim.example.net.", OPT, (FormErr, false, 0, 0)),
        ] {
            let reply = ask(&query(qname, qtype));
            assert_eq!(shape(&reply), expected, "{qname} {qtype}");
            assert!(reply.metadata.recursion_desired, "RD is copied back");
        }
    }

    #[test]
    fn negative_answers_carry_the_soa_with_the_zone_ttl() {
        for qname in ["nope.abc.dkim.example.net.", SLOT] {
            let reply = ask(&query(qname, RecordType::AAAA));
            let soa = &reply.authorities[0];
            assert_eq!(soa.name.to_ascii(), "dkim.example.net.");
            assert_eq!((soa.ttl, soa_of(soa).minimum), (300, 300));
        }
    }

    #[test]
    fn a_long_value_is_split_into_character_strings_of_at_most_255_octets() {
        let reply = ask(&query(SLOT, RecordType::TXT));
        let strings = txt_strings(&reply.answers[0]);
        assert_eq!(
            strings.iter().map(Vec::len).collect::<Vec<_>>(),
            [255, 255, long_value().len() - 510]
        );
        assert_eq!(strings.concat(), long_value().as_bytes());
        assert_eq!(reply.answers[0].ttl, 300);
    }

    #[test]
    fn names_match_in_any_case_and_the_question_keeps_the_clients_case() {
        let reply = ask(&query("S1.AbC.DKIM.Example.NET.", RecordType::TXT));
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(
            reply.queries[0].name().to_ascii(),
            "S1.AbC.DKIM.Example.NET.",
            "resolvers using 0x20 compare the question byte for byte"
        );
    }

    #[test]
    fn too_large_for_udp_means_tc_with_no_records_and_tcp_gets_it_all() {
        // Over 512 octets without EDNS.
        let reply = ask_over(&query(SLOT, RecordType::TXT), Transport::Udp).0;
        assert!(reply.metadata.truncation);
        assert!(reply.metadata.authoritative);
        assert_eq!(reply.answers.len() + reply.authorities.len(), 0);
        assert_eq!(reply.queries.len(), 1);

        // With EDNS offering 4096, our 1232 is the limit, and this answer fits.
        let reply = ask_over(
            &with_edns(query(SLOT, RecordType::TXT), 4096, 0),
            Transport::Udp,
        )
        .0;
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 1);
        let edns = reply.edns.expect("our OPT");
        assert_eq!((edns.max_payload(), edns.version()), (1232, 0));

        let reply = ask(&query(SLOT, RecordType::TXT));
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 1);
        assert!(reply.edns.is_none(), "no OPT to a client that sent none");
    }

    #[test]
    fn what_is_not_a_standard_query_with_one_question_is_refused_by_kind() {
        let mut none = query(SLOT, RecordType::TXT);
        none.queries.clear();
        let mut two = query(SLOT, RecordType::TXT);
        two.add_query(Query::query(
            Name::from_ascii(TWO_VALUES).expect("a name"),
            RecordType::TXT,
        ));
        let mut notify = query("dkim.example.net.", RecordType::SOA);
        notify.metadata.op_code = OpCode::Notify;
        let mut update = query("dkim.example.net.", RecordType::SOA);
        update.metadata.op_code = OpCode::Update;
        let mut chaos = Query::query(
            Name::from_ascii("version.bind.").expect("a name"),
            RecordType::TXT,
        );
        chaos.set_query_class(DNSClass::CH);
        let mut version_bind = Message::new(9, MessageType::Query, OpCode::Query);
        version_bind.add_query(chaos);
        for (message, code, label) in [
            (none, ResponseCode::FormErr, "FORMERR"),
            (two, ResponseCode::FormErr, "FORMERR"),
            (notify, ResponseCode::NotImp, "NOTIMP"),
            (update, ResponseCode::NotImp, "NOTIMP"),
            (version_bind, ResponseCode::Refused, "REFUSED"),
        ] {
            let (reply, rcode) = ask_over(&message, Transport::Udp);
            assert_eq!(reply.metadata.response_code, code);
            assert_eq!(rcode, label);
            assert!(reply.answers.is_empty() && reply.authorities.is_empty());
        }
    }

    #[test]
    fn an_edns_version_we_do_not_speak_gets_badvers_with_our_opt() {
        let (reply, rcode) = ask_over(
            &with_edns(query(SLOT, RecordType::TXT), 1232, 1),
            Transport::Udp,
        );
        // BADVERS and BADSIG share the number 16; hickory reads it back as BADSIG.
        assert_eq!(u16::from(reply.metadata.response_code), 16);
        assert_eq!(rcode, "BADVERS");
        assert_eq!(reply.edns.expect("our OPT").version(), 0);
        assert!(reply.answers.is_empty());
    }

    #[test]
    fn unreadable_messages_get_formerr_and_responses_or_scraps_get_nothing() {
        let zone = zone();
        // A header announcing a question that is not there.
        let mut bytes = query(SLOT, RecordType::TXT).to_vec().expect("encodable");
        bytes.truncate(14);
        let answer = bytes_to(&zone, &bytes, Transport::Udp).expect("answered");
        let reply = Message::from_vec(&answer.bytes).expect("readable");
        assert_eq!(
            (
                reply.metadata.id,
                reply.metadata.response_code,
                answer.rcode
            ),
            (4321, ResponseCode::FormErr, "FORMERR")
        );
        // The same from an opcode we do not implement is NOTIMP.
        bytes[2] |= 5 << 3;
        let answer = bytes_to(&zone, &bytes, Transport::Udp).expect("answered");
        assert_eq!(answer.rcode, "NOTIMP");

        let mut response = query(SLOT, RecordType::TXT);
        response.metadata.message_type = MessageType::Response;
        let bytes = response.to_vec().expect("encodable");
        assert!(bytes_to(&zone, &bytes, Transport::Udp).is_none());
        assert!(bytes_to(&zone, &bytes[..11], Transport::Udp).is_none());
        assert!(bytes_to(&zone, &[], Transport::Tcp).is_none());
    }

    #[test]
    fn a_slipped_reply_is_truncated_and_no_larger_than_the_query() {
        let src = SocketAddr::from(([127, 0, 0, 1], 5353));
        for message in [
            query(SLOT, RecordType::TXT),
            with_edns(query(TWO_VALUES, RecordType::ANY), 4096, 0),
        ] {
            let bytes = message.to_vec().expect("encodable");
            let incoming = Incoming::read(&bytes, src, Transport::Udp).expect("read");
            let slip = truncated(&incoming, 1232);
            let reply = Message::from_vec(&slip).expect("readable");
            assert!(reply.metadata.truncation);
            assert_eq!(reply.metadata.id, 4321);
            assert_eq!(reply.queries, message.queries);
            assert!(reply.answers.is_empty() && reply.authorities.is_empty());
            assert!(
                slip.len() <= bytes.len(),
                "{} > {}",
                slip.len(),
                bytes.len()
            );
        }
    }

    /// One label of 1 to 63 arbitrary octets, or a label of the zone's names.
    fn label() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 1..=63),
            prop::sample::select(vec![
                b"s1".to_vec(),
                b"ABC".to_vec(),
                b"dkim".to_vec(),
                b"example".to_vec(),
                b"net".to_vec(),
                b"xn--nxasmq6b".to_vec(),
                b"a.dkim".to_vec(),
            ]),
        ]
    }

    proptest! {
        #[test]
        fn no_bytes_panic_the_answer(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let zone = zone();
            for transport in [Transport::Udp, Transport::Tcp] {
                let src = SocketAddr::from(([127, 0, 0, 1], 5353));
                if let Some(incoming) = Incoming::read(&bytes, src, transport) {
                    let answer = answer(&incoming, &zone, transport, 1232);
                    prop_assert!(answer.bytes.len() >= 12);
                    prop_assert_eq!(&answer.bytes[..2], &bytes[..2], "the id is kept");
                    prop_assert!(truncated(&incoming, 1232).len() >= 12);
                }
            }
        }

        #[test]
        fn any_name_is_answered_and_refused_exactly_outside_the_zone(
            labels in prop::collection::vec(label(), 0..6),
            qtype in any::<u16>(),
        ) {
            let Ok(qname) = Name::from_labels(labels.iter().map(Vec::as_slice)) else {
                // Longer than 255 octets: no query can carry it.
                return Ok(());
            };
            let mut message = Message::new(77, MessageType::Query, OpCode::Query);
            message.add_query(Query::query(qname.clone(), RecordType::from(qtype)));
            let Ok(bytes) = message.to_vec() else { return Ok(()) };
            let answer = bytes_to(&zone(), &bytes, Transport::Udp).expect("answered");
            let reply = Message::from_vec(&answer.bytes).expect("readable");
            // Inside means: the last three labels are the apex's, compared label by label.
            let labels: Vec<Vec<u8>> = qname.iter().map(|l| l.to_ascii_lowercase()).collect();
            let inside = labels.len() >= 3
                && labels[labels.len() - 3..] == [b"dkim".to_vec(), b"example".to_vec(), b"net".to_vec()];
            let meta = matches!(
                RecordType::from(qtype),
                RecordType::OPT | RecordType::AXFR | RecordType::IXFR
            );
            if !meta {
                prop_assert_eq!(
                    reply.metadata.response_code == ResponseCode::Refused,
                    !inside,
                    "{} {}", qname, answer.rcode
                );
            }
        }
    }
}
