//! The accounts an instance found hot (docs/contract.md section 5, "Contention").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an account found hot (contention on its items) has its subscriber events
/// handed off without a try, per instance (section 5, "Contention"; the reasoning is in
/// docs/delivery.md, "A hot account").
pub const HOT_HOLD: Duration = Duration::from_secs(10);

/// The most accounts an instance remembers as hot at once; past it, the one that cools
/// first is forgotten.
pub const HOT_ACCOUNTS_MAX: usize = 256;

/// The accounts an instance found hot, each until a time (Unix ms): their subscriber
/// events are handed off without a try until then ([`HOT_HOLD`]). At most
/// [`HOT_ACCOUNTS_MAX`] entries. Cheap to clone; clones share the memory.
#[derive(Debug, Clone, Default)]
pub struct HotAccounts {
    until: Arc<Mutex<HashMap<String, u64>>>,
}

impl HotAccounts {
    fn key(app: &str, account: &str) -> String {
        format!("{app}#{account}")
    }

    /// Whether `account` of `app` is hot at `now_ms`. No allocation while none is.
    pub(crate) fn is_hot(&self, app: &str, account: &str, now_ms: u64) -> bool {
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        !until.is_empty()
            && until
                .get(&Self::key(app, account))
                .is_some_and(|&t| now_ms < t)
    }

    /// Remembers `account` of `app` as hot from `now_ms` for [`HOT_HOLD`].
    pub(crate) fn remember(&self, app: &str, account: &str, now_ms: u64) {
        let hold = u64::try_from(HOT_HOLD.as_millis()).unwrap_or(u64::MAX);
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let key = Self::key(app, account);
        if until.len() >= HOT_ACCOUNTS_MAX && !until.contains_key(&key) {
            until.retain(|_, t| *t > now_ms);
            if until.len() >= HOT_ACCOUNTS_MAX {
                let coolest = until
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone());
                if let Some(k) = coolest {
                    until.remove(&k);
                }
            }
        }
        until.insert(key, now_ms.saturating_add(hold));
    }

    /// Accounts remembered (hot or cooled, not yet forgotten).
    pub fn len(&self) -> usize {
        self.until.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_accounts_cool_after_the_hold_and_stay_bounded() {
        let hot = HotAccounts::default();
        assert!(!hot.is_hot("1", "a", 0));
        hot.remember("1", "a", 1000);
        assert!(hot.is_hot("1", "a", 1000));
        assert!(!hot.is_hot("1", "b", 1000));
        assert!(!hot.is_hot("2", "a", 1000));
        let hold = HOT_HOLD.as_millis() as u64;
        assert!(hot.is_hot("1", "a", 1000 + hold - 1));
        assert!(!hot.is_hot("1", "a", 1000 + hold));
        for i in 0..(HOT_ACCOUNTS_MAX as u64 + 10) {
            hot.remember("1", &format!("x{i}"), 2000 + i);
        }
        assert_eq!(hot.len(), HOT_ACCOUNTS_MAX);
        // The newest stays; the one that cools first went.
        let last = format!("x{}", HOT_ACCOUNTS_MAX + 9);
        assert!(hot.is_hot("1", &last, 3000));
        assert!(!hot.is_hot("1", "x0", 2000));
    }
}
