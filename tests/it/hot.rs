//! A hot account (docs/contract.md sections 5 and 8), against the local DynamoDB and the
//! local SQS (moto) that `make test` starts, with DynamoDB's contention answers injected
//! with `aws-smithy-mocks` (the local DynamoDB never refuses a transaction):
//!
//! - contention (a cancelled transaction's `TransactionConflict`, a hot item's
//!   `ProvisionedThroughputExceededException`, a single write's
//!   `TransactionConflictException`) hands the event off at once, with one DynamoDB call;
//! - an account found hot has its subscriber events handed off without a try for
//!   `HOT_HOLD`, other accounts keep the direct path;
//! - every hand-off carries `MessageGroupId` = `{app}#{oa}`;
//! - the consumer writes a batch per account: folded per subscriber, the fewest
//!   transactions (counted from the requests), bad records dead-lettered alone, partial
//!   failures naming exactly the records not applied.

use crate::common::sqs::*;
use crate::common::*;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use oa_webhook::app::{App, HOT_HOLD};
use oa_webhook::clock::Clock;
use oa_webhook::store::{Budget, Store, StoreError};
use oa_webhook::telemetry::RequestLog;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CREATE: &str = "OfficialAccount.CallbackAfterCreateOfficialAccount";
const INFO: &str = "OfficialAccount.CallbackAfterOfficialAccountInfoChanged";
const ADD: &str = "OfficialAccount.CallbackAfterAddSubscriber";
const DELETE: &str = "OfficialAccount.CallbackAfterDeleteSubscriber";
const SEND: &str = "OfficialAccount.CallbackAfterSendMsg";

fn body(command: &str, mut fields: Value) -> String {
    fields["CallbackCommand"] = json!(command);
    fields.to_string()
}

fn add(oa: &str, t: u64, users: &[&str]) -> (&'static str, String) {
    let list: Vec<Value> = users
        .iter()
        .map(|u| json!({"Subscriber_Account": u}))
        .collect();
    (
        ADD,
        body(
            ADD,
            json!({"Official_Account": oa, "Operator_Account": "op", "EventTime": t, "SubscribeAccountList": list}),
        ),
    )
}

fn delete(oa: &str, t: u64, users: &[&str]) -> (&'static str, String) {
    let list: Vec<Value> = users
        .iter()
        .map(|u| json!({"Subscriber_Account": u}))
        .collect();
    (
        DELETE,
        body(
            DELETE,
            json!({"Official_Account": oa, "EventTime": t, "SubscribeAccountList": list}),
        ),
    )
}

fn error_response(code: &str, extra: Value) -> HttpResponse {
    let mut v = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": "injected"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    HttpResponse::new(
        StatusCode::try_from(400).expect("status"),
        SdkBody::from(v.to_string()),
    )
}

/// A one-user add's transaction cancelled by another one holding the account's PROFILE.
fn conflict_on_profile() -> HttpResponse {
    error_response(
        "TransactionCanceledException",
        json!({"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "injected"}]}),
    )
}

fn hot_item() -> HttpResponse {
    error_response("ProvisionedThroughputExceededException", json!({}))
}

fn single_write_conflict() -> HttpResponse {
    error_response("TransactionConflictException", json!({}))
}

/// An app whose DynamoDB is mocked by `rules`, with the webhook's client profile, the
/// clock at [`NOW`], and its request lines collected.
fn mocked_app(rules: &[&Rule]) -> (App, Arc<Mutex<Vec<u8>>>) {
    let client: Client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        rules,
        oa_webhook::clients::configure_webhook_dynamodb
    );
    let mut app = App::new(config("mocked", None), Store::new(client, "mocked"));
    app.clock = Clock::at_secs(NOW);
    let buf = Arc::new(Mutex::new(Vec::new()));
    app.log = RequestLog::buffer(buf.clone(), None, 0);
    (app, buf)
}

fn lines(buf: &Arc<Mutex<Vec<u8>>>) -> Vec<Value> {
    let text = String::from_utf8(buf.lock().expect("lock").clone()).expect("UTF-8");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The table an undisturbed run of `events` (one at a time, through the webhook) writes.
async fn undisturbed(events: &[(&str, String)]) -> BTreeMap<(String, String), Value> {
    let f = Fixture::new().await;
    for (command, body) in events {
        let r = f.post(&query_for(command), body).await;
        assert!(
            r.status_code == 200 || r.status_code == 400,
            "{command}: {}",
            r.status_code
        );
    }
    f.dump().await
}

/// A queue consumer on a fresh the local DynamoDB table (the consumer's client profile,
/// recorded by `recorder`), wired to `queues`.
async fn consumer(queues: &TestQueues, recorder: &OpRecorder) -> Fixture {
    let mut f = Fixture::new().await;
    let client = Client::from_conf(
        oa_webhook::clients::configure_consumer_dynamodb(aws_sdk_dynamodb::config::Builder::from(
            &sdk_config(),
        ))
        .interceptor(recorder.clone())
        .build(),
    );
    f.app.store = Store::new(client, f.table.clone());
    queues.wire(&mut f.app);
    f
}

/// The envelope of `(command, body)` as the webhook would queue it.
fn envelope_of(command: &str, body: &str) -> String {
    json!({"v": 1, "sdk_app_id": APP, "callback_command": command, "received_at_ms": 0, "body": body})
        .to_string()
}

fn record(id: &str, body: &str) -> aws_lambda_events::event::sqs::SqsMessage {
    let mut r = aws_lambda_events::event::sqs::SqsMessage::default();
    r.message_id = Some(id.to_owned());
    r.body = Some(body.to_owned());
    r
}

fn transactions(recorder: &OpRecorder) -> usize {
    recorder
        .ops
        .lock()
        .expect("lock")
        .iter()
        .filter(|o| *o == "TransactWriteItems")
        .count()
}

#[tokio::test]
async fn contention_hands_off_at_once_and_the_account_stays_hot_for_a_while() {
    let transact = mock!(Client::transact_write_items).then_http_response(conflict_on_profile);
    let (mut app, log) = mocked_app(&[&transact]);
    let queues = TestQueues::new().await;
    queues.wire(&mut app);
    let budget = Duration::from_millis(1400);
    let hot = "@TOA#_hot";
    let cold = "@TOA#_cold";
    let deliveries = [
        add(hot, 1, &["a"]),
        add(hot, 2, &["b"]),
        delete(hot, 3, &["a"]),
        add(cold, 4, &["c"]),
    ];
    for (command, body) in &deliveries {
        let (r, _) = timed(&app, command, body, budget).await;
        assert_ok(&r);
    }
    // One transaction for the first hot event, none for the two after it, one for the
    // other account: nothing retried.
    assert_eq!(transact.num_calls(), 2);
    // After the hold, the account is tried again.
    app.clock.advance(HOT_HOLD);
    let (command, body) = add(hot, 5, &["d"]);
    assert_ok(&timed(&app, command, &body, budget).await.0);
    assert_eq!(transact.num_calls(), 3);

    let reasons: Vec<String> = lines(&log)
        .iter()
        .map(|l| {
            assert_eq!(l["outcome"], "handed_off", "{l}");
            l["reason"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "contention",
            "hot_account",
            "hot_account",
            "contention",
            "contention"
        ]
    );
    let queued = drain(&queues.handoff).await;
    assert_eq!(queued.len(), 5);
    let groups: BTreeSet<Option<String>> = queued.iter().map(|g| g.group.clone()).collect();
    assert_eq!(
        groups,
        BTreeSet::from([Some(format!("{APP}#{hot}")), Some(format!("{APP}#{cold}"))])
    );
    let causes: BTreeSet<String> = queued
        .iter()
        .map(|g| g.attributes["cause"].clone())
        .collect();
    assert_eq!(
        causes,
        BTreeSet::from(["contention".into(), "hot_account".into()])
    );

    // The consumer makes the table what the events say.
    let mut all = deliveries.to_vec();
    all.push(add(hot, 5, &["d"]));
    let want = undisturbed(&all).await;
    let c = consumer(&queues, &OpRecorder::default()).await;
    let msgs: Vec<Msg> = queued;
    let response = c
        .app
        .consume_batch(&sqs_records(&msgs), Duration::from_secs(20))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(c.dump().await, want);
    assert!(drain(&queues.dead_letters).await.is_empty());
}

#[tokio::test]
async fn a_hot_items_throttling_is_not_retried_by_the_webhooks_client() {
    let transact = mock!(Client::transact_write_items).then_http_response(hot_item);
    let (mut app, log) = mocked_app(&[&transact]);
    let queues = TestQueues::new().await;
    queues.wire(&mut app);
    let (command, body) = add("@TOA#_t", 1, &["a"]);
    assert_ok(
        &timed(&app, command, &body, Duration::from_millis(1400))
            .await
            .0,
    );
    assert_eq!(transact.num_calls(), 1, "one attempt, no SDK retry");
    assert_eq!(lines(&log)[0]["reason"], "contention");
    let queued = drain(&queues.handoff).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].group.as_deref(), Some("1400000001#@TOA#_t"));

    // The SDK's standard retry strategy does retry it (a throttling error): the
    // consumer's client keeps that, and the consumer's budget waits contention out.
    let transact = mock!(Client::transact_write_items).then_http_response(hot_item);
    let client: Client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        &[&transact],
        oa_webhook::clients::configure_consumer_dynamodb
    );
    let store = Store::new(client, "mocked");
    let mut w = oa_webhook::store::AccountWrites::new(APP, "@TOA#_t");
    w.fold("a", oa_webhook::store::Change::Subscribe.state(1, None));
    let budget = Budget::until(tokio::time::Instant::now() + Duration::from_millis(300));
    let got = store.write_account(&w, &budget).await;
    assert!(
        matches!(got, Err(StoreError::Unavailable(_) | StoreError::Budget)),
        "{got:?}"
    );
    assert!(transact.num_calls() >= 3, "{}", transact.num_calls());
}

#[tokio::test]
async fn a_single_writes_transaction_conflict_hands_off() {
    let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let update = mock!(Client::update_item).then_http_response(single_write_conflict);
    let (mut app, log) = mocked_app(&[&get, &update]);
    let queues = TestQueues::new().await;
    queues.wire(&mut app);
    let info = body(
        INFO,
        json!({"Official_Account": "@TOA#_i", "EventTime": 5, "Name": "n"}),
    );
    assert_ok(
        &timed(&app, INFO, &info, Duration::from_millis(1400))
            .await
            .0,
    );
    assert_eq!(update.num_calls(), 1);
    assert_eq!(lines(&log)[0]["reason"], "contention");
    assert_eq!(drain(&queues.handoff).await.len(), 1);
}

/// Without a hand-off queue there is nowhere to hand off to: contention is retried
/// within the budget, as before (the webhook never paces nor reads first).
#[tokio::test]
async fn without_a_queue_contention_is_retried_within_the_budget() {
    let transact = mock!(Client::transact_write_items).then_http_response(conflict_on_profile);
    let (app, log) = mocked_app(&[&transact]);
    let (command, body) = add("@TOA#_n", 1, &["a"]);
    let (r, _) = timed(&app, command, &body, Duration::from_millis(400)).await;
    assert_failed_cleanly(&r, "contention without a queue");
    assert!(transact.num_calls() > 1, "{}", transact.num_calls());
    assert!(app.hot.is_empty());
    assert_eq!(lines(&log)[0]["outcome"], "failed");
}

/// One batch: two accounts, 150 one-user adds and a duplicate on one, an add and a newer
/// delete of one user, an add and a delete at the same time of another (UNSUBSCRIBED
/// wins), a create, a message, and four records that are not events to store: not an
/// envelope (dead-lettered), an unknown `OfficialAccount` command (acknowledged), a row
/// 11 event and one for an app not configured here (each dead-lettered, in its account's
/// group).
#[tokio::test]
async fn the_consumer_writes_a_batch_per_account_in_the_fewest_transactions() {
    let a = "@TOA#_a";
    let b = "@TOA#_b";
    let mut events: Vec<(&str, String)> = vec![(
        CREATE,
        body(
            CREATE,
            json!({"Official_Account": a, "Owner_Account": "o", "Operator_Account": "o", "Name": "A", "EventTime": 1}),
        ),
    )];
    let users: Vec<String> = (0..150).map(|i| format!("u{i}")).collect();
    for (i, u) in users.iter().enumerate() {
        events.push(add(a, 10 + i as u64, &[u.as_str()]));
    }
    events.push(add(a, 10, &["u0"])); // a duplicate
    events.push(add(b, 20, &["x", "y"]));
    events.push(delete(b, 21, &["x"]));
    events.push(delete(b, 20, &["y"])); // the tie: UNSUBSCRIBED
    events.push((
        SEND,
        body(
            SEND,
            json!({"Official_Account": a, "MsgKey": "k", "MsgTime": 1, "EventTime": 30,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]}),
        ),
    ));
    let want = undisturbed(&events).await;

    let queues = TestQueues::new().await;
    let recorder = OpRecorder::default();
    let c = consumer(&queues, &recorder).await;
    let mut records: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, (command, body))| record(&format!("m{i}"), &envelope_of(command, body)))
        .collect();
    records.push(record("bad-envelope", "not an envelope"));
    let unknown = "OfficialAccount.CallbackAfterSomethingNew";
    records.push(record(
        "unknown-command",
        &envelope_of(
            unknown,
            &body(unknown, json!({"Official_Account": a, "EventTime": 1})),
        ),
    ));
    let invalid = body(
        ADD,
        json!({"Official_Account": a, "SubscribeAccountList": []}),
    );
    records.push(record("row-11", &envelope_of(ADD, &invalid)));
    // An app this deployment no longer serves: refused, and kept in the dead letters.
    let (_, other_app) = add(a, 5, &["v"]);
    let other_app = json!({"v": 1, "sdk_app_id": "1400000099", "callback_command": ADD, "received_at_ms": 0, "body": other_app});
    records.push(record("unknown-app", &other_app.to_string()));
    // Shuffled: the order of a batch is no promise.
    fastrand::shuffle(&mut records);

    let response = c.app.consume_batch(&records, Duration::from_secs(20)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    assert_eq!(c.dump().await, want);
    // 150 users of `a` in two transactions (99 + 51); the 2 of `b` end UNSUBSCRIBED
    // with no item stored: their adds and deletes contradict each other, so their items
    // are read first (one BatchGetItem) and the one transaction is pinned to "absent".
    assert_eq!(transactions(&recorder), 3);
    let reads = recorder
        .ops
        .lock()
        .expect("lock")
        .iter()
        .filter(|o| *o == "BatchGetItem")
        .count();
    assert_eq!(reads, 1);
    let dead = drain(&queues.dead_letters).await;
    let mut reasons: Vec<(String, Option<String>)> = dead
        .iter()
        .map(|d| (d.attributes["reason"].clone(), d.group.clone()))
        .collect();
    reasons.sort();
    // A message that is not an envelope names no account: no group (SQS takes a
    // standard queue's messages with or without one).
    assert_eq!(
        reasons,
        [
            ("bad_envelope".to_owned(), None),
            ("invalid_field".to_owned(), Some(format!("{APP}#{a}"))),
            (
                "sdkappid_unknown".to_owned(),
                Some(format!("1400000099#{a}"))
            ),
        ]
    );
    assert!(drain(&queues.handoff).await.is_empty());
}

/// An interceptor that fails every transaction naming `account`'s items.
#[derive(Debug, Clone)]
struct FailAccount {
    pk: String,
    failed: Arc<AtomicUsize>,
}

impl Intercept for FailAccount {
    fn name(&self) -> &'static str {
        "FailAccount"
    }
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context.input().downcast_ref::<TransactWriteItemsInput>() else {
            return Ok(());
        };
        let names_it = input.transact_items().iter().any(|t| {
            let key = t
                .put()
                .map(|p| p.item())
                .or_else(|| t.update().map(|u| u.key()));
            key.and_then(|k| k.get("pk"))
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| *pk == self.pk)
        });
        if names_it {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err("injected failure".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_account_fails_back_only_its_own_records() {
    let good = "@TOA#_good";
    let poison = "@TOA#_poison";
    let events_good = [add(good, 1, &["a"]), add(good, 2, &["b"])];
    let events_poison = [add(poison, 1, &["a"]), delete(poison, 2, &["z"])];
    let want = undisturbed(&events_good).await;

    let queues = TestQueues::new().await;
    let mut f = Fixture::new().await;
    let failing = FailAccount {
        pk: format!("OA#{APP}#{poison}"),
        failed: Arc::new(AtomicUsize::new(0)),
    };
    let client = Client::from_conf(
        oa_webhook::clients::configure_consumer_dynamodb(aws_sdk_dynamodb::config::Builder::from(
            &sdk_config(),
        ))
        .interceptor(failing.clone())
        .build(),
    );
    f.app.store = Store::new(client, f.table.clone());
    queues.wire(&mut f.app);
    let mut records = Vec::new();
    for (i, (c, b)) in events_good.iter().enumerate() {
        records.push(record(&format!("good{i}"), &envelope_of(c, b)));
    }
    for (i, (c, b)) in events_poison.iter().enumerate() {
        records.push(record(&format!("poison{i}"), &envelope_of(c, b)));
    }
    let response = f.app.consume_batch(&records, Duration::from_secs(5)).await;
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from(["poison0".to_owned(), "poison1".to_owned()])
    );
    assert!(failing.failed.load(Ordering::SeqCst) >= 1);
    assert_eq!(f.dump().await, want);
    assert!(drain(&queues.dead_letters).await.is_empty());
}

/// A campaign on one account through the model of DynamoDB's contention rules
/// (`tests/it/support`): 200 one-user adds, 32 in flight, each transaction holding its
/// items 15 ms. Every reply is 200; the webhook hands off what meets contention, and two
/// consumers racing on the queued events (batches of the one account) make the table
/// exactly what the events say. SQS is the fast in-memory stand-in
/// (`support::sqs_fast`): moto takes about 50 sends a second, which 32 hand-offs in
/// flight would outrun.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_through_the_contention_model_is_all_200_and_ends_exact() {
    use crate::support::sqs_fast::FastSqs;
    use crate::support::{model_in_front_of_local, ModelConfig};
    use futures_util::StreamExt;
    let model = model_in_front_of_local(ModelConfig::default());
    let through_model = sdk_config_at(&model.endpoint());
    let sqs = FastSqs::start().expect("the fast SQS starts");
    let queues = TestQueues {
        dead_letters: sqs.create_queue("dlq", Duration::from_secs(180), None),
        handoff: sqs.create_queue("handoff", Duration::from_secs(180), Some(("dlq", 5))),
    };
    let oa = "@TOA#_campaign";
    let events: Vec<(&str, String)> = (0..200u64)
        .map(|i| add(oa, 1000 + i, &[&format!("u{i}")]))
        .collect();
    let want = undisturbed(&events).await;

    let mut f = Fixture::new().await;
    f.app.store = Store::new(
        oa_webhook::clients::webhook_dynamodb(&through_model),
        f.table.clone(),
    );
    queues.wire_at(&mut f.app, &sqs.endpoint());
    let buf = Arc::new(Mutex::new(Vec::new()));
    f.app.log = RequestLog::buffer(buf.clone(), None, 0);
    let app = &f.app;
    let statuses: Vec<u16> = futures_util::stream::iter(events.iter())
        .map(|(command, body)| async move {
            timed(app, command, body, Duration::from_millis(1400))
                .await
                .0
                .status_code
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines(&buf) {
        let key = format!("{} {}", l["outcome"], l["reason"]);
        *reasons.entry(key).or_default() += 1;
    }
    assert!(statuses.iter().all(|s| *s == 200), "{reasons:?}");
    let webhook = model.counters();
    println!(
        "webhook: {reasons:?}; model: {} transactions, {} cancelled",
        webhook.transactions, webhook.cancelled_transactions
    );
    assert!(
        reasons.keys().any(|k| k.contains("contention")),
        "32 in flight on one account meet contention: {reasons:?}"
    );
    // No webhook request retried a cancelled transaction: at most one per event (the
    // hot memory spares some events any).
    assert!(webhook.transactions <= 200, "{webhook:?}");

    // Two consumers through the model, racing on the account's queued events.
    let queued = sqs.receive("handoff", 1000, None).expect("receive");
    // Every event not stored was handed off. A send that SQS took but whose answer came
    // after the client's attempt timeout is sent again (SQS is at-least-once; the
    // consumer folds duplicates), so events are counted by body, not by message.
    let handed_off: BTreeSet<&str> = queued.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        handed_off.len(),
        200 - reasons.get("\"stored\" \"\"").copied().unwrap_or(0),
        "{} messages",
        queued.len()
    );
    let records: Vec<_> = queued
        .iter()
        .map(|m| record(&m.message_id, &m.body))
        .collect();
    assert!(queued
        .iter()
        .all(|m| m.group.as_deref() == Some("1400000001#@TOA#_campaign")));
    let mut c = Fixture::new().await;
    c.app.store = Store::new(
        oa_webhook::clients::consumer_dynamodb(&through_model),
        f.table.clone(),
    );
    queues.wire_at(&mut c.app, &sqs.endpoint());
    let (first, second) = records.split_at(records.len() / 2);
    let (r1, r2) = futures_util::future::join(
        c.app.consume_batch(first, Duration::from_secs(20)),
        c.app.consume_batch(second, Duration::from_secs(20)),
    )
    .await;
    assert!(r1.batch_item_failures.is_empty() && r2.batch_item_failures.is_empty());
    assert_eq!(f.dump().await, want);
    assert!(sqs.receive("dlq", 10, None).expect("receive").is_empty());
}

/// Users `u{from}`..`u{to}` of a list event.
fn users(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("u{i}")).collect()
}

fn refs(users: &[String]) -> Vec<&str> {
    users.iter().map(String::as_str).collect()
}

/// A consumer on a fresh table whose DynamoDB goes through `model`, wired to `queues`.
async fn consumer_through(model: &crate::support::ContentionModel, queues: &TestQueues) -> Fixture {
    let mut c = Fixture::new().await;
    c.app.store = Store::new(
        oa_webhook::clients::consumer_dynamodb(&sdk_config_at(&model.endpoint())),
        c.table.clone(),
    );
    queues.wire(&mut c.app);
    c
}

/// A hot account's partition at a ceiling of 200 write units a second (the model's
/// bucket holds one full transaction, 200 units), three lists of 100 new users and a
/// duplicate of one, an add and a delete of one user, beside a cold account, a message
/// that is not an envelope, a row 11 event and an unstorable one (row 12a) in one batch:
/// the bad records are dead-lettered alone with their reasons, the cold account is
/// written while the hot one is still paced, nothing is failed back, nothing is refused
/// by its condition, and every transaction is charged at most 2.2 units a change
/// (docs/contract.md section 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_account_is_paced_in_its_batch_while_the_others_are_written_at_once() {
    use crate::support::{model_in_front_of_local, ModelConfig};
    let model = model_in_front_of_local(ModelConfig {
        partition_write_units_per_second: 200,
        partition_bucket_min_units: 200,
        ..ModelConfig::default()
    });
    let hot = "@TOA#_paced";
    let cold = "@TOA#_cool";
    let lists = [users(0, 100), users(100, 200), users(200, 300)];
    let mut events: Vec<(&str, String)> = lists
        .iter()
        .enumerate()
        .map(|(i, l)| add(hot, 10 + i as u64, &refs(l)))
        .collect();
    events.push(add(hot, 10, &refs(&lists[0]))); // a duplicate
    events.push(add(hot, 20, &["x"]));
    events.push(delete(hot, 21, &["x"]));
    events.push(add(cold, 30, &["c1", "c2"]));
    let want = undisturbed(&events).await;

    let queues = TestQueues::new().await;
    let c = consumer_through(&model, &queues).await;
    let table = c.table.clone();
    let mut bodies: Vec<(String, String)> = events
        .iter()
        .enumerate()
        .map(|(i, (command, body))| (format!("m{i}"), envelope_of(command, body)))
        .collect();
    bodies.push(("bad-envelope".into(), "not an envelope".into()));
    let invalid = body(
        ADD,
        json!({"Official_Account": hot, "SubscribeAccountList": []}),
    );
    bodies.push(("row-11".into(), envelope_of(ADD, &invalid)));
    // A map key DynamoDB cannot hold (row 12a), in a message of the hot account.
    let unstorable = body(
        SEND,
        json!({"Official_Account": hot, "MsgKey": "k", "MsgTime": 1, "EventTime": 1,
               "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": {"": 1}}]}),
    );
    bodies.push(("row-12a".into(), envelope_of(SEND, &unstorable)));
    fastrand::shuffle(&mut bodies);
    let records: Vec<oa_webhook::app::QueuedRecord<'_>> = bodies
        .iter()
        .map(|(id, body)| oa_webhook::app::QueuedRecord {
            message_id: id,
            body,
            receive_count: 1,
            receipt_handle: None,
        })
        .collect();

    // The cold account is in the table while the hot one is still being paced.
    let watch = Store::new(
        oa_webhook::clients::consumer_dynamodb(&sdk_config()),
        table.clone(),
    );
    let batch = c.app.consume_records(&records, Duration::from_secs(20));
    let cold_first = async {
        for _ in 0..400 {
            let cold_done = profile_count(&watch, cold).await == Some(2);
            if cold_done {
                return profile_count(&watch, hot).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Some(-1)
    };
    let (consumed, hot_when_cold_done) = futures_util::future::join(batch, cold_first).await;
    assert!(
        hot_when_cold_done.is_none_or(|n| (0..300).contains(&n)),
        "the cold account was written before the hot one was done: hot count then {hot_when_cold_done:?}"
    );
    let retried: Vec<&str> = consumed
        .iter()
        .zip(&records)
        .filter(|(c, _)| c.verdict == oa_webhook::app::Verdict::Retry)
        .map(|(_, r)| r.message_id)
        .collect();
    assert!(retried.is_empty(), "failed back: {retried:?}");
    assert_eq!(c.dump().await, want);
    let mut reasons: Vec<String> = drain(&queues.dead_letters)
        .await
        .iter()
        .map(|d| d.attributes["reason"].clone())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["bad_envelope", "invalid_field", "unstorable"]);
    let m = model.counters();
    println!("through the model: {m:?}");
    assert!(
        m.partition_throttles > 0,
        "the hot account met its ceiling: {m:?}"
    );
    assert_eq!(m.write_units_refused, 0, "no guess refused: {m:?}");
    // 301 users of the hot account (u0..u299, x) and 2 of the cold one.
    let changes = 303.0;
    assert!(
        m.write_units as f64 / changes <= 2.2,
        "{} units for {changes} changes",
        m.write_units
    );
}

/// The `subscriber_count` of `account`'s PROFILE, if any.
async fn profile_count(store: &Store, account: &str) -> Option<i64> {
    let got = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("OA#{APP}#{account}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .ok()?;
    got.item?.get("subscriber_count")?.as_n().ok()?.parse().ok()
}

/// A consumer killed mid-batch (its future dropped while the account is paced at the
/// ceiling, some transactions landed): the records come again (`ApproximateReceiveCount`
/// 2), are read before they are written, end exact, and cost no more write units than
/// their first try would have; none is refused by its condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_batch_costs_no_more_on_redelivery() {
    use crate::support::{model_in_front_of_local, ModelConfig};
    let model = model_in_front_of_local(ModelConfig {
        partition_write_units_per_second: 200,
        partition_bucket_min_units: 200,
        ..ModelConfig::default()
    });
    let hot = "@TOA#_killed";
    let lists = [
        users(0, 99),
        users(99, 198),
        users(198, 297),
        users(297, 396),
    ];
    let mut events: Vec<(&str, String)> = lists
        .iter()
        .enumerate()
        .map(|(i, l)| add(hot, 10 + i as u64, &refs(l)))
        .collect();
    events.push(delete(hot, 20, &["u5", "u150"]));
    let want = undisturbed(&events).await;

    let queues = TestQueues::new().await;
    let c = consumer_through(&model, &queues).await;
    let table = c.table.clone();
    let bodies: Vec<String> = events.iter().map(|(c, b)| envelope_of(c, b)).collect();
    let records = |receive_count: u32| -> Vec<oa_webhook::app::QueuedRecord<'_>> {
        bodies
            .iter()
            .map(|body| oa_webhook::app::QueuedRecord {
                message_id: "m",
                body,
                receive_count,
                receipt_handle: None,
            })
            .collect()
    };
    let first = records(1);
    // Killed once at least one transaction landed and before all did.
    let watch = Store::new(
        oa_webhook::clients::consumer_dynamodb(&sdk_config()),
        table.clone(),
    );
    let mut batch = Box::pin(c.app.consume_records(&first, Duration::from_secs(20)));
    let mut landed = None;
    for _ in 0..2000 {
        tokio::select! {
            _ = &mut batch => panic!("the batch ended before it was killed"),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        landed = profile_count(&watch, hot).await.filter(|n| *n > 0);
        if landed.is_some() {
            break;
        }
    }
    drop(batch);
    let landed = landed.expect("a transaction landed before the kill");
    assert!(landed < 394, "killed before the end: {landed}");
    let before = model.counters();
    let again = records(2);
    let consumed = c.app.consume_records(&again, Duration::from_secs(20)).await;
    assert!(consumed
        .iter()
        .all(|c| c.verdict == oa_webhook::app::Verdict::Done));
    assert_eq!(c.dump().await, want);
    let after = model.counters();
    let redelivery = after.write_units - before.write_units;
    println!("killed after {landed} users; redelivery charged {redelivery} units; {after:?}");
    assert_eq!(after.write_units_refused, 0, "{after:?}");
    // The first try would have charged 4 transactions of 99 users (200 units each), and
    // the deletes folded in: never more than 800 units for the redelivery.
    assert!(
        redelivery <= 800 - 2 * landed as u64,
        "{redelivery} units after {landed} users landed"
    );
}
