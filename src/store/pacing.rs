//! Per-account pacing at the partition's ceiling (docs/contract.md section 8), as
//! docs/delivery.md ("At the partition's ceiling") describes it: the partition's own
//! bucket is the pace (a commit is followed by the next write at once, a throttled write
//! tried again once the ceiling has refilled what it asked: `refill`), and an account
//! with no throttle for `FORGET` is forgotten. The pacer also remembers accounts whose
//! writes met other writers (`Pacer::is_contended`), where the writer reads first.
//! [`super::Store`] holds one pacer per instance, which the queue consumer and the sync
//! share through `subscriptions.rs`; the webhook never waits on it ([`super::Pacing`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// One partition's ceiling, write units a second (../shared/spec/aws.md): a throttled
/// write of `units` is tried again after `units / CEILING` seconds, the time a bucket
/// refilling at the ceiling takes to hold it again (a fifth of a second for a full
/// transaction). A partition below it (a bench's scaled ceiling) takes longer to refill,
/// and is probed several times meanwhile: free tries, each well inside the second its
/// bucket holds.
pub(crate) const CEILING: f64 = 1000.0;
/// The least wait after a throttle (a small write's, or one that asked for little).
pub(crate) const PROBE_MIN: Duration = Duration::from_millis(10);
/// How long an account stays paced, or contended, after its last throttle or contention.
pub(crate) const FORGET: Duration = Duration::from_secs(10);
/// The most accounts one instance paces at once; past it, the one forgotten first goes.
pub(crate) const PACED_ACCOUNTS_MAX: usize = 256;

/// One account's pace in this instance.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// When the next write may start (set by a throttle).
    next_at: Instant,
    /// Throttles since the last commit.
    throttles: u32,
    /// Until when the account counts as contended (a throttle or other writers met).
    hot_until: Instant,
}

/// The time the ceiling takes to refill `units` ([`CEILING`], at least [`PROBE_MIN`]).
pub(crate) fn refill(units: u32) -> Duration {
    Duration::from_secs_f64(f64::from(units) / CEILING).max(PROBE_MIN)
}

/// The accounts an instance paces or found contended, keyed by table and partition key
/// (`{table}/OA#{app}#{oa}`). Cheap to clone; clones share the memory. No allocation and
/// one uncontended lock per call while no account is paced.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    accounts: Arc<Mutex<HashMap<String, Pace>>>,
}

impl Pacer {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pace>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When a write to `account` may start, from `now`: `now` for an account not paced,
    /// or whose last throttle's wait is over; else the end of that wait.
    pub(crate) fn turn(&self, account: &str, now: Instant) -> Instant {
        let mut accounts = self.lock();
        let Some(pace) = accounts.get_mut(account) else {
            return now;
        };
        if pace.hot_until <= now {
            accounts.remove(account);
            return now;
        }
        pace.next_at.max(now)
    }

    /// A write of `units` to `account` was throttled at `now` (the partition's ceiling):
    /// the next write waits for the ceiling to refill `units` (`refill`).
    pub fn throttled(&self, account: &str, units: u32, now: Instant) {
        let mut accounts = self.lock();
        let pace = entry(&mut accounts, account, now);
        pace.next_at = pace.next_at.max(now + refill(units));
        pace.throttles = pace.throttles.saturating_add(1);
        pace.hot_until = now + FORGET;
    }

    /// A write to `account` committed at `now`: the next one need not wait.
    pub fn succeeded(&self, account: &str, now: Instant) {
        if let Some(pace) = self.lock().get_mut(account) {
            pace.throttles = 0;
            pace.next_at = pace.next_at.min(now);
        }
    }

    /// `account`'s writes met other writers at `now` (a cancelled guess, a conflict): its
    /// guesses are likely stale for a while ([`Pacer::is_contended`]).
    pub(crate) fn contended(&self, account: &str, now: Instant) {
        entry(&mut self.lock(), account, now).hot_until = now + FORGET;
    }

    /// Whether `account` met throttling or other writers within [`FORGET`] of `now`.
    pub(crate) fn is_contended(&self, account: &str, now: Instant) -> bool {
        self.lock().get(account).is_some_and(|p| p.hot_until > now)
    }
}

/// `account`'s entry, made room for: expired entries go first, then the one forgotten
/// soonest ([`PACED_ACCOUNTS_MAX`]).
fn entry<'a>(accounts: &'a mut HashMap<String, Pace>, account: &str, now: Instant) -> &'a mut Pace {
    if !accounts.contains_key(account) && accounts.len() >= PACED_ACCOUNTS_MAX {
        accounts.retain(|_, p| p.hot_until > now);
        if accounts.len() >= PACED_ACCOUNTS_MAX {
            let soonest = accounts
                .iter()
                .min_by_key(|(_, p)| p.hot_until)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                accounts.remove(&k);
            }
        }
    }
    let fresh = Pace {
        next_at: now,
        throttles: 0,
        hot_until: now + FORGET,
    };
    let pace = accounts.entry(account.to_owned()).or_insert(fresh);
    if pace.hot_until <= now {
        *pace = fresh;
    }
    pace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_unpaced_until_throttled_then_waits_for_the_refill_of_what_it_asked() {
        let p = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(p.turn("a", t0), t0);
        p.succeeded("a", t0);
        assert_eq!(p.turn("a", t0), t0, "not paced before a throttle");
        assert!(p.lock().is_empty(), "a commit alone is not remembered");
        p.throttled("a", 200, t0);
        // 200 units at the ceiling's 1000 a second: a fifth of a second.
        let fifth = Duration::from_millis(200);
        assert_eq!(p.turn("a", t0), t0 + fifth);
        // Every writer of the account waits for the same refill; then goes at once.
        assert_eq!(p.turn("a", t0), t0 + fifth);
        assert_eq!(p.turn("a", t0 + fifth * 2), t0 + fifth * 2);
        // A small write waits at least PROBE_MIN.
        p.throttled("a", 4, t0 + fifth * 2);
        assert_eq!(p.turn("a", t0 + fifth * 2), t0 + fifth * 2 + PROBE_MIN);
        assert_eq!(p.lock().get("a").map(|p| p.throttles), Some(2));
        // A commit ends the wait of the throttle before it.
        p.throttled("a", 200, t0 + fifth * 3);
        p.succeeded("a", t0 + fifth * 3);
        assert_eq!(p.turn("a", t0 + fifth * 3), t0 + fifth * 3);
        assert_eq!(p.lock().get("a").map(|p| p.throttles), Some(0));
        // Other accounts are not paced.
        assert_eq!(p.turn("b", t0), t0);
    }

    #[test]
    fn a_quiet_account_is_forgotten() {
        let p = Pacer::default();
        let t0 = Instant::now();
        p.throttled("a", 10, t0);
        assert!(p.is_contended("a", t0));
        let later = t0 + FORGET;
        assert!(!p.is_contended("a", later));
        assert_eq!(p.turn("a", later), later);
        assert!(p.lock().is_empty());
        // Commits alone never make an account contended.
        p.succeeded("c", later);
        assert!(!p.is_contended("c", later));
        assert_eq!(p.turn("c", later), later);
    }

    #[test]
    fn contention_without_throttling_marks_the_account_without_pacing_it() {
        let p = Pacer::default();
        let t0 = Instant::now();
        assert!(!p.is_contended("a", t0));
        p.contended("a", t0);
        assert!(p.is_contended("a", t0));
        assert_eq!(p.turn("a", t0), t0);
        assert_eq!(p.lock().get("a").map(|p| p.throttles), Some(0));
    }

    #[test]
    fn the_memory_stays_bounded() {
        let p = Pacer::default();
        let t0 = Instant::now();
        for i in 0..(PACED_ACCOUNTS_MAX + 10) {
            p.contended(&format!("x{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(p.lock().len(), PACED_ACCOUNTS_MAX);
        let newest = format!("x{}", PACED_ACCOUNTS_MAX + 9);
        assert!(p.is_contended(&newest, t0 + Duration::from_secs(1)));
        assert!(!p.is_contended("x0", t0 + Duration::from_secs(1)));
    }
}
