//! Unit tests of the evaluator: the trace, the limits, the problems, concurrency, and
//! properties over random zones. The conformance suite lives in `tests/it`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use async_trait::async_trait;
use futures::executor::block_on;
use proptest::prelude::*;

use super::*;
use crate::ports::{DnsAnswer, MxRecord};
use crate::testing::{FakeDns, QueryType};

fn eval(dns: &dyn DnsLookup, ip: &str, domain: &str) -> SpfEvaluation {
    let ip: IpAddr = ip.parse().unwrap();
    let sender = format!("bounce@{domain}");
    block_on(check_host(dns, &SpfQuery::new(ip, domain, &sender)))
}

/// Checks the result of [`eval`] for `ip` sending as `domain`.
#[track_caller]
fn assert_result(dns: &dyn DnsLookup, ip: &str, domain: &str, expected: SpfResult) {
    assert_eq!(eval(dns, ip, domain).result, expected, "{ip} for {domain}");
}

fn terms(trace: &SpfTrace) -> Vec<String> {
    trace.lookups.iter().map(|t| t.term.clone()).collect()
}

#[test]
fn a_nested_include_is_traced_with_depth_qualifier_path_and_result() {
    let dns = FakeDns::new();
    dns.txt(
        "example.com",
        "v=spf1 -include:deny.example.net include:a.example.net ~all",
    )
    .txt("deny.example.net", "v=spf1 ip4:198.51.100.0/24 -all")
    .txt("a.example.net", "v=spf1 include:b.example.net -all")
    .txt("b.example.net", "v=spf1 ip4:192.0.2.0/24 -all");
    let e = eval(&dns, "192.0.2.7", "example.com");
    assert_eq!(e.result, SpfResult::Pass);
    assert_eq!(e.problem, None);
    let steps: Vec<_> = e
        .trace
        .includes
        .iter()
        .map(|i| (i.target.as_str(), i.depth, i.pass_path, i.result))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("deny.example.net", 1, false, SpfResult::Fail),
            ("a.example.net", 1, true, SpfResult::Pass),
            ("b.example.net", 2, true, SpfResult::Pass),
        ]
    );
    let matched: Vec<_> = e
        .trace
        .matched
        .iter()
        .map(|m| (m.domain.as_str(), m.directive.to_string()))
        .collect();
    assert_eq!(
        matched,
        vec![
            ("example.com", "include:a.example.net".to_owned()),
            ("a.example.net", "include:b.example.net".to_owned()),
            ("b.example.net", "ip4:192.0.2.0/24".to_owned()),
        ]
    );
    assert!(e.trace.include_reached("B.example.net."));
    assert!(!e.trace.include_reached("deny.example.net"));
    assert_eq!(
        e.trace.records,
        vec!["v=spf1 -include:deny.example.net include:a.example.net ~all"]
    );
}

#[test]
fn the_eleventh_lookup_is_named_with_the_record_that_holds_it() {
    let dns = FakeDns::with_txt(&[
        (
            "example.com",
            "v=spf1 include:one.example.net include:two.example.net -all",
        ),
        (
            "one.example.net",
            "v=spf1 a:a1.example.net a:a2.example.net a:a3.example.net a:a4.example.net -all",
        ),
        (
            "two.example.net",
            "v=spf1 a:b1.example.net a:b2.example.net a:b3.example.net a:b4.example.net include:three.example.net -all",
        ),
    ]);
    for n in ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"] {
        dns.a(&format!("{n}.example.net"), "203.0.113.1".parse().unwrap());
    }
    let e = eval(&dns, "192.0.2.7", "example.com");
    assert_eq!(e.result, SpfResult::PermError);
    assert_eq!(
        e.problem,
        Some(SpfProblem::TooManyLookups {
            term: "include:three.example.net".to_owned(),
            domain: "two.example.net".to_owned(),
        })
    );
    assert_eq!(e.trace.dns_lookup_count(), MAX_DNS_LOOKUPS);
    // The term over the limit is never queried.
    assert!(!terms(&e.trace).contains(&"include:three.example.net".to_owned()));
}

#[test]
fn the_third_void_lookup_fails_and_is_named() {
    let dns = FakeDns::with_txt(&[
        (
            "two.example.com",
            "v=spf1 a:nx1.example.com mx:nx2.example.com ?all",
        ),
        (
            "three.example.com",
            "v=spf1 a:nx1.example.com mx:nx2.example.com exists:nx3.example.com ?all",
        ),
    ]);
    let two = eval(&dns, "192.0.2.7", "two.example.com");
    assert_eq!(
        (two.result, two.trace.void_lookup_count()),
        (SpfResult::Neutral, 2)
    );
    let three = eval(&dns, "192.0.2.7", "three.example.com");
    assert_eq!(three.result, SpfResult::PermError);
    assert_eq!(
        three.problem,
        Some(SpfProblem::VoidLookupLimit {
            term: "exists:nx3.example.com".to_owned(),
            domain: "three.example.com".to_owned(),
        })
    );
}

#[test]
fn include_and_redirect_loops_stop_at_the_limit() {
    let dns = FakeDns::with_txt(&[
        ("loop.example.com", "v=spf1 include:loop.example.com -all"),
        ("r1.example.com", "v=spf1 redirect=r2.example.com"),
        ("r2.example.com", "v=spf1 redirect=r1.example.com"),
    ]);
    for domain in ["loop.example.com", "r1.example.com"] {
        let e = eval(&dns, "192.0.2.7", domain);
        assert_eq!(e.result, SpfResult::PermError, "{domain}");
        assert!(matches!(e.problem, Some(SpfProblem::TooManyLookups { .. })));
        assert_eq!(e.trace.dns_lookup_count(), MAX_DNS_LOOKUPS);
    }
}

#[test]
fn redirect_is_traced_and_counted() {
    let dns = FakeDns::new();
    dns.txt(
        "example.com",
        "v=spf1 ip4:198.51.100.1 redirect=_spf.example.net",
    )
    .txt("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 -all");
    let e = eval(&dns, "192.0.2.7", "example.com");
    assert_eq!(e.result, SpfResult::Pass);
    assert_eq!(
        e.trace.redirects,
        vec![RedirectStep {
            domain: "example.com".to_owned(),
            target: "_spf.example.net".to_owned(),
        }]
    );
    assert_eq!(terms(&e.trace), vec!["redirect=_spf.example.net"]);
    assert_eq!(
        e.trace.final_match().map(|m| m.domain.as_str()),
        Some("_spf.example.net")
    );
}

#[test]
fn problems_name_what_is_wrong() {
    let dns = FakeDns::new();
    dns.txt("two.example.com", "v=spf1 -all")
        .txt("two.example.com", "v=spf1 +all")
        .txt(
            "bad.example.com",
            "v=spf1 include:ok.example.net ip4:300.1.1.1 -all",
        )
        .txt(
            "incl.example.com",
            "v=spf1 include:nothing.example.net -all",
        )
        .txt("temp.example.com", "v=spf1 include:down.example.net -all")
        .fail("down.example.net", QueryType::Txt);
    let check = |domain: &str, result: SpfResult, problem: SpfProblem| {
        let e = eval(&dns, "192.0.2.7", domain);
        assert_eq!((e.result, e.problem), (result, Some(problem)), "{domain}");
    };
    check(
        "two.example.com",
        SpfResult::PermError,
        SpfProblem::MultipleRecords {
            domain: "two.example.com".to_owned(),
            count: 2,
        },
    );
    let e = eval(&dns, "192.0.2.7", "bad.example.com");
    assert!(
        matches!(&e.problem, Some(SpfProblem::Syntax { domain, detail }) if domain == "bad.example.com" && detail.contains("300.1.1.1")),
        "{:?}",
        e.problem
    );
    // Syntax errors are found before any lookup (RFC 7208 §4.6).
    assert_eq!(dns.query_count(), 2);
    check(
        "incl.example.com",
        SpfResult::PermError,
        SpfProblem::IncludeWithoutRecord {
            term: "include:nothing.example.net".to_owned(),
            domain: "incl.example.com".to_owned(),
            target: "nothing.example.net".to_owned(),
        },
    );
    check(
        "temp.example.com",
        SpfResult::TempError,
        SpfProblem::DnsTempFail {
            name: "down.example.net".to_owned(),
            detail: "injected failure".to_owned(),
        },
    );
    assert_eq!(
        SpfProblem::VoidLookupLimit {
            term: "a:x.example".to_owned(),
            domain: "example.com".to_owned()
        }
        .to_string(),
        "`a:x.example` in the SPF record at example.com is the 3rd lookup that found nothing; at most 2 are allowed"
    );
}

#[test]
fn no_record_and_uncheckable_domains_give_none() {
    let dns = FakeDns::new();
    dns.txt("example.com", "google-site-verification=abc");
    for domain in ["example.com", "nx.example.com", "localhost", "[192.0.2.1]"] {
        let e = eval(&dns, "192.0.2.7", domain);
        assert_eq!((e.result, e.problem), (SpfResult::None, None), "{domain}");
    }
}

#[test]
fn explanations_are_expanded_and_only_given_on_fail() {
    let dns = FakeDns::new();
    dns.txt(
        "example.com",
        "v=spf1 ip4:198.51.100.1 ?ip4:198.51.100.2 -all exp=why.%{d}",
    )
    .txt(
        "why.example.com",
        "%{i} may not send for %{d} (%{l}, %{c}, %{r})",
    );
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let query = SpfQuery {
        receiver: Some("mx.example.org"),
        ..SpfQuery::new(ip, "example.com", "jo@example.com")
    };
    let e = block_on(check_host(&dns, &query));
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(
        e.explanation.as_deref(),
        Some("192.0.2.7 may not send for example.com (jo, 192.0.2.7, mx.example.org)")
    );
    // No explanation lookup for other results.
    let before = dns.query_count();
    let neutral = eval(&dns, "198.51.100.2", "example.com");
    assert_eq!(
        (neutral.result, neutral.explanation),
        (SpfResult::Neutral, None)
    );
    assert_eq!(dns.query_count(), before + 1);
}

#[test]
fn ipv4_mapped_clients_are_ipv4() {
    let dns = FakeDns::new();
    dns.txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    assert_result(&dns, "::ffff:192.0.2.7", "example.com", SpfResult::Pass);
    assert_result(&dns, "2001:db8::1", "example.com", SpfResult::Fail);
}

#[test]
fn the_top_answer_names_its_server() {
    let dns = FakeDns::new();
    dns.txt("example.com", "v=spf1 -all")
        .answered_by("ns1.example.com");
    let e = eval(&dns, "192.0.2.7", "example.com");
    assert_eq!(e.trace.answered_by.as_deref(), Some("ns1.example.com"));
}

#[test]
fn ptr_and_p_macro_use_validated_names_only() {
    let dns = FakeDns::new();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    dns.txt("example.com", "v=spf1 ptr -all")
        .txt("p.example.com", "v=spf1 exists:%{p}.allow.example.com -all")
        .ptr(ip, "fake.example.com")
        .ptr(ip, "mail.example.com")
        .a("fake.example.com", "203.0.113.9".parse().unwrap())
        .a("mail.example.com", "192.0.2.7".parse().unwrap())
        .a(
            "mail.example.com.allow.example.com",
            "127.0.0.2".parse().unwrap(),
        );
    assert_result(&dns, "192.0.2.7", "example.com", SpfResult::Pass);
    assert_result(&dns, "192.0.2.7", "p.example.com", SpfResult::Pass);
    // Another address with the same PTR names does not validate.
    dns.ptr("192.0.2.8".parse().unwrap(), "mail.example.com");
    assert_result(&dns, "192.0.2.8", "example.com", SpfResult::Fail);
}

/// A DNS that makes every query wait for one turn of the executor and records how many
/// queries were waiting at once.
#[derive(Debug)]
struct Concurrency<'a> {
    dns: &'a FakeDns,
    waiting: AtomicUsize,
    most: AtomicUsize,
}

impl<'a> Concurrency<'a> {
    fn new(dns: &'a FakeDns) -> Self {
        Concurrency {
            dns,
            waiting: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        }
    }

    async fn turn(&self) {
        let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let mut yielded = false;
        futures::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl DnsLookup for Concurrency<'_> {
    async fn txt(&self, name: &str) -> DnsAnswer<TxtRecordData> {
        self.turn().await;
        DnsLookup::txt(self.dns, name).await
    }
    async fn a(&self, name: &str) -> DnsAnswer<std::net::Ipv4Addr> {
        self.turn().await;
        DnsLookup::a(self.dns, name).await
    }
    async fn aaaa(&self, name: &str) -> DnsAnswer<std::net::Ipv6Addr> {
        self.turn().await;
        DnsLookup::aaaa(self.dns, name).await
    }
    async fn mx(&self, name: &str) -> DnsAnswer<MxRecord> {
        self.turn().await;
        DnsLookup::mx(self.dns, name).await
    }
    async fn ptr(&self, ip: IpAddr) -> DnsAnswer<String> {
        self.turn().await;
        DnsLookup::ptr(self.dns, ip).await
    }
    async fn cname(&self, name: &str) -> DnsAnswer<String> {
        self.turn().await;
        DnsLookup::cname(self.dns, name).await
    }
}

#[test]
fn the_addresses_of_mx_and_ptr_names_are_looked_up_together() {
    let dns = FakeDns::new();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    dns.txt("example.com", "v=spf1 mx ptr -all");
    for n in 0..5 {
        let host = format!("mx{n}.example.com");
        dns.mx("example.com", n, &host)
            .a(&host, "203.0.113.1".parse().unwrap())
            .ptr(ip, &host);
    }
    let concurrent = Concurrency::new(&dns);
    let e = eval(&concurrent, "192.0.2.7", "example.com");
    assert_eq!(e.result, SpfResult::Fail);
    assert_eq!(concurrent.most.load(Ordering::SeqCst), 5);
    // TXT, MX, five A, PTR, five A.
    assert_eq!(dns.query_count(), 13);
}

#[test]
fn a_dns_error_before_a_match_among_mx_hosts_is_a_temperror() {
    let dns = FakeDns::new();
    dns.txt("example.com", "v=spf1 mx -all")
        .mx("example.com", 10, "down.example.com")
        .mx("example.com", 20, "up.example.com")
        .fail("down.example.com", QueryType::A)
        .a("up.example.com", "192.0.2.7".parse().unwrap());
    let e = eval(&dns, "192.0.2.7", "example.com");
    assert_eq!(e.result, SpfResult::TempError);
    dns.remove("down.example.com")
        .mx("example.com", 5, "first.example.com")
        .a("first.example.com", "192.0.2.7".parse().unwrap());
    assert_result(&dns, "192.0.2.7", "example.com", SpfResult::Pass);
}

/// A random zone: six domains that point at each other in every way SPF allows (loops
/// included), with random addresses, MX and PTR records, and DNS failures.
#[derive(Debug, Clone)]
struct Zone {
    records: Vec<Vec<String>>,
    a: Vec<Vec<u8>>,
    mx: Vec<Vec<usize>>,
    ptr: Vec<usize>,
    failing: Vec<(usize, u8)>,
}

const DOMAINS: usize = 6;

fn domain(n: usize) -> String {
    format!("d{n}.zone.test")
}

fn random_term() -> impl Strategy<Value = String> {
    let d = 0..DOMAINS + 2;
    let q = prop::sample::select(vec!["", "+", "-", "~", "?"]);
    let mech = prop_oneof![
        d.clone().prop_map(|n| format!("include:{}", domain(n))),
        d.clone().prop_map(|n| format!("a:{}", domain(n))),
        Just("a".to_owned()),
        (d.clone(), 0u8..=32).prop_map(|(n, p)| format!("mx:{}/{p}", domain(n))),
        Just("mx".to_owned()),
        Just("ptr".to_owned()),
        d.clone().prop_map(|n| format!("ptr:{}", domain(n))),
        d.clone()
            .prop_map(|n| format!("exists:%{{ir}}.{}", domain(n))),
        d.clone().prop_map(|n| format!("exists:{}", domain(n))),
        (0u8..=255, 0u8..=32).prop_map(|(o, p)| format!("ip4:192.0.2.{o}/{p}")),
        Just("ip6:2001:db8::/32".to_owned()),
        Just("all".to_owned()),
    ];
    let modifier = prop_oneof![
        d.clone().prop_map(|n| format!("redirect={}", domain(n))),
        d.prop_map(|n| format!("exp=why.{}", domain(n))),
        Just("foo=%{l}".to_owned()),
    ];
    prop_oneof![5 => (q, mech).prop_map(|(q, m)| format!("{q}{m}")), 1 => modifier]
}

fn zone() -> impl Strategy<Value = Zone> {
    let record = prop::collection::vec(random_term(), 0..7)
        .prop_map(|terms| format!("v=spf1 {}", terms.join(" ")));
    (
        prop::collection::vec(prop::collection::vec(record, 0..=2), DOMAINS),
        prop::collection::vec(prop::collection::vec(0u8..=255, 0..3), DOMAINS),
        prop::collection::vec(prop::collection::vec(0..DOMAINS + 2, 0..13), DOMAINS),
        prop::collection::vec(0..DOMAINS + 2, 0..13),
        prop::collection::vec((0..DOMAINS, 0u8..5), 0..3),
    )
        .prop_map(|(records, a, mx, ptr, failing)| Zone {
            records,
            a,
            mx,
            ptr,
            failing,
        })
}

impl Zone {
    fn load(&self, client: IpAddr) -> FakeDns {
        let dns = FakeDns::new();
        for n in 0..DOMAINS {
            let name = domain(n);
            for text in &self.records[n] {
                dns.txt(&name, text);
                dns.txt(&format!("why.{name}"), "%{i} is not %{p}");
            }
            for octet in &self.a[n] {
                dns.a(&name, std::net::Ipv4Addr::new(192, 0, 2, *octet));
            }
            for (pref, target) in self.mx[n].iter().enumerate() {
                dns.mx(&name, pref as u16, &domain(*target));
            }
        }
        for target in &self.ptr {
            dns.ptr(client, &domain(*target));
        }
        for (n, kind) in &self.failing {
            let kind = [
                QueryType::Txt,
                QueryType::A,
                QueryType::Aaaa,
                QueryType::Mx,
                QueryType::Ptr,
            ][usize::from(*kind)];
            dns.fail(&domain(*n), kind);
        }
        dns
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the zone, evaluation ends, within the limits, and every error names its
    /// problem.
    #[test]
    fn random_zones_stay_within_the_limits(zone in zone(), octet in 0u8..=255, v6 in any::<bool>()) {
        let client: IpAddr = if v6 {
            format!("2001:db8::{octet:x}").parse().unwrap()
        } else {
            IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, octet))
        };
        let dns = zone.load(client);
        let e = block_on(check_host(&dns, &SpfQuery::new(client, &domain(0), "x@d0.zone.test")));
        let lookups = e.trace.dns_lookup_count();
        prop_assert!(lookups <= MAX_DNS_LOOKUPS);
        prop_assert!(e.trace.void_lookup_count() <= MAX_VOID_LOOKUPS + 1);
        // The top TXT query; per DNS-querying term at most one query plus ten address
        // lookups (mx, ptr); on fail an explanation: one TXT query plus `%{p}`'s PTR
        // query and ten address lookups.
        let most = 1 + lookups * (1 + MAX_NAMES_PER_TERM) + 1 + 1 + MAX_NAMES_PER_TERM;
        prop_assert!(dns.query_count() <= most, "{} queries for {} terms", dns.query_count(), lookups);
        let errored = matches!(e.result, SpfResult::TempError | SpfResult::PermError);
        prop_assert_eq!(errored, e.problem.is_some());
        if let Some(problem) = &e.problem {
            prop_assert_eq!(problem.result(), e.result);
        }
        prop_assert!(e.explanation.is_none() || e.result == SpfResult::Fail);
    }

    /// Arbitrary text in the record and the query never makes the evaluation panic.
    #[test]
    fn arbitrary_records_and_queries_never_panic(
        record in "v=spf1 [ -~\\x{80}-\\x{D7FF}\\x{E000}-\\x{10FFFF}]{0,60}",
        domain in "\\PC{0,30}",
        sender in "\\PC{0,30}",
        helo in "\\PC{0,30}",
    ) {
        let dns = FakeDns::new();
        dns.txt("example.com", &record).txt(&domain, &record);
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        for domain in ["example.com", domain.as_str()] {
            let query = SpfQuery { helo: Some(&helo), ..SpfQuery::new(ip, domain, &sender) };
            let e = block_on(check_host(&dns, &query));
            prop_assert!(e.trace.dns_lookup_count() <= MAX_DNS_LOOKUPS);
        }
    }

    /// Every valid record the builder can write evaluates without panicking, within the
    /// limits.
    #[test]
    fn generated_records_evaluate_within_the_limits(r in crate::records::spf::tests::record()) {
        let dns = FakeDns::new();
        dns.txt("example.com", &r.to_string());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let e = block_on(check_host(&dns, &SpfQuery::new(ip, "example.com", "a.b-c@example.com")));
        prop_assert!(e.trace.dns_lookup_count() <= MAX_DNS_LOOKUPS);
        prop_assert_ne!(e.result, SpfResult::None);
    }
}
