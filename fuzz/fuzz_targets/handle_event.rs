//! Fuzz target: API Gateway / function URL event JSON in, reply out.
//!
//! The input is the raw bytes Lambda would hand to the function. They are read exactly as
//! the Lambda door reads them ([`Shape::of`], [`http::read`], then `lambda_http`'s
//! conversion into its `Request`; an event of another shape, one that does not read, or
//! one only a forged direct invoke sends, fails the invocation there, so we just return),
//! then every input runs twice through [`http::answer`]:
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
//!    with the token off (authentication may only add a refusal, never change an answer);
//! 9. differential: two encodings of one event make the same writes. When the body
//!    (base64-decoded if `isBase64Encoded`) is a JSON object to serde_json, a second
//!    event carries an equivalent body (see [`second_body`]: a UTF-8 BOM in front, every
//!    ASCII letter in strings and keys as a `\u00XX` escape, top-level `EventTime`,
//!    `MsgTime` and `OnlineOnlyFlag` that are non-negative JSON integers as digit
//!    strings, a repeated key only once with its last value, not base64). Both run with
//!    the token off and must get the same status and, when both are 200, the same
//!    DynamoDB writes (compared as sorted canonical texts, see [`Recorder`]). A 503 on
//!    either side skips the comparison (the budget is wall-clock time). The second run's
//!    reply is held to invariants 1-7 too.

#![no_main]

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use oa_webhook::app::{App, DEFAULT_BUDGET};
use oa_webhook::clients::configure_webhook_dynamodb as configure;
use oa_webhook::config::Config;
use oa_webhook::doors::http::{self, Answer, Request};
use oa_webhook::doors::Shape;
use oa_webhook::protocol::MAX_BODY_BYTES;
use oa_webhook::store::Store;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::runtime::Runtime;

/// The webhook token of the `signed` configuration. `fuzz/seeds.py` signs with it too.
const TOKEN: &str = "fuzz-callback-token-7Qx2";
/// The fixed clock, Unix seconds (the project's tests use the same instant).
const NOW: u64 = 1669872112;
const SDK_APP_ID: &str = "1400000001";
const TABLE: &str = "fuzz-table";
const STATUSES: [u16; 8] = [200, 400, 401, 403, 405, 413, 500, 503];

/// The canonical texts of the write requests made so far (invariant 9).
type Writes = Arc<Mutex<Vec<String>>>;

/// The storage recorder: one repeating empty-success rule per operation, and their
/// call counts. The write rules (UpdateItem, PutItem, TransactWriteItems) match every
/// request of their operation, and on the way record its canonical text in `writes`.
struct Recorder {
    rules: Vec<Rule>,
    writes: Writes,
}

fn record(writes: &Writes, text: String) -> bool {
    writes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(text);
    true
}

impl Recorder {
    fn new() -> Recorder {
        let writes = Writes::default();
        let (w_update, w_put, w_transact) = (writes.clone(), writes.clone(), writes.clone());
        Recorder {
            rules: vec![
                mock!(Client::get_item).then_output(|| GetItemOutput::builder().build()),
                mock!(Client::update_item)
                    .match_requests(move |i| record(&w_update, update_item_text(i)))
                    .then_output(|| UpdateItemOutput::builder().build()),
                mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build()),
                mock!(Client::transact_write_items)
                    .match_requests(move |i| record(&w_transact, transact_text(i)))
                    .then_output(|| TransactWriteItemsOutput::builder().build()),
                mock!(Client::put_item)
                    .match_requests(move |i| record(&w_put, put_item_text(i)))
                    .then_output(|| PutItemOutput::builder().build()),
                mock!(Client::query).then_output(|| QueryOutput::builder().build()),
            ],
            writes,
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

    /// The writes recorded since the last call, sorted: compared as a multiset, since
    /// concurrent writes (withdrawals) may be sent in any order.
    fn take_writes(&self) -> Vec<String> {
        let mut writes =
            std::mem::take(&mut *self.writes.lock().unwrap_or_else(PoisonError::into_inner));
        writes.sort_unstable();
        writes
    }
}

// ---- canonical texts of write requests (invariant 9) ----------------------------------
// Every map is written in key order, so the text does not depend on hash order.

fn attribute(v: &AttributeValue, out: &mut String) {
    let sorted = |items: &[String]| {
        let mut items = items.to_vec();
        items.sort_unstable();
        items
    };
    match v {
        AttributeValue::S(s) => write!(out, "S{s:?}"),
        AttributeValue::N(n) => write!(out, "N({n})"),
        AttributeValue::Bool(b) => write!(out, "BOOL({b})"),
        AttributeValue::Null(b) => write!(out, "NULL({b})"),
        AttributeValue::B(b) => write!(out, "B{:?}", b.as_ref()),
        // Sets are unordered.
        AttributeValue::Ss(v) => write!(out, "SS{:?}", sorted(v)),
        AttributeValue::Ns(v) => write!(out, "NS{:?}", sorted(v)),
        AttributeValue::Bs(v) => {
            let mut v: Vec<&[u8]> = v.iter().map(|b| b.as_ref()).collect();
            v.sort_unstable();
            write!(out, "BS{v:?}")
        }
        AttributeValue::L(items) => {
            out.push_str("L[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                attribute(item, out);
            }
            out.push(']');
            Ok(())
        }
        AttributeValue::M(m) => {
            attributes(Some(m), out);
            Ok(())
        }
        other => write!(out, "?{other:?}"),
    }
    .expect("writing to a String");
}

/// A map of attribute values, in key order; `-` when absent.
fn attributes(map: Option<&HashMap<String, AttributeValue>>, out: &mut String) {
    let Some(map) = map else {
        out.push('-');
        return;
    };
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push_str("M{");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "{k:?}:").expect("writing to a String");
        attribute(v, out);
    }
    out.push('}');
}

/// Expression attribute names, in key order; `-` when absent.
fn names(map: Option<&HashMap<String, String>>, out: &mut String) {
    match map {
        None => out.push('-'),
        Some(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable();
            write!(out, "{entries:?}").expect("writing to a String");
        }
    }
}

/// One write (or a transaction's action): its kind and the parts that say what it does.
#[allow(clippy::too_many_arguments)]
fn write_text(
    out: &mut String,
    kind: &str,
    table: Option<&str>,
    key_or_item: Option<&HashMap<String, AttributeValue>>,
    update: Option<&str>,
    condition: Option<&str>,
    expression_names: Option<&HashMap<String, String>>,
    expression_values: Option<&HashMap<String, AttributeValue>>,
) {
    write!(out, "{kind} table={table:?} key/item=").expect("writing to a String");
    attributes(key_or_item, out);
    write!(out, " update={update:?} condition={condition:?} names=").expect("writing to a String");
    names(expression_names, out);
    out.push_str(" values=");
    attributes(expression_values, out);
}

fn update_item_text(i: &UpdateItemInput) -> String {
    let mut out = String::new();
    write_text(
        &mut out,
        "UpdateItem",
        i.table_name(),
        i.key(),
        i.update_expression(),
        i.condition_expression(),
        i.expression_attribute_names(),
        i.expression_attribute_values(),
    );
    out
}

fn put_item_text(i: &PutItemInput) -> String {
    let mut out = String::new();
    write_text(
        &mut out,
        "PutItem",
        i.table_name(),
        i.item(),
        None,
        i.condition_expression(),
        i.expression_attribute_names(),
        i.expression_attribute_values(),
    );
    out
}

/// A transaction, its actions in the order sent (each action's maps sorted).
fn transact_text(i: &TransactWriteItemsInput) -> String {
    let mut out = String::from("TransactWriteItems[");
    for (n, item) in i.transact_items().iter().enumerate() {
        out.push_str(if n > 0 { "; " } else { "" });
        if let Some(p) = item.put() {
            write_text(
                &mut out,
                "Put",
                Some(p.table_name()),
                Some(p.item()),
                None,
                p.condition_expression(),
                p.expression_attribute_names(),
                p.expression_attribute_values(),
            );
        }
        if let Some(u) = item.update() {
            write_text(
                &mut out,
                "Update",
                Some(u.table_name()),
                Some(u.key()),
                Some(u.update_expression()),
                u.condition_expression(),
                u.expression_attribute_names(),
                u.expression_attribute_values(),
            );
        }
        if let Some(c) = item.condition_check() {
            write_text(
                &mut out,
                "ConditionCheck",
                Some(c.table_name()),
                Some(c.key()),
                None,
                Some(c.condition_expression()),
                c.expression_attribute_names(),
                c.expression_attribute_values(),
            );
        }
        if let Some(d) = item.delete() {
            write_text(
                &mut out,
                "Delete",
                Some(d.table_name()),
                Some(d.key()),
                None,
                d.condition_expression(),
                d.expression_attribute_names(),
                d.expression_attribute_values(),
            );
        }
    }
    out.push(']');
    out
}

// ---- the second encoding (invariant 9) -------------------------------------------------

/// The top-level integer fields (docs/contract.md section 2, "Reading fields").
const INTEGER_FIELDS: [&str; 3] = ["EventTime", "MsgTime", "OnlineOnlyFlag"];

/// A JSON string with every ASCII letter as a `\u00XX` escape.
fn escaped_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_alphabetic() || c < ' ' => {
                write!(out, "\\u{:04x}", u32::from(c)).expect("writing to a String")
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON value with [`escaped_string`] strings and keys. Numbers keep their text
/// (`arbitrary_precision`).
fn escaped_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => escaped_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escaped_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escaped_string(k, out);
                out.push(':');
                escaped_value(v, out);
            }
            out.push('}');
        }
    }
}

/// The second encoding of an event's body, or `None` when the body is not a JSON object
/// to serde_json (after base64 decoding when the event says so, and without a leading
/// byte-order mark): a BOM, then the object with every ASCII letter in strings and keys
/// escaped, and top-level [`INTEGER_FIELDS`] that are non-negative plain JSON integers as
/// digit strings. serde_json keeps the last occurrence of a repeated key, as our reader
/// does, so the second body has each key once.
fn second_body(event: &Value) -> Option<String> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let text = event.get("body")?.as_str()?;
    let decoded;
    let bytes = if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        decoded = BASE64.decode(text).ok()?;
        &decoded[..]
    } else {
        text.as_bytes()
    };
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
        return None;
    };
    let mut out = String::from("\u{FEFF}{");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        escaped_string(k, &mut out);
        out.push(':');
        match v {
            Value::Number(n)
                if INTEGER_FIELDS.contains(&k.as_str())
                    && n.to_string().bytes().all(|b| b.is_ascii_digit()) =>
            {
                write!(out, "\"{n}\"").expect("writing to a String")
            }
            v => escaped_value(v, &mut out),
        }
    }
    out.push('}');
    // Escapes make the body up to six times longer: past the size limit (row 6) the two
    // encodings are no longer the same request.
    (out.len() <= MAX_BODY_BYTES).then_some(out)
}

struct Harness {
    rt: Runtime,
    recorder: Recorder,
    open: App,
    signed: App,
    /// `HANDLE_EVENT_TRACE=1`: print the replies of every input to stderr (to see
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
                callback_token: token.map(oa_webhook::token::CallbackToken::from),
                ..Config::default()
            };
            App::new(config, Store::new(recorder.client(), TABLE))
                .with_clock(oa_webhook::clock::Clock::at_secs(NOW))
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

/// Runs one configuration and checks invariants 1-7 on its reply. `data` is the fuzz
/// input (for invariant 4); `mode` names the run in messages. Returns the reply and
/// the writes it made (sorted canonical texts).
fn run(
    h: &Harness,
    app: &App,
    token: Option<&str>,
    mode: &str,
    event: Request,
    data: &[u8],
) -> (ApiResponse, Vec<String>) {
    h.recorder.take_writes(); // nothing left over from an earlier run
    let calls_before = h.recorder.calls();
    let r = ApiResponse::from(h.rt.block_on(http::answer(app, event, DEFAULT_BUDGET)));
    let calls = h.recorder.calls() - calls_before;
    let writes = h.recorder.take_writes();
    let status = r.status_code;

    assert!(
        STATUSES.contains(&status),
        "[{mode}] status {status} is not one of {STATUSES:?}: {r:?}"
    );
    assert_eq!(r.content_type, "application/json", "[{mode}] {r:?}");
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
    (r, writes)
}

/// The reply as the checks read it.
#[derive(Debug, PartialEq, Eq)]
struct ApiResponse {
    status_code: u16,
    content_type: String,
    body: String,
    is_base64_encoded: bool,
}

impl From<Answer> for ApiResponse {
    fn from(answer: Answer) -> ApiResponse {
        let status_code = answer.status();
        let (parts, body) = answer.0.into_parts();
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (body, is_base64_encoded) = match body {
            oa_webhook::doors::http::Body::Text(text) => (text, false),
            oa_webhook::doors::http::Body::Binary(bytes) => (BASE64.encode(bytes), true),
            _ => (String::new(), false),
        };
        ApiResponse {
            status_code,
            content_type,
            body,
            is_base64_encoded,
        }
    }
}

/// The fuzz input as the Lambda door reads it (afresh each time: a `Request` is not
/// `Clone`); `None` when the door would fail the invocation instead: an event that does
/// not read, and what only a forged direct invoke sends, on which `lambda_http`'s
/// conversion panics and `lambda_runtime` reports the invocation's error (a body marked
/// base64 that is not; a `Host`, `x-forwarded-proto`, stage or path no URL can hold).
/// The request line is set to one API Gateway writes (the webhook reads none of it but
/// the query), and a body marked base64 must decode.
fn event(data: &[u8]) -> Option<Request> {
    let mut json: Value = serde_json::from_slice(data).ok()?;
    let text = serde_json::to_string(&json).ok()?;
    let Shape::Http(payload) = Shape::of(&text) else {
        return None;
    };
    let obj = json.as_object_mut()?;
    if obj.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        BASE64.decode(obj.get("body")?.as_str()?).ok()?;
    }
    for key in ["headers", "multiValueHeaders"] {
        if let Some(Value::Object(headers)) = obj.get_mut(key) {
            headers.retain(|k, _| {
                !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("x-forwarded-proto")
            });
        }
    }
    for key in ["rawPath", "path"] {
        if obj.contains_key(key) {
            obj.insert(key.to_owned(), Value::String("/callback".to_owned()));
        }
    }
    if let Some(Value::Object(context)) = obj.get_mut("requestContext") {
        context.remove("domainName");
        context.remove("stage");
    }
    let json = serde_json::to_string(&json).ok()?;
    http::read(&json, payload).ok().map(Request::from)
}

fuzz_target!(|data: &[u8]| {
    let Some(first) = event(data) else {
        return; // not an HTTP event: the invocation fails (contract section 9)
    };
    let h = harness();
    // Invariant 9's second event: the same, but for its body.
    let second = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|mut json| {
            let body = second_body(&json)?;
            json["body"] = Value::String(body);
            json["isBase64Encoded"] = Value::Bool(false);
            event(json.to_string().as_bytes())
        });
    let Some(again_first) = event(data) else {
        return;
    };
    let (open, open_writes) = run(h, &h.open, None, "token off", first, data);
    let (signed, _) = run(h, &h.signed, Some(TOKEN), "token on", again_first, data);
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

    let Some(second) = second else { return };
    let second_text = String::from_utf8_lossy(second.body().as_ref()).into_owned();
    let (again, again_writes) = run(h, &h.open, None, "token off, second encoding", second, data);
    if h.trace {
        eprintln!(
            "handle_event: second encoding {} {} ({} writes)",
            again.status_code,
            again.body,
            again_writes.len()
        );
    }
    if open.status_code == 503 || again.status_code == 503 {
        return; // out of (wall-clock) budget: the writes may stop anywhere
    }
    assert_eq!(
        open.status_code, again.status_code,
        "two encodings of one event got different statuses: {open:?} / {again:?}\nsecond body: {second_text}"
    );
    if open.status_code == 200 {
        assert!(
            open_writes == again_writes,
            "two encodings of one event made different writes\nfirst: {open_writes:#?}\nsecond: {again_writes:#?}\nsecond body: {second_text}"
        );
    }
});
