//! What one client may cost the zone server, with defaults an operator rarely changes.

use std::time::Duration;

/// The zone server's limits. [`Default`] gives the values docs/operations.md lists, each
/// justified at its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneLimits {
    /// UDP answers per second one client subnet (IPv4 /24, IPv6 /56) gets on average;
    /// 0 turns the rate limit off. Default 50.
    ///
    /// Resolvers cache each answer for the zone's TTL (300 s by default), and a domain has
    /// two names here, so 50 a second from one subnet is 15,000 uncached names per TTL:
    /// thousands of tenants' mail verified by one provider's resolvers in five minutes.
    /// Above it, genuine resolvers still get answers over TCP (see `slip`), and someone
    /// spoofing a victim's addresses can reflect at most 50 × 1232 octets, about 60 KB a
    /// second per victim subnet — no use as an amplifier.
    pub rate: u32,
    /// UDP answers one subnet may get at once after a quiet spell; 0 turns the rate limit
    /// off. Default 100: two seconds' worth, for a resolver farm whose caches expire at
    /// once.
    pub burst: u32,
    /// Of the answers the rate limit withholds, every `slip`-th is sent as a truncated
    /// reply with no records (TC set), so a genuine resolver retries over TCP, where
    /// addresses cannot be spoofed and the rate limit does not apply; 0 never sends one,
    /// 1 sends one for every withheld answer. Default 2, BIND's and NSD's: half the
    /// withheld queries of a genuine client still reach TCP, while a truncated reply is
    /// no larger than the query that caused it, so slipping amplifies nothing.
    pub slip: u32,
    /// Client subnets the rate limit tracks at once. Default 65,536: a few megabytes. A
    /// subnet's bucket is forgotten once it has refilled; when every slot is busy, new
    /// subnets share one overflow bucket rather than evicting a subnet under attack.
    pub tracked_subnets: usize,
    /// TCP connections open at once; more are closed as soon as they are accepted.
    /// Default 256: RFC 7766 clients reuse connections, and a resolver needs TCP only
    /// for the answers that did not fit over UDP.
    pub tcp_connections: usize,
    /// How long a TCP connection may take to send its next complete query (the first
    /// one included) before it is closed. Default 10 s: long enough for a resolver to
    /// pipeline a few queries, short enough that idle or trickling connections cannot
    /// hold all of `tcp_connections` for long (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
    /// The UDP payload size announced in our OPT record and the most we send over UDP,
    /// whatever larger size a client offers. Default 1232, the DNS Flag Day 2020 value:
    /// it fits the IPv6 minimum MTU, so answers are never fragmented.
    pub udp_payload: u16,
}

impl Default for ZoneLimits {
    fn default() -> Self {
        ZoneLimits {
            rate: 50,
            burst: 100,
            slip: 2,
            tracked_subnets: 65_536,
            tcp_connections: 256,
            tcp_idle_timeout: Duration::from_secs(10),
            udp_payload: 1232,
        }
    }
}

/// A limit that cannot work, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A size or count that must be at least 1.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// An EDNS payload size outside what DNS allows.
    #[error("the UDP payload must be from 512 to 4096 octets, not {0}")]
    UdpPayload(u16),
}

impl ZoneLimits {
    /// Whether the per-subnet rate limit is on.
    pub fn rate_limited(&self) -> bool {
        self.rate > 0 && self.burst > 0
    }

    /// Checks that the server can run with these limits.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if self.rate_limited() && self.tracked_subnets == 0 {
            return Err(LimitsError::Zero("the number of tracked subnets"));
        }
        if self.tcp_connections == 0 {
            return Err(LimitsError::Zero("the number of TCP connections"));
        }
        if self.tcp_idle_timeout.is_zero() {
            return Err(LimitsError::Zero("the TCP idle timeout"));
        }
        // Below 512 is not a valid EDNS size (RFC 6891 §6.2.3); above 4096 answers would
        // be fragmented everywhere.
        if !(512..=4096).contains(&self.udp_payload) {
            return Err(LimitsError::UdpPayload(self.udp_payload));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_that_cannot_work_are_named() {
        let ok = ZoneLimits::default();
        assert_eq!(ok.validate(), Ok(()));
        assert!(ok.rate_limited());
        for (limits, error) in [
            (
                ZoneLimits {
                    tcp_connections: 0,
                    ..ok
                },
                "the number of TCP connections must be at least 1",
            ),
            (
                ZoneLimits {
                    tcp_idle_timeout: Duration::ZERO,
                    ..ok
                },
                "the TCP idle timeout must be at least 1",
            ),
            (
                ZoneLimits {
                    tracked_subnets: 0,
                    ..ok
                },
                "the number of tracked subnets must be at least 1",
            ),
            (
                ZoneLimits {
                    udp_payload: 511,
                    ..ok
                },
                "the UDP payload must be from 512 to 4096 octets, not 511",
            ),
            (
                ZoneLimits {
                    udp_payload: 4097,
                    ..ok
                },
                "the UDP payload must be from 512 to 4096 octets, not 4097",
            ),
        ] {
            assert_eq!(
                limits.validate().map_err(|e| e.to_string()),
                Err(error.to_owned())
            );
        }
        // With the rate limit off, no subnet is tracked.
        let off = ZoneLimits {
            rate: 0,
            tracked_subnets: 0,
            ..ok
        };
        assert!(!off.rate_limited());
        assert_eq!(off.validate(), Ok(()));
        assert!(
            !ZoneLimits { burst: 0, ..ok }.rate_limited(),
            "a burst of 0 turns the limit off too"
        );
    }
}
