//! `check_host` over records as big senders publish them (copied from public DNS, trimmed
//! where long), evaluated as a receiving relay would: through the public API alone.

use std::net::IpAddr;

use domain_core::records::spf::{SpfQuery, SpfResult, check_host};
use domain_core::testing::FakeDns;
use futures::executor::block_on;

const GOOGLE: &[(&str, &str)] = &[
    (
        "_spf.google.com",
        "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
    ),
    (
        "_netblocks.google.com",
        "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
    ),
    (
        "_netblocks2.google.com",
        "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
    ),
    (
        "_netblocks3.google.com",
        "v=spf1 ip4:172.217.0.0/19 ip4:172.217.32.0/20 ip4:172.217.128.0/19 ip4:172.217.160.0/20 ip4:172.217.192.0/19 ip4:172.253.56.0/21 ip4:172.253.112.0/20 ip4:108.177.96.0/19 ip4:35.191.0.0/16 ip4:130.211.0.0/22 ~all",
    ),
];

const MICROSOFT: &[(&str, &str)] = &[
    (
        "spf.protection.outlook.com",
        "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/17 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 include:spfd.protection.outlook.com -all",
    ),
    (
        "spfd.protection.outlook.com",
        "v=spf1 ip4:51.4.72.0/24 ip4:51.5.72.0/24 ip4:51.5.80.0/27 ip4:51.4.80.0/27 ip6:2a01:4180:4051:0800::/64 ip6:2a01:4180:4050:0800::/64 ip6:2a01:4180:4051:0400::/64 ip6:2a01:4180:4050:0400::/64 -all",
    ),
];

const AMAZON_SES: &[(&str, &str)] = &[(
    "amazonses.com",
    "v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 ip4:69.169.224.0/20 ip4:23.249.208.0/20 ip4:23.251.224.0/19 ip4:76.223.176.0/20 ip4:54.240.64.0/19 ip4:54.240.96.0/19 ip4:52.82.172.0/22 ip4:76.223.128.0/19 -all",
)];

const MAILCHIMP: &[(&str, &str)] = &[(
    "servers.mcsv.net",
    "v=spf1 ip4:205.201.128.0/20 ip4:198.2.128.0/18 ip4:148.105.8.0/21 -all",
)];

/// A DNS holding the providers' records, `records` (TXT) and `addresses` (A).
fn dns(records: &[(&str, &str)], addresses: &[(&str, &str)]) -> FakeDns {
    let dns = FakeDns::new();
    for (name, text) in [GOOGLE, MICROSOFT, AMAZON_SES, MAILCHIMP]
        .into_iter()
        .flatten()
        .chain(records)
    {
        dns.txt(name, text);
    }
    for (name, ip) in addresses {
        dns.a(name, ip.parse().unwrap());
    }
    dns
}

/// A DNS holding the providers' records and `record` as example.com's SPF record.
fn example_com(record: &str) -> FakeDns {
    dns(&[("example.com", record)], &[])
}

/// Checks `(client, sender, result, DNS-querying terms used)` rows against one zone.
#[track_caller]
fn check(dns: &FakeDns, rows: &[(&str, &str, SpfResult, usize)]) {
    for (ip, sender, result, lookups) in rows {
        let ip: IpAddr = ip.parse().unwrap();
        let domain = sender.rsplit_once('@').map_or(*sender, |(_, d)| d);
        let e = block_on(check_host(dns, &SpfQuery::new(ip, domain, sender)));
        assert_eq!(
            (e.result, e.trace.dns_lookup_count()),
            (*result, *lookups),
            "{ip} for {sender}: {:?}",
            e.problem
        );
    }
}

/// [`check`] with every row's sender `sender`: `(client, result, terms used)` rows.
#[track_caller]
fn check_from(dns: &FakeDns, sender: &str, rows: &[(&str, SpfResult, usize)]) {
    let rows: Vec<_> = rows
        .iter()
        .map(|&(ip, result, lookups)| (ip, sender, result, lookups))
        .collect();
    check(dns, &rows);
}

#[test]
fn google_workspace() {
    let dns = example_com("v=spf1 include:_spf.google.com ~all");
    check_from(
        &dns,
        "jo@example.com",
        &[
            ("209.85.220.41", SpfResult::Pass, 2),
            ("2a00:1450:4864:20::62f", SpfResult::Pass, 3),
            ("172.217.1.1", SpfResult::Pass, 4),
            ("192.0.2.1", SpfResult::SoftFail, 4),
        ],
    );
}

#[test]
fn microsoft_365() {
    let dns = example_com("v=spf1 include:spf.protection.outlook.com -all");
    check_from(
        &dns,
        "jo@example.com",
        &[
            ("40.107.22.5", SpfResult::Pass, 1),
            ("51.4.72.10", SpfResult::Pass, 2),
            ("2a01:111:f403:c000::5", SpfResult::Pass, 1),
            ("2a01:4180:4050:400::1", SpfResult::Pass, 2),
            ("198.51.100.7", SpfResult::Fail, 2),
        ],
    );
}

#[test]
fn amazon_ses_and_mailchimp() {
    let dns = dns(
        &[
            ("bounce.example.com", "v=spf1 include:amazonses.com ~all"),
            ("news.example.com", "v=spf1 include:servers.mcsv.net ?all"),
        ],
        &[],
    );
    let bounce = [
        ("54.240.8.1", SpfResult::Pass, 1),
        ("203.0.113.5", SpfResult::SoftFail, 1),
    ];
    check_from(&dns, "x@bounce.example.com", &bounce);
    let news = [
        ("205.201.131.1", SpfResult::Pass, 1),
        ("192.0.2.1", SpfResult::Neutral, 1),
    ];
    check_from(&dns, "x@news.example.com", &news);
}

#[test]
fn all_of_them_in_one_record_within_the_limit() {
    let dns = dns(
        &[(
            "example.com",
            "v=spf1 mx include:_spf.google.com include:spf.protection.outlook.com include:amazonses.com include:servers.mcsv.net -all",
        )],
        &[("mail.example.com", "192.0.2.25")],
    );
    dns.mx("example.com", 10, "mail.example.com");
    check_from(
        &dns,
        "jo@example.com",
        &[
            ("192.0.2.25", SpfResult::Pass, 1),
            ("148.105.9.1", SpfResult::Pass, 9),
            ("203.0.113.5", SpfResult::Fail, 9),
        ],
    );
}

#[test]
fn ip6_ranges_and_mapped_addresses() {
    let dns =
        example_com("v=spf1 ip6:2001:db8:1234::/48 ip6:2001:db8:abcd::1 ip4:192.0.2.0/24 -all");
    check_from(
        &dns,
        "jo@example.com",
        &[
            ("2001:db8:1234:ffff::9", SpfResult::Pass, 0),
            ("2001:db8:abcd::1", SpfResult::Pass, 0),
            ("2001:db8:abcd::2", SpfResult::Fail, 0),
            ("::ffff:192.0.2.9", SpfResult::Pass, 0),
            ("2001:db8:1235::1", SpfResult::Fail, 0),
        ],
    );
}

#[test]
fn exists_with_macros() {
    let dns = dns(
        &[
            // Salesforce's per-address list.
            (
                "example.com",
                "v=spf1 exists:%{i}._spf.mta.example.net -all",
            ),
            // A per-user policy keyed on the local part before `+`, the reversed address and
            // the address family.
            (
                "users.example.org",
                "v=spf1 exists:%{l1r+}.%{ir}.%{v}._spf.%{d} -all",
            ),
        ],
        &[
            ("192.0.2.44._spf.mta.example.net", "127.0.0.1"),
            (
                "alerts.7.2.0.192.in-addr._spf.users.example.org",
                "127.0.0.1",
            ),
        ],
    );
    let per_address = [
        ("192.0.2.44", SpfResult::Pass, 1),
        ("192.0.2.45", SpfResult::Fail, 1),
    ];
    check_from(&dns, "jo@example.com", &per_address);
    // One client, one lookup, for each sender of the per-user policy.
    for (sender, result) in [
        ("alerts+bounce@users.example.org", SpfResult::Pass),
        ("alerts@users.example.org", SpfResult::Pass),
        ("other+alerts@users.example.org", SpfResult::Fail),
    ] {
        check_from(&dns, sender, &[("192.0.2.7", result, 1)]);
    }
}
