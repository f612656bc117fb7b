//! Fuzz target: API Gateway / function URL event JSON in, reply out.
//!
//! The input is the raw bytes Lambda would hand to the function. They are read into
//! [`ApiEvent`] exactly as `lambda_runtime` would (a parse failure is the runtime's
//! business: we just return), then every input runs twice through [`App::handle`]:
//!
//! - `open`:   `SDKAPPID=1400000001`, no `CALLBACK_TOKEN` (authentication off);
//! - `signed`: the same, with `CALLBACK_TOKEN=`[`TOKEN`] (authentication on).
//!
//! Storage is an in-process recorder: an `aws-smithy-mocks` client whose rules answer
//! every DynamoDB operation the store uses with an empty success, repeatedly, so every
//! admitted event runs the whole write path without a network. The clock is fixed at
//! [`NOW`], so `RequestTime=NOW` with `Sign=sha256(TOKEN + NOW)` (see `fuzz/seeds.py`)
//! passes authentication and the fuzzer can get past it.
//!
//! Invariants, checked for every reply (a violation panics, which libFuzzer reports):
//! 1. the status is one of 200/400/401/403/405/413/500/503;
//! 2. `content-type: application/json`, not base64;
//! 3. the body is a JSON object with exactly `ActionStatus`, `ErrorCode`, `ErrorInfo`;
//!    `ActionStatus` is "OK" iff the status is 200; `ErrorCode` is 0 iff the status is
//!    200 and equals the status otherwise; `ErrorInfo` is a string, empty on OK;
//! 4. `ErrorInfo` never contains the token (unless the input itself carried it);
//! 5. 401 only when a token is configured;
//! 6. a 4xx touched no storage (every 4xx is decided before the store is called);
//! 7. no 500: every DynamoDB call succeeds, so `StoreError::Fatal` would mean the store
//!    cannot express an event that validation admitted (503 stays possible: the 1.4 s
//!    budget is wall-clock time);
//! 8. differential: with the token on, the reply is either 401 or exactly the reply
//!    with the token off (authentication may only add a refusal, never change an answer).

#![no_main]

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use libfuzzer_sys::fuzz_target;
use oa_webhook::config::Config;
use oa_webhook::app::{App, DEFAULT_BUDGET};
use oa_webhook::doors::http::{ApiEvent, ApiResponse};
use oa_webhook::store::{configure, Store};
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;

/// The webhook token of the `signed` configuration. `fuzz/seeds.py` signs with it too.
const TOKEN: &str = "fuzz-callback-token-7Qx2";
/// The fixed clock, Unix seconds (the project's tests use the same instant).
const NOW: u64 = 1669872112;
const SDK_APP_ID: &str = "1400000001";
const TABLE: &str = "fuzz-table";
const STATUSES: [u16; 8] = [200, 400, 401, 403, 405, 413, 500, 503];

/// The storage recorder: one repeating empty-success rule per operation, and their
/// call counts.
struct Recorder {
    rules: Vec<Rule>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            rules: vec![
                mock!(Client::get_item).then_output(|| GetItemOutput::builder().build()),
                mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build()),
                mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build()),
                mock!(Client::transact_write_items)
                    .then_output(|| TransactWriteItemsOutput::builder().build()),
                mock!(Client::put_item).then_output(|| PutItemOutput::builder().build()),
                mock!(Client::query).then_output(|| QueryOutput::builder().build()),
            ],
        }
    }

    fn client(&self) -> Client {
        let rules: Vec<&Rule> = self.rules.iter().collect();
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &rules, |b| configure(
            b
        ))
    }

    /// DynamoDB calls answered so far (all operations).
    fn calls(&self) -> usize {
        self.rules.iter().map(Rule::num_calls).sum()
    }
}

struct Harness {
    rt: Runtime,
    recorder: Recorder,
    open: App,
    signed: App,
    /// `HANDLE_EVENT_TRACE=1`: print both replies of every input to stderr (to see
    /// what a corpus reaches: `handle_event -runs=0 CORPUS_DIR`).
    trace: bool,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let recorder = Recorder::new();
        let app = |token: Option<&str>| {
            let config = Config {
                table_name: TABLE.to_owned(),
                sdk_app_ids: vec![SDK_APP_ID.to_owned()],
                callback_token: token.map(str::to_owned),
                ..Config::default()
            };
            let mut app = App::new(config, Store::new(recorder.client(), TABLE));
            app.clock = Arc::new(|| NOW);
            app
        };
        let (open, signed) = {
            let _guard = rt.enter();
            (app(None), app(Some(TOKEN)))
        };
        Harness {
            rt,
            recorder,
            open,
            signed,
            trace: std::env::var_os("HANDLE_EVENT_TRACE").is_some(),
        }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs one configuration and checks invariants 1-6 on its reply.
fn run(h: &Harness, app: &App, token: Option<&str>, data: &[u8]) -> ApiResponse {
    // Parsed afresh for each run: `ApiEvent` is not `Clone`, and the parse is what
    // lambda_runtime would do anyway.
    let event: ApiEvent = serde_json::from_slice(data).expect("parsed once already");
    let calls_before = h.recorder.calls();
    let r = h.rt.block_on(app.handle(event, DEFAULT_BUDGET));
    let calls = h.recorder.calls() - calls_before;
    let mode = if token.is_some() {
        "token on"
    } else {
        "token off"
    };
    let status = r.status_code;

    assert!(
        STATUSES.contains(&status),
        "[{mode}] status {status} is not one of {STATUSES:?}: {r:?}"
    );
    assert_eq!(r.headers.content_type, "application/json", "[{mode}] {r:?}");
    assert!(
        !r.is_base64_encoded,
        "[{mode}] reply body marked base64: {r:?}"
    );

    let v: serde_json::Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("[{mode}] reply body is not JSON ({e}): {:?}", r.body));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("[{mode}] reply body is not an object: {}", r.body));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["ActionStatus", "ErrorCode", "ErrorInfo"],
        "[{mode}] reply must have exactly ActionStatus/ErrorCode/ErrorInfo: {}",
        r.body
    );
    let action = obj["ActionStatus"].as_str();
    let code = obj["ErrorCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("[{mode}] ErrorCode is not an unsigned integer: {}", r.body));
    let info = obj["ErrorInfo"]
        .as_str()
        .unwrap_or_else(|| panic!("[{mode}] ErrorInfo is not a string: {}", r.body));
    if status == 200 {
        assert_eq!(action, Some("OK"), "[{mode}] 200 without OK: {}", r.body);
        assert_eq!(
            code, 0,
            "[{mode}] 200 with a non-zero ErrorCode: {}",
            r.body
        );
        assert_eq!(info, "", "[{mode}] OK with an ErrorInfo: {}", r.body);
    } else {
        assert_eq!(
            action,
            Some("FAIL"),
            "[{mode}] {status} without FAIL: {}",
            r.body
        );
        assert_eq!(
            code,
            u64::from(status),
            "[{mode}] FAIL ErrorCode differs from the status {status}: {}",
            r.body
        );
    }

    if let Some(t) = token {
        assert!(
            !info.contains(t) || contains(data, t.as_bytes()),
            "[{mode}] ErrorInfo leaks the token: {}",
            r.body
        );
    } else {
        assert_ne!(
            status, 401,
            "[{mode}] 401 while authentication is off: {}",
            r.body
        );
    }

    if (400..500).contains(&status) {
        assert_eq!(
            calls, 0,
            "[{mode}] {status} after {calls} DynamoDB calls: {}",
            r.body
        );
    }
    // Every DynamoDB call succeeds here, so a 500 (StoreError::Fatal) can only mean the
    // store could not express an event that validation admitted: a 400 missed, or a bug.
    // (503 stays possible: the budget is real time, and a loaded machine may exhaust it.)
    assert_ne!(
        status, 500,
        "[{mode}] 500 although every DynamoDB call succeeded: {}",
        r.body
    );
    r
}

fuzz_target!(|data: &[u8]| {
    if serde_json::from_slice::<ApiEvent>(data).is_err() {
        return; // lambda_runtime answers an unparsable event itself
    }
    let h = harness();
    let open = run(h, &h.open, None, data);
    let signed = run(h, &h.signed, Some(TOKEN), data);
    if h.trace {
        eprintln!(
            "handle_event: token off {} {} | token on {} {}",
            open.status_code, open.body, signed.status_code, signed.body
        );
    }
    assert!(
        signed.status_code == 401 || signed == open,
        "authentication changed an answer other than by refusing: token off {open:?}, token on {signed:?}"
    );
});
