//! What the zone answers, over the wire.

use domain_core::records::TxtRecord;
use domain_core::records::dkim::DkimKeyRecord;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{RData, Record, RecordType};

use crate::*;

/// The answer's flags say: an authority, no recursion, and no additional records.
fn assert_authoritative(answer: &Message) {
    assert!(answer.metadata.authoritative, "AA set");
    assert!(!answer.metadata.recursion_available, "RA clear");
    assert!(answer.additionals.is_empty(), "minimal: nothing additional");
}

fn joined_txt(record: &Record) -> String {
    match &record.data {
        RData::TXT(txt) => {
            assert!(txt.txt_data.iter().all(|s| s.len() <= 255));
            String::from_utf8(txt.txt_data.concat()).expect("ASCII")
        }
        other => panic!("not TXT: {other:?}"),
    }
}

#[tokio::test]
async fn the_apex_answers_its_soa_and_every_nameserver() {
    let zone = Running::serving(snapshot(2026, &[])).await;

    let answer = udp(zone.addr(), &query(APEX, RecordType::SOA)).await;
    assert_authoritative(&answer);
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.recursion_desired, "RD is copied back");
    let [soa] = answer.answers.as_slice() else {
        panic!("one SOA: {answer:?}");
    };
    let RData::SOA(soa_data) = &soa.data else {
        panic!("not SOA: {soa:?}");
    };
    assert_eq!(soa.name.to_ascii(), "dkim.example.net.");
    assert_eq!(soa.ttl, 300);
    assert_eq!(soa_data.mname.to_ascii(), "ns1.example.org.");
    assert_eq!(soa_data.rname.to_ascii(), "hostmaster.dkim.example.net.");
    assert_eq!((soa_data.serial, soa_data.minimum), (2026, 300));
    // RIPE-203's timers; no secondary uses them, since transfers are refused.
    assert_eq!(
        (soa_data.refresh, soa_data.retry, soa_data.expire),
        (86_400, 7_200, 3_600_000)
    );

    let answer = tcp(zone.addr(), &query(APEX, RecordType::NS)).await;
    assert_authoritative(&answer);
    let names: Vec<String> = answer
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::NS(ns) => ns.0.to_ascii(),
            other => panic!("not NS: {other:?}"),
        })
        .collect();
    assert_eq!(names, ["ns1.example.org.", "ns2.example.org."]);
}

#[tokio::test]
async fn a_4096_bit_key_is_truncated_over_plain_udp_and_whole_over_tcp_or_edns() {
    let record = rsa_4096_record();
    let zone = Running::serving(snapshot(1, &[(SLOT, record)])).await;
    let socket = client(Ipv4Addr::LOCALHOST).await;

    // Without EDNS a UDP answer holds 512 octets; this one does not fit.
    let (answer, size) = exchange_udp(&socket, zone.addr(), &query(SLOT, RecordType::TXT)).await;
    assert!(answer.metadata.truncation, "TC set");
    assert_authoritative(&answer);
    assert!(answer.answers.is_empty(), "no partial RRset");
    assert!(size <= 512);

    // The client retries over TCP and gets the whole record.
    let answer = tcp(zone.addr(), &query(SLOT, RecordType::TXT)).await;
    assert!(!answer.metadata.truncation);
    assert_authoritative(&answer);
    let [txt] = answer.answers.as_slice() else {
        panic!("one TXT: {answer:?}");
    };
    assert_eq!(txt.ttl, 300);
    assert_eq!(joined_txt(txt), record);
    let parsed = DkimKeyRecord::parse(&joined_txt(txt)).expect("a DKIM record");
    assert_eq!(parsed.to_string(), record);

    // With EDNS at 1232 it fits in one datagram.
    let (answer, size) = exchange_udp(
        &socket,
        zone.addr(),
        &edns(query(SLOT, RecordType::TXT), 1232),
    )
    .await;
    assert!(!answer.metadata.truncation);
    assert!(size > 512 && size <= 1232, "{size}");
    assert_eq!(joined_txt(&answer.answers[0]), record);
    let opt = answer.edns.expect("our OPT record");
    assert_eq!(opt.max_payload(), 1232);
}

#[tokio::test]
async fn an_answer_over_1232_octets_is_truncated_even_when_the_client_offers_more() {
    let record = rsa_4096_record();
    // Two keys at one name: about 1,600 octets.
    let zone = Running::serving(snapshot(1, &[(SLOT, record), (SLOT, record)])).await;

    let socket = client(Ipv4Addr::LOCALHOST).await;
    let (answer, size) = exchange_udp(
        &socket,
        zone.addr(),
        &edns(query(SLOT, RecordType::TXT), 4096),
    )
    .await;
    assert!(
        answer.metadata.truncation,
        "our 1232 is the limit, not their 4096"
    );
    assert!(answer.answers.is_empty());
    assert!(size <= 1232);

    let answer = tcp(zone.addr(), &edns(query(SLOT, RecordType::TXT), 4096)).await;
    assert!(!answer.metadata.truncation);
    assert_eq!(answer.answers.len(), 2);
}

#[tokio::test]
async fn names_without_the_type_or_without_records_carry_the_soa() {
    let zone = Running::serving(snapshot(9, &[(SLOT, "v=DKIM1; k=rsa; p=AAAA")])).await;
    for (name, qtype, code) in [
        // NODATA: the name exists, the type does not.
        (SLOT, RecordType::A, ResponseCode::NoError),
        (APEX, RecordType::TXT, ResponseCode::NoError),
        // The label above a slot exists too (an empty non-terminal).
        (
            "k7f3q.dkim.example.net",
            RecordType::TXT,
            ResponseCode::NoError,
        ),
        // NXDOMAIN: nothing at or below the name.
        (
            "scaisend2.k7f3q.dkim.example.net",
            RecordType::TXT,
            ResponseCode::NXDomain,
        ),
        (
            "nobody.dkim.example.net",
            RecordType::AAAA,
            ResponseCode::NXDomain,
        ),
    ] {
        let answer = udp(zone.addr(), &query(name, qtype)).await;
        assert_authoritative(&answer);
        assert_eq!(answer.metadata.response_code, code, "{name} {qtype}");
        assert!(answer.answers.is_empty(), "{name} {qtype}");
        let [soa] = answer.authorities.as_slice() else {
            panic!("one SOA in authority: {answer:?}");
        };
        assert_eq!(soa.record_type(), RecordType::SOA);
        assert_eq!(soa.name.to_ascii(), "dkim.example.net.");
    }
}

#[tokio::test]
async fn names_outside_the_zone_are_refused_without_records() {
    let zone = Running::serving(snapshot(1, &[])).await;
    for name in ["example.net", "www.example.com", "xdkim.example.net", "net"] {
        let answer = udp(zone.addr(), &query(name, RecordType::A)).await;
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
        assert!(!answer.metadata.authoritative, "no authority for {name}");
        assert!(!answer.metadata.recursion_available);
        assert!(answer.answers.is_empty() && answer.authorities.is_empty());
    }
}

#[tokio::test]
async fn names_match_in_any_case() {
    let zone = Running::serving(snapshot(1, &[(SLOT, "v=DKIM1; k=rsa; p=AAAA")])).await;
    let asked = "ScaiSend.K7F3Q.Dkim.EXAMPLE.net";
    let answer = udp(zone.addr(), &query(asked, RecordType::TXT)).await;
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(joined_txt(&answer.answers[0]), "v=DKIM1; k=rsa; p=AAAA");
    // The question comes back as asked, for resolvers that check the case they sent.
    assert_eq!(answer.queries[0].name().to_ascii(), format!("{asked}."));
}

#[tokio::test]
async fn the_metrics_count_answers_by_response_code() {
    let zone = Running::serving(snapshot(1, &[(SLOT, "v=DKIM1; k=rsa; p=AAAA")])).await;
    for _ in 0..3 {
        udp(zone.addr(), &query(SLOT, RecordType::TXT)).await;
    }
    tcp(zone.addr(), &query(SLOT, RecordType::TXT)).await;
    udp(
        zone.addr(),
        &query("gone.dkim.example.net", RecordType::TXT),
    )
    .await;
    udp(zone.addr(), &query("example.org", RecordType::TXT)).await;
    let mut two_questions = query(SLOT, RecordType::TXT);
    two_questions.add_query(query(APEX, RecordType::SOA).queries[0].clone());
    udp(zone.addr(), &two_questions).await;

    assert_eq!(zone.counted("NOERROR"), 4);
    assert_eq!(zone.counted("NXDOMAIN"), 1);
    assert_eq!(zone.counted("REFUSED"), 1);
    assert_eq!(zone.counted("FORMERR"), 1);
    assert_eq!(zone.counted("DROPPED"), 0);
}
