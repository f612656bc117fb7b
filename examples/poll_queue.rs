//! The local stand-in for Lambda's SQS event source mapping, which `make run` starts
//! (`scripts/run.sh`): it reads the hand-off queue, hands the queue door a batch the way
//! Lambda would (up to `--batch` records, waiting at most `--window-ms` to fill it, the
//! template's figures by default), and deletes the records the door did not name as
//! `batchItemFailures`; those come back after the visibility timeout, as on AWS.
//!
//! ```text
//! cargo run --example poll_queue [-- [--batch N] [--window-ms MS]]
//! ```
//!
//! The configuration is the function's own (`Config::from_env`, `AwsSettings::from_env`:
//! `TABLE_NAME`, `SDKAPPID`, `HANDOFF_QUEUE_URL`, `DEAD_LETTER_QUEUE_URL`,
//! `AWS_ENDPOINT_URL_SQS`, ...). It is a development tool, not part of the function.

use aws_lambda_events::event::sqs::SqsMessage;
use oa_webhook::app::App;
use oa_webhook::clients::sdk::AwsSettings;
use oa_webhook::clients::{consumer_dynamodb, operator_sqs};
use oa_webhook::config::Config;
use oa_webhook::handoff::{QueueName, Queues, Received};
use oa_webhook::logging::init_tracing;
use oa_webhook::store::Store;
use oa_webhook::telemetry::RequestLog;
use std::time::Duration;
use tokio::time::Instant;

/// The template's `BatchSize` and `MaximumBatchingWindowInSeconds` (template.yaml).
const BATCH: usize = 200;
const WINDOW: Duration = Duration::from_secs(1);
/// How long a received record stays hidden from other readers (the queue's
/// `VisibilityTimeout` in template.yaml).
const HIDE: Duration = Duration::from_secs(180);
/// SQS hands out at most 10 messages a receive.
const PER_RECEIVE: i32 = 10;

struct Args {
    batch: usize,
    window: Duration,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        batch: BATCH,
        window: WINDOW,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--batch" => out.batch = usize::try_from(value("--batch")?.max(1)).unwrap_or(BATCH),
            "--window-ms" => out.window = Duration::from_millis(value("--window-ms")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing(&oa_webhook::config::Env::process());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("poll_queue: {e}\nusage: poll_queue [--batch N] [--window-ms MS]");
            std::process::exit(2);
        }
    };
    let (config, aws) = match Config::from_env().and_then(|c| Ok((c, AwsSettings::from_env()?))) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("poll_queue: {e}");
            std::process::exit(2);
        }
    };
    let store = Store::new(
        consumer_dynamodb(&aws.sdk_config()),
        config.table_name.clone(),
    );
    let queues = Queues::new(operator_sqs(&aws.sqs_sdk_config()), &config);
    if !queues.can_hand_off() {
        eprintln!("poll_queue: HANDOFF_QUEUE_URL is not set");
        std::process::exit(2);
    }
    let app = App::new(config, store)
        .with_queues(queues)
        .with_log(RequestLog::stdout(&oa_webhook::config::Env::process()));
    let budget = Duration::from_millis(app.config.queue_record_budget_ms);
    loop {
        let batch = fill(&app, &args).await;
        if batch.is_empty() {
            continue;
        }
        let records: Vec<SqsMessage> = batch
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.message_id.clone());
                r.receipt_handle = Some(m.receipt_handle.clone());
                r.body = Some(m.body.clone());
                r
            })
            .collect();
        let response = oa_webhook::doors::queue::consume_batch(&app, &records, budget).await;
        for m in &batch {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.message_id);
            if failed {
                continue;
            }
            if let Err(e) = app
                .queues
                .delete(QueueName::HandOff, &m.receipt_handle)
                .await
            {
                tracing::warn!(error = %e, "delete from the hand-off queue failed");
            }
        }
    }
}

/// One batch: receives until `args.batch` records or the window has passed since the
/// first one arrived (a long poll of up to 5 s for that first one).
async fn fill(app: &App, args: &Args) -> Vec<Received> {
    let mut batch: Vec<Received> = Vec::new();
    let mut window_end: Option<Instant> = None;
    while batch.len() < args.batch {
        let wait = match window_end {
            None => Duration::from_secs(5),
            Some(end) => match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(Duration::from_secs(1)),
                _ => break,
            },
        };
        let want = i32::try_from(args.batch - batch.len())
            .unwrap_or(PER_RECEIVE)
            .min(PER_RECEIVE);
        match app
            .queues
            .receive(QueueName::HandOff, want, HIDE, wait)
            .await
        {
            Ok(got) if got.is_empty() && window_end.is_none() => return batch,
            Ok(got) => {
                if got.is_empty() {
                    // A short poll came back empty inside the window: not a busy loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                batch.extend(got);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the hand-off queue; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return batch;
            }
        }
        window_end.get_or_insert_with(|| Instant::now() + args.window);
    }
    batch
}
