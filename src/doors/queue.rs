//! The queue door: the same binary as the hand-off queue's consumer (`Handler: queue`),
//! fed SQS batches by Lambda's event source mapping, applied with [`App::consume_records`]
//! (free of the webhook's 2-second limit); the records not taken are reported as
//! `batchItemFailures`, so only they return to the queue (docs/contract.md section 5).

use crate::app::{App, QueuedRecord, Verdict};
use crate::telemetry::RequestMetrics;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use std::time::Duration;

/// Kept free before the Lambda deadline, to send the batch response.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The Lambda entry point of the queue door: each account's writes within
/// `QUEUE_RECORD_BUDGET_MS`, or what is left before the invocation's deadline.
pub async fn serve(app: &App, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
    let own = Duration::from_millis(app.config.queue_record_budget_ms);
    let budget = app
        .clock
        .left_before(event.context.deadline, DEADLINE_MARGIN)
        .map_or(own, |left| own.min(left));
    consume_batch(app, &event.payload.records, budget).await
}

/// Applies a batch, each account's writes within `budget`; reports the records to try
/// again, and writes one request line per record.
pub async fn consume_batch(
    app: &App,
    records: &[SqsMessage],
    budget: Duration,
) -> SqsBatchResponse {
    let started = tokio::time::Instant::now();
    let queued: Vec<QueuedRecord<'_>> = records
        .iter()
        .map(|r| QueuedRecord {
            message_id: r.message_id.as_deref().unwrap_or(""),
            body: r.body.as_deref().unwrap_or(""),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            receipt_handle: r.receipt_handle.as_deref(),
        })
        .collect();
    let consumed = app.consume_records(&queued, budget).await;
    let mut response = SqsBatchResponse::default();
    for (record, c) in queued.iter().zip(consumed) {
        app.log.write(&RequestMetrics {
            request_id: record.message_id,
            command: c.seen.command.as_deref(),
            sdk_app_id: c.seen.app.as_deref(),
            outcome: &c.outcome,
            status: c.outcome.reply().status,
            duration: started.elapsed(),
            dynamodb_time: c.dynamodb_time,
            dynamodb_requests: c.dynamodb_requests,
            dynamodb_retries: c.dynamodb_retries,
            fields_dropped: c.seen.fields_dropped,
        });
        if c.verdict == Verdict::Retry {
            response.add_failure(record.message_id.to_owned());
        }
    }
    response
}
