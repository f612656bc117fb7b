//! From what Tencent holds and what the table holds to the events a sync writes. Pure:
//! no I/O, so each rule is unit-tested here; `docs/sync.md` ("What each fact becomes")
//! states the same rules and why. `F` is `T - skew` for a fact read at `T` (ms, contract
//! section 4): no event a sync writes is newer, so a real event after the read wins.

use crate::events::{Event, EventKind, Message, ProfileFields};
use crate::state::{AccountStatus, Profile, Stamped, Subscription};
use crate::tencent::rest::AccountInfo;
use std::collections::HashMap;

/// A sync's event: `kind` for `account` at `event_time` (ms).
fn event(app: &str, account: &str, event_time: u64, kind: EventKind) -> Event {
    Event {
        app: app.to_owned(),
        account: account.to_owned(),
        event_time,
        kind,
    }
}

/// The profile events for an account Tencent knows, given the stored profile (if any).
///
/// - `Created` (owner from `Owner_Account`, no operator, no name) at
///   `min(CreateTime*1000, F)`, when the table has no create yet, or no owner, or shows
///   the account destroyed before that time. The start of the second, so that the real
///   create event (same second, with its operator) wins when it arrives.
/// - `InfoChanged` at `F` with each of `Name`, `Introduction`, `FaceUrl`, `Organization`
///   that Tencent returns non-empty and the table holds with another value or not at all.
pub fn profile_events(
    app: &str,
    stored: Option<&Profile>,
    info: &AccountInfo,
    f: u64,
) -> Vec<Event> {
    let account = &info.official_account;
    let mut out = Vec::new();
    if let Some(c) = info.create_time.map(|c| c.saturating_mul(1000).min(f)) {
        let needs_create = stored.is_none_or(|p| {
            p.created.is_none()
                || (p.owner.is_none() && info.owner_account.is_some())
                || (p.status() == Some(AccountStatus::Destroyed)
                    && p.destroyed_at.is_some_and(|d| c > d))
        });
        if needs_create {
            let kind = EventKind::Created {
                owner: nonempty(&info.owner_account),
                operator: None,
                name: None,
            };
            out.push(event(app, account, c, kind));
        }
    }
    // Tencent's value when it is set and the stored one (`ours` of the profile) is not it.
    let differs = |ours: fn(&Profile) -> &Option<Stamped>, theirs: &Option<String>| {
        let ours = stored.and_then(|p| ours(p).as_ref());
        nonempty(theirs).filter(|v| ours.is_none_or(|o| &o.value != v))
    };
    let fields = ProfileFields {
        name: differs(|p| &p.name, &info.name),
        introduction: differs(|p| &p.introduction, &info.introduction),
        face_url: differs(|p| &p.face_url, &info.face_url),
        organization: differs(|p| &p.organization, &info.organization),
    };
    if fields != ProfileFields::default() {
        let kind = EventKind::InfoChanged {
            operator: None,
            fields,
        };
        out.push(event(app, account, f, kind));
    }
    out
}

/// The event for an account Tencent does not know (130004): `Destroyed` at `F`, only when
/// the table holds the account and does not already show it destroyed.
pub(crate) fn gone_event(
    app: &str,
    account: &str,
    stored: Option<&Profile>,
    f: u64,
) -> Option<Event> {
    let kind = EventKind::Destroyed {
        owner: None,
        name: None,
    };
    (stored?.status() != Some(AccountStatus::Destroyed)).then(|| event(app, account, f, kind))
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

/// What the subscriber comparison decided, before any write: the counts are those of
/// the report (`subscribers_added`, `subscribers_resubscribed`, `kept_newer`), and the
/// listed users the table already shows SUBSCRIBED (`agreed`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SubscriberPlan {
    /// Users to mark SUBSCRIBED, each with its event time, in user order.
    pub subscribe: Vec<(String, u64)>,
    /// Users to mark UNSUBSCRIBED at `F` of the listing.
    pub unsubscribe: Vec<String>,
    pub added: u32,
    pub resubscribed: u32,
    pub kept_newer: u32,
    pub agreed: u32,
}

/// Compares Tencent's complete list (user → `SubscribeTime`, seconds), read from `F`
/// on (`F` = start of the listing − skew), with the stored subscriptions:
/// - a listed user becomes SUBSCRIBED at `min(SubscribeTime*1000 + 999, F)`, unless the
///   table already shows them SUBSCRIBED, or UNSUBSCRIBED by a newer-or-equal event;
/// - a stored SUBSCRIBED user that is not listed becomes UNSUBSCRIBED at `F`, unless
///   their stored event is newer than `F` (they subscribed while the list was read).
pub(crate) fn plan_subscribers(
    listed: &HashMap<String, u64>,
    stored: &HashMap<String, Subscription>,
    f: u64,
) -> SubscriberPlan {
    let mut plan = SubscriberPlan::default();
    for (user, secs) in listed {
        // The latest millisecond of the second: it happened within `[s*1000, s*1000+999]`.
        let t = secs.saturating_mul(1000).saturating_add(999).min(f);
        let fact = Subscription {
            subscribed: true,
            event_time: t,
            operator: None,
        };
        match stored.get(user) {
            Some(s) if s.subscribed => plan.agreed += 1,
            Some(s) if !fact.supersedes(Some(s)) => plan.kept_newer += 1,
            Some(_) => {
                plan.resubscribed += 1;
                plan.subscribe.push((user.clone(), t));
            }
            None => {
                plan.added += 1;
                plan.subscribe.push((user.clone(), t));
            }
        }
    }
    for (user, s) in stored {
        if s.subscribed && !listed.contains_key(user) {
            if s.event_time <= f {
                plan.unsubscribe.push(user.clone());
            } else {
                plan.kept_newer += 1;
            }
        }
    }
    plan.subscribe.sort();
    plan.unsubscribe.sort();
    plan
}

/// The send event for a history message the table lacks: `MsgTime` from `MsgTimeStamp`,
/// the body (empty for a recalled one), at `min(MsgTimeStamp*1000, F)`: the start of the
/// second, so that the real send event, which also carries `CloudCustomData` and
/// `OnlineOnlyFlag`, wins when it arrives.
pub(crate) fn send_event(
    app: &str,
    account: &str,
    msg_key: &str,
    time_stamp: u64,
    body: Option<serde_json::Value>,
    f: u64,
) -> Event {
    let message = Message {
        msg_key: msg_key.to_owned(),
        msg_time: Some(time_stamp),
        online_only_flag: None,
        msg_body: body,
        cloud_custom_data: None,
    };
    let event_time = time_stamp.saturating_mul(1000).min(f);
    event(app, account, event_time, EventKind::MessageSent(message))
}

/// The withdrawal of recalled messages the table does not show withdrawn, at `F` of the
/// page that listed them (the earliest withdrawal wins, so a real one replaces it).
pub(crate) fn withdraw_event(
    app: &str,
    account: &str,
    msg_keys: Vec<String>,
    f: u64,
) -> Option<Event> {
    (!msg_keys.is_empty())
        .then(|| event(app, account, f, EventKind::MessagesWithdrawn { msg_keys }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 1_700_000_000_000;

    fn sub(subscribed: bool, event_time: u64) -> Subscription {
        Subscription {
            subscribed,
            event_time,
            operator: Some("op".into()),
        }
    }

    #[test]
    fn subscribers_listed_missing_and_newer() {
        let listed = HashMap::from([
            ("new".to_owned(), 1_600_000_000),
            ("agreed".to_owned(), 1_600_000_000),
            ("back".to_owned(), 1_600_000_005),
            ("later_unsub".to_owned(), 1_600_000_000),
            ("same_second".to_owned(), 1_600_000_010),
            ("recent".to_owned(), 1_700_000_000),
        ]);
        let stored = HashMap::from([
            ("agreed".to_owned(), sub(true, 1_600_000_000_123)),
            ("back".to_owned(), sub(false, 1_600_000_001_000)),
            // Unsubscribed after the read started: the real event wins.
            ("later_unsub".to_owned(), sub(false, F + 5)),
            // Unsubscribed, then subscribed again within one second (the add was lost).
            ("same_second".to_owned(), sub(false, 1_600_000_010_400)),
            ("gone".to_owned(), sub(true, 1_500_000_000_000)),
            // Subscribed while the list was read: not listed, but newer than F.
            ("during".to_owned(), sub(true, F + 1)),
        ]);
        let plan = plan_subscribers(&listed, &stored, F);
        assert_eq!(plan.added, 2, "new and recent");
        assert_eq!(plan.resubscribed, 2, "back and same_second");
        assert_eq!(plan.agreed, 1);
        assert_eq!(plan.kept_newer, 2, "later_unsub and during");
        assert_eq!(plan.unsubscribe, vec!["gone".to_owned()]);
        let at = |u: &str| plan.subscribe.iter().find(|(x, _)| x == u).map(|(_, t)| *t);
        assert_eq!(at("new"), Some(1_600_000_000_999));
        assert_eq!(at("same_second"), Some(1_600_000_010_999));
        // Capped at F.
        assert_eq!(at("recent"), Some(F));
        assert_eq!(plan.subscribe.len(), 4);
    }

    fn info() -> AccountInfo {
        AccountInfo {
            official_account: "oa".into(),
            name: Some("Name".into()),
            owner_account: Some("owner".into()),
            create_time: Some(1_600_000_000),
            introduction: Some(String::new()),
            ..AccountInfo::default()
        }
    }

    #[test]
    fn profile_of_an_unknown_account() {
        let events = profile_events("1400000001", None, &info(), F);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_time, 1_600_000_000_000);
        assert!(matches!(
            &events[0].kind,
            EventKind::Created { owner: Some(o), operator: None, name: None } if o == "owner"
        ));
        assert_eq!(events[1].event_time, F);
        match &events[1].kind {
            EventKind::InfoChanged { fields, .. } => {
                assert_eq!(fields.name.as_deref(), Some("Name"));
                assert_eq!(fields.introduction, None, "empty means unset");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn profile_that_agrees_writes_nothing() {
        let stored = Profile {
            created: Some((1_600_000_000_123, Some("op".into()))),
            owner: Some(Stamped {
                time: 1_600_000_000_123,
                value: "owner".into(),
            }),
            name: Some(Stamped {
                time: 1,
                value: "Name".into(),
            }),
            ..Profile::default()
        };
        assert!(profile_events("1400000001", Some(&stored), &info(), F).is_empty());
        // Destroyed in the table, unknown to Tencent: nothing more to say.
        let mut destroyed = stored.clone();
        destroyed.destroyed_at = Some(1_650_000_000_000);
        assert!(gone_event("1400000001", "oa", Some(&destroyed), F).is_none());
        // Active in the table, unknown to Tencent: destroyed at F.
        let e = gone_event("1400000001", "oa", Some(&stored), F).expect("destroy");
        assert_eq!(e.event_time, F);
        // Not in the table at all: nothing.
        assert!(gone_event("1400000001", "oa", None, F).is_none());
    }

    #[test]
    fn sends_are_floored_withdrawals_at_f() {
        let e = send_event("1", "oa", "5_1_1600000000", 1_600_000_000, None, F);
        assert_eq!(e.event_time, 1_600_000_000_000);
        let e = send_event("1", "oa", "k", 1_800_000_000, None, F);
        assert_eq!(e.event_time, F, "never later than F");
        assert!(withdraw_event("1", "oa", vec![], F).is_none());
    }
}
