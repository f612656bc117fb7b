//! Faults: DynamoDB throttles, fails, times out, resets connections and cancels
//! transactions. Without a hand-off queue, every case must end in a FAIL 5xx, the store
//! giving up inside the budget, never in an OK for something not written; and a command
//! cut off partway, then redelivered, must end in exactly the state of an undisturbed
//! run. These apps answer as soon as the store gives up (`last_resort` zero): the last
//! resort's 2.1 s wait and the hand-off (contract section 5) are `tests/it/handoff.rs`'s.
//!
//! SDK faults are injected with `aws-smithy-mocks` (real HTTP error bodies, so the SDK's
//! own retry classification runs). Timeouts and resets: `tests/it/deadline.rs`.

use crate::common::vectors::{ADD, CREATE, DESTROY};
use crate::common::*;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::mock;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use oa_webhook::app::App;
use oa_webhook::store::Store;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn http(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(body.to_owned()),
    )
}

fn aws_error(kind: &str) -> HttpResponse {
    http(
        400,
        &json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": "injected"})
            .to_string(),
    )
}

fn cancelled(reasons: &[&str]) -> HttpResponse {
    let reasons: Vec<Value> = reasons
        .iter()
        .map(|c| json!({"Code": c, "Message": "injected"}))
        .collect();
    http(
        400,
        &json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons
        })
        .to_string(),
    )
}

/// The faults to inject, as HTTP responses.
/// A named fault, as an HTTP response generator.
type Fault = (&'static str, fn() -> HttpResponse);

fn faults() -> Vec<Fault> {
    vec![
        ("throttling", || aws_error("ThrottlingException")),
        ("provisioned throughput", || {
            aws_error("ProvisionedThroughputExceededException")
        }),
        ("request limit", || aws_error("RequestLimitExceeded")),
        ("HTTP 500", || {
            http(
                500,
                r#"{"__type":"com.amazon.coral.service#InternalFailure","message":"x"}"#,
            )
        }),
        ("HTTP 503", || http(503, "")),
        ("cancelled: conditional check", || {
            cancelled(&["None", "ConditionalCheckFailed"])
        }),
        ("cancelled: conflict", || {
            cancelled(&["TransactionConflict", "None"])
        }),
        ("cancelled: throttling", || cancelled(&["ThrottlingError"])),
        ("cancelled: provisioned throughput", || {
            cancelled(&["ProvisionedThroughputExceeded"])
        }),
        ("cancelled: validation", || {
            cancelled(&["None", "ValidationError"])
        }),
        ("cancelled: item collection size", || {
            cancelled(&["ItemCollectionSizeLimitExceeded"])
        }),
    ]
}

fn add_body(n: usize) -> String {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"Subscriber_Account": format!("user{i}")}))
        .collect();
    json!({
        "CallbackCommand": ADD,
        "Official_Account": "@TOA#_faults",
        "Operator_Account": "107867",
        "SubscribeAccountList": list,
        "EventTime": 1670574414123u64
    })
    .to_string()
}

fn create_body() -> String {
    json!({
        "CallbackCommand": CREATE,
        "Official_Account": "@TOA#_faults",
        "Owner_Account": "107867",
        "EventTime": 1670574414123u64
    })
    .to_string()
}

/// Transaction faults on the first, a middle and the last transaction of a
/// three-transaction add (250 subscribers), for every fault kind.
#[tokio::test]
async fn transaction_faults_anywhere_never_acknowledge() {
    let budget = Duration::from_millis(400);
    let mut slowest = Duration::ZERO;
    for (name, fault) in faults() {
        for (position, ok_before) in [("first", 0), ("middle", 1), ("last", 2)] {
            let writes = if ok_before == 0 {
                mock!(Client::transact_write_items).then_http_response(fault)
            } else {
                mock!(Client::transact_write_items)
                    .sequence()
                    .output(|| TransactWriteItemsOutput::builder().build())
                    .times(ok_before)
                    .http_response(fault)
                    .repeatedly()
                    .build()
            };
            let app = mocked_app(&[&writes]);
            let (r, took) = timed(&app, ADD, &add_body(250), budget).await;
            assert_failed_cleanly(&r, &format!("{name} on the {position} transaction"));
            assert!(
                writes.num_calls() > ok_before,
                "{name}/{position}: the faulty transaction was attempted"
            );
            slowest = slowest.max(took);
            assert!(
                took < budget + Duration::from_millis(250),
                "{name}/{position} took {took:?}"
            );
        }
    }
    println!("slowest FAIL reply under transaction faults: {slowest:?} (budget {budget:?})");
}

/// Faults on the single-item paths: the profile's read and its write, and reads of
/// subscriptions.
#[tokio::test]
async fn read_and_write_faults_never_acknowledge() {
    let budget = Duration::from_millis(400);
    let mut slowest = Duration::ZERO;
    for (name, fault) in faults().into_iter().take(5) {
        // GetItem fails (events other than create read the profile first).
        let get = mock!(Client::get_item).then_http_response(fault);
        let app = mocked_app(&[&get]);
        let destroy = create_body().replace(CREATE, DESTROY);
        let (r, took) = timed(&app, DESTROY, &destroy, budget).await;
        assert_failed_cleanly(&r, &format!("{name} on GetItem"));
        slowest = slowest.max(took);

        // GetItem works, UpdateItem fails.
        let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
        let update = mock!(Client::update_item).then_http_response(fault);
        let app = mocked_app(&[&get, &update]);
        let (r, took) = timed(&app, CREATE, &create_body(), budget).await;
        assert_failed_cleanly(&r, &format!("{name} on UpdateItem"));
        assert!(update.num_calls() >= 1);
        slowest = slowest.max(took);
    }
    println!("slowest FAIL reply under read/write faults: {slowest:?} (budget {budget:?})");
}

/// A transient fault that clears is retried and ends in OK, counted once.
#[tokio::test]
async fn transient_faults_that_clear_are_retried() {
    let get = mock!(Client::get_item)
        .sequence()
        .http_response(|| aws_error("ThrottlingException"))
        .times(4)
        .output(|| GetItemOutput::builder().build())
        .repeatedly()
        .build();
    let update = mock!(Client::update_item)
        .sequence()
        .http_response(|| aws_error("TransactionConflictException"))
        .output(|| UpdateItemOutput::builder().build())
        .repeatedly()
        .build();
    let app = mocked_app(&[&get, &update]);
    let (r, _) = timed(&app, CREATE, &create_body(), Duration::from_millis(1500)).await;
    assert_ok(&r);
    assert!(get.num_calls() >= 5, "GetItem retried past the throttling");

    let writes = mock!(Client::transact_write_items)
        .sequence()
        .http_response(|| cancelled(&["TransactionConflict", "None"]))
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .repeatedly()
        .build();
    let app = mocked_app(&[&writes]);
    let (r, _) = timed(&app, ADD, &add_body(3), Duration::from_millis(1500)).await;
    assert_ok(&r);
    assert_eq!(writes.num_calls(), 3);
}

/// While armed, fails every TransactWriteItems from the n-th (0-based) on: the
/// request is cut off there, as by a crash or an outage.
#[derive(Debug, Clone)]
struct CutOff {
    nth: usize,
    seen: Arc<AtomicUsize>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl Intercept for CutOff {
    fn name(&self) -> &'static str {
        "CutOff"
    }
    fn modify_before_transmit(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_txn = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "TransactWriteItems");
        if is_txn
            && self.armed.load(Ordering::SeqCst)
            && self.seen.fetch_add(1, Ordering::SeqCst) >= self.nth
        {
            return Err("cut off (injected)".into());
        }
        Ok(())
    }
}

/// Against the local DynamoDB: an add of 250 subscribers (three transactions) cut off at
/// each transaction answers FAIL; redelivered, it ends exactly as an undisturbed run.
#[tokio::test]
async fn cut_off_partway_then_redelivered_converges() {
    // The undisturbed run.
    let clean = Fixture::new().await;
    assert_ok(&clean.post(&query_for(ADD), &add_body(250)).await);
    let want = clean.dump().await;
    let rekey = |t: std::collections::BTreeMap<(String, String), Value>| {
        t.into_values().collect::<Vec<Value>>()
    };
    let want = rekey(want);

    for nth in 0..3 {
        let base = client().await;
        let table = fresh_table(&base).await;
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let cut = aws_sdk_dynamodb::Client::from_conf(
            base.config()
                .to_builder()
                .interceptor(CutOff {
                    nth,
                    seen: Arc::new(AtomicUsize::new(0)),
                    armed: armed.clone(),
                })
                .build(),
        );
        let mut app = App::new(config(&table, None), Store::new(cut, table.clone()));
        app.clock = oa_webhook::clock::Clock::at_secs(NOW);
        app.last_resort = Duration::ZERO;
        let first = app
            .handle(
                http_event("POST", &query_for(ADD), &add_body(250)),
                Duration::from_millis(600),
            )
            .await;
        assert_failed_cleanly(&first, &format!("cut off at transaction {nth}"));
        let partial = dump_table(&base, &table).await;
        assert!(
            partial.len() < want.len(),
            "the cut left the work unfinished"
        );
        // The outage ends; the redelivery completes the work.
        armed.store(false, Ordering::SeqCst);
        let again = app
            .handle(
                http_event("POST", &query_for(ADD), &add_body(250)),
                // 1.5 s with the local DynamoDB's margin (common::ENGINE_MARGIN): this run
                // must complete; the budget is not what is tested here.
                WEBHOOK_BUDGET,
            )
            .await;
        assert_ok(&again);
        assert_eq!(rekey(dump_table(&base, &table).await), want, "cut at {nth}");
    }
}
