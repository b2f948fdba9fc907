//! Response rate limiting over UDP, by client subnet (the idea of BIND's and NSD's RRL).
//!
//! UDP source addresses can be forged, so an open authoritative server can be made to
//! send its answers to a victim. Each subnet gets a token bucket of answers; past it the
//! answers are withheld, and every `slip`-th withheld one is replaced by a truncated reply
//! without records, which costs no more than the query and sends a genuine resolver to
//! TCP. Everything here takes the time as an argument, so the tests set the clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::limits::ZoneLimits;

/// Where a query came from, as far as the rate limit cares: an IPv4 /24 or an IPv6 /56,
/// the blocks one site typically holds (an IPv4 address mapped into IPv6 counts as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subnet {
    V4([u8; 3]),
    V6([u8; 7]),
}

impl Subnet {
    pub(crate) fn of(ip: IpAddr) -> Subnet {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Subnet::V4([a, b, c])
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Subnet::of(IpAddr::V4(v4)),
                None => {
                    let o = v6.octets();
                    Subnet::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6]])
                }
            },
        }
    }
}

/// What to do with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send it.
    Answer,
    /// Withhold it, and send a truncated reply without records instead.
    Slip,
    /// Send nothing.
    Drop,
}

/// How long after sweeping out refilled buckets the limiter tries again when its table
/// is full: sweeping reads every bucket, so it must not happen on every new subnet.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Token buckets by subnet, in bounded memory.
///
/// A bucket that has refilled completely is the same as no bucket, so such buckets are
/// swept out when the table is full. If it is still full, the new subnet shares one
/// overflow bucket with every other subnet that found no room, instead of evicting a
/// busy bucket: evicting would let a flood across many forged subnets reset the bucket of
/// the subnet under attack.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    slip: u32,
    capacity: usize,
    buckets: HashMap<Subnet, Bucket>,
    overflow: Bucket,
    swept: Option<Instant>,
}

impl RateLimiter {
    /// A limiter, or `None` when the limits turn it off.
    pub(crate) fn new(limits: &ZoneLimits, now: Instant) -> Option<RateLimiter> {
        limits.rate_limited().then(|| {
            let burst = f64::from(limits.burst);
            RateLimiter {
                rate: f64::from(limits.rate),
                burst,
                slip: limits.slip,
                capacity: limits.tracked_subnets.max(1),
                buckets: HashMap::new(),
                overflow: Bucket::full(burst, now),
                swept: None,
            }
        })
    }

    /// Decides about one answer to `subnet` at `now`.
    pub(crate) fn check(&mut self, subnet: Subnet, now: Instant) -> Decision {
        let (rate, burst, slip) = (self.rate, self.burst, self.slip);
        if let Some(bucket) = self.buckets.get_mut(&subnet) {
            return bucket.take(rate, burst, slip, now);
        }
        if self.buckets.len() >= self.capacity {
            self.sweep(now);
        }
        if self.buckets.len() < self.capacity {
            let mut bucket = Bucket::full(burst, now);
            let decision = bucket.take(rate, burst, slip, now);
            self.buckets.insert(subnet, bucket);
            decision
        } else {
            self.overflow.take(rate, burst, slip, now)
        }
    }

    /// Drops the buckets that have refilled, at most once per [`SWEEP_INTERVAL`].
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|swept| now.saturating_duration_since(swept) < SWEEP_INTERVAL)
        {
            return;
        }
        self.swept = Some(now);
        let (rate, burst) = (self.rate, self.burst);
        self.buckets
            .retain(|_, b| b.tokens_at(rate, burst, now) < burst);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Answers withheld so far, to pick every `slip`-th.
    withheld: u32,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            updated: now,
            withheld: 0,
        }
    }

    fn tokens_at(&self, rate: f64, burst: f64, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }

    fn take(&mut self, rate: f64, burst: f64, slip: u32, now: Instant) -> Decision {
        self.tokens = self.tokens_at(rate, burst, now);
        self.updated = self.updated.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Decision::Answer;
        }
        self.withheld = self.withheld.wrapping_add(1);
        if slip > 0 && self.withheld.is_multiple_of(slip) {
            Decision::Slip
        } else {
            Decision::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn limits(rate: u32, burst: u32, slip: u32, tracked_subnets: usize) -> ZoneLimits {
        ZoneLimits {
            rate,
            burst,
            slip,
            tracked_subnets,
            ..ZoneLimits::default()
        }
    }

    fn subnet(ip: &str) -> Subnet {
        Subnet::of(ip.parse().expect("an address"))
    }

    #[test]
    fn subnets_are_ipv4_slash_24_and_ipv6_slash_56() {
        for (a, b, same) in [
            ("192.0.2.1", "192.0.2.254", true),
            ("192.0.2.1", "192.0.3.1", false),
            ("127.0.0.2", "127.0.1.2", false),
            // An IPv4 client reaching a dual-stack socket arrives as a mapped address.
            ("::ffff:192.0.2.7", "192.0.2.9", true),
            ("2001:db8:1:100::1", "2001:db8:1:1ff:ffff::2", true),
            ("2001:db8:1:100::1", "2001:db8:1:200::1", false),
            ("2001:db8::1", "2001:db9::1", false),
        ] {
            assert_eq!(subnet(a) == subnet(b), same, "{a} and {b}");
        }
        assert_eq!(
            Subnet::of(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))),
            Subnet::V4([10, 1, 2])
        );
        assert_eq!(
            Subnet::of(IpAddr::V6(Ipv6Addr::new(
                0x2001, 0xdb8, 0xaabb, 0xccdd, 0xeeff, 0, 0, 1
            ))),
            Subnet::V6([0x20, 0x01, 0x0d, 0xb8, 0xaa, 0xbb, 0xcc])
        );
    }

    #[test]
    fn a_bucket_answers_its_burst_then_its_rate_and_slips_every_nth_withheld_answer() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(&limits(2, 3, 2, 10), t0).expect("on");
        let client = subnet("192.0.2.1");
        let decisions: Vec<Decision> = (0..7).map(|_| limiter.check(client, t0)).collect();
        use Decision::*;
        assert_eq!(decisions, [Answer, Answer, Answer, Drop, Slip, Drop, Slip]);

        // Half a second at 2 a second is one more answer, and only one.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check(client, later), Answer);
        assert_eq!(limiter.check(client, later), Drop);

        // A long quiet spell refills the bucket to its burst, not beyond.
        let much_later = t0 + Duration::from_secs(3600);
        let answered = (0..10)
            .filter(|_| limiter.check(client, much_later) == Answer)
            .count();
        assert_eq!(answered, 3);
    }

    #[test]
    fn slip_zero_never_slips_and_slip_one_always_does() {
        let t0 = Instant::now();
        for (slip, withheld) in [(0, Decision::Drop), (1, Decision::Slip)] {
            let mut limiter = RateLimiter::new(&limits(1, 1, slip, 10), t0).expect("on");
            let client = subnet("192.0.2.1");
            assert_eq!(limiter.check(client, t0), Decision::Answer);
            for _ in 0..5 {
                assert_eq!(limiter.check(client, t0), withheld, "slip {slip}");
            }
        }
    }

    #[test]
    fn one_subnet_over_its_limit_leaves_the_others_answered() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(&limits(1, 2, 0, 10), t0).expect("on");
        let flood = subnet("192.0.2.1");
        for _ in 0..100 {
            limiter.check(flood, t0);
        }
        assert_eq!(limiter.check(subnet("192.0.2.77"), t0), Decision::Drop);
        assert_eq!(limiter.check(subnet("198.51.100.1"), t0), Decision::Answer);
        assert_eq!(limiter.check(subnet("2001:db8::1"), t0), Decision::Answer);
    }

    #[test]
    fn a_full_table_shares_an_overflow_bucket_and_keeps_busy_subnets() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(&limits(1, 2, 0, 2), t0).expect("on");
        let (a, b) = (subnet("192.0.2.1"), subnet("198.51.100.1"));
        // `a` is out of tokens; `b` has one left.
        for _ in 0..3 {
            limiter.check(a, t0);
        }
        limiter.check(b, t0);
        assert_eq!(limiter.tracked(), 2);

        // New subnets find no room and share one bucket of 2.
        let (c, d) = (subnet("203.0.113.1"), subnet("203.0.114.1"));
        assert_eq!(limiter.check(c, t0), Decision::Answer);
        assert_eq!(limiter.check(d, t0), Decision::Answer);
        assert_eq!(limiter.check(c, t0), Decision::Drop);
        assert_eq!(limiter.tracked(), 2);
        // Forged subnets cannot evict `a`: it is still limited.
        assert_eq!(limiter.check(a, t0), Decision::Drop);

        // Once the buckets have refilled, a sweep frees their slots.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limiter.check(c, later), Decision::Answer);
        assert_eq!(limiter.tracked(), 1, "the refilled buckets were swept");
    }

    #[test]
    fn sweeps_are_rate_limited_themselves() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(&limits(1000, 1, 0, 1), t0).expect("on");
        limiter.check(subnet("192.0.2.1"), t0);
        // The table is full; this sweep finds nothing refilled yet.
        limiter.check(subnet("192.0.3.1"), t0);
        // 10 ms later the first bucket has refilled, but the last sweep was too recent.
        let soon = t0 + Duration::from_millis(10);
        limiter.check(subnet("192.0.4.1"), soon);
        assert_eq!(limiter.tracked(), 1);
        assert!(limiter.buckets.contains_key(&subnet("192.0.2.1")));
        // After the interval the sweep runs and the new subnet takes the slot.
        let after = t0 + SWEEP_INTERVAL;
        limiter.check(subnet("192.0.5.1"), after);
        assert!(limiter.buckets.contains_key(&subnet("192.0.5.1")));
    }

    #[test]
    fn the_limit_is_off_with_a_zero_rate_or_burst() {
        let t0 = Instant::now();
        assert!(RateLimiter::new(&limits(0, 100, 2, 10), t0).is_none());
        assert!(RateLimiter::new(&limits(50, 0, 2, 10), t0).is_none());
    }
}
