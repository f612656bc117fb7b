//! The service every door calls: one function instance's configuration, table and clock,
//! and what a webhook request becomes ([`App::webhook`]: admit, then store).

use crate::config::Config;
use crate::events::Event;
use crate::handoff::{Queues, LAST_RESORT_AFTER};
use crate::outcome::{Failure, HandOffCause, Outcome, Reason};
use crate::protocol::{self, Admission, Request, Seen};
use crate::relay::Relay;
use crate::store::limits::Unfit;
use crate::store::{Budget, Store, StoreError};
use crate::telemetry::RequestLog;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a webhook request may take, whatever DynamoDB does: the Chat backend
/// waits 2 s (docs/protocol.md section 1).
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(1400);

/// Unix seconds, injectable for tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Everything a function instance keeps between requests. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
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
}

impl App {
    pub fn new(config: Config, store: Store) -> App {
        App {
            config: Arc::new(config),
            store,
            clock: system_clock(),
            budget: DEFAULT_BUDGET,
            log: RequestLog::off(),
            queues: Queues::none(),
            last_resort: LAST_RESORT_AFTER,
            relay: Relay::new(),
        }
    }

    /// A webhook request's outcome: contract rows 1-11 ([`protocol::admit`]), then the
    /// write (rows 12-13) within `budget`, then section 5 ([`App::deliver`]: hand-off,
    /// dead letters, last resort). `seen` collects what the request line shows.
    pub async fn webhook(&self, req: &Request<'_>, budget: &Budget, seen: &mut Seen) -> Outcome {
        let outcome = match protocol::admit(req, &self.config, (self.clock)(), seen) {
            Admission::Answer(outcome) => outcome,
            Admission::Relay(fallback) => return self.relay(req, budget, fallback).await,
            Admission::Store(event) if self.hands_off_up_front(&event) => {
                Outcome::HandedOff(HandOffCause::TooLarge)
            }
            Admission::Store(event) => self.store_event(&event, budget).await,
        };
        self.deliver(req, outcome, budget).await
    }

    /// Writes an admitted event within `budget` (rows 11-13, before any hand-off).
    pub async fn store_event(&self, event: &Event, budget: &Budget) -> Outcome {
        match self.store.apply(event, budget).await {
            Ok(applied) if applied.items_written > 0 => Outcome::Stored {
                items_written: applied.items_written,
            },
            Ok(_) => Outcome::Unchanged,
            Err(StoreError::Unfit(Unfit::Invalid(e))) => {
                Outcome::rejected(Reason::InvalidField, e.0)
            }
            Err(StoreError::Unfit(Unfit::Unstorable(e))) => {
                Outcome::rejected(Reason::Unstorable, e.0)
            }
            Err(e) => {
                tracing::warn!(error = %e, "write failed");
                Outcome::Failed(match e {
                    StoreError::Budget => Failure::StoreTimeout,
                    StoreError::Unavailable(_) => Failure::StoreUnavailable,
                    StoreError::Fatal(_) | StoreError::Unfit(_) => Failure::Store,
                })
            }
        }
    }
}

impl App {
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
