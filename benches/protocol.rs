//! CPU cost of one webhook with no I/O. `make bench` runs it and puts the
//! medians in its table; `cargo bench --bench protocol` runs it alone.
//!
//! - `parse/*`: the API Gateway event's JSON into a `lambda_http::Request` (what the
//!   Lambda door does with the payload before calling the handler: its shape, the read,
//!   the conversion).
//! - `admit/*`: the query parse plus [`protocol::admit`], which for an after-event also
//!   builds the typed event (`Admission::Store`).
//! - `handle/*`: the whole [`oa_webhook::doors::http::answer`] (admit, the store's planning, the SDK's
//!   request building and orchestration, the reply) with a DynamoDB client from
//!   `aws-smithy-mocks` that answers every call with an empty success: no HTTP, no JSON
//!   response parsing, no network. Event parsing is excluded (see `parse/*`).
//!
//! Events: `create` is `events/after-create-official-account.json`; `add100` is
//! `events/after-add-subscriber.json` with 100 subscribers; `reject` is the create event
//! with an SdkAppid that is not configured (403 at contract row 2); `create_signed` is
//! the create event with a webhook token configured and a valid signature (row 3).

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use oa_webhook::app::App;
use oa_webhook::clients::configure_webhook_dynamodb as configure;
use oa_webhook::config::Config;
use oa_webhook::doors::http::{self, Request as HttpRequest};
use oa_webhook::doors::Shape;
use oa_webhook::protocol::query::Query;
use oa_webhook::protocol::{self, Admission, Callback, Seen};
use oa_webhook::store::Store;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

const APP: &str = "1400000001";
/// The signature test vector: token `xxxxyyyy`, this time, this sign.
const NOW: u64 = 1_669_872_112;
const TOKEN: &str = "xxxxyyyy";
const SIGN: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";

const CREATE_EVENT: &str = include_str!("../events/after-create-official-account.json");
const ADD_EVENT: &str = include_str!("../events/after-add-subscriber.json");

/// The event cases: name, the event JSON, and whether a token is configured.
fn cases() -> Vec<(&'static str, String, bool)> {
    let create: Value = serde_json::from_str(CREATE_EVENT).expect("sample event is JSON");

    let mut add: Value = serde_json::from_str(ADD_EVENT).expect("sample event is JSON");
    let mut body: Value =
        serde_json::from_str(add["body"].as_str().expect("body")).expect("body is JSON");
    body["SubscribeAccountList"] = Value::Array(
        (0..100)
            .map(|i| json!({ "Subscriber_Account": format!("bench_user_{i:03}") }))
            .collect(),
    );
    add["body"] = Value::String(body.to_string());

    let mut reject = create.clone();
    let q = reject["rawQueryString"].as_str().expect("query").to_owned();
    reject["rawQueryString"] = Value::String(q.replace(APP, "1400000009"));

    let mut signed = create.clone();
    let q = signed["rawQueryString"].as_str().expect("query").to_owned();
    signed["rawQueryString"] = Value::String(format!("{q}&Sign={SIGN}&RequestTime={NOW}"));

    vec![
        ("create", create.to_string(), false),
        ("add100", add.to_string(), false),
        ("reject", reject.to_string(), false),
        ("create_signed", signed.to_string(), true),
    ]
}

fn config(token: bool) -> Config {
    Config {
        table_name: "bench".to_owned(),
        sdk_app_ids: vec![APP.to_owned()],
        callback_token: token.then(|| TOKEN.into()),
        ..Config::default()
    }
}

/// An app whose DynamoDB answers every call with an empty success.
fn mocked_app(token: bool) -> App {
    let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let update = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
    let reads = mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build());
    let writes = mock!(Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client: Client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        &[&get, &update, &reads, &writes],
        configure
    );
    App::new(config(token), Store::new(client, "bench"))
        .with_clock(oa_webhook::clock::Clock::at_secs(NOW))
}

fn parse(json: &str) -> HttpRequest {
    let Shape::Http(payload) = Shape::of(json) else {
        panic!("not an HTTP event")
    };
    http::read(json, payload)
        .map(HttpRequest::from)
        .expect("event parses")
}

/// What the handler does before `admit`: the query and the body.
fn admit(event: &HttpRequest, config: &Config) -> Admission {
    let raw = event.uri().query().unwrap_or("");
    let req = Callback {
        method: event.method().as_str(),
        source_ip: None,
        query: Query::parse(raw),
        raw_query: Cow::Borrowed(raw),
        relayed: false,
        body: Cow::Borrowed(event.body().as_ref()),
    };
    protocol::admit(&req, config, NOW, &mut Seen::default())
}

fn benches(c: &mut Criterion) {
    let cases = cases();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // Each case must do what its name says, or the numbers mean nothing.
    for (name, json, token) in &cases {
        let stores = matches!(admit(&parse(json), &config(*token)), Admission::Store(_));
        assert_eq!(stores, *name != "reject", "{name}: admission");
        let app = mocked_app(*token);
        let r = rt.block_on(http::answer(&app, parse(json), Duration::from_secs(5)));
        let want = if *name == "reject" { 403 } else { 200 };
        assert_eq!(r.status(), want, "{name}: {:?}", r.0.body());
    }

    let mut g = c.benchmark_group("parse");
    for (name, json, _) in cases.iter().filter(|c| c.0 != "create_signed") {
        g.bench_function(*name, |b| b.iter(|| parse(black_box(json))));
    }
    g.finish();

    let mut g = c.benchmark_group("admit");
    for (name, json, token) in &cases {
        let event = parse(json);
        let cfg = config(*token);
        g.bench_function(*name, |b| b.iter(|| admit(black_box(&event), &cfg)));
    }
    g.finish();

    let mut g = c.benchmark_group("handle");
    for (name, json, token) in &cases {
        let app = mocked_app(*token);
        g.bench_function(*name, |b| {
            b.iter_batched(
                || parse(json),
                |event| rt.block_on(http::answer(&app, event, Duration::from_secs(5))),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = protocol;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = benches
}
criterion_main!(protocol);
