//! The DynamoDB store: the contract's table layout and how each event is written so
//! that the table converges under duplicates, reordering and concurrency
//! (docs/consistency.md). Nothing here knows about HTTP.
//!
//! Writes are optimistic: read the items concerned, fold the event in ([`crate::state`]),
//! and write back under a condition pinned to what was read; a lost race or contention
//! re-reads and tries again until the request's [`Budget`] runs out, or ends the write at
//! once with [`StoreError::Contention`] under [`OnContention::GiveUp`] (the webhook's,
//! which hands the event off instead; docs/contract.md section 5). [`writer`] folds a
//! batch's (or a sync's) subscriber changes of one account into the fewest transactions.

pub mod budget;
pub mod error;
pub mod items;
pub mod limits;
mod messages;
pub mod pacing;
mod profile;
pub mod read;
pub mod schema;
mod subscriptions;
pub mod writer;

pub use budget::{Budget, OnContention, Pacing};
pub use error::StoreError;
pub use pacing::Pacer;
pub use writer::{AccountWrites, Change, Delivery, Doubt};

use crate::events::{Event, EventKind};
use aws_sdk_dynamodb::Client;

/// The table a function instance writes to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    /// Per-account pacing at the partition's ceiling, shared by clones (pacing.rs).
    pacer: Pacer,
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
            pacer: Pacer::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
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
            EventKind::SubscribersAdded { .. } | EventKind::SubscribersDeleted { .. } => {
                let writes =
                    AccountWrites::of_event(event).map_err(|e| StoreError::Fatal(e.to_string()))?;
                self.write_account(&writes, budget).await
            }
            EventKind::MessageSent(msg) => messages::send(self, event, msg, budget).await,
            EventKind::MessagesWithdrawn { msg_keys } => {
                messages::withdraw(self, event, msg_keys, budget).await
            }
        }
    }
}
