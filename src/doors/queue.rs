//! The queue door: the same binary as the hand-off queue's consumer (`Handler: queue`),
//! fed SQS batches by Lambda's event source mapping. Each record is applied with
//! [`App::consume`] (the store code, free of the webhook's 2-second limit: a budget of
//! `QUEUE_RECORD_BUDGET_MS`, or less near the Lambda deadline), the records of a batch
//! concurrently; the ones not taken are reported as `batchItemFailures`, so only they
//! return to the queue (docs/contract.md section 5).

use crate::app::App;
use crate::handoff::Verdict;
use crate::protocol::Seen;
use crate::store::Budget;
use crate::telemetry::RequestMetrics;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Kept free before the Lambda deadline, to send the batch response.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

impl App {
    /// The Lambda entry point of the queue door.
    pub async fn handle_sqs(
        &self,
        event: lambda_runtime::LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, std::convert::Infallible> {
        let own = Duration::from_millis(self.config.queue_record_budget_ms);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let budget = match event.context.deadline.checked_sub(now_ms) {
            Some(left) if left > 0 => {
                own.min(Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN))
            }
            _ => own,
        };
        Ok(self.consume_batch(&event.payload.records, budget).await)
    }

    /// Applies every record within `budget` (each); reports the ones to try again.
    pub async fn consume_batch(
        &self,
        records: &[SqsMessage],
        budget: Duration,
    ) -> SqsBatchResponse {
        let verdicts =
            futures_util::future::join_all(records.iter().map(|r| self.consume_record(r, budget)))
                .await;
        let mut response = SqsBatchResponse::default();
        for (record, verdict) in records.iter().zip(verdicts) {
            if verdict == Verdict::Retry {
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        response
    }

    async fn consume_record(&self, record: &SqsMessage, budget: Duration) -> Verdict {
        let started = tokio::time::Instant::now();
        let budget = Budget::until(started + budget);
        let mut seen = Seen::default();
        let body = record.body.as_deref().unwrap_or("");
        let (outcome, verdict) = self.consume(body, &budget, &mut seen).await;
        self.log.write(&RequestMetrics {
            request_id: record.message_id.as_deref().unwrap_or(""),
            command: seen.command.as_deref(),
            sdk_app_id: seen.app.as_deref(),
            outcome: &outcome,
            status: outcome.reply().status,
            duration: started.elapsed(),
            dynamodb_time: budget.dynamodb_time(),
            dynamodb_requests: budget.requests(),
            dynamodb_retries: budget.retries(),
            fields_dropped: seen.fields_dropped,
        });
        verdict
    }
}
