//! How events fold into stored state, independent of any database.
//!
//! Every rule is a join (a max over a total order), so the result does not depend on the
//! order or the number of deliveries: that is what makes contract section 4 hold.
//!
//! Ties on `EventTime`, which the contract leaves open except for status, are broken so
//! that the outcome is still the same in any order:
//! - status: DESTROYED beats ACTIVE, UNSUBSCRIBED beats SUBSCRIBED (the contract's rule);
//! - a profile field or the owner: the greater value (byte order) wins;
//! - `created_by`, a subscription's `operator_account`: the greater operator wins, and an
//!   event that names an operator beats one that does not.

use crate::events::{Event, EventKind};

/// A value with the EventTime of the event that carried it; ordered by time, then value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamped {
    pub time: u64,
    pub value: String,
}

fn join(slot: &mut Option<Stamped>, time: u64, value: &Option<String>) {
    if let Some(value) = value {
        if slot
            .as_ref()
            .is_none_or(|s| (time, value.as_str()) > (s.time, s.value.as_str()))
        {
            *slot = Some(Stamped {
                time,
                value: value.clone(),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Destroyed,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Destroyed => "DESTROYED",
        }
    }
}

/// The account (`PROFILE`) state that events determine; `subscriber_count` is kept by
/// the subscription writes, not here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// `created_at` and `created_by` of the newest create event.
    pub created: Option<(u64, Option<String>)>,
    /// EventTime of the newest destroy event, kept only while it beats every create.
    pub destroyed_at: Option<u64>,
    pub owner: Option<Stamped>,
    pub name: Option<Stamped>,
    pub introduction: Option<Stamped>,
    pub face_url: Option<Stamped>,
    pub organization: Option<Stamped>,
    pub full_at: Option<u64>,
}

impl Profile {
    pub fn status(&self) -> Option<AccountStatus> {
        match (&self.created, self.destroyed_at) {
            (_, Some(_)) => Some(AccountStatus::Destroyed),
            (Some(_), None) => Some(AccountStatus::Active),
            (None, None) => None,
        }
    }

    /// Folds an account-level event in. Returns false for events that do not concern
    /// the profile (subscriptions, messages).
    pub fn apply(&mut self, event: &Event) -> bool {
        let t = event.event_time;
        match &event.kind {
            EventKind::Created {
                owner,
                operator,
                name,
            } => {
                let candidate = (t, operator.clone());
                if self.created.as_ref().is_none_or(|c| candidate > *c) {
                    self.created = Some(candidate);
                }
                // A destroy wins ties; a strictly newer create revives the account.
                if self.destroyed_at.is_some_and(|d| t > d) {
                    self.destroyed_at = None;
                }
                join(&mut self.owner, t, owner);
                join(&mut self.name, t, name);
            }
            EventKind::Destroyed { owner, name } => {
                let beats_creates = self.created.as_ref().is_none_or(|(c, _)| t >= *c);
                if self.destroyed_at.is_some() || beats_creates {
                    self.destroyed_at = self.destroyed_at.max(Some(t));
                }
                join(&mut self.owner, t, owner);
                join(&mut self.name, t, name);
            }
            EventKind::InfoChanged { fields, .. } => {
                join(&mut self.name, t, &fields.name);
                join(&mut self.introduction, t, &fields.introduction);
                join(&mut self.face_url, t, &fields.face_url);
                join(&mut self.organization, t, &fields.organization);
            }
            EventKind::Full => self.full_at = self.full_at.max(Some(t)),
            EventKind::SubscribersAdded { .. }
            | EventKind::SubscribersDeleted { .. }
            | EventKind::MessageSent(_)
            | EventKind::MessagesWithdrawn { .. } => return false,
        }
        true
    }
}

/// A subscription's state: the newest add or delete for that (account, user) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub subscribed: bool,
    pub event_time: u64,
    pub operator: Option<String>,
}

impl Subscription {
    /// The order that decides which event wins: time, then UNSUBSCRIBED over SUBSCRIBED,
    /// then the operator.
    fn rank(&self) -> (u64, bool, Option<&str>) {
        (self.event_time, !self.subscribed, self.operator.as_deref())
    }

    /// Whether `self` replaces `current`.
    pub(crate) fn supersedes(&self, current: Option<&Subscription>) -> bool {
        current.is_none_or(|c| self.rank() > c.rank())
    }

    pub(crate) fn status_str(&self) -> &'static str {
        if self.subscribed {
            "SUBSCRIBED"
        } else {
            "UNSUBSCRIBED"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ProfileFields;

    fn ev(t: u64, kind: EventKind) -> Event {
        Event {
            app: "1".into(),
            account: "@TOA#_a".into(),
            event_time: t,
            kind,
        }
    }
    fn create(t: u64, op: &str) -> Event {
        ev(
            t,
            EventKind::Created {
                owner: Some("own".into()),
                operator: Some(op.into()),
                name: Some(format!("n{t}")),
            },
        )
    }
    fn destroy(t: u64) -> Event {
        ev(
            t,
            EventKind::Destroyed {
                owner: Some("own".into()),
                name: None,
            },
        )
    }
    fn info(t: u64, name: &str) -> Event {
        ev(
            t,
            EventKind::InfoChanged {
                operator: None,
                fields: ProfileFields {
                    name: Some(name.into()),
                    ..Default::default()
                },
            },
        )
    }

    fn fold<'e>(events: impl IntoIterator<Item = &'e Event>) -> Profile {
        let mut p = Profile::default();
        for e in events {
            p.apply(e);
        }
        p
    }

    /// Every permutation of `events` folds to the same profile.
    fn order_free(events: &[Event]) -> Profile {
        let first = fold(events);
        let mut idx: Vec<usize> = (0..events.len()).collect();
        permute(&mut idx, 0, &mut |order| {
            let once = order.iter().map(|&i| &events[i]);
            assert_eq!(fold(once), first, "order {order:?}");
            // Applying twice changes nothing.
            let twice = order.iter().chain(order).map(|&i| &events[i]);
            assert_eq!(fold(twice), first);
        });
        first
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }

    #[test]
    fn newest_of_create_and_destroy_decides_status() {
        let p = order_free(&[create(10, "a"), destroy(5)]);
        assert_eq!(p.status(), Some(AccountStatus::Active));
        assert_eq!(p.destroyed_at, None);
        let p = order_free(&[create(10, "a"), destroy(12), destroy(11)]);
        assert_eq!(p.status(), Some(AccountStatus::Destroyed));
        assert_eq!(p.destroyed_at, Some(12));
        let p = order_free(&[create(10, "a"), destroy(10)]);
        assert_eq!(p.status(), Some(AccountStatus::Destroyed));
        let p = order_free(&[create(10, "a"), destroy(12), create(13, "b")]);
        assert_eq!(p.status(), Some(AccountStatus::Active));
        assert_eq!(p.created, Some((13, Some("b".into()))));
        assert_eq!(fold(&[]).status(), None);
        assert_eq!(fold(&[info(1, "x")]).status(), None);
    }

    #[test]
    fn fields_take_the_newest_value_with_a_stable_tie_break() {
        let p = order_free(&[create(10, "a"), info(12, "new"), info(11, "mid")]);
        assert_eq!(p.name.unwrap().value, "new");
        let p = order_free(&[info(12, "b"), info(12, "a"), create(12, "x")]);
        assert_eq!(p.name.unwrap().value, "n12");
        let p = order_free(&[create(5, "b"), create(5, "a")]);
        assert_eq!(p.created, Some((5, Some("b".into()))));
    }

    #[test]
    fn full_takes_the_largest_time() {
        let full = |t| ev(t, EventKind::Full);
        let p = order_free(&[full(3), full(9), full(4)]);
        assert_eq!(p.full_at, Some(9));
    }

    #[test]
    fn subscription_order() {
        let sub = |t, s| Subscription {
            subscribed: s,
            event_time: t,
            operator: None,
        };
        assert!(sub(2, true).supersedes(Some(&sub(1, false))));
        assert!(!sub(1, true).supersedes(Some(&sub(2, false))));
        assert!(sub(2, false).supersedes(Some(&sub(2, true))));
        assert!(!sub(2, true).supersedes(Some(&sub(2, false))));
        assert!(!sub(2, true).supersedes(Some(&sub(2, true))));
        assert!(sub(0, true).supersedes(None));
    }
}
