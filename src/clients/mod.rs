//! Every AWS SDK client's timeout and retry profile, in one place:
//!
//! | client | who | connect | attempt | call | SDK attempts |
//! |---|---|---|---|---|---|
//! | [`webhook_dynamodb`] | the webhook | 300 ms | 500 ms | 1.2 s | 3, never on a hot item's throttling |
//! | [`consumer_dynamodb`] | queue consumer, replay, sync | 1 s | 5 s | 15 s | 3 |
//! | [`sync_dynamodb`] | the sync (minutes, not 2 seconds) | 3 s | 10 s | 30 s | 5 |
//! | [`secrets_manager`] | the sync's key, the callback token | SDK defaults | | | |
//! | [`webhook_sqs`] | the webhook's hand-off and dead letter | 200 ms | 250 ms | 1 s | 3 |
//! | [`operator_sqs`] | replay, the local poller | 3 s | 30 s | 60 s | 3 |
//!
//! The webhook's figures fit the Chat backend's 2-second wait (docs/contract.md section
//! 2): the request's own `Budget` (1.4 s, or less) bounds everything, and the hand-off keeps
//! 300 ms of it (docs/delivery.md). The consumer's are sized to a record's budget
//! (`QUEUE_RECORD_BUDGET_MS`): under load a call may take longer than the webhook's 500 ms
//! attempt, and would otherwise time out, be retried, and time out again.
//!
//! Stalled-stream protection is off everywhere: it watches a body's throughput over
//! seconds (a 5-second grace period), which the attempt timeouts already cut short, and it
//! costs timers and a body wrapper on every request.
//!
//! Where those clients connect (region, credentials, endpoints, the trust store) is read
//! from the environment by [`sdk::AwsSettings`].
//!
//! Tencent's REST client is not an SDK client: its settings are `RestSettings` in
//! `src/tencent/rest.rs`, its connector [`sdk::https_connector`].

pub mod sdk;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// The webhook's DynamoDB client: see [`configure_webhook_dynamodb`].
pub fn webhook_dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        configure_webhook_dynamodb(aws_sdk_dynamodb::config::Builder::from(sdk)).build(),
    )
}

/// The webhook's profile (the table above) on any DynamoDB config builder (tests add
/// interceptors or mocks to it): the consumer's, with its shorter timeouts, and no SDK
/// retry of a hot item's throttling (`ProvisionedThroughputExceededException`): the
/// standard retry strategy counts it as throttling and would retry it, with throttling's
/// longer backoff, inside the budget, where the contract wants the event handed off at
/// once (section 5, "Contention").
pub fn configure_webhook_dynamodb(
    builder: aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::config::Builder {
    configure_consumer_dynamodb(builder)
        .timeout_config(timeouts(300, 500, 1200))
        .retry_classifier(NoRetryOnHotItem)
}

/// The queue consumer's, `replay`'s and the sync's DynamoDB client: backoff 10-100 ms,
/// the SDK's own classification (a hot item's throttling is retried: the consumer has no
/// 2-second limit).
pub fn consumer_dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        configure_consumer_dynamodb(aws_sdk_dynamodb::config::Builder::from(sdk)).build(),
    )
}

/// See [`consumer_dynamodb`].
pub fn configure_consumer_dynamodb(
    builder: aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::config::Builder {
    builder
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        )
        .timeout_config(timeouts(1000, 5000, 15000))
        .retry_config(three_attempts(100))
}

/// The sync's DynamoDB client: `client`'s, with the sync's timeouts and attempts.
pub(crate) fn sync_dynamodb(client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .timeout_config(timeouts(3000, 10_000, 30_000))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Secrets Manager's client, over the function's SDK settings and HTTPS client; at
/// `endpoint` when set (`AWS_ENDPOINT_URL_SECRETS_MANAGER`: a DynamoDB override never
/// applies to it).
pub(crate) fn secrets_manager(
    sdk: &SdkConfig,
    endpoint: Option<&str>,
) -> aws_sdk_secretsmanager::Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
    config.set_endpoint_url(endpoint.map(str::to_owned));
    aws_sdk_secretsmanager::Client::from_conf(config.build())
}

/// The webhook's SQS client: see [`configure_webhook_sqs`].
pub fn webhook_sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        configure_webhook_sqs(aws_sdk_sqs::config::Builder::from(sdk)).build(),
    )
}

/// The webhook's SQS profile on any SQS config builder (backoff 10-50 ms); the caller's
/// deadline bounds the whole call.
pub fn configure_webhook_sqs(
    builder: aws_sdk_sqs::config::Builder,
) -> aws_sdk_sqs::config::Builder {
    builder
        .stalled_stream_protection(aws_sdk_sqs::config::StalledStreamProtectionConfig::disabled())
        .timeout_config(timeouts(200, 250, 1000))
        .retry_config(three_attempts(50))
}

/// `replay`'s and the local poller's SQS client: the webhook's, with room for long polls
/// (a receive waits up to a few seconds for messages).
pub fn operator_sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    let builder = configure_webhook_sqs(aws_sdk_sqs::config::Builder::from(sdk))
        .timeout_config(timeouts(3000, 30_000, 60_000));
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// The standard retry strategy: three attempts, backoff from 10 ms to `max_backoff_ms`.
fn three_attempts(max_backoff_ms: u64) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(max_backoff_ms))
}

fn timeouts(connect_ms: u64, attempt_ms: u64, call_ms: u64) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(connect_ms))
        .operation_attempt_timeout(Duration::from_millis(attempt_ms))
        .operation_timeout(Duration::from_millis(call_ms))
        .build()
}

/// Forbids the SDK's retry of a hot item's throttling (see [`configure_webhook_dynamodb`]).
/// Runs after the SDK's classifiers, so that its verdict is the last word.
#[derive(Debug, Clone, Copy)]
struct NoRetryOnHotItem;

impl ClassifyRetry for NoRetryOnHotItem {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match err.as_operation_error().and_then(error_code) {
            // A hot item's throttling (../shared/spec/aws.md: "Throttling: key range limit
            // exceeded"; also on on-demand tables).
            Some("ProvisionedThroughputExceededException") => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "no retry on a hot item"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// The error code of a DynamoDB operation error the store sends.
fn error_code(err: &aws_smithy_runtime_api::client::interceptors::context::Error) -> Option<&str> {
    use aws_sdk_dynamodb::operation as op;
    macro_rules! code_of {
        ($($t:ty),+) => {
            $(if let Some(e) = err.downcast_ref::<$t>() {
                return e.code();
            })+
        };
    }
    code_of!(
        op::transact_write_items::TransactWriteItemsError,
        op::put_item::PutItemError,
        op::update_item::UpdateItemError,
        op::get_item::GetItemError,
        op::delete_item::DeleteItemError,
        op::query::QueryError,
        op::batch_write_item::BatchWriteItemError
    );
    None
}

/// A short description of an AWS SDK error (DynamoDB's or SQS's) for the log, never for
/// the reply: its code and message, or the kind of failure.
pub fn describe<E: ProvideErrorMetadata, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String {
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown"),
            se.err().message().unwrap_or("")
        ),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch failure".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request construction failed".to_owned(),
        _ => "unknown SDK error".to_owned(),
    }
}
