//! The per-account writer (docs/contract.md section 5, "Per account"): one account's
//! subscriber changes, from any number of add and delete events (a queue batch) or sync
//! facts, folded per subscriber by the section 3 rules (the newest EventTime wins; a tie
//! goes to UNSUBSCRIBED: [`Subscription::supersedes`]), then written in as few
//! transactions as DynamoDB allows: at most 99 subscription items and the one
//! `subscriber_count` update each (`subscriptions.rs`).
//!
//! Folding first is what makes a hot account cheap to catch up with: a thousand one-user
//! events become ten transactions, not a thousand that all update the same `PROFILE`.

use super::{subscriptions, Applied, Budget, Store, StoreError};
use crate::events::{Event, EventKind};
use crate::state::Subscription;
use std::collections::BTreeMap;

/// Whether a change subscribes or unsubscribes a user: an add or a delete event, or a
/// sync's fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Subscribe,
    Unsubscribe,
}

impl Change {
    /// The state a change at `event_time` by `operator` leaves.
    pub fn state(self, event_time: u64, operator: Option<&str>) -> Subscription {
        Subscription {
            subscribed: self == Change::Subscribe,
            event_time,
            operator: operator.map(str::to_owned),
        }
    }
}

/// An event the writer does not fold: not an add or delete of subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a subscriber event")]
pub struct NotSubscribers;

/// One account's subscriber changes, folded: per user, the state that wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWrites {
    app: String,
    account: String,
    /// Ordered by user: the same changes give the same transactions.
    subscriptions: BTreeMap<String, Subscription>,
}

impl AccountWrites {
    /// No changes yet for `account` of `app` (`Official_Account` verbatim).
    pub fn new(app: &str, account: &str) -> AccountWrites {
        AccountWrites {
            app: app.to_owned(),
            account: account.to_owned(),
            subscriptions: BTreeMap::new(),
        }
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Folds in `user`'s state `new`: kept when it wins over what is folded already.
    pub fn fold(&mut self, user: &str, new: Subscription) {
        match self.subscriptions.get_mut(user) {
            Some(old) if new.supersedes(Some(old)) => *old = new,
            Some(_) => {}
            None => {
                self.subscriptions.insert(user.to_owned(), new);
            }
        }
    }

    /// Folds in an add or delete event of this account (another account's event, or
    /// another kind, is refused).
    pub fn fold_event(&mut self, event: &Event) -> Result<(), NotSubscribers> {
        if event.app != self.app || event.account != self.account {
            return Err(NotSubscribers);
        }
        let (change, operator, users) = match &event.kind {
            EventKind::SubscribersAdded {
                operator,
                subscribers,
            } => (Change::Subscribe, operator, subscribers),
            EventKind::SubscribersDeleted {
                operator,
                subscribers,
            } => (Change::Unsubscribe, operator, subscribers),
            _ => return Err(NotSubscribers),
        };
        let state = change.state(event.event_time, operator.as_deref());
        for user in users {
            self.fold(user, state.clone());
        }
        Ok(())
    }

    /// Users with a change.
    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// The transactions a write takes when nothing stored contradicts the guess (at most
    /// 99 users each): `ceil(len / 99)`.
    pub fn transactions(&self) -> usize {
        self.len().div_ceil(subscriptions::CHUNK)
    }
}

impl Store {
    /// Writes an account's folded subscriber changes, each only where it wins over the
    /// stored one, with `subscriber_count` kept exact; what is already stored (or newer)
    /// is left alone. An error may leave some transactions written: writing the same
    /// changes again repairs it.
    pub async fn write_account(
        &self,
        writes: &AccountWrites,
        budget: &Budget,
    ) -> Result<Applied, StoreError> {
        if writes.is_empty() {
            return Ok(Applied::default());
        }
        let (users, states): (Vec<String>, Vec<Subscription>) = writes
            .subscriptions
            .iter()
            .map(|(u, s)| (u.clone(), s.clone()))
            .unzip();
        subscriptions::write(self, &writes.app, &writes.account, &users, &states, budget).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: u64, change: Change, users: &[&str]) -> Event {
        let subscribers = users.iter().map(|u| (*u).to_owned()).collect();
        Event {
            app: "1".into(),
            account: "a".into(),
            event_time: t,
            kind: match change {
                Change::Subscribe => EventKind::SubscribersAdded {
                    operator: None,
                    subscribers,
                },
                Change::Unsubscribe => EventKind::SubscribersDeleted {
                    operator: None,
                    subscribers,
                },
            },
        }
    }

    #[test]
    fn the_newest_change_wins_and_a_tie_unsubscribes_in_any_order() {
        let events = [
            event(5, Change::Subscribe, &["u", "v"]),
            event(5, Change::Unsubscribe, &["u"]),
            event(3, Change::Unsubscribe, &["v"]),
            event(9, Change::Subscribe, &["w"]),
            event(2, Change::Unsubscribe, &["w"]),
        ];
        let fold = |order: &[usize]| {
            let mut w = AccountWrites::new("1", "a");
            for &i in order {
                w.fold_event(&events[i]).expect("a subscriber event");
            }
            w
        };
        let want = fold(&[0, 1, 2, 3, 4]);
        assert_eq!(want.subscriptions["u"], Change::Unsubscribe.state(5, None));
        assert_eq!(want.subscriptions["v"], Change::Subscribe.state(5, None));
        assert_eq!(want.subscriptions["w"], Change::Subscribe.state(9, None));
        assert_eq!(fold(&[4, 3, 2, 1, 0]), want);
        assert_eq!(fold(&[1, 3, 0, 4, 2, 0, 1]), want);
    }

    #[test]
    fn other_accounts_and_kinds_are_refused_and_transactions_are_counted() {
        let mut w = AccountWrites::new("1", "b");
        assert_eq!(
            w.fold_event(&event(1, Change::Subscribe, &["u"])),
            Err(NotSubscribers)
        );
        let mut w = AccountWrites::new("1", "a");
        let full = Event {
            kind: EventKind::Full,
            ..event(1, Change::Subscribe, &[])
        };
        assert_eq!(w.fold_event(&full), Err(NotSubscribers));
        assert_eq!(w.transactions(), 0);
        let users: Vec<String> = (0..199).map(|i| format!("u{i}")).collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        w.fold_event(&event(1, Change::Subscribe, &users)).unwrap();
        assert_eq!((w.len(), w.transactions()), (199, 3));
    }
}
