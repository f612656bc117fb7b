//! The service every door calls (docs/contract.md section 5), split by job: [`webhook`]
//! (a webhook request's delivery decisions), [`queue`] (queued events applied again, a
//! batch account by account), [`hot`] (the accounts this instance found hot).
//!
//! The SQS adapter is `handoff.rs` (envelopes, queues); the table is `store/`; the SDK
//! clients' profiles are `clients/`; every "now" comes from [`App::clock`].

mod hot;
mod queue;
mod webhook;

pub use hot::{HotAccounts, HOT_HOLD};
pub use queue::{Consumed, QueuedRecord};
pub use webhook::UP_FRONT_MAX_ENTRIES;

use crate::clock::Clock;
use crate::config::Config;
use crate::handoff::Queues;
use crate::outcome::{Failure, Outcome, Reason};
use crate::relay::Relay;
use crate::store::limits::Unfit;
use crate::store::{Applied, Store, StoreError};
use crate::telemetry::RequestLog;
use std::sync::Arc;
use std::time::Duration;

/// The longest a webhook request may take, whatever DynamoDB does: the Chat backend
/// waits 2 s (docs/protocol.md section 1).
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(1400);

/// A failed after-event is answered 503 no sooner than this after it arrived (section 5,
/// "last resort"): Tencent retries only requests that time out (2 s), so a late answer is
/// the one that gets the event sent again.
pub const LAST_RESORT_AFTER: Duration = Duration::from_millis(2100);

/// Everything a function instance keeps between requests. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    /// Every "now" of the service (Unix time; `clock.rs` says which).
    pub clock: Clock,
    /// The webhook's time budget (docs/contract.md section 2).
    pub(crate) budget: Duration,
    /// Where the request line (log + EMF metrics) goes; off unless set (`main`: stdout).
    pub log: RequestLog,
    /// The hand-off and dead-letter queues (section 5); none unless set (`main`: from
    /// the configuration).
    pub queues: Queues,
    /// [`LAST_RESORT_AFTER`], unless a test sets it.
    pub last_resort: Duration,
    /// The client for `FORWARD_URL` (contract section 7), built on first use.
    pub(crate) relay: Relay,
    /// The accounts this instance found hot ([`HOT_HOLD`]).
    pub hot: HotAccounts,
}

impl App {
    /// An instance over `config` and `store`, with the system clock, [`DEFAULT_BUDGET`] and
    /// every other field at the default its doc names; the `with_*` methods set them.
    pub fn new(config: Config, store: Store) -> App {
        App {
            config: Arc::new(config),
            store,
            clock: Clock::system(),
            budget: DEFAULT_BUDGET,
            log: RequestLog::off(),
            queues: Queues::none(),
            last_resort: LAST_RESORT_AFTER,
            relay: Relay::default(),
            hot: HotAccounts::default(),
        }
    }

    /// With the hand-off and dead-letter queues (section 5).
    pub fn with_queues(self, queues: Queues) -> App {
        App { queues, ..self }
    }

    /// With the request line written to `log`.
    pub fn with_log(self, log: RequestLog) -> App {
        App { log, ..self }
    }

    /// With every "now" read from `clock`.
    pub fn with_clock(self, clock: Clock) -> App {
        App { clock, ..self }
    }
}

/// The outcome of a write (rows 11-13).
pub(crate) fn outcome_of(written: Result<Applied, StoreError>) -> Outcome {
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

pub(crate) fn unfit_rejection(unfit: Unfit) -> Outcome {
    match unfit {
        Unfit::Invalid(e) => Outcome::rejected(Reason::InvalidField, e.0),
        Unfit::Unstorable(e) => Outcome::rejected(Reason::Unstorable, e.0),
    }
}

/// The `Official_Account` of a body admission refused, when it is a string there: the
/// dead letter's message group ([`crate::handoff::message_group`]).
pub(crate) fn account_in_body(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Account {
        // Any other type fails the parse: no account.
        #[serde(rename = "Official_Account")]
        official_account: Option<String>,
    }
    serde_json::from_slice::<Account>(body)
        .ok()?
        .official_account
}

/// What became of a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done with: stored, unchanged, not an event to store, or moved to the dead letters.
    Done,
    /// Not taken: leave it in its queue for another try.
    Retry,
}

impl Verdict {
    /// The one rule: a failed or handed-off outcome is tried again, any other is done
    /// with (a refused one after its move to the dead letters, `app/queue.rs`).
    pub fn of(outcome: &Outcome) -> Verdict {
        match outcome {
            Outcome::Failed(_) | Outcome::HandedOff(_) => Verdict::Retry,
            _ => Verdict::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_a_refused_body_is_read_when_it_is_text() {
        assert_eq!(
            account_in_body(br#"{"Official_Account":"@TOA#_a","EventTime":"x"}"#),
            Some("@TOA#_a".to_owned())
        );
        assert_eq!(account_in_body(br#"{"Official_Account":5}"#), None);
        assert_eq!(account_in_body(b"not json"), None);
    }
}
