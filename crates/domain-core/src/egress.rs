//! Safe egress: which addresses the service must not send traffic to because a stranger
//! named them. A pure classification, no I/O; the adapters that send apply it.
//!
//! Two adapters use it: the DNS lookup refuses addresses it learns from DNS (nameserver
//! glue, the addresses of nameserver hosts), so that a zone cannot point our queries at
//! the service's own network — addresses the operator configured are never classified;
//! and the webhook sender refuses endpoint addresses, both when a tenant registers a URL
//! and after resolving its host at send time (against DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-purpose range `ip` lies in, named for a log line, when traffic a stranger
/// directed must not be sent there; `None` for an address on the public internet.
///
/// Refused are the ranges that reach the service's own host or network, or nothing at
/// all: loopback, private (RFC 1918) and unique-local (`fc00::/7`), link-local, shared
/// CGNAT space (`100.64.0.0/10`), multicast, broadcast and the rest of `240.0.0.0/4`,
/// unspecified and "this network". The documentation (RFC 5737, RFC 3849, RFC 9637) and
/// benchmarking (RFC 2544, RFC 5180) ranges are refused too: they are never routed on
/// the internet, so an address there either reaches nothing or reaches whatever a
/// private network put there. IPv6 forms that carry an IPv4 address (IPv4-mapped,
/// NAT64's well-known prefix, 6to4) are judged by that IPv4 address.
pub fn internal_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

/// IPv4 special-purpose ranges (RFC 6890 and its updates) that must not be queried:
/// network, prefix length, name.
const V4_RANGES: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (0.0.0.0/8)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (10.0.0.0/8)"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared CGNAT (100.64.0.0/10)",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (127.0.0.0/8)"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local (169.254.0.0/16)",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (172.16.0.0/12)"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (192.0.2.0/24)",
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        "private (192.168.0.0/16)",
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking (198.18.0.0/15)",
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (198.51.100.0/24)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (203.0.113.0/24)",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (224.0.0.0/4)"),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved and broadcast (240.0.0.0/4)",
    ),
];

/// IPv6 special-purpose ranges (RFC 6890 and its updates) that must not be queried and
/// carry no IPv4 address to judge instead.
const V6_RANGES: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified (::/128)"),
    (Ipv6Addr::LOCALHOST, 128, "loopback (::1/128)"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (100::/64)",
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        "benchmarking (2001:2::/48)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation (2001:db8::/32)",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (3fff::/20)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (fc00::/7)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local (fe80::/10)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local, deprecated (fec0::/10)",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast (ff00::/8)",
    ),
];

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(net, len, _)| {
            prefix_matches(u128::from(bits), u128::from(u32::from(*net)), *len, 32)
        })
        .map(|(_, _, name)| *name)
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    if let Some(name) = V6_RANGES
        .iter()
        .find(|(net, len, _)| prefix_matches(bits, u128::from(*net), *len, 128))
        .map(|(_, _, name)| *name)
    {
        return Some(name);
    }
    let [a, b, c, d, e, f, g, h] = ip.segments();
    let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match (a, b, c, d, e, f) {
        // IPv4-mapped (`::ffff:a.b.c.d`): the socket reaches the IPv4 address.
        (0, 0, 0, 0, 0, 0xffff) => internal_v4(embedded(g, h)),
        // IPv4-compatible (`::a.b.c.d`), deprecated by RFC 4291: nothing public uses it.
        (0, 0, 0, 0, 0, 0) => Some("IPv4-compatible, deprecated (::/96)"),
        // NAT64's well-known prefix: the translator forwards to the IPv4 address.
        (0x64, 0xff9b, 0, 0, 0, 0) => internal_v4(embedded(g, h)),
        // 6to4: the relay forwards to the IPv4 address in bits 16–47.
        (0x2002, ..) => internal_v4(embedded(b, c)),
        _ => None,
    }
}

/// Whether the first `len` of `width` bits of `addr` and `net` agree.
fn prefix_matches(addr: u128, net: u128, len: u8, width: u32) -> bool {
    let shift = width - u32::from(len);
    shift >= width || (addr >> shift) == (net >> shift)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(ip: &str, expected: Option<&str>) {
        let parsed: IpAddr = ip.parse().expect("test address");
        let got = internal_range(parsed);
        match expected {
            None => assert_eq!(got, None, "{ip}"),
            Some(word) => assert!(
                got.is_some_and(|name| name.contains(word)),
                "{ip}: expected {word}, got {got:?}"
            ),
        }
    }

    #[test]
    fn ranges_and_their_edges() {
        for (ip, expected) in [
            // Public resolvers and root servers.
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("9.9.9.9", None),
            ("193.0.14.129", None),
            ("2606:4700:4700::1111", None),
            ("2001:500:2f::f", None),
            // IPv4, each range and the addresses just outside it.
            ("0.0.0.0", Some("this network")),
            ("0.255.255.255", Some("this network")),
            ("1.0.0.0", None),
            ("9.255.255.255", None),
            ("10.0.0.1", Some("private")),
            ("10.255.255.255", Some("private")),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some("CGNAT")),
            ("100.127.255.255", Some("CGNAT")),
            ("100.128.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.1", Some("loopback")),
            ("127.0.0.2", Some("loopback")),
            ("127.255.255.255", Some("loopback")),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.169.254", Some("link-local")),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.0", None),
            ("192.0.0.8", Some("IETF")),
            ("192.0.1.0", None),
            ("192.0.2.53", Some("documentation")),
            ("192.0.3.0", None),
            ("192.167.255.255", None),
            ("192.168.1.1", Some("private")),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.1", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("198.20.0.0", None),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("223.255.255.255", None),
            ("224.0.0.251", Some("multicast")),
            ("239.255.255.255", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            // IPv6.
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::2", Some("IPv4-compatible")),
            ("::7f00:1", Some("IPv4-compatible")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.1.2.3", Some("private")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
            ("64:ff9b:1::1", Some("NAT64")),
            ("100::1", Some("discard")),
            ("2001:2::1", Some("benchmarking")),
            ("2001:db8::53", Some("documentation")),
            ("2001:db9::", None),
            ("2002:c0a8:0101::1", Some("private")),
            ("2002:0808:0808::1", None),
            ("3fff:0fff::1", Some("documentation")),
            ("3fff:1000::1", None),
            ("fbff:ffff::1", None),
            ("fc00::1", Some("unique local")),
            ("fdff:ffff::1", Some("unique local")),
            ("fe00::1", None),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("ff02::1", Some("multicast")),
        ] {
            check(ip, expected);
        }
    }

    proptest! {
        /// Whatever std calls loopback, private, link-local, multicast, unspecified,
        /// broadcast or documentation is refused.
        #[test]
        fn std_special_ipv4_addresses_are_internal(bits in any::<u32>()) {
            let ip = Ipv4Addr::from(bits);
            let special = ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_multicast()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation();
            if special {
                prop_assert!(internal_range(IpAddr::V4(ip)).is_some(), "{}", ip);
            }
        }

        #[test]
        fn std_special_ipv6_addresses_are_internal(bits in any::<u128>()) {
            let ip = Ipv6Addr::from(bits);
            let special = ip.is_loopback()
                || ip.is_multicast()
                || ip.is_unspecified()
                || ip.is_unique_local()
                || ip.is_unicast_link_local();
            if special {
                prop_assert!(internal_range(IpAddr::V6(ip)).is_some(), "{}", ip);
            }
        }

        /// An IPv4 address and its IPv4-mapped IPv6 form are judged alike, so a glue
        /// AAAA record cannot smuggle an internal IPv4 address past the check.
        #[test]
        fn mapped_addresses_are_judged_by_their_ipv4_address(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(
                internal_range(IpAddr::V4(v4)),
                internal_range(IpAddr::V6(v4.to_ipv6_mapped()))
            );
        }

        /// Every generated address in a refused range is refused, whatever its host
        /// bits: the prefix arithmetic has no off-by-one at either end.
        #[test]
        fn every_address_inside_a_listed_range_is_internal(
            index in 0..V4_RANGES.len(),
            host in any::<u32>(),
        ) {
            let (net, len, name) = V4_RANGES[index];
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            let ip = Ipv4Addr::from((u32::from(net) & mask) | (host & !mask));
            prop_assert_eq!(internal_range(IpAddr::V4(ip)), Some(name));
        }
    }
}
