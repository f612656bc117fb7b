//! The service every door calls, and its delivery decisions (docs/contract.md section 5)
//! in one place: write an admitted event, hand it off (too large, contention on a hot
//! account, a failed write), dead-letter what can never be stored, answer 503 late as a
//! last resort, and apply queued events again, a batch account by account.
//!
//! The SQS adapter is `handoff.rs` (envelopes, queues); the table is `store/`; the SDK
//! clients' profiles are `clients.rs`; every "now" comes from [`App::clock`].

use crate::clock::Clock;
use crate::config::Config;
use crate::events::{Event, EventKind};
use crate::handoff::{message_group, Envelope, QueueError, Queues};
use crate::outcome::{Failure, HandOffCause, Outcome, Reason, Rejection};
use crate::protocol::{self, Admission, Checks, Request, Seen};
use crate::relay::Relay;
use crate::store::limits::{self, Unfit};
use crate::store::{AccountWrites, Applied, Budget, OnContention, Store, StoreError};
use crate::telemetry::RequestLog;
use futures_util::StreamExt;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The longest a webhook request may take, whatever DynamoDB does: the Chat backend
/// waits 2 s (docs/protocol.md section 1).
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(1400);

/// Time kept after the store for the hand-off when a hand-off queue is configured: the
/// store stops this long before the reply is due, so that SQS gets it, with room for a
/// retry (figures: docs/delivery.md).
pub const HANDOFF_RESERVE: Duration = Duration::from_millis(300);

/// A failed after-event is answered 503 no sooner than this after it arrived (section 5,
/// "last resort"): Tencent retries only requests that time out (2 s), so a late answer is
/// the one that gets the event sent again.
pub const LAST_RESORT_AFTER: Duration = Duration::from_millis(2100);

/// Lists longer than this (`SubscribeAccountList`, `WithdrawMsgList`) go to the hand-off
/// queue before any write, when one is configured: more than a transaction's worth,
/// which did not reliably fit the budget (docs/delivery.md). The REST API adds at most
/// 100 subscribers a call, so a genuine callback of that size is still written directly.
pub const UP_FRONT_MAX_ENTRIES: usize = 100;

/// How long an account found hot (contention on its items) has its subscriber events
/// handed off without a try, per instance (section 5, "Contention"; the reasoning is in
/// docs/delivery.md, "A hot account").
pub const HOT_HOLD: Duration = Duration::from_secs(10);

/// The most accounts an instance remembers as hot at once; past it, the one that cools
/// first is forgotten.
pub const HOT_ACCOUNTS_MAX: usize = 256;

/// Accounts of one batch written at once: each is a chain of DynamoDB calls; a batch of
/// many accounts should not open as many connections at once.
const ACCOUNTS_AT_ONCE: usize = 16;

/// The longest the consumer waits for SQS to take a dead letter.
const DEAD_LETTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a function instance keeps between requests. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    /// Every "now" of the service (Unix time): admission's `RequestTime` window, a
    /// hand-off's `received_at_ms`, the queue door's Lambda deadline, the hot memory.
    pub clock: Clock,
    /// The webhook's time budget (docs/contract.md section 2).
    pub budget: Duration,
    /// Where the request line (log + EMF metrics) goes; off unless set (`main`: stdout).
    pub log: RequestLog,
    /// The hand-off and dead-letter queues (section 5); none unless set (`main`: from
    /// the configuration).
    pub queues: Queues,
    /// An after-event neither the table nor the hand-off queue took is answered 503 no
    /// sooner than this after its arrival (section 5; injectable for tests).
    pub last_resort: Duration,
    /// The client for `FORWARD_URL` (contract section 7), built on first use.
    pub relay: Relay,
    /// The accounts this instance found hot ([`HOT_HOLD`]).
    pub hot: HotAccounts,
}

impl App {
    pub fn new(config: Config, store: Store) -> App {
        App {
            config: Arc::new(config),
            store,
            clock: Clock::system(),
            budget: DEFAULT_BUDGET,
            log: RequestLog::off(),
            queues: Queues::none(),
            last_resort: LAST_RESORT_AFTER,
            relay: Relay::new(),
            hot: HotAccounts::default(),
        }
    }

    /// A webhook request's outcome: contract rows 1-11 ([`protocol::admit`]), then the
    /// write (rows 12-13) within `budget`, then section 5 (hand-off, dead letters, last
    /// resort). `seen` collects what the request line shows.
    pub async fn webhook(&self, req: &Request<'_>, budget: &Budget, seen: &mut Seen) -> Outcome {
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
    pub fn webhook_budget(&self, budget: Duration) -> Budget {
        let b = Budget::until(Instant::now() + budget);
        if self.queues.can_hand_off() {
            b.reserving(HANDOFF_RESERVE)
                .on_contention(OnContention::GiveUp)
        } else {
            b
        }
    }

    /// Writes an admitted event within `budget` (rows 11-13, before any hand-off).
    async fn store_event(&self, event: &Event, budget: &Budget) -> Outcome {
        outcome_of(self.store.apply(event, budget).await)
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
        if can_hand_off
            && is_subscriber_event(event)
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

    /// Section 5, after admission and the write: an event the table did not take goes to
    /// the hand-off queue (200 OK once SQS has it), one that can never be stored to the
    /// dead-letter queue, and one that neither the table nor the queue took is answered
    /// 503 no sooner than [`App::last_resort`] after arrival. Other outcomes pass
    /// unchanged, at once. `account`: the event's, when admission read it.
    async fn deliver(
        &self,
        req: &Request<'_>,
        outcome: Outcome,
        account: Option<&str>,
        budget: &Budget,
    ) -> Outcome {
        match outcome {
            Outcome::HandedOff(cause) => self.hand_off(req, cause, account, budget).await,
            Outcome::Failed(f) => {
                let outcome = if self.queues.can_hand_off() {
                    self.hand_off(req, HandOffCause::Store(f), account, budget)
                        .await
                } else {
                    Outcome::Failed(f)
                };
                if matches!(outcome, Outcome::Failed(_)) {
                    // Never past the Lambda deadline: a reply is still better than none.
                    let mut until = budget.started() + self.last_resort;
                    if let Some(limit) = budget.limit() {
                        until = until.min(limit);
                    }
                    tokio::time::sleep_until(until).await;
                }
                outcome
            }
            Outcome::Rejected(r) if r.reason.dead_letters() => {
                if self.queues.can_dead_letter() {
                    let sent = match Envelope::of(req, self.clock.now_ms()) {
                        Some(env) => {
                            let account = account.map(Cow::Borrowed).or_else(|| {
                                account_in_body(req.body.as_deref().ok()).map(Cow::Owned)
                            });
                            let group = message_group(&env.sdk_app_id, account.as_deref());
                            self.queues
                                .dead_letter(
                                    &env.to_json(),
                                    r.reason,
                                    &r.info,
                                    Some(&group),
                                    budget.end(),
                                )
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
                Outcome::Rejected(r)
            }
            other => other,
        }
    }

    /// Sends the request to the hand-off queue within what is left of `budget`, in its
    /// account's message group.
    async fn hand_off(
        &self,
        req: &Request<'_>,
        cause: HandOffCause,
        account: Option<&str>,
        budget: &Budget,
    ) -> Outcome {
        let Some(env) = Envelope::of(req, self.clock.now_ms()) else {
            return Outcome::Failed(Failure::HandOff);
        };
        let group = message_group(&env.sdk_app_id, account);
        let started = Instant::now();
        match self
            .queues
            .hand_off(&env, cause, &group, budget.end())
            .await
        {
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
    async fn relay(&self, req: &Request<'_>, budget: &Budget, fallback: Outcome) -> Outcome {
        let Some(url) = &self.config.forward_url else {
            return fallback;
        };
        // Row 7 refused an undecodable body before rows 8 and 9.
        let body = req.body.as_deref().unwrap_or_default();
        let url = url.with_query(&req.raw_query);
        match self
            .relay
            .forward(&url, req.method, body, budget.end())
            .await
        {
            Ok(reply) => Outcome::Relayed(Box::new(reply)),
            Err(failure) => {
                tracing::warn!(reason = failure.label(), "relay failed");
                Outcome::Failed(Failure::Relay(failure))
            }
        }
    }
}

/// The outcome of a write (rows 11-13).
fn outcome_of(written: Result<Applied, StoreError>) -> Outcome {
    match written {
        Ok(applied) if applied.items_written > 0 => Outcome::Stored {
            items_written: applied.items_written,
        },
        Ok(_) => Outcome::Unchanged,
        Err(StoreError::Unfit(unfit)) => unfit_rejection(unfit),
        Err(e) => {
            tracing::warn!(error = %e, "write failed");
            Outcome::Failed(match e {
                StoreError::Budget => Failure::StoreTimeout,
                StoreError::Unavailable(_) | StoreError::Contention(_) => Failure::StoreUnavailable,
                StoreError::Fatal(_) | StoreError::Unfit(_) => Failure::Store,
            })
        }
    }
}

fn unfit_rejection(unfit: Unfit) -> Outcome {
    match unfit {
        Unfit::Invalid(e) => Outcome::rejected(Reason::InvalidField, e.0),
        Unfit::Unstorable(e) => Outcome::rejected(Reason::Unstorable, e.0),
    }
}

/// Whether an event is too large to write inside the webhook's budget, decided before
/// any write ([`UP_FRONT_MAX_ENTRIES`]).
pub fn too_large(event: &Event) -> bool {
    let entries = match &event.kind {
        EventKind::SubscribersAdded { subscribers, .. }
        | EventKind::SubscribersDeleted { subscribers, .. } => subscribers.len(),
        EventKind::MessagesWithdrawn { msg_keys } => msg_keys.len(),
        _ => 0,
    };
    entries > UP_FRONT_MAX_ENTRIES
}

fn is_subscriber_event(event: &Event) -> bool {
    matches!(
        event.kind,
        EventKind::SubscribersAdded { .. } | EventKind::SubscribersDeleted { .. }
    )
}

/// The `Official_Account` of a body admission refused, when it is a string there: the
/// dead letter's message group ([`message_group`]).
fn account_in_body(body: Option<&[u8]>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Account {
        #[serde(rename = "Official_Account")]
        official_account: Option<serde_json::Value>,
    }
    let parsed: Account = serde_json::from_slice(body?).ok()?;
    match parsed.official_account? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

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
    pub fn is_hot(&self, app: &str, account: &str, now_ms: u64) -> bool {
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if until.is_empty() {
            return false;
        }
        until
            .get(&Self::key(app, account))
            .is_some_and(|&t| now_ms < t)
    }

    /// Remembers `account` of `app` as hot from `now_ms` for [`HOT_HOLD`].
    pub fn remember(&self, app: &str, account: &str, now_ms: u64) {
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

/// What became of a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done with: stored, unchanged, not an event to store, or moved to the dead letters.
    Done,
    /// Not taken: leave it in its queue for another try.
    Retry,
}

/// A queued message as the queue door hands it over.
#[derive(Debug, Clone, Copy)]
pub struct QueuedRecord<'a> {
    /// SQS's message id (what a partial batch failure names).
    pub message_id: &'a str,
    /// The message body: an [`Envelope`], or anything else (dead-lettered).
    pub body: &'a str,
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
    fn new(outcome: Outcome, verdict: Verdict, seen: Seen) -> Consumed {
        Consumed {
            outcome,
            verdict,
            seen,
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

/// A queued record after admission.
enum Admitted {
    /// An event to write.
    Event(Event),
    /// Nothing to write: its outcome (ignored, a probe, a refusal).
    Answered(Outcome),
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
    /// event ([`Checks::Queued`]: no source address, signature or relay).
    fn admit_queued(&self, message: &str, seen: &mut Seen) -> Admitted {
        let env = match Envelope::parse(message) {
            Ok(env) => env,
            Err(e) => return Admitted::Answered(Outcome::rejected(Reason::BadEnvelope, e.0)),
        };
        let body = match env.body_bytes() {
            Ok(b) => b,
            Err(e) => return Admitted::Answered(Outcome::rejected(Reason::BadEnvelope, e.0)),
        };
        let req = Request {
            method: "POST",
            source_ip: None,
            query: env.query(),
            raw_query: Cow::Borrowed(""),
            relayed: false,
            body: Ok(body),
        };
        match protocol::admit_with(
            &req,
            &self.config,
            Checks::Queued,
            self.clock.now_secs(),
            seen,
        ) {
            Admission::Answer(outcome) | Admission::Relay(outcome) => Admitted::Answered(outcome),
            Admission::Store(event) => match limits::check(&event) {
                Ok(()) => Admitted::Event(event),
                Err(unfit) => Admitted::Answered(unfit_rejection(unfit)),
            },
        }
    }

    /// A queued message (an [`Envelope`]) applied again: admitted as the webhook admits
    /// it, less the signature check, then written within `budget`. Nothing is sent to a
    /// queue. `seen` collects what the log line shows.
    pub async fn redeliver(&self, message: &str, budget: &Budget, seen: &mut Seen) -> Outcome {
        match self.admit_queued(message, seen) {
            Admitted::Answered(outcome) => outcome,
            Admitted::Event(event) => self.store_event(&event, budget).await,
        }
    }

    /// One queued message on its own ([`App::redeliver`]); a message that can never be
    /// stored goes to the dead-letter queue with its reason.
    pub async fn consume(
        &self,
        message: &str,
        budget: &Budget,
        seen: &mut Seen,
    ) -> (Outcome, Verdict) {
        let outcome = self.redeliver(message, budget, seen).await;
        let verdict = self.verdict(message, &outcome, seen).await;
        (outcome, verdict)
    }

    /// Done, or to try again; a message that can never be stored is moved to the dead
    /// letters with its reason first (or left for the redrive to move, when that fails).
    async fn verdict(&self, message: &str, outcome: &Outcome, seen: &Seen) -> Verdict {
        match outcome {
            Outcome::Failed(_) | Outcome::HandedOff(_) => Verdict::Retry,
            Outcome::Rejected(r) => self.dead_letter_queued(message, r, seen).await,
            _ => Verdict::Done,
        }
    }

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
            .and_then(|b| account_in_body(Some(&b)));
        // What is known: the account, or the app; nothing for a message that is not an
        // envelope.
        let group = app.map(|app| message_group(app, account.as_deref()));
        let deadline = Instant::now() + DEAD_LETTER_TIMEOUT;
        match self
            .queues
            .dead_letter(message, r.reason, &r.info, group.as_deref(), deadline)
            .await
        {
            Ok(()) => Verdict::Done,
            Err(e) => {
                tracing::error!(error = %e, "dead letter not sent; left in the queue");
                Verdict::Retry
            }
        }
    }

    /// A batch of queued records applied account by account (docs/contract.md section 5,
    /// "Per account"): each record admitted; an account's add and delete events folded
    /// per subscriber and written together ([`crate::store::Store::write_account`]);
    /// its other events applied one by one after; accounts concurrently, each under a
    /// budget of `budget`. A record that can never be stored (a bad envelope, rows 11 and
    /// 12a, any refusal) is dead-lettered alone. Returns one [`Consumed`] per record, in order: a
    /// [`Verdict::Retry`] names exactly a record not applied (an account whose write
    /// failed retries all of its folded records, which a redelivery repairs).
    pub async fn consume_records(
        &self,
        records: &[QueuedRecord<'_>],
        budget: Duration,
    ) -> Vec<Consumed> {
        let mut done: Vec<Option<Consumed>> = vec![None; records.len()];
        let mut accounts: HashMap<(String, String), AccountWork> = HashMap::new();
        let mut seens: Vec<Seen> = Vec::with_capacity(records.len());
        let mut refused = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let mut seen = Seen::default();
            match self.admit_queued(record.body, &mut seen) {
                // Whatever the reason (an app no longer configured, too): to the dead
                // letters with it, never dropped.
                Admitted::Answered(Outcome::Rejected(r)) => refused.push((i, r)),
                Admitted::Answered(outcome) => {
                    let verdict = match outcome {
                        Outcome::Failed(_) | Outcome::HandedOff(_) => Verdict::Retry,
                        _ => Verdict::Done,
                    };
                    done[i] = Some(Consumed::new(outcome, verdict, seen.clone()));
                }
                Admitted::Event(event) => {
                    let work = accounts
                        .entry((event.app.clone(), event.account.clone()))
                        .or_insert_with(|| AccountWork {
                            writes: AccountWrites::new(&event.app, &event.account),
                            folded: Vec::new(),
                            others: Vec::new(),
                        });
                    if work.writes.fold_event(&event).is_ok() {
                        work.folded.push(i);
                    } else {
                        work.others.push((i, event));
                    }
                }
            }
            seens.push(seen);
        }
        let seens = &seens;
        let dead_letters =
            futures_util::future::join_all(refused.into_iter().map(|(i, r)| async move {
                let verdict = self
                    .dead_letter_queued(records[i].body, &r, &seens[i])
                    .await;
                (
                    i,
                    Consumed::new(Outcome::Rejected(r), verdict, seens[i].clone()),
                )
            }));
        let writes = futures_util::stream::iter(accounts.into_values())
            .map(|work| self.write_account_work(work, budget, seens))
            .buffer_unordered(ACCOUNTS_AT_ONCE)
            .collect::<Vec<_>>();
        let (dead_letters, writes) = futures_util::future::join(dead_letters, writes).await;
        for (i, consumed) in dead_letters.into_iter().chain(writes.into_iter().flatten()) {
            done[i] = Some(consumed);
        }
        done.into_iter()
            .enumerate()
            .map(|(i, c)| {
                c.unwrap_or_else(|| {
                    // Every record is decided above; this keeps a slip from acknowledging one.
                    Consumed::new(
                        Outcome::Failed(Failure::Store),
                        Verdict::Retry,
                        seens[i].clone(),
                    )
                })
            })
            .collect()
    }

    /// One account's subscriber write, then its other events one by one.
    async fn write_account_work(
        &self,
        work: AccountWork,
        budget: Duration,
        seens: &[Seen],
    ) -> Vec<(usize, Consumed)> {
        let mut out = Vec::with_capacity(work.folded.len() + work.others.len());
        if !work.folded.is_empty() {
            let b = Budget::until(Instant::now() + budget);
            let written = self.store.write_account(&work.writes, &b).await;
            let (first, rest, verdict) = match written {
                Ok(applied) => {
                    let first = outcome_of(Ok(applied));
                    let rest = match first {
                        Outcome::Stored { .. } => Outcome::Stored { items_written: 0 },
                        _ => Outcome::Unchanged,
                    };
                    (first, rest, Verdict::Done)
                }
                Err(e) => {
                    let failed = outcome_of(Err(e));
                    (failed.clone(), failed, Verdict::Retry)
                }
            };
            for (n, &i) in work.folded.iter().enumerate() {
                let outcome = if n == 0 { first.clone() } else { rest.clone() };
                let consumed = Consumed::new(outcome, verdict.clone(), seens[i].clone());
                out.push((
                    i,
                    if n == 0 {
                        consumed.counting(&b)
                    } else {
                        consumed
                    },
                ));
            }
        }
        for (i, event) in work.others {
            let b = Budget::until(Instant::now() + budget);
            let outcome = self.store_event(&event, &b).await;
            let verdict = match &outcome {
                Outcome::Failed(_) | Outcome::HandedOff(_) => Verdict::Retry,
                _ => Verdict::Done,
            };
            out.push((
                i,
                Consumed::new(outcome, verdict, seens[i].clone()).counting(&b),
            ));
        }
        out
    }
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

    #[test]
    fn the_account_of_a_refused_body_is_read_when_it_is_text() {
        assert_eq!(
            account_in_body(Some(br#"{"Official_Account":"@TOA#_a","EventTime":"x"}"#)),
            Some("@TOA#_a".to_owned())
        );
        assert_eq!(account_in_body(Some(br#"{"Official_Account":5}"#)), None);
        assert_eq!(account_in_body(Some(b"not json")), None);
        assert_eq!(account_in_body(None), None);
    }
}
