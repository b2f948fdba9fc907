//! The clock port.

use time::OffsetDateTime;

/// The time, injected so that schedules, graces and expiries are testable.
///
/// Stores keep times to the microsecond; clocks SHOULD return times with no finer part,
/// so that a domain read back equals the one written.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, to the microsecond.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}
