//! The retry schedule of deliveries.

use time::{Duration, OffsetDateTime};

/// When a failed delivery is tried again, after the Standard Webhooks schedule: 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h, for up to 3 days after the event.
/// `base` is the first delay (`SCAISEND_WEBHOOK_RETRY_BASE`); every later delay and the
/// 3-day window scale with it, so that a test can run the whole schedule with a base of
/// 50 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay.
    pub base: Duration,
}

/// The schedule in multiples of its 5-second first delay.
const STEPS: [i64; 6] = [1, 60, 360, 1_440, 3_600, 7_200];
/// Three days in multiples of the first delay.
const WINDOW: i64 = 3 * 24 * 3_600 / 5;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::seconds(5),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failures`-th failed attempt (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let index = (failures.max(1) as usize - 1).min(STEPS.len() - 1);
        self.base * STEPS[index] as f64
    }

    /// How long deliveries are retried, and how long an endpoint may fail without a
    /// success before it is disabled: 3 days at the default base.
    pub fn window(&self) -> Duration {
        self.base * WINDOW as f64
    }

    /// When to try again after `failures` failed attempts of an event queued at
    /// `queued_at`, the last one at `now`; `None` once that would leave the window.
    pub fn next_attempt(
        &self,
        queued_at: OffsetDateTime,
        now: OffsetDateTime,
        failures: u32,
    ) -> Option<OffsetDateTime> {
        let next = now + self.delay(failures);
        (next - queued_at <= self.window()).then_some(next)
    }

    /// Whether an endpoint failing since `failing_since` has failed for the whole
    /// window at `now`.
    pub fn exhausted(&self, failing_since: OffsetDateTime, now: OffsetDateTime) -> bool {
        now - failing_since >= self.window()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_is_the_documented_one() {
        let p = RetryPolicy::default();
        let delays: Vec<i64> = (1..=8).map(|n| p.delay(n).whole_seconds()).collect();
        assert_eq!(
            delays,
            [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000]
        );
        assert_eq!(p.window(), Duration::days(3));
    }

    #[test]
    fn the_schedule_scales_with_its_base() {
        let p = RetryPolicy {
            base: Duration::milliseconds(50),
        };
        assert_eq!(p.delay(1), Duration::milliseconds(50));
        assert_eq!(p.delay(2), Duration::seconds(3));
        assert_eq!(p.window(), Duration::seconds(2_592));
    }

    #[test]
    fn retries_stop_at_the_end_of_the_window() {
        let p = RetryPolicy::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(p.next_attempt(t0, t0, 1), Some(t0 + Duration::seconds(5)));
        let late = t0 + Duration::days(3) - Duration::hours(1);
        assert_eq!(p.next_attempt(t0, late, 7), None);
        assert!(!p.exhausted(t0, late));
        assert!(p.exhausted(t0, t0 + Duration::days(3)));
    }
}
