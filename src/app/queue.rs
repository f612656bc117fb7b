//! Queued events applied again (docs/contract.md section 5, "Per account"): a batch
//! admitted record by record, each account's subscriber changes folded and written
//! together, what can never be stored dead-lettered alone with its reason.

use super::{account_in_body, outcome_of, unfit_rejection, App, Verdict};
use crate::events::Event;
use crate::handoff::{visibility_after, Envelope, EnvelopeError, QueueName};
use crate::outcome::{Failure, Outcome, Reason, Rejection};
use crate::protocol::{self, Admission, Checks, Seen};
use crate::store::limits;
use crate::store::{AccountWrites, Budget, Delivery, Pacing};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Accounts of one batch written at once: each is a chain of DynamoDB calls; a batch of
/// many accounts should not open as many connections at once.
const ACCOUNTS_AT_ONCE: usize = 16;

/// The longest the consumer waits for SQS to take a dead letter.
const DEAD_LETTER_TIMEOUT: Duration = Duration::from_secs(5);

/// A queued message as the queue door hands it over.
#[derive(Debug, Clone, Copy)]
pub struct QueuedRecord<'a> {
    /// SQS's message id (what a partial batch failure names).
    pub message_id: &'a str,
    /// The message body: an [`Envelope`], or anything else (dead-lettered).
    pub body: &'a str,
    /// SQS's `ApproximateReceiveCount` (1 on the first receive; 0 when unknown): above 1,
    /// the record's changes are read before they are written (`store/subscriptions.rs`).
    pub receive_count: u32,
    /// The receipt handle, to hide a failed-back record for [`visibility_after`] its
    /// receive count; `None` when unknown (the queue's own visibility timeout then).
    pub receipt_handle: Option<&'a str>,
}

impl QueuedRecord<'_> {
    fn delivery(&self) -> Delivery {
        if self.receive_count > 1 {
            Delivery::Redelivered
        } else {
            Delivery::First
        }
    }
}

/// What became of one record of a batch, for its log line and the batch response.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub outcome: Outcome,
    pub verdict: Verdict,
    pub seen: Seen,
    /// DynamoDB figures: an account's subscriber write is counted on its first record.
    pub dynamodb_time: Duration,
    pub dynamodb_requests: u32,
    pub dynamodb_retries: u32,
}

impl Consumed {
    fn new(verdict: Verdict, outcome: Outcome) -> Consumed {
        Consumed {
            outcome,
            verdict,
            seen: Seen::default(),
            dynamodb_time: Duration::ZERO,
            dynamodb_requests: 0,
            dynamodb_retries: 0,
        }
    }

    fn counting(mut self, budget: &Budget) -> Consumed {
        self.dynamodb_time = budget.dynamodb_time();
        self.dynamodb_requests = budget.requests();
        self.dynamodb_retries = budget.retries();
        self
    }
}

/// One account's share of a batch.
struct AccountWork {
    writes: AccountWrites,
    /// The records folded into `writes`.
    folded: Vec<usize>,
    /// The account's other events (profile, messages), applied one by one after.
    others: Vec<(usize, Event)>,
}

impl App {
    /// A queued message admitted as the webhook admits it, with the checks of a queued
    /// event ([`Checks::Queued`]: no source address, signature or relay): the event to
    /// write, or the outcome of one with nothing to write (ignored, a probe, a refusal).
    fn admit_queued(&self, message: &str, seen: &mut Seen) -> Result<Event, Outcome> {
        let bad = |e: EnvelopeError| Outcome::rejected(Reason::BadEnvelope, e.0);
        let env = Envelope::parse(message).map_err(bad)?;
        let req = env.request().map_err(bad)?;
        let now = self.clock.now_secs();
        match protocol::admit_with(&req, &self.config, Checks::Queued, now, seen) {
            Admission::Answer(outcome) | Admission::Relay(outcome) => Err(outcome),
            Admission::Store(event) => limits::check(&event)
                .map(|()| event)
                .map_err(unfit_rejection),
        }
    }

    /// A queued message (an [`Envelope`]) admitted ([`App::admit_queued`]), then written
    /// within `budget`. Nothing is sent to a queue. `seen` collects what the log line shows.
    pub(crate) async fn redeliver(
        &self,
        message: &str,
        budget: &Budget,
        seen: &mut Seen,
    ) -> Outcome {
        match self.admit_queued(message, seen) {
            Ok(event) => outcome_of(self.store.apply(&event, budget).await),
            Err(outcome) => outcome,
        }
    }

    /// A message that can never be stored moved to the dead letters with its reason
    /// ([`Verdict::Done`]), or left for the redrive to move when that fails.
    async fn dead_letter_queued(&self, message: &str, r: &Rejection, seen: &Seen) -> Verdict {
        let env = Envelope::parse(message).ok();
        let app = env
            .as_ref()
            .map(|e| e.sdk_app_id.as_str())
            .or(seen.app.as_deref())
            .filter(|a| !a.is_empty());
        let account = env
            .as_ref()
            .and_then(|e| e.body_bytes().ok())
            .and_then(|b| account_in_body(&b));
        let deadline = Instant::now() + DEAD_LETTER_TIMEOUT;
        let sent = self
            .queues
            .dead_letter(message, r, app, account.as_deref(), deadline);
        match sent.await {
            Ok(()) => Verdict::Done,
            Err(e) => {
                tracing::error!(error = %e, "dead letter not sent; left in the queue");
                Verdict::Retry
            }
        }
    }

    /// A batch of queued records applied account by account (docs/contract.md section 5,
    /// "Per account"): an account's subscriber changes folded and written together
    /// ([`crate::store::Store::write_account`]), its other events one by one after;
    /// accounts concurrently, each within `budget`. A record that can never be
    /// stored (a bad envelope, rows 11 and 12a, any refusal) is dead-lettered alone.
    /// Returns one [`Consumed`] per record, in order: a [`Verdict::Retry`] names exactly a
    /// record not applied (an account whose write failed retries all of its folded
    /// records, which a redelivery repairs).
    pub async fn consume_records(
        &self,
        records: &[QueuedRecord<'_>],
        budget: Duration,
    ) -> Vec<Consumed> {
        let mut done = Vec::with_capacity(records.len());
        let mut accounts: HashMap<(String, String), AccountWork> = HashMap::new();
        let mut refused = Vec::new();
        for (i, record) in records.iter().enumerate() {
            // Failed back until decided below: a slip never acknowledges a record.
            let mut consumed = Consumed::new(Verdict::Retry, Outcome::Failed(Failure::Store));
            match self.admit_queued(record.body, &mut consumed.seen) {
                // Whatever the reason (an app no longer configured, too): to the dead
                // letters with it, never dropped.
                Err(Outcome::Rejected(r)) => refused.push((i, r)),
                Err(outcome) => {
                    consumed.verdict = Verdict::of(&outcome);
                    consumed.outcome = outcome;
                }
                Ok(event) => {
                    let work = accounts
                        .entry((event.app.clone(), event.account.clone()))
                        .or_insert_with(|| AccountWork {
                            writes: AccountWrites::new(&event.app, &event.account),
                            folded: Vec::new(),
                            others: Vec::new(),
                        });
                    if work.writes.fold_event(&event, record.delivery()).is_ok() {
                        work.folded.push(i);
                    } else {
                        work.others.push((i, event));
                    }
                }
            }
            done.push(consumed);
        }
        let seen = |i: usize| &done[i].seen;
        let dead_letters =
            futures_util::future::join_all(refused.into_iter().map(|(i, r)| async move {
                let verdict = self.dead_letter_queued(records[i].body, &r, seen(i)).await;
                (i, Consumed::new(verdict, Outcome::Rejected(r)))
            }));
        let writes = futures_util::stream::iter(accounts.into_values())
            .map(|work| self.write_account_work(work, budget))
            .buffer_unordered(ACCOUNTS_AT_ONCE)
            .collect::<Vec<_>>();
        let (dead_letters, writes) = futures_util::future::join(dead_letters, writes).await;
        for (i, decided) in dead_letters.into_iter().chain(writes.into_iter().flatten()) {
            let seen = std::mem::take(&mut done[i].seen);
            done[i] = Consumed { seen, ..decided };
        }
        let retried = done.iter().zip(records).filter_map(|(c, r)| {
            let handle = r.receipt_handle.filter(|_| c.verdict == Verdict::Retry);
            Some((handle?, r.receive_count))
        });
        self.hide_failed_back(retried).await;
        done
    }

    /// Hides each failed-back record for [`visibility_after`] its receive count (docs/delivery.md,
    /// "The consumer"), so that a record whose batch's time ran out while its account was
    /// paced comes back soon. A record not hidden keeps the queue's visibility timeout.
    async fn hide_failed_back<'r>(&self, retried: impl Iterator<Item = (&'r str, u32)>) {
        if !self.queues.can_hand_off() {
            return;
        }
        let deadline = Instant::now() + DEAD_LETTER_TIMEOUT;
        let hides = retried.map(|(handle, count)| async move {
            let hidden = self
                .queues
                .hide(QueueName::HandOff, handle, visibility_after(count), deadline)
                .await;
            if let Err(e) = hidden {
                tracing::warn!(error = %e, "failed-back record keeps the queue's visibility timeout");
            }
        });
        futures_util::future::join_all(hides).await;
    }

    /// One account's subscriber write, then its other events one by one.
    async fn write_account_work(
        &self,
        work: AccountWork,
        budget: Duration,
    ) -> Vec<(usize, Consumed)> {
        let mut out = Vec::with_capacity(work.folded.len() + work.others.len());
        if let Some((&head, tail)) = work.folded.split_first() {
            let b = Budget::until(Instant::now() + budget).paced(Pacing::PerAccount);
            let written = self.store.write_account(&work.writes, &b).await;
            let verdict = match written {
                Ok(_) => Verdict::Done,
                Err(_) => Verdict::Retry,
            };
            // The account's figures and items are counted on its first record.
            let first = outcome_of(written);
            let rest = match &first {
                Outcome::Stored { .. } => Outcome::Stored { items_written: 0 },
                other => other.clone(),
            };
            out.push((head, Consumed::new(verdict, first).counting(&b)));
            out.extend(
                tail.iter()
                    .map(|&i| (i, Consumed::new(verdict, rest.clone()))),
            );
        }
        for (i, event) in work.others {
            let b = Budget::until(Instant::now() + budget);
            let outcome = outcome_of(self.store.apply(&event, &b).await);
            let consumed = Consumed::new(Verdict::of(&outcome), outcome);
            out.push((i, consumed.counting(&b)));
        }
        out
    }
}
