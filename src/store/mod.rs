//! The DynamoDB store: the contract's table layout and how each event is written so
//! that the table converges under duplicates, reordering and concurrency.
//!
//! Nothing here knows about HTTP. Writes are optimistic: read the items concerned, fold
//! the event in ([`crate::state`]), and write back under a condition pinned to what was
//! read; a lost race re-reads and tries again, until the request's [`Budget`] runs out.

pub mod budget;
pub mod items;
pub mod limits;
mod messages;
mod profile;
pub mod read;
pub mod schema;
pub mod sdk;
mod subscriptions;

pub use budget::{Budget, StoreError};

use crate::events::{Event, EventKind};
use aws_sdk_dynamodb::Client;

/// The table a function instance writes to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// What a stored event changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Items written (created or updated). Zero: a duplicate, or older than what is stored.
    pub items_written: u32,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Store {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes `states[i]` as `users[i]`'s subscription to `account` (`states[0]` for
    /// every user when it has one entry), each only where it wins over the stored one,
    /// with `subscriber_count` kept exact: what an add or delete event does, but with a
    /// time per user (the sync's facts).
    pub async fn apply_subscriptions(
        &self,
        app: &str,
        account: &str,
        users: &[String],
        states: &[crate::state::Subscription],
        budget: &Budget,
    ) -> Result<Applied, StoreError> {
        subscriptions::write(self, app, account, users, states, budget).await
    }

    /// Writes an event's effects durably, or fails without acknowledging anything.
    /// Whatever part was written before a failure is repaired by a redelivery.
    pub async fn apply(&self, event: &Event, budget: &Budget) -> Result<Applied, StoreError> {
        limits::check(event).map_err(StoreError::Unfit)?;
        match &event.kind {
            EventKind::Created { .. }
            | EventKind::InfoChanged { .. }
            | EventKind::Destroyed { .. }
            | EventKind::Full => profile::apply(self, event, budget).await,
            EventKind::SubscribersAdded {
                operator,
                subscribers,
            } => {
                subscriptions::apply(self, event, true, operator.as_deref(), subscribers, budget)
                    .await
            }
            EventKind::SubscribersDeleted {
                operator,
                subscribers,
            } => {
                subscriptions::apply(self, event, false, operator.as_deref(), subscribers, budget)
                    .await
            }
            EventKind::MessageSent(msg) => messages::send(self, event, msg, budget).await,
            EventKind::MessagesWithdrawn { msg_keys } => {
                messages::withdraw(self, event, msg_keys, budget).await
            }
        }
    }
}

/// The SDK client as the function uses it; see [`configure`].
pub fn client_from(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(configure(aws_sdk_dynamodb::config::Builder::from(sdk)).build())
}

/// Timeouts and retries sized to the Chat backend's 2-second wait: a connection gets
/// 300 ms, an attempt 500 ms, a call with its SDK retries 1.2 s, and the request's own
/// [`Budget`] (1.4 s, or less near the Lambda deadline) bounds everything.
///
/// Stalled-stream protection is off: it watches a body's throughput over seconds (a
/// 5-second grace period), which the 500 ms attempt timeout already cuts short, and it
/// costs timers and a body wrapper on every request.
pub fn configure(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
    use std::time::Duration;
    builder
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(300))
                .operation_attempt_timeout(Duration::from_millis(500))
                .operation_timeout(Duration::from_millis(1200))
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(100)),
        )
}
