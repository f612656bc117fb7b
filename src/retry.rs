//! The one backoff rule of our own retry loops: Tencent's REST client
//! (`tencent/rest.rs`) and the sync's DynamoDB reads and checkpoints (`sync/mod.rs`). The
//! SDK retries its own calls (`clients/`), and the store's optimistic write loop is its
//! own (`store/`).

use std::time::Duration;

/// Capped exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The wait after the first failed attempt; doubled after each one.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    pub jitter: Jitter,
}

/// How much of the computed wait is waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    /// All of it.
    None,
    /// A random share of it ("full jitter"; at least 1 ms): callers that retry at once
    /// do not retry in step.
    Full,
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based): `base` × 2^(attempt − 1), at
    /// most `cap`, then the jitter.
    pub fn wait(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        match self.jitter {
            Jitter::None => exp,
            Jitter::Full => exp.mul_f64(fastrand::f64()).max(Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
            jitter: Jitter::None,
        };
        let waits: Vec<u128> = (1..=5).map(|a| b.wait(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        let full = Backoff {
            jitter: Jitter::Full,
            ..b
        };
        assert!((1..=5).all(|a| full.wait(a) <= b.wait(a)));
    }
}
