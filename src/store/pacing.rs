//! Per-account pacing at the partition's ceiling (docs/contract.md section 8; aws.md: one
//! partition key value takes at most 1000 write units a second, a throttled request is
//! charged nothing).
//!
//! Every item of an account shares its partition key (`OA#{app}#{oa}`), so a campaign
//! meets one ceiling for the whole account. An instance that meets throttling on an
//! account paces its writes to it instead of failing records back: a per-account rate in
//! write units a second, cut by a tenth on each throttle ([`DECREASE`]) and grown by a
//! fifth on each success ([`INCREASE`]) (additive-increase/multiplicative-decrease, here
//! multiplicative both ways so that it finds a ceiling of 165 and one of 1000 units a
//! second equally fast; a throttled request is free, so probing costs time, not units). The
//! first throttle starts the rate at what this instance committed in the last second
//! (its share of the ceiling), at least one transaction a second. Each write then waits
//! for its turn ([`Pacer::turn`]); other accounts are not paced. An account with no
//! throttle for [`FORGET`] is forgotten (unpaced again).
//!
//! The pacer also remembers accounts whose writes met other writers (a cancelled guess, a
//! transaction conflict): there, a guessed condition is likely stale, and the writer reads
//! the items first ([`Pacer::is_contended`]; docs/delivery.md, "A hot account").
//!
//! The queue consumer and the sync write through the same per-account writer
//! (`subscriptions.rs`), and so through the same pacer ([`super::Store`] holds one per
//! instance). The webhook never waits on it: it hands a contended event off instead.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// How much the rate is cut on a throttle (a fraction of itself).
pub(crate) const DECREASE: f64 = 0.9;
/// How much the rate grows on a success (a fraction of itself).
pub(crate) const INCREASE: f64 = 1.2;
/// How long an account stays paced, or contended, after its last throttle or contention.
pub(crate) const FORGET: Duration = Duration::from_secs(10);
/// The most accounts one instance paces at once; past it, the one forgotten first goes.
pub(crate) const PACED_ACCOUNTS_MAX: usize = 256;
/// The window over which an instance's committed units give the first rate.
const MEASURE: Duration = Duration::from_secs(1);

/// One account's pace in this instance.
#[derive(Debug)]
struct Pace {
    /// Write units a second this instance sends to the account; `None`: not paced (a
    /// contended account that was never throttled).
    rate: Option<f64>,
    /// When the next write may start.
    next_at: Instant,
    /// Until when the account counts as contended (a throttle or other writers met);
    /// `None`: never was.
    hot_until: Option<Instant>,
    /// When the account is forgotten: [`FORGET`] after its last throttle or contention,
    /// or [`MEASURE`] after its last commit, whichever is later.
    until: Instant,
    /// Units committed recently, for the first rate.
    committed: VecDeque<(Instant, u32)>,
}

impl Pace {
    fn new(now: Instant) -> Pace {
        Pace {
            rate: None,
            next_at: now,
            hot_until: None,
            until: now + MEASURE,
            committed: VecDeque::new(),
        }
    }

    fn committed_rate(&mut self, now: Instant) -> f64 {
        while self
            .committed
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > MEASURE)
        {
            self.committed.pop_front();
        }
        let units: u64 = self.committed.iter().map(|(_, u)| u64::from(*u)).sum();
        units as f64 / MEASURE.as_secs_f64()
    }
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

    /// When a write of `units` to `account` may start, from `now`: `now` for an account
    /// not paced; else the account's next turn, which this call takes (the next one is
    /// `units / rate` seconds later).
    pub(crate) fn turn(&self, account: &str, units: u32, now: Instant) -> Instant {
        let mut accounts = self.lock();
        if accounts.is_empty() {
            return now;
        }
        let Some(pace) = accounts.get_mut(account) else {
            return now;
        };
        if pace.until <= now {
            accounts.remove(account);
            return now;
        }
        let Some(rate) = pace
            .rate
            .filter(|_| pace.hot_until.is_some_and(|t| t > now))
        else {
            return now;
        };
        let start = pace.next_at.max(now);
        pace.next_at = start + Duration::from_secs_f64(f64::from(units) / rate);
        start
    }

    /// A write of `units` to `account` was throttled at `now` (the partition's ceiling):
    /// the rate is cut, or started at this instance's last second of commits, and the
    /// next turn is no sooner than the time the ceiling takes to refill `units`.
    pub fn throttled(&self, account: &str, units: u32, now: Instant) {
        let mut accounts = self.lock();
        let pace = entry(&mut accounts, account, now);
        let floor = f64::from(units.max(1));
        let rate = match pace.rate {
            Some(r) => (r * DECREASE).max(floor),
            None => pace.committed_rate(now).max(floor),
        };
        pace.rate = Some(rate);
        pace.next_at = pace
            .next_at
            .max(now + Duration::from_secs_f64(f64::from(units) / rate));
        pace.hot_until = Some(now + FORGET);
        pace.until = pace.until.max(now + FORGET);
    }

    /// A write of `units` to `account` committed at `now`: a paced rate grows.
    pub fn succeeded(&self, account: &str, units: u32, now: Instant) {
        let mut accounts = self.lock();
        // Commits are measured for every account (the first rate needs them), but only
        // while the map holds it or has room: a cold account costs one entry, forgotten
        // after FORGET.
        let pace = entry(&mut accounts, account, now);
        pace.committed.push_back((now, units));
        pace.until = pace.until.max(now + MEASURE);
        if let Some(r) = pace.rate.as_mut() {
            *r *= INCREASE;
        }
    }

    /// `account`'s writes met other writers at `now` (a cancelled guess, a conflict): its
    /// guesses are likely stale for a while ([`Pacer::is_contended`]).
    pub(crate) fn contended(&self, account: &str, now: Instant) {
        let mut accounts = self.lock();
        let pace = entry(&mut accounts, account, now);
        pace.hot_until = Some(now + FORGET);
        pace.until = pace.until.max(now + FORGET);
    }

    /// Whether `account` met throttling or other writers within [`FORGET`] of `now`.
    pub(crate) fn is_contended(&self, account: &str, now: Instant) -> bool {
        let accounts = self.lock();
        accounts
            .get(account)
            .and_then(|p| p.hot_until)
            .is_some_and(|t| t > now)
    }

    /// `account`'s rate (write units a second), when paced.
    pub fn rate(&self, account: &str) -> Option<f64> {
        self.lock().get(account).and_then(|p| p.rate)
    }

    /// Accounts remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `account`'s entry, made room for: expired entries go first, then the one forgotten
/// soonest ([`PACED_ACCOUNTS_MAX`]).
fn entry<'a>(accounts: &'a mut HashMap<String, Pace>, account: &str, now: Instant) -> &'a mut Pace {
    if !accounts.contains_key(account) && accounts.len() >= PACED_ACCOUNTS_MAX {
        accounts.retain(|_, p| p.until > now);
        if accounts.len() >= PACED_ACCOUNTS_MAX {
            let soonest = accounts
                .iter()
                .min_by_key(|(_, p)| p.until)
                .map(|(k, _)| k.clone());
            if let Some(k) = soonest {
                accounts.remove(&k);
            }
        }
    }
    let pace = accounts
        .entry(account.to_owned())
        .or_insert_with(|| Pace::new(now));
    if pace.until <= now {
        *pace = Pace::new(now);
    }
    pace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_unpaced_until_throttled_then_paced_at_its_recent_commits() {
        let p = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(p.turn("a", 200, t0), t0);
        // 400 units committed in the last second: the first rate.
        p.succeeded("a", 200, t0);
        p.succeeded("a", 200, t0 + Duration::from_millis(100));
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(p.turn("a", 200, t1), t1, "not paced before a throttle");
        p.throttled("a", 200, t1);
        assert_eq!(p.rate("a"), Some(400.0));
        // The next turn waits for the ceiling to refill 200 units at 400 a second.
        let half = Duration::from_millis(500);
        assert_eq!(p.turn("a", 200, t1), t1 + half);
        // And the one after that, another half second.
        assert_eq!(p.turn("a", 200, t1), t1 + half * 2);
        // Other accounts are not paced.
        assert_eq!(p.turn("b", 200, t1), t1);
    }

    #[test]
    fn throttles_cut_the_rate_successes_grow_it_and_a_quiet_account_is_forgotten() {
        let p = Pacer::default();
        let t0 = Instant::now();
        p.throttled("z", 100, t0);
        // Nothing committed yet: at least one transaction a second.
        assert_eq!(p.rate("z"), Some(100.0));
        p.succeeded("a", 100, t0);
        p.throttled("a", 10, t0);
        assert_eq!(p.rate("a"), Some(100.0));
        p.succeeded("a", 10, t0);
        assert!((p.rate("a").unwrap_or(0.0) - 100.0 * INCREASE).abs() < 1e-9);
        p.throttled("a", 10, t0);
        let cut = 100.0 * INCREASE * DECREASE;
        assert!((p.rate("a").unwrap_or(0.0) - cut).abs() < 1e-9);
        // Never below one transaction a second.
        for _ in 0..100 {
            p.throttled("a", 10, t0);
        }
        assert_eq!(p.rate("a"), Some(10.0));
        assert!(p.is_contended("a", t0));
        let later = t0 + FORGET;
        assert!(!p.is_contended("a", later));
        assert_eq!(p.turn("a", 100, later), later);
        assert_eq!(p.turn("z", 100, later), later);
        assert!(p.is_empty());
        // Commits alone never make an account contended.
        p.succeeded("c", 100, later);
        assert!(!p.is_contended("c", later));
        assert_eq!(p.turn("c", 100, later), later);
    }

    #[test]
    fn contention_without_throttling_marks_the_account_without_pacing_it() {
        let p = Pacer::default();
        let t0 = Instant::now();
        assert!(!p.is_contended("a", t0));
        p.contended("a", t0);
        assert!(p.is_contended("a", t0));
        assert_eq!(p.turn("a", 200, t0), t0);
        assert_eq!(p.rate("a"), None);
    }

    #[test]
    fn the_memory_stays_bounded() {
        let p = Pacer::default();
        let t0 = Instant::now();
        for i in 0..(PACED_ACCOUNTS_MAX + 10) {
            p.contended(&format!("x{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(p.len(), PACED_ACCOUNTS_MAX);
        let newest = format!("x{}", PACED_ACCOUNTS_MAX + 9);
        assert!(p.is_contended(&newest, t0 + Duration::from_secs(1)));
        assert!(!p.is_contended("x0", t0 + Duration::from_secs(1)));
    }
}
