//! The time budget and retries of one request's writes.
//!
//! Every DynamoDB call runs under the request's deadline; what the SDK does not retry
//! (conflicting transactions, lost optimistic races, exhausted SDK retries) is retried
//! here with capped exponential backoff and full jitter, until the deadline.

use crate::clients::describe;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

pub use super::error::StoreError;

/// How a failed call should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Our optimistic condition failed: re-read and recompute.
    Condition,
    /// Contention on the items written: another transaction holds one
    /// (`TransactionConflict`), or a hot item's throttling. Retried or given up on, as the
    /// budget says ([`OnContention`]).
    Contention,
    /// Transient: table-level throttling, 5xx, timeouts, connection trouble. Retry.
    Transient,
    /// Will not get better.
    Fatal,
}

/// Classifies an SDK error by its shape and error code.
pub(crate) fn classify<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Transient
        }
        SdkError::ServiceError(se) => classify_code(se.err().code()),
        _ => ErrorClass::Fatal,
    }
}

pub(crate) fn classify_code(code: Option<&str>) -> ErrorClass {
    match code {
        Some("ConditionalCheckFailedException" | "ConditionalCheckFailed") => ErrorClass::Condition,
        // A hot item (../shared/spec/aws.md: per-item 1000 WCU/s, transaction conflicts); a
        // cancellation reason spells the codes without "Exception".
        Some("TransactionConflictException" | "TransactionConflict") => ErrorClass::Contention,
        _ if is_key_range_throttle(code) => ErrorClass::Contention,
        // Table- or account-wide throttling (not one item's), and the service's own trouble.
        Some(
            "ThrottlingException"
            | "RequestLimitExceeded"
            | "TransactionInProgressException"
            | "InternalServerError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "LimitExceededException",
        ) => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    }
}

/// Whether a [`ErrorClass::Contention`] code is the partition's (or an item's) write ceiling
/// rather than another transaction: a cancellation reason's `ThrottlingError` (API
/// reference, `TransactionCanceledException`), or a request's
/// `ProvisionedThroughputExceededException` (../shared/spec/aws.md, "Throttling: key range limit
/// exceeded"). The writer paces on these (`pacing.rs`) and backs off on the others.
pub(crate) fn is_key_range_throttle(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingError"
                | "ProvisionedThroughputExceededException"
                | "ProvisionedThroughputExceeded"
        )
    )
}

/// What a write does when it meets contention on the account's items (`ErrorClass::Contention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnContention {
    /// Back off and try again until the deadline (the queue consumer, replay, the sync).
    #[default]
    Retry,
    /// Stop at once with [`StoreError::Contention`]: the webhook, which hands the event
    /// off instead of spending its budget on a hot item (docs/contract.md section 5).
    GiveUp,
}

/// Whether a subscriber write paces at its account's partition ceiling and reads
/// doubtful items first (`pacing.rs`, `subscriptions.rs`; docs/contract.md section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// One call per chunk, never a wait for a turn nor a read first: the webhook, whose
    /// cold path stays as short as it was.
    #[default]
    Off,
    /// Waits for the account's turn at its ceiling and reads first where a guess is
    /// likely wrong: the queue consumer and the sync.
    PerAccount,
}

/// The deadline and the counters of one request.
#[derive(Debug)]
pub struct Budget {
    contention: OnContention,
    pacing: Pacing,
    started: Instant,
    deadline: Instant,
    end: Instant,
    limit: Option<Instant>,
    requests: AtomicU32,
    retries: AtomicU32,
    /// Microseconds spent waiting on DynamoDB calls.
    waited_us: AtomicU64,
}

const BACKOFF_BASE: Duration = Duration::from_millis(10);
const BACKOFF_CAP: Duration = Duration::from_millis(200);

impl Budget {
    pub fn until(deadline: Instant) -> Budget {
        Budget {
            contention: OnContention::Retry,
            pacing: Pacing::Off,
            started: Instant::now(),
            deadline,
            end: deadline,
            limit: None,
            requests: AtomicU32::new(0),
            retries: AtomicU32::new(0),
            waited_us: AtomicU64::new(0),
        }
    }

    /// Keeps `reserve` of the budget free after the store's deadline (but never moves
    /// that deadline before the start): the store stops early, the reply is still due at
    /// [`Budget::end`].
    pub(crate) fn reserving(mut self, reserve: Duration) -> Budget {
        self.deadline = self
            .end
            .checked_sub(reserve)
            .unwrap_or(self.started)
            .max(self.started);
        self
    }

    /// Records the latest the reply may leave whatever else waits (the Lambda deadline,
    /// less the time to send the reply).
    pub(crate) fn limited_to(mut self, limit: Instant) -> Budget {
        self.limit = Some(limit);
        self
    }

    /// Sets what contention does (default [`OnContention::Retry`]).
    pub(crate) fn on_contention(mut self, contention: OnContention) -> Budget {
        self.contention = contention;
        self
    }

    /// Sets whether subscriber writes pace (default [`Pacing::Off`]).
    pub fn paced(mut self, pacing: Pacing) -> Budget {
        self.pacing = pacing;
        self
    }

    /// See [`Budget::paced`].
    pub(crate) fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// The error that ends a write meeting contention under [`OnContention::GiveUp`];
    /// `Ok` to back off and retry.
    pub(crate) fn gives_up_on_contention(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        match self.contention {
            OnContention::GiveUp => Err(StoreError::Contention(what())),
            OnContention::Retry => Ok(()),
        }
    }

    /// The latest any reply may leave (a Lambda deadline), if known: `Budget::limited_to`.
    pub fn limit(&self) -> Option<Instant> {
        self.limit
    }

    /// When the store must stop.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// When the budget was made (the webhook's arrival time).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the reply is due: the store's deadline, or later when `Budget::reserving`
    /// kept time after the store for something else (the hand-off).
    pub fn end(&self) -> Instant {
        self.end
    }

    /// DynamoDB requests sent (SDK-level retries of one call count once).
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Time spent waiting on DynamoDB calls (concurrent calls add up).
    pub fn dynamodb_time(&self) -> Duration {
        Duration::from_micros(self.waited_us.load(Ordering::Relaxed))
    }

    /// Retries decided here (conflicts, lost races, transient failures).
    pub fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Runs one DynamoDB call under the deadline.
    pub async fn call<T, E, R, F>(&self, fut: F) -> Result<Result<T, SdkError<E, R>>, StoreError>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
    {
        // A call that completes at once never lets a timer fire: check the clock too,
        // so that no retry loop can outlive the deadline.
        if Instant::now() >= self.deadline {
            return Err(StoreError::Budget);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let out = tokio::time::timeout_at(self.deadline, fut).await;
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waited_us.fetch_add(waited, Ordering::Relaxed);
        out.map_err(|_| StoreError::Budget)
    }

    /// Sleeps before retry number `attempt` (1-based): full jitter over a capped
    /// exponential. Fails when the deadline would pass first.
    pub async fn backoff(&self, attempt: u32) -> Result<(), StoreError> {
        self.retries.fetch_add(1, Ordering::Relaxed);
        let exp = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(10));
        let cap = exp.min(BACKOFF_CAP);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(200).max(1);
        let wait = Duration::from_millis(fastrand::u64(1..=cap_ms));
        if Instant::now() + wait >= self.deadline {
            return Err(StoreError::Budget);
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Turns a failed call into "retry" (after backing off) or an error.
    pub(crate) async fn after_failure<E, R>(
        &self,
        err: SdkError<E, R>,
        attempt: u32,
    ) -> Result<(), StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match classify(&err) {
            ErrorClass::Fatal => Err(StoreError::Fatal(describe(&err))),
            ErrorClass::Contention if self.contention == OnContention::GiveUp => {
                Err(StoreError::Contention(describe(&err)))
            }
            ErrorClass::Contention | ErrorClass::Condition | ErrorClass::Transient => self
                .backoff(attempt)
                .await
                .map_err(|_| StoreError::Unavailable(describe(&err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        for (code, class) in [
            (Some("ConditionalCheckFailed"), ErrorClass::Condition),
            (Some("TransactionConflict"), ErrorClass::Contention),
            (
                Some("ProvisionedThroughputExceededException"),
                ErrorClass::Contention,
            ),
            (Some("ThrottlingError"), ErrorClass::Contention),
            (Some("ThrottlingException"), ErrorClass::Transient),
            (Some("ValidationError"), ErrorClass::Fatal),
            (Some("ResourceNotFoundException"), ErrorClass::Fatal),
            (None, ErrorClass::Fatal),
        ] {
            assert_eq!(classify_code(code), class, "{code:?}");
        }
        // The ceiling, apart from a conflict; table-wide throttling is neither.
        for (code, ceiling) in [
            ("ThrottlingError", true),
            ("ProvisionedThroughputExceededException", true),
            ("TransactionConflict", false),
            ("ThrottlingException", false),
        ] {
            assert_eq!(is_key_range_throttle(Some(code)), ceiling, "{code}");
        }
    }

    #[tokio::test]
    async fn calls_refuse_to_start_after_the_deadline() {
        let b = Budget::until(Instant::now());
        let r = b
            .call(async {
                Ok::<(), SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError, ()>>(())
            })
            .await;
        assert!(matches!(r, Err(StoreError::Budget)));
        assert_eq!(b.requests(), 0);
    }

    #[tokio::test]
    async fn a_reserve_moves_the_store_deadline_not_the_end() {
        let end = Instant::now() + Duration::from_millis(1400);
        let b = Budget::until(end).reserving(Duration::from_millis(300));
        assert_eq!(
            (b.end(), b.deadline()),
            (end, end - Duration::from_millis(300))
        );
        let b = Budget::until(Instant::now() + Duration::from_millis(100))
            .reserving(Duration::from_millis(300));
        assert_eq!(b.deadline(), b.started());
    }

    #[tokio::test]
    async fn backoff_refuses_to_cross_the_deadline() {
        let b = Budget::until(Instant::now() + Duration::from_millis(1));
        assert!(b.backoff(10).await.is_err());
        let b = Budget::until(Instant::now() + Duration::from_secs(5));
        assert!(b.backoff(1).await.is_ok());
        assert_eq!(b.retries(), 1);
    }
}
