//! Why the store's writes did not complete.

use super::limits::Unfit;

/// Why writes did not complete. Carries internals for the log only; the reply never
/// shows them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The deadline passed before the writes completed.
    #[error("time budget exhausted")]
    Budget,
    /// DynamoDB kept failing in a way that retrying could fix, until the deadline.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    /// The account's items are contended: a transaction cancelled with
    /// `TransactionConflict`, a `TransactionConflictException` on a single write, or a hot
    /// item's throttling (`ProvisionedThroughputExceededException`). Returned only under
    /// a budget that gives up on contention ([`super::OnContention::GiveUp`], the
    /// webhook's); the others back off and try again (docs/contract.md section 5,
    /// "Contention"; ../shared/spec/aws.md).
    #[error("contention on the account's items: {0}")]
    Contention(String),
    /// A failure retrying cannot fix (validation, permissions, missing table).
    #[error("DynamoDB error: {0}")]
    Fatal(String),
    /// The event cannot be written as it is (docs/contract.md section 2, rows 11 and 12a).
    #[error("cannot be stored as it is: {0}")]
    Unfit(Unfit),
}

/// A read or a sync checkpoint DynamoDB did not answer: the SDK error's code and message,
/// as [`ReadError::of`] (store/read.rs) describes it. For tools, the sync and tests; the
/// webhook path never reads here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(pub String);

/// An item that does not have its type's shape (serde_dynamo's error, as it says it).
impl From<serde_dynamo::Error> for StoreError {
    fn from(e: serde_dynamo::Error) -> StoreError {
        StoreError::Fatal(e.to_string())
    }
}

/// A request the SDK's builder refused (a required field missing).
impl From<aws_sdk_dynamodb::error::BuildError> for StoreError {
    fn from(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
        StoreError::Fatal(e.to_string())
    }
}
