//! The queue door: the same binary as the hand-off queue's consumer (`Handler: queue`),
//! fed SQS batches by Lambda's event source mapping. A batch is applied account by
//! account with [`App::consume_records`] (the store code, free of the webhook's 2-second
//! limit: a budget of `QUEUE_RECORD_BUDGET_MS`, or less near the Lambda deadline); the
//! records not taken are reported as `batchItemFailures`, so only they return to the
//! queue (docs/contract.md section 5).

use crate::app::{App, QueuedRecord, Verdict};
use crate::telemetry::RequestMetrics;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::time::Duration;

/// Kept free before the Lambda deadline, to send the batch response.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

impl App {
    /// The Lambda entry point of the queue door.
    pub async fn handle_sqs(
        &self,
        event: lambda_runtime::LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, std::convert::Infallible> {
        let own = Duration::from_millis(self.config.queue_record_budget_ms);
        let budget = match event.context.deadline.checked_sub(self.clock.now_ms()) {
            Some(left) if left > 0 => {
                own.min(Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN))
            }
            _ => own,
        };
        Ok(self.consume_batch(&event.payload.records, budget).await)
    }

    /// Applies a batch, each account's writes within `budget`; reports the records to
    /// try again, and writes one request line per record.
    pub async fn consume_batch(
        &self,
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
        let consumed = self.consume_records(&queued, budget).await;
        let mut response = SqsBatchResponse::default();
        for (record, c) in queued.iter().zip(consumed) {
            self.log.write(&RequestMetrics {
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
}
