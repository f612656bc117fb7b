//! The per-account writer's input (docs/contract.md section 5, "Per account"): one
//! account's subscriber changes, from one event (the webhook), a queue batch or sync
//! facts, folded per subscriber by the section 3 rules, for
//! [`super::Store::write_account`]. Folding first is what makes a hot account cheap to
//! catch up with: a thousand one-user events become ten transactions, not a thousand
//! that all update the same `PROFILE`.

use crate::events::{Event, EventKind};
use crate::state::Subscription;
use std::collections::BTreeMap;

/// Items per transaction besides the counter update (DynamoDB allows 100 actions).
pub(crate) const CHUNK: usize = 99;

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

/// How a change reached the writer: its first delivery, or again (an SQS record with
/// `ApproximateReceiveCount` above 1), when its item is read first ([`Doubt::Redelivered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    #[default]
    First,
    Redelivered,
}

/// An event the writer does not fold: not an add or delete of subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a subscriber event")]
pub(crate) struct NotSubscribers;

/// Why the writer should not guess a user's stored state (and reads it first instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt {
    /// Nothing says the guess is wrong: a new user's add, a known user's delete.
    None,
    /// A change of the user came again ([`Delivery::Redelivered`]): likely stored already,
    /// in part, and a guess refused by its condition is charged in full (../shared/spec/aws.md).
    Redelivered,
    /// The fold met an add and a delete of the user: the guess (the winning change's
    /// condition) is likely wrong, e.g. a delete of a user whose add was folded away and
    /// never stored.
    Contradicted,
}

/// One user's folded change: the state that wins, and whether to read before writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub state: Subscription,
    pub doubt: Doubt,
}

/// One account's subscriber changes, folded: per user, the state that wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWrites {
    app: String,
    account: String,
    /// Ordered by user: the same changes give the same transactions.
    subscriptions: BTreeMap<String, Planned>,
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

    /// One add or delete event's changes (the webhook's path).
    pub(crate) fn of_event(event: &Event) -> Result<AccountWrites, NotSubscribers> {
        let mut w = AccountWrites::new(&event.app, &event.account);
        w.fold_event(event, Delivery::First)?;
        Ok(w)
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Folds in `user`'s state `new` as it came (`delivery`): kept when it wins over what
    /// is folded already.
    fn fold_delivered(&mut self, user: &str, new: Subscription, delivery: Delivery) {
        let redelivered = match delivery {
            Delivery::Redelivered => Doubt::Redelivered,
            Delivery::First => Doubt::None,
        };
        let Some(old) = self.subscriptions.get_mut(user) else {
            let planned = Planned {
                state: new,
                doubt: redelivered,
            };
            self.subscriptions.insert(user.to_owned(), planned);
            return;
        };
        if new.subscribed != old.state.subscribed {
            old.doubt = Doubt::Contradicted;
        } else if old.doubt == Doubt::None {
            old.doubt = redelivered;
        }
        if new.supersedes(Some(&old.state)) {
            old.state = new;
        }
    }

    /// Folds in `user`'s state `new`, first delivered (a sync's fact).
    pub fn fold(&mut self, user: &str, new: Subscription) {
        self.fold_delivered(user, new, Delivery::First);
    }

    /// Folds in an add or delete event of this account (another account's event, or
    /// another kind, is refused).
    pub(crate) fn fold_event(
        &mut self,
        event: &Event,
        delivery: Delivery,
    ) -> Result<(), NotSubscribers> {
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
            self.fold_delivered(user, state.clone(), delivery);
        }
        Ok(())
    }

    /// The folded changes, by user.
    pub fn planned(&self) -> impl Iterator<Item = (&String, &Planned)> {
        self.subscriptions.iter()
    }

    /// Users with a change.
    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// The transactions a write takes when nothing stored contradicts the guess (at most
    /// `CHUNK` users each): `ceil(len / 99)`.
    pub fn transactions(&self) -> usize {
        self.len().div_ceil(CHUNK)
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
                w.fold_event(&events[i], Delivery::First)
                    .expect("a subscriber event");
            }
            w
        };
        let want = fold(&[0, 1, 2, 3, 4]);
        let states = ["u", "v", "w"].map(|u| want.subscriptions[u].state.clone());
        let (sub, unsub) = (Change::Subscribe, Change::Unsubscribe);
        assert_eq!(
            states,
            [unsub.state(5, None), sub.state(5, None), sub.state(9, None)]
        );
        assert_eq!(fold(&[4, 3, 2, 1, 0]), want);
        assert_eq!(fold(&[1, 3, 0, 4, 2, 0, 1]), want);
    }

    #[test]
    fn other_accounts_and_kinds_are_refused_and_transactions_are_counted(
    ) -> Result<(), NotSubscribers> {
        let mut w = AccountWrites::new("1", "b");
        assert_eq!(
            w.fold_event(&event(1, Change::Subscribe, &["u"]), Delivery::First),
            Err(NotSubscribers)
        );
        let mut w = AccountWrites::new("1", "a");
        let full = Event {
            kind: EventKind::Full,
            ..event(1, Change::Subscribe, &[])
        };
        assert_eq!(w.fold_event(&full, Delivery::First), Err(NotSubscribers));
        assert_eq!(w.transactions(), 0);
        let users: Vec<String> = (0..199).map(|i| format!("u{i}")).collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        w.fold_event(&event(1, Change::Subscribe, &users), Delivery::First)?;
        assert_eq!((w.len(), w.transactions()), (199, 3));
        Ok(())
    }

    #[test]
    fn a_user_any_of_whose_changes_came_again_or_contradict_each_other_is_doubted(
    ) -> Result<(), NotSubscribers> {
        let mut w = AccountWrites::new("1", "a");
        w.fold_event(&event(1, Change::Subscribe, &["u", "v"]), Delivery::First)?;
        // An older change, redelivered: it does not win, but the user is read first.
        w.fold_event(&event(0, Change::Subscribe, &["u"]), Delivery::Redelivered)?;
        // A delete and an add of another user: contradicted.
        w.fold_event(&event(2, Change::Unsubscribe, &["z"]), Delivery::First)?;
        w.fold_event(&event(1, Change::Subscribe, &["z"]), Delivery::First)?;
        let got: Vec<(&str, u64, Doubt)> = w
            .planned()
            .map(|(u, p)| (u.as_str(), p.state.event_time, p.doubt))
            .collect();
        assert_eq!(
            got,
            [
                ("u", 1, Doubt::Redelivered),
                ("v", 1, Doubt::None),
                ("z", 2, Doubt::Contradicted)
            ]
        );
        // One event's duplicate users fold into one item (one Put per item per transaction).
        let one = AccountWrites::of_event(&event(3, Change::Unsubscribe, &["x", "x"]))?;
        assert_eq!(one.len(), 1);
        Ok(())
    }
}
