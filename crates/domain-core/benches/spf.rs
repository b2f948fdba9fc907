//! SPF benchmark: `check_host` evaluations per second over every case of the RFC 7208
//! suite against in-memory zones, and the cost of one `check_spf` verdict for a typical
//! record with two sending addresses, beside the whole verification of one domain that
//! uses it. Prints a markdown table.
//!
//! Run with `cargo bench -p domain-core --bench spf`. The in-memory DNS answers at once,
//! so this measures the evaluator itself (parsing, macro expansion, bookkeeping), not
//! the network.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use domain_core::records::dkim::DkimKeyRecord;
use domain_core::records::spf::check_host;
use domain_core::testing::FakeDns;
use domain_core::verify::{DkimKeys, DomainExpectation, SpfExpectation, check_domain, check_spf};
use domain_core::{DmarcPolicy, DomainName, Selector};
use futures::executor::block_on;

#[path = "../tests/it/rfc7208.rs"]
mod rfc7208;

/// How long each measurement runs.
const RUN: Duration = Duration::from_secs(3);

fn main() {
    let sections = rfc7208::load();
    let cases: Vec<_> = sections
        .iter()
        .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
        .collect();
    // What is timed must be right: every case gives an accepted result.
    for (section, case) in &cases {
        let evaluation = block_on(check_host(&section.zone, &case.query()));
        if let Err(why) = case.judge(&evaluation) {
            panic!("{} / {}: {why}", section.description, case.name);
        }
    }

    let (rounds, elapsed) = repeat(|| {
        for (section, case) in &cases {
            black_box(block_on(check_host(&section.zone, &case.query())));
        }
    });
    let evaluations = rounds * cases.len() as u64;
    let per_second = evaluations as f64 / elapsed.as_secs_f64();

    let dns = typical_zone();
    let domain = DomainName::parse("example.com").expect("a valid domain");
    let include_host = DomainName::parse("scaisend.scailabs.ai").expect("a valid domain");
    let sending_ips: [IpAddr; 2] = [
        "198.51.100.10".parse().expect("an address"),
        "2001:db8:5::10".parse().expect("an address"),
    ];
    let exp = SpfExpectation {
        domain: &domain,
        include_host: &include_host,
        sending_ips: &sending_ips,
    };
    let verdict = block_on(check_spf(&dns, exp));
    assert!(
        verdict.passed(),
        "the typical record verifies: {}",
        verdict.message
    );
    let (verdicts, spent) = repeat(|| {
        black_box(block_on(check_spf(&dns, exp)));
    });
    let verdict_us = spent.as_secs_f64() * 1e6 / verdicts as f64;

    // The whole verification that uses it: DKIM (2048-bit key), SPF and DMARC of one
    // domain, with the addresses read from the include host's record.
    let key = domain_core::testing::key(0).public.clone();
    dns.txt(
        "scaisend._domainkey.example.com",
        &DkimKeyRecord::for_key(&key).to_string(),
    );
    dns.txt("_dmarc.example.com", "v=DMARC1; p=quarantine");
    let selector = Selector::parse("scaisend").expect("a valid selector");
    let full = DomainExpectation {
        domain: &domain,
        dkim: DkimKeys::Txt(vec![(&selector, Some(&key))]),
        dkim_pending: None,
        include_host: &include_host,
        sending_ips: &[],
        dmarc_policy: Some(DmarcPolicy::Quarantine),
        dmarc_rua: None,
        return_path: None,
    };
    let report = block_on(check_domain(&dns, &full));
    assert!(report.all_pass(), "the typical domain verifies: {report:?}");
    let (domains, spent) = repeat(|| {
        black_box(block_on(check_domain(&dns, &full)));
    });
    let domain_us = spent.as_secs_f64() * 1e6 / domains as f64;

    println!("| measurement | result |");
    println!("|---|---|");
    println!(
        "| `check_host`, every case of the RFC 7208 suite ({} cases), in-memory DNS | {per_second:.0} evaluations/s ({:.1} µs each) |",
        cases.len(),
        1e6 / per_second
    );
    println!(
        "| `check_spf`, typical record (Google + ours, 4 lookups per address), 2 sending addresses | {verdict_us:.1} µs per verdict ({:.0} verdicts/s) |",
        1e6 / verdict_us
    );
    println!(
        "| `check_domain`, the verification that uses it (DKIM + SPF + DMARC), in-memory DNS | {domain_us:.1} µs per domain ({:.0} domains/s) |",
        1e6 / domain_us
    );
}

/// Runs `f` over and over for [`RUN`] after one warm-up call; returns the number of
/// timed calls and the time they took.
fn repeat(mut f: impl FnMut()) -> (u64, Duration) {
    f();
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < RUN {
        f();
        calls += 1;
    }
    (calls, start.elapsed())
}

/// A domain that sends through Google Workspace and us.
fn typical_zone() -> FakeDns {
    let dns = FakeDns::new();
    dns.txt(
        "example.com",
        "v=spf1 include:_spf.google.com include:scaisend.scailabs.ai ~all",
    )
    .txt(
        "_spf.google.com",
        "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com ~all",
    )
    .txt(
        "_netblocks.google.com",
        "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:209.85.128.0/17 ~all",
    )
    .txt(
        "_netblocks2.google.com",
        "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2a00:1450:4000::/36 ~all",
    )
    .txt(
        "scaisend.scailabs.ai",
        "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:5::/48 -all",
    );
    dns
}
