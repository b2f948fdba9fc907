//! The port's contract, checked against a real server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use adapter_dns::{DnsConfig, Error, HickoryDns};
use domain_core::ports::{DnsLookup, DnsResult, MxRecord, TxtRecordData};
use test_dns::{Failure, Options, Record, RecordKind, TestDns, Transport};

use crate::{
    RESOLVER, TestResult, adapter, adapter_for, failing, impatient_adapter, publish_all, serving,
    soa_of,
};

#[tokio::test]
async fn nxdomain_no_data_and_empty_non_terminals_are_told_apart() -> TestResult {
    let dns = serving([
        ("s._domainkey.example.test", Record::txt("v=DKIM1; p=")),
        ("example.test", Record::A(Ipv4Addr::new(192, 0, 2, 1))),
    ])
    .await?;
    let lookup = adapter(&dns);

    let check = async |name: &str, expected: DnsResult<TxtRecordData>| {
        assert_eq!(lookup.txt(name).await.result, expected, "TXT {name}");
    };
    check("missing.example.test", DnsResult::NxDomain).await;
    check("example.test", DnsResult::NoData).await;
    // `_domainkey.example.test` has no records but a name below it: it exists.
    check("_domainkey.example.test", DnsResult::NoData).await;
    check(
        "S._DomainKey.Example.Test",
        DnsResult::Records(vec![TxtRecordData::single("v=DKIM1; p=")]),
    )
    .await;
    assert_eq!(
        lookup.a("s._domainkey.example.test").await.result,
        DnsResult::NoData
    );
    Ok(())
}

#[tokio::test]
async fn servfail_and_refused_are_temporary_failures_naming_the_code() -> TestResult {
    let dns = failing("broken.example.test", Failure::ServFail).await?;
    dns.fail("closed.example.test", Failure::Refused)?;
    let lookup = adapter(&dns);

    for (name, code) in [
        ("broken.example.test", "SERVFAIL"),
        ("closed.example.test", "REFUSED"),
    ] {
        let answer = lookup.txt(name).await;
        let DnsResult::TempFail(why) = &answer.result else {
            panic!(
                "{name}: expected a temporary failure, got {:?}",
                answer.result
            );
        };
        assert!(
            why.to_uppercase().contains(code),
            "{name}: `{why}` should name {code}"
        );
        assert_eq!(answer.server, Some(RESOLVER.to_owned()));
    }

    dns.recover("broken.example.test")?;
    assert_eq!(
        lookup.txt("broken.example.test").await.result,
        DnsResult::Records(vec![TxtRecordData::single("v=spf1 -all")])
    );
    Ok(())
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_temporary_failure_not_a_hang() -> TestResult {
    let dns = failing("slow.example.test", Failure::Timeout).await?;
    let lookup = impatient_adapter(&dns);

    // The adapter bounds itself at timeout × attempts (0.6 s); the outer bound only
    // catches a hang, it is not a measure of speed.
    let answer = tokio::time::timeout(Duration::from_secs(60), lookup.txt("slow.example.test"))
        .await
        .expect("the lookup must end by itself");
    assert!(answer.result.is_temp_fail(), "got {:?}", answer.result);
    assert_eq!(answer.server, Some(RESOLVER.to_owned()));
    // It was asked, and asked again: silence is retried before giving up.
    let asked = dns
        .queries()
        .iter()
        .filter(|q| q.name == "slow.example.test")
        .count();
    assert!(asked >= 2, "asked {asked} times");
    Ok(())
}

#[tokio::test]
async fn each_record_keeps_its_character_strings_and_records_stay_apart() -> TestResult {
    let dns = serving([
        (
            "s._domainkey.example.test",
            Record::txt_strings(["v=DKIM1; k=rsa; ", "p=MIIBIjAN", "BgkqhkiG9w0BAQ"]),
        ),
        ("example.test", Record::txt("v=spf1 include:a.test -all")),
        ("example.test", Record::txt("v=spf1 include:b.test -all")),
        // Bytes that are not UTF-8 come back as sent: the core decides what they mean.
        (
            "binary.example.test",
            Record::txt_strings([&[0xff, 0xfe, b'v'][..], b"=x"]),
        ),
    ])
    .await?;
    let lookup = adapter(&dns);

    assert_eq!(
        lookup.txt("s._domainkey.example.test").await.result,
        DnsResult::Records(vec![TxtRecordData {
            strings: vec![
                b"v=DKIM1; k=rsa; ".to_vec(),
                b"p=MIIBIjAN".to_vec(),
                b"BgkqhkiG9w0BAQ".to_vec(),
            ],
        }])
    );

    let spf = lookup.txt("example.test").await;
    let mut texts: Vec<String> = spf
        .result
        .records()
        .iter()
        .map(TxtRecordData::joined)
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        ["v=spf1 include:a.test -all", "v=spf1 include:b.test -all"]
    );

    assert_eq!(
        lookup.txt("binary.example.test").await.result,
        DnsResult::Records(vec![TxtRecordData {
            strings: vec![vec![0xff, 0xfe, b'v'], b"=x".to_vec()],
        }])
    );
    Ok(())
}

#[tokio::test]
async fn cnames_are_followed_inside_a_zone_and_into_another() -> TestResult {
    let alias = |target: &str| Record::Cname(target.into());
    let dns = serving([
        ("a.test", soa_of("a.test")),
        ("b.test", soa_of("b.test")),
        // In one zone the server answers the whole chain at once.
        ("s1._domainkey.a.test", alias("s1.keys.a.test")),
        ("s1.keys.a.test", Record::txt("v=DKIM1; p=in-zone")),
        // Into another zone the server gives only the alias; the adapter asks again.
        ("s2._domainkey.a.test", alias("s2.dkim.b.test")),
        ("s2.dkim.b.test", alias("key.b.test")),
        ("key.b.test", Record::txt("v=DKIM1; p=other-zone")),
        // An alias to nothing is NXDOMAIN (RFC 6604), to a name without TXT is no-data.
        ("gone.a.test", alias("nothing.a.test")),
        ("bare.a.test", alias("host.b.test")),
        ("host.b.test", Record::A(Ipv4Addr::new(192, 0, 2, 7))),
        // A loop is a failure to resolve, not an absence.
        ("loop1.a.test", alias("loop2.b.test")),
        ("loop2.b.test", alias("loop1.a.test")),
    ])
    .await?;
    let lookup = adapter(&dns);

    let txt = |value: &str| DnsResult::Records(vec![TxtRecordData::single(value)]);
    assert_eq!(
        lookup.txt("s1._domainkey.a.test").await.result,
        txt("v=DKIM1; p=in-zone")
    );
    assert_eq!(
        lookup.txt("s2._domainkey.a.test").await.result,
        txt("v=DKIM1; p=other-zone")
    );
    assert_eq!(lookup.txt("gone.a.test").await.result, DnsResult::NxDomain);
    assert_eq!(lookup.txt("bare.a.test").await.result, DnsResult::NoData);
    assert_eq!(
        lookup.a("bare.a.test").await.result,
        DnsResult::Records(vec![Ipv4Addr::new(192, 0, 2, 7)])
    );
    assert!(lookup.txt("loop1.a.test").await.result.is_temp_fail());
    Ok(())
}

#[tokio::test]
async fn a_4096_bit_sized_record_over_capped_udp_is_fetched_again_over_tcp() -> TestResult {
    let dns = TestDns::start_with(Options {
        cap_udp_at_512: true,
        ..Options::default()
    })
    .await?;
    // A 4096-bit key's record: 736 base64 characters of key, three character-strings.
    let value = format!("v=DKIM1; k=rsa; p={}", "A".repeat(736));
    dns.publish("big._domainkey.example.test", Record::txt(&value))?;
    let lookup = adapter(&dns);

    let answer = lookup.txt("big._domainkey.example.test").await;
    let records = answer.result.records();
    assert_eq!(records.len(), 1, "got {:?}", answer.result);
    assert_eq!(records[0].joined(), value);
    assert_eq!(records[0].strings.len(), 3);
    let transports: Vec<Transport> = dns
        .queries()
        .iter()
        .filter(|q| q.name == "big._domainkey.example.test")
        .map(|q| q.transport)
        .collect();
    assert_eq!(transports, [Transport::Udp, Transport::Tcp]);
    Ok(())
}

#[tokio::test]
async fn a_record_published_after_a_miss_is_seen_by_the_very_next_query() -> TestResult {
    // The zone's SOA invites 300 s of negative caching; the adapter must not take it.
    let dns = serving([("example.test", soa_of("example.test"))]).await?;
    let lookup = adapter(&dns);
    let name = "_dmarc.example.test";

    assert_eq!(lookup.txt(name).await.result, DnsResult::NxDomain);
    dns.publish(name, Record::txt("v=DMARC1; p=none"))?;
    assert_eq!(
        lookup.txt(name).await.result,
        DnsResult::Records(vec![TxtRecordData::single("v=DMARC1; p=none")])
    );
    dns.replace(
        name,
        RecordKind::Txt,
        vec![Record::txt("v=DMARC1; p=reject")],
    )?;
    assert_eq!(
        lookup.txt(name).await.result,
        DnsResult::Records(vec![TxtRecordData::single("v=DMARC1; p=reject")])
    );
    dns.delete(name, RecordKind::Txt)?;
    assert_eq!(lookup.txt(name).await.result, DnsResult::NxDomain);
    Ok(())
}

#[tokio::test]
async fn addresses_mail_exchangers_and_reverse_names() -> TestResult {
    let v4 = Ipv4Addr::new(192, 0, 2, 25);
    let v6: Ipv6Addr = "2001:db8::25".parse()?;
    let mx_host = || Record::Ptr("mx.example.test".into());
    let dns = serving([
        ("mx.example.test".to_owned(), Record::A(v4)),
        ("mx.example.test".to_owned(), Record::Aaaa(v6)),
        (
            "example.test".to_owned(),
            Record::mx(10, "MX.example.test."),
        ),
        (
            "example.test".to_owned(),
            Record::mx(20, "backup.example.test"),
        ),
        ("25.2.0.192.in-addr.arpa".to_owned(), mx_host()),
        (
            domain_core::testing::reverse_name(IpAddr::V6(v6)),
            mx_host(),
        ),
    ])
    .await?;
    let lookup = adapter(&dns);

    assert_eq!(
        lookup.a("mx.example.test").await.result,
        DnsResult::Records(vec![v4])
    );
    assert_eq!(
        lookup.aaaa("mx.example.test").await.result,
        DnsResult::Records(vec![v6])
    );
    let mut mx = lookup.mx("example.test").await.result.records().to_vec();
    mx.sort_by_key(|m| m.preference);
    assert_eq!(
        mx,
        [
            MxRecord {
                preference: 10,
                exchange: "mx.example.test".into()
            },
            MxRecord {
                preference: 20,
                exchange: "backup.example.test".into()
            },
        ]
    );
    for ip in [IpAddr::V4(v4), IpAddr::V6(v6)] {
        assert_eq!(
            lookup.ptr(ip).await.result,
            DnsResult::Records(vec!["mx.example.test".to_owned()]),
            "PTR of {ip}"
        );
    }
    assert_eq!(
        lookup
            .ptr(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 26)))
            .await
            .result,
        DnsResult::NxDomain
    );
    Ok(())
}

/// `alias` asks about the name itself: the CNAME there, not what it leads to. A null MX
/// (RFC 7505) names the root, which the port writes `.`.
#[tokio::test]
async fn an_alias_is_seen_as_itself_and_a_null_mx_names_the_root() -> TestResult {
    let dns = serving([
        ("a.test", soa_of("a.test")),
        (
            "bounces.a.test",
            Record::Cname("mx.elsewhere.b.test".into()),
        ),
        ("mx.elsewhere.b.test", Record::mx(10, "feedback.b.test")),
        ("direct.a.test", Record::mx(10, "feedback.b.test")),
        ("nomail.a.test", Record::mx(0, ".")),
    ])
    .await?;
    let lookup = adapter(&dns);

    assert_eq!(
        lookup.cname("Bounces.a.test").await.result,
        DnsResult::Records(vec!["mx.elsewhere.b.test".to_owned()])
    );
    // The MX query follows the alias, so only `alias` tells the two names apart.
    assert_eq!(
        lookup.mx("bounces.a.test").await.result,
        lookup.mx("direct.a.test").await.result
    );
    assert_eq!(
        lookup.cname("direct.a.test").await.result,
        DnsResult::NoData
    );
    assert_eq!(
        lookup.cname("absent.a.test").await.result,
        DnsResult::NxDomain
    );
    dns.fail("direct.a.test", test_dns::Failure::ServFail)?;
    assert!(lookup.cname("direct.a.test").await.result.is_temp_fail());

    let null = lookup.mx("nomail.a.test").await.result;
    assert_eq!(
        null,
        DnsResult::Records(vec![MxRecord {
            preference: 0,
            exchange: ".".into()
        }])
    );
    assert!(null.records()[0].is_null());
    Ok(())
}

#[tokio::test]
async fn the_answer_names_the_server_and_the_next_server_is_asked_after_a_failure() -> TestResult {
    let failing = TestDns::start().await?;
    failing.fail("example.test", Failure::ServFail)?;
    let working = serving([("example.test", Record::txt("v=spf1 -all"))]).await?;
    let lookup = adapter_for(&[failing.addr(), working.addr()]);

    let answer = lookup.txt("example.test").await;
    assert_eq!(
        answer.result,
        DnsResult::Records(vec![TxtRecordData::single("v=spf1 -all")])
    );
    // Both servers are on loopback: answers say which one by its place in the list.
    assert_eq!(answer.server.as_deref(), Some("resolver #2"));
    assert_eq!(failing.queries().len(), 1);
    Ok(())
}

#[tokio::test]
async fn odd_names_give_an_answer_or_a_temporary_failure_and_never_panic() -> TestResult {
    let dns = TestDns::start().await?;
    let lookup = adapter(&dns);
    let long_label = "a".repeat(64);
    let long_name = ["abcdefghi"; 30].join(".");
    let huge = "x".repeat(100_000);
    let many_labels = "a.".repeat(200);
    let odd = [
        "",
        ".",
        "..",
        "a..b",
        "example.test.",
        "trailing.dot.example.test..",
        long_label.as_str(),
        long_name.as_str(),
        "bücher.example.test",
        "sp ace.example.test",
        "nul\0.example.test",
        "back\\slash.example.test",
        "\\",
        "*.example.test",
        "-.example.test",
        "\u{1F600}.example.test",
        "....",
        huge.as_str(),
        many_labels.as_str(),
    ];
    for name in odd {
        let answer = lookup.txt(name).await;
        assert!(
            matches!(answer.result, DnsResult::NxDomain | DnsResult::TempFail(_)),
            "{name:?}: {:?}",
            answer.result
        );
    }
    // Those DNS cannot carry were never sent.
    let asked: Vec<String> = dns.queries().into_iter().map(|q| q.name).collect();
    assert!(!asked.iter().any(|n| n.len() > 253), "{asked:?}");
    Ok(())
}

#[tokio::test]
async fn a_configuration_without_servers_is_rejected() {
    let result = HickoryDns::new(DnsConfig::with_servers(Vec::new()));
    assert_eq!(result.err(), Some(Error::NoServers));
    let result = HickoryDns::new(DnsConfig {
        recursive: Some(Vec::new()),
        ..DnsConfig::default()
    });
    assert_eq!(result.err(), Some(Error::NoServers));
}

/// Starts `count` lookups at once, each of its own name, and waits for all of them.
async fn lookups_at_once(lookup: HickoryDns, count: usize) -> Vec<DnsResult<TxtRecordData>> {
    let lookup = std::sync::Arc::new(lookup);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let lookup = lookup.clone();
        tasks.spawn(async move { lookup.txt(&format!("n{i}.example.test")).await.result });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outstanding_queries_are_capped_and_waiting_too_long_is_a_temporary_failure() -> TestResult
{
    const LOOKUPS: usize = 20;
    let slow = Options {
        answer_delay: Duration::from_millis(200),
        ..Options::default()
    };
    let start = async || -> Result<TestDns, Box<dyn std::error::Error>> {
        let dns = TestDns::start_with(slow).await?;
        let names = (0..LOOKUPS).map(|i| format!("n{i}.example.test"));
        publish_all(&dns, names.map(|n| (n, Record::txt("v=spf1 -all"))))?;
        Ok(dns)
    };
    let config = |dns: &TestDns| DnsConfig {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..DnsConfig::with_servers(vec![dns.addr()])
    };

    // Without a tight cap the server answers many of them at once.
    let dns = start().await?;
    let results = lookups_at_once(HickoryDns::new(config(&dns))?, LOOKUPS).await;
    assert!(
        results.iter().all(|r| r.records().len() == 1),
        "{results:?}"
    );
    assert!(dns.max_concurrent_queries() > 1);

    // With one slot, queries go out one at a time: each holds the slot for the server's
    // 200 ms, so within the 2 s bound at most about ten are answered. The others could
    // not even be sent, which says nothing about the records: temporary, never missing.
    let dns = start().await?;
    let capped = HickoryDns::new(DnsConfig {
        max_in_flight: 1,
        ..config(&dns)
    })?;
    let results = lookups_at_once(capped, LOOKUPS).await;
    assert_eq!(dns.max_concurrent_queries(), 1);
    let answered = results.iter().filter(|r| r.records().len() == 1).count();
    let waited: Vec<&str> = results
        .iter()
        .filter_map(|r| match r {
            DnsResult::TempFail(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(answered + waited.len(), LOOKUPS, "{results:?}");
    assert!(answered >= 1, "{results:?}");
    assert!(waited.len() >= LOOKUPS - 11, "{results:?}");
    assert!(
        waited.iter().any(|why| why.contains("in flight")),
        "{waited:?}"
    );
    Ok(())
}
