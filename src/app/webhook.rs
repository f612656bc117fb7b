//! A webhook request's delivery decisions (docs/contract.md sections 2 and 5): write an
//! admitted event, or hand it off (too large, contention on a hot account, a failed
//! write); dead-letter what can never be stored; answer 503 late as a last resort; relay
//! what is not stored here (section 7).

use super::{account_in_body, outcome_of, App};
use crate::events::{Event, EventKind};
use crate::handoff::{Envelope, QueueError};
use crate::outcome::{Failure, HandOffCause, Outcome, Rejection};
use crate::protocol::{self, Admission, Callback, Seen};
use crate::store::{Budget, OnContention, StoreError};
use std::borrow::Cow;
use std::time::Duration;
use tokio::time::Instant;

/// Time kept after the store for the hand-off when a hand-off queue is configured: the
/// store stops this long before the reply is due, so that SQS gets it, with room for a
/// retry (figures: docs/delivery.md).
pub const HANDOFF_RESERVE: Duration = Duration::from_millis(300);

/// Lists longer than this (`SubscribeAccountList`, `WithdrawMsgList`) go to the hand-off
/// queue before any write, when one is configured: more than a transaction's worth,
/// which did not reliably fit the budget (docs/delivery.md). The REST API adds at most
/// 100 subscribers a call, so a genuine callback of that size is still written directly.
pub const UP_FRONT_MAX_ENTRIES: usize = 100;

impl App {
    /// A webhook request's outcome: contract rows 1-11 ([`protocol::admit`]), then the
    /// write (rows 12-13) within `budget`, then section 5 (hand-off, dead letters, last
    /// resort). `seen` collects what the request line shows.
    pub async fn webhook(&self, req: &Callback<'_>, budget: &Budget, seen: &mut Seen) -> Outcome {
        match protocol::admit(req, &self.config, self.clock.now_secs(), seen) {
            Admission::Answer(outcome) => self.deliver(req, outcome, None, budget).await,
            Admission::Relay(fallback) => self.relay(req, budget, fallback).await,
            Admission::Store(event) => {
                let outcome = self.write_or_hand_off(&event, budget).await;
                self.deliver(req, outcome, Some(&event.account), budget)
                    .await
            }
        }
    }

    /// The budget of a webhook request that arrived now and must be answered within
    /// `budget`: when a hand-off queue is configured, the store stops
    /// [`HANDOFF_RESERVE`] early to leave SQS its share, and gives up at once on
    /// contention ([`OnContention::GiveUp`]) so that the event is handed off.
    pub(crate) fn webhook_budget(&self, budget: Duration) -> Budget {
        let b = Budget::until(Instant::now() + budget);
        if self.queues.can_hand_off() {
            b.reserving(HANDOFF_RESERVE)
                .on_contention(OnContention::GiveUp)
        } else {
            b
        }
    }

    /// The webhook's write: handed off before any write when too large, or when the
    /// account is remembered hot (subscriber events); handed off at once when the write
    /// meets contention, and the account remembered hot (section 5, "Contention").
    /// Without a hand-off queue, always the write.
    async fn write_or_hand_off(&self, event: &Event, budget: &Budget) -> Outcome {
        let can_hand_off = self.queues.can_hand_off();
        if can_hand_off && too_large(event) {
            return Outcome::HandedOff(HandOffCause::TooLarge);
        }
        let subscribers = matches!(
            event.kind,
            EventKind::SubscribersAdded { .. } | EventKind::SubscribersDeleted { .. }
        );
        if can_hand_off
            && subscribers
            && self
                .hot
                .is_hot(&event.app, &event.account, self.clock.now_ms())
        {
            return Outcome::HandedOff(HandOffCause::HotAccount);
        }
        match self.store.apply(event, budget).await {
            Err(StoreError::Contention(e)) => {
                tracing::info!(error = %e, "contention: the account is hot");
                self.hot
                    .remember(&event.app, &event.account, self.clock.now_ms());
                if can_hand_off {
                    Outcome::HandedOff(HandOffCause::Contention)
                } else {
                    Outcome::Failed(Failure::StoreUnavailable)
                }
            }
            written => outcome_of(written),
        }
    }

    /// Section 5 after admission and the write: hand-off, dead letters, and the last
    /// resort's 503 no sooner than [`App::last_resort`] after arrival. Other outcomes pass
    /// unchanged, at once. `account`: the event's, when admission read it.
    async fn deliver(
        &self,
        req: &Callback<'_>,
        outcome: Outcome,
        account: Option<&str>,
        budget: &Budget,
    ) -> Outcome {
        let outcome = match outcome {
            // An up-front hand-off (too large, a hot account, contention) that SQS refused
            // is an event neither place took, like a failed write's: the same late 503.
            Outcome::HandedOff(cause) => self.hand_off(req, cause, account, budget).await,
            Outcome::Failed(f) if self.queues.can_hand_off() => {
                self.hand_off(req, HandOffCause::Store(f), account, budget)
                    .await
            }
            Outcome::Rejected(r) if r.reason.dead_letters() && self.queues.can_dead_letter() => {
                self.dead_letter(req, &r, account, budget).await;
                Outcome::Rejected(r)
            }
            other => other,
        };
        if matches!(outcome, Outcome::Failed(_)) {
            // Never past the Lambda deadline: a reply is still better than none.
            let late = budget.started() + self.last_resort;
            tokio::time::sleep_until(budget.limit().map_or(late, |limit| late.min(limit))).await;
        }
        outcome
    }

    /// Sends the request to the dead-letter queue with `r`'s reason within what is left of
    /// `budget`, in its account's message group (the body's, when admission read none).
    async fn dead_letter(
        &self,
        req: &Callback<'_>,
        r: &Rejection,
        account: Option<&str>,
        budget: &Budget,
    ) {
        let sent = match Envelope::of(req, self.clock.now_ms()) {
            Some(env) => {
                let account = account
                    .map(Cow::Borrowed)
                    .or_else(|| account_in_body(&req.body).map(Cow::Owned));
                let (body, app) = (env.to_json(), Some(env.sdk_app_id.as_str()));
                self.queues
                    .dead_letter(&body, r, app, account.as_deref(), budget.end())
                    .await
            }
            None => Err(QueueError::Sqs("no envelope".to_owned())),
        };
        match sent {
            Ok(()) => tracing::info!(reason = r.reason.label(), "dead-lettered"),
            Err(e) => tracing::error!(
                reason = r.reason.label(),
                error = %e,
                "dead letter not sent: the event is lost"
            ),
        }
    }

    /// Sends the request to the hand-off queue within what is left of `budget`, in its
    /// account's message group.
    async fn hand_off(
        &self,
        req: &Callback<'_>,
        cause: HandOffCause,
        account: Option<&str>,
        budget: &Budget,
    ) -> Outcome {
        let Some(env) = Envelope::of(req, self.clock.now_ms()) else {
            return Outcome::Failed(Failure::HandOff);
        };
        let started = Instant::now();
        let sent = self.queues.hand_off(&env, cause, account, budget.end());
        match sent.await {
            Ok(()) => {
                tracing::info!(
                    cause = cause.label(),
                    sqs_ms = started.elapsed().as_millis() as u64,
                    "handed off"
                );
                Outcome::HandedOff(cause)
            }
            Err(e) => {
                tracing::error!(cause = cause.label(), error = %e, "hand-off failed");
                Outcome::Failed(Failure::HandOff)
            }
        }
    }

    /// Rows 8 and 9 with `FORWARD_URL` set: the request, as received, to the backend
    /// before the reply is due; its reply, or 502 (contract section 7). Never handed off
    /// nor delayed (section 5 is for after-events only).
    async fn relay(&self, req: &Callback<'_>, budget: &Budget, fallback: Outcome) -> Outcome {
        let Some(url) = &self.config.forward_url else {
            return fallback;
        };
        let url = url.with_query(&req.raw_query);
        let relayed = self
            .relay
            .forward(&url, req.method, &req.body, budget.end());
        match relayed.await {
            Ok(reply) => Outcome::Relayed(Box::new(reply)),
            Err(failure) => {
                tracing::warn!(reason = failure.label(), "relay failed");
                Outcome::Failed(Failure::Relay(failure))
            }
        }
    }
}

/// Whether an event is too large to write inside the webhook's budget, decided before
/// any write ([`UP_FRONT_MAX_ENTRIES`]).
fn too_large(event: &Event) -> bool {
    let entries = match &event.kind {
        EventKind::SubscribersAdded { subscribers, .. }
        | EventKind::SubscribersDeleted { subscribers, .. } => subscribers.len(),
        EventKind::MessagesWithdrawn { msg_keys } => msg_keys.len(),
        _ => 0,
    };
    entries > UP_FRONT_MAX_ENTRIES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_too_large() {
        let event = |n: usize| Event {
            app: "1".into(),
            account: "a".into(),
            event_time: 1,
            kind: EventKind::SubscribersDeleted {
                operator: None,
                subscribers: (0..n).map(|i| format!("u{i}")).collect(),
            },
        };
        assert!(!too_large(&event(UP_FRONT_MAX_ENTRIES)));
        assert!(too_large(&event(UP_FRONT_MAX_ENTRIES + 1)));
    }
}
