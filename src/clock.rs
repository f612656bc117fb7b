//! The one clock of a function instance: every "now" the service reads (admission's
//! `RequestTime` window, a hand-off's `received_at_ms`, the queue door's Lambda deadline,
//! the hot-account memory) comes from the [`Clock`] injected in `App`, so that a test can
//! set it. Timers and budgets (`tokio::time::Instant`) stay monotonic and are not this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time, Unix milliseconds. Cheap to clone; clones of a set clock share it.
/// `None`: the system clock; `Some`: a time that moves only when set ([`Clock::set_ms`],
/// [`Clock::advance`]).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock standing at `ms` (Unix milliseconds) until it is set or advanced.
    pub fn at_ms(ms: u64) -> Clock {
        Clock(Some(Arc::new(AtomicU64::new(ms))))
    }

    /// A clock standing at `secs` (Unix seconds).
    pub fn at_secs(secs: u64) -> Clock {
        Clock::at_ms(secs.saturating_mul(1000))
    }

    /// Now, Unix milliseconds (0 before 1970).
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Some(ms) => ms.load(Ordering::Relaxed),
        }
    }

    /// Now, Unix seconds.
    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// What is left before a Lambda invocation's deadline (`deadline_ms`, Unix
    /// milliseconds), less `margin`; `None` when the deadline is not in the future (cargo
    /// lambda watch sends a relative one, tests none). The doors' one time-left rule.
    pub(crate) fn left_before(&self, deadline_ms: u64, margin: Duration) -> Option<Duration> {
        match deadline_ms.checked_sub(self.now_ms()) {
            Some(left) if left > 0 => Some(Duration::from_millis(left).saturating_sub(margin)),
            _ => None,
        }
    }

    /// Moves a set clock to `ms`; the system clock is not moved.
    pub fn set_ms(&self, ms: u64) {
        if let Some(now) = &self.0 {
            now.store(ms, Ordering::Relaxed);
        }
    }

    /// Moves a set clock forward by `by`; see [`Clock::set_ms`].
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.set_ms(self.now_ms().saturating_add(by));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::at_secs(10);
        let shared = c.clone();
        assert_eq!((c.now_ms(), c.now_secs()), (10_000, 10));
        c.advance(Duration::from_millis(1500));
        assert_eq!(shared.now_ms(), 11_500);
        assert_eq!(
            c.left_before(12_000, Duration::from_millis(100)),
            Some(Duration::from_millis(400))
        );
        assert_eq!(c.left_before(11_500, Duration::ZERO), None);
        Clock::system().set_ms(1);
        assert!(Clock::system().now_secs() > 1_700_000_000);
    }
}
