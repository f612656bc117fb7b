//! The contention model as an HTTP/1.1 proxy in front of the local DynamoDB: point the SDK's
//! `AWS_ENDPOINT_URL_DYNAMODB` at [`ContentionModel::endpoint`] and every call goes through
//! [`super::contention::Rules`] first. Works for in-process tests and for other processes
//! (`examples/contention_proxy.rs`), since it reads only what travels on the wire: the
//! `X-Amz-Target` header and the JSON body.
//!
//! - `TransactWriteItems`: admitted or cancelled by the rules. An admitted transaction holds
//!   its items from admission until the local DynamoDB has answered AND
//!   [`ModelConfig::transaction_time`] has passed; the reply waits as long.
//! - `PutItem`, `UpdateItem`, `DeleteItem`: admitted or refused by the rules; then at
//!   least [`ModelConfig::call_time`].
//! - `GetItem`, `BatchGetItem`: admitted or throttled by the partitions' read ceilings;
//!   then at least [`ModelConfig::call_time`].
//! - `BatchWriteItem`: charged, never refused; everything else (queries, table calls)
//!   passes through after at least [`ModelConfig::call_time`].
//! - A write the upstream engine refuses by its condition stays charged, as refused.
//! - `GET /model/counters`: the [`Counters`] as JSON (for a benchmark in another process).
//!
//! The proxy runs on its own thread and Tokio runtime, so it outlives no test runtime and
//! needs none: [`ContentionModel::start`] is a plain function. Dropping the model stops it.

use super::contention::{
    map_size, value_size, CancellationCode, Consistency, Counters, ItemKey, ItemWrite, ModelConfig,
    ReadVerdict, Rules, TransactionVerdict, WriteVerdict,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

const JSON_1_0: &str = "application/x-amz-json-1.0";
const ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// A running model; stops when dropped.
pub struct ContentionModel {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    config: ModelConfig,
    upstream: String,
    rules: Mutex<Rules>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Shared {
    fn rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ContentionModel {
    /// Starts the model on `127.0.0.1` (any free port) in front of the DynamoDB (Local)
    /// at `upstream` (`http://127.0.0.1:8000`). Errors: the port cannot be bound, or the
    /// runtime cannot be built.
    pub fn start(upstream: &str, config: ModelConfig) -> std::io::Result<ContentionModel> {
        ContentionModel::start_on("127.0.0.1:0", upstream, config)
    }

    /// [`ContentionModel::start`] on a given loopback address (`127.0.0.1:8001`).
    pub fn start_on(
        listen: &str,
        upstream: &str,
        config: ModelConfig,
    ) -> std::io::Result<ContentionModel> {
        let listener = std::net::TcpListener::bind(listen)?;
        if !listener.local_addr()?.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the model listens on loopback addresses only",
            ));
        }
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rules: Mutex::new(Rules::new(&config)),
            config,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let (stop, thread) = super::serve::serve(
            "contention-model",
            listener,
            shared.clone(),
            |s, req| async move { handle(&s, req).await },
        )?;
        Ok(ContentionModel {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The URL to give the SDK (`AWS_ENDPOINT_URL_DYNAMODB`), e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the counters now.
    pub fn counters(&self) -> Counters {
        self.shared.rules().counters().clone()
    }

    /// A reader of the counters that outlives a borrow (for a sampling task).
    pub fn counters_reader(&self) -> impl Fn() -> Counters + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.rules().counters().clone()
    }

    /// Zeroes the counters (held items and recent units stay).
    pub fn reset_counters(&self) {
        self.shared.rules().reset_counters();
    }

    pub fn config(&self) -> &ModelConfig {
        &self.shared.config
    }
}

impl Drop for ContentionModel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Releases a transaction's items when dropped: also when the client goes away mid-call
/// and hyper drops the request's future.
struct Held<'a> {
    shared: &'a Shared,
    hold: super::contention::HoldId,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.shared.rules().release(self.hold, Instant::now());
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    if parts.method == hyper::Method::GET && parts.uri.path() == "/model/counters" {
        let counters = shared.rules().counters().clone();
        let body = json!({
            "transactions": counters.transactions,
            "cancelled_transactions": counters.cancelled_transactions,
            "conflict_cancellations": counters.conflict_cancellations,
            "upstream_cancellations": counters.upstream_cancellations,
            "single_writes": counters.single_writes,
            "write_conflicts": counters.write_conflicts,
            "throttles": counters.throttles,
            "partition_throttles": counters.partition_throttles,
            "write_units": counters.write_units,
            "write_units_committed": counters.write_units_committed,
            "write_units_refused": counters.write_units_refused,
            "reads": counters.reads,
            "read_half_units": counters.read_half_units,
            "read_throttles": counters.read_throttles,
            "holds_released": counters.holds_released,
            "hold_time_us": counters.hold_time_us,
            "hottest_item": counters.hottest_item().map(|(k, u)| json!({"item": k, "write_units": u})),
            "write_units_per_item": counters.write_units_per_item.iter()
                .map(|(k, u)| json!({"item": k, "write_units": u})).collect::<Vec<_>>(),
        });
        return reply(StatusCode::OK, "application/json", body.to_string());
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return internal_error(&format!("cannot read the request body: {e}")),
    };
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("")
        .to_owned();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let keys = &shared.config.key_attributes;
    match (operation.as_str(), parsed) {
        ("TransactWriteItems", Some(request)) => {
            let Some(items) = transaction_items(&request, keys) else {
                // Not a shape the model reads: the local DynamoDB answers the validation error.
                return forward(shared, parts, body, arrived).await;
            };
            let verdict = shared.rules().admit_transaction(&items, arrived);
            match verdict {
                TransactionVerdict::Cancelled(codes) => {
                    wait_until(arrived + shared.config.call_time).await;
                    transaction_cancelled(&codes)
                }
                TransactionVerdict::Admitted(hold) => {
                    let held = Held { shared, hold };
                    let answered = forward_raw(
                        shared,
                        parts,
                        body,
                        arrived + shared.config.transaction_time,
                    )
                    .await;
                    if let Ok((parts, body)) = &answered {
                        if parts.status == StatusCode::BAD_REQUEST
                            && error_type(body).as_deref() == Some("TransactionCanceledException")
                        {
                            shared.rules().count_upstream_cancellation(hold);
                        }
                    }
                    drop(held);
                    match answered {
                        Ok((parts, body)) => Response::from_parts(parts, Full::new(body)),
                        Err(response) => response,
                    }
                }
            }
        }
        ("PutItem" | "UpdateItem" | "DeleteItem", Some(request)) => {
            let Some(write) = single_write(&operation, &request, keys) else {
                return forward(shared, parts, body, arrived).await;
            };
            let verdict = shared.rules().admit_write(&write, arrived);
            match verdict {
                WriteVerdict::Admitted(units) => {
                    match forward_raw(shared, parts, body, arrived + shared.config.call_time).await
                    {
                        Ok((parts, body)) => {
                            if parts.status == StatusCode::BAD_REQUEST
                                && error_type(&body).as_deref()
                                    == Some("ConditionalCheckFailedException")
                            {
                                shared.rules().count_refused_write(units);
                            }
                            Response::from_parts(parts, Full::new(body))
                        }
                        Err(response) => response,
                    }
                }
                WriteVerdict::TransactionConflict => {
                    wait_until(arrived + shared.config.call_time).await;
                    error_reply(
                        "TransactionConflictException",
                        json!({"message": "Transaction is ongoing for the item"}),
                    )
                }
                WriteVerdict::Throttled => {
                    wait_until(arrived + shared.config.call_time).await;
                    throughput_exceeded(&write.item.table, "TableWriteKeyRangeThroughputExceeded")
                }
            }
        }
        ("GetItem" | "BatchGetItem", Some(request)) => {
            let (keys, consistency) = read_keys(&operation, &request, keys);
            let verdict = shared.rules().admit_read(&keys, consistency, arrived);
            match verdict {
                ReadVerdict::Admitted => {
                    forward(shared, parts, body, arrived + shared.config.call_time).await
                }
                ReadVerdict::Throttled => {
                    wait_until(arrived + shared.config.call_time).await;
                    let table = keys.first().map(|k| k.table.as_str()).unwrap_or("");
                    throughput_exceeded(table, "TableReadKeyRangeThroughputExceeded")
                }
            }
        }
        ("BatchWriteItem", Some(request)) => {
            {
                let mut rules = shared.rules();
                for write in batch_writes(&request, keys) {
                    rules.charge_unrefused(&write, arrived);
                }
            }
            forward(shared, parts, body, arrived + shared.config.call_time).await
        }
        _ => forward(shared, parts, body, arrived + shared.config.call_time).await,
    }
}

/// The items of a `TransactWriteItems` request in its actions' order, with their sizes;
/// `None` if an action is not one the model knows.
fn transaction_items(request: &Value, keys: &[String]) -> Option<Vec<ItemWrite>> {
    let actions = request.get("TransactItems")?.as_array()?;
    actions
        .iter()
        .map(|action| {
            let (kind, body) = action.as_object()?.iter().next()?;
            action_write(kind, body, keys)
        })
        .collect()
}

/// One action (`Put`, `Update`, `Delete`, `ConditionCheck`, or the single-write operation
/// of the same name) as the item it writes and the bytes it is charged for.
fn action_write(kind: &str, body: &Value, keys: &[String]) -> Option<ItemWrite> {
    let table = body.get("TableName")?.as_str()?;
    let (named, bytes) = match kind {
        "Put" | "PutItem" => {
            let item = body.get("Item")?.as_object()?;
            (item, map_size(item))
        }
        "Update" | "UpdateItem" => {
            let key = body.get("Key")?.as_object()?;
            let values: usize = body
                .get("ExpressionAttributeValues")
                .and_then(Value::as_object)
                .map(|m| m.values().map(value_size).sum())
                .unwrap_or(0);
            let names: usize = body
                .get("ExpressionAttributeNames")
                .and_then(Value::as_object)
                .map(|m| m.values().filter_map(Value::as_str).map(str::len).sum())
                .unwrap_or(0);
            (key, map_size(key) + values + names)
        }
        "Delete" | "DeleteItem" | "ConditionCheck" => {
            let key = body.get("Key")?.as_object()?;
            (key, map_size(key))
        }
        _ => return None,
    };
    Some(ItemWrite {
        item: ItemKey::of(table, named, keys)?,
        bytes,
    })
}

fn single_write(operation: &str, request: &Value, keys: &[String]) -> Option<ItemWrite> {
    action_write(operation, request, keys)
}

/// The keys a `GetItem` or `BatchGetItem` reads, and how (`ConsistentRead`; a batch's
/// first table's setting for all of it).
fn read_keys(operation: &str, request: &Value, keys: &[String]) -> (Vec<ItemKey>, Consistency) {
    let strong = |v: &Value| {
        if v.get("ConsistentRead").and_then(Value::as_bool) == Some(true) {
            Consistency::Strong
        } else {
            Consistency::Eventual
        }
    };
    if operation == "GetItem" {
        let key = request
            .get("TableName")
            .and_then(Value::as_str)
            .zip(request.get("Key").and_then(Value::as_object))
            .and_then(|(t, k)| ItemKey::of(t, k, keys));
        return (key.into_iter().collect(), strong(request));
    }
    let mut out = Vec::new();
    let mut consistency = Consistency::Eventual;
    for (table, r) in request
        .get("RequestItems")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        consistency = strong(r);
        for k in r
            .get("Keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = k.as_object().and_then(|k| ItemKey::of(table, k, keys)) {
                out.push(k);
            }
        }
    }
    (out, consistency)
}

fn batch_writes(request: &Value, keys: &[String]) -> Vec<ItemWrite> {
    let Some(tables) = request.get("RequestItems").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut writes = Vec::new();
    for (table, requests) in tables {
        for r in requests.as_array().into_iter().flatten() {
            let named: Option<&Map<String, Value>> = r
                .pointer("/PutRequest/Item")
                .or_else(|| r.pointer("/DeleteRequest/Key"))
                .and_then(Value::as_object);
            if let Some(named) = named {
                if let Some(item) = ItemKey::of(table, named, keys) {
                    writes.push(ItemWrite {
                        item,
                        bytes: map_size(named),
                    });
                }
            }
        }
    }
    writes
}

/// Sends the request on to the local DynamoDB as it came, and answers no earlier than
/// `not_before`.
async fn forward(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    body: Bytes,
    not_before: Instant,
) -> Response<Full<Bytes>> {
    match forward_raw(shared, parts, body, not_before).await {
        Ok((parts, body)) => Response::from_parts(parts, Full::new(body)),
        Err(response) => response,
    }
}

/// [`forward`], with the local DynamoDB's reply as parts and body; `Err` is the model's own
/// `InternalServerError` reply when the local DynamoDB cannot be reached.
async fn forward_raw(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    body: Bytes,
    not_before: Instant,
) -> Result<(hyper::http::response::Parts, Bytes), Response<Full<Bytes>>> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = format!("{}{}", shared.upstream, path);
    let mut builder = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let request = match builder.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => {
            return Err(internal_error(&format!(
                "cannot build the upstream request: {e}"
            )))
        }
    };
    let response = match shared.client.request(request).await {
        Ok(r) => r,
        Err(e) => {
            return Err(internal_error(&format!(
                "the local DynamoDB at {} did not answer: {e}",
                shared.upstream
            )))
        }
    };
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(internal_error(&format!(
                "cannot read the local DynamoDB's reply: {e}"
            )))
        }
    };
    wait_until(not_before).await;
    Ok((parts, body))
}

async fn wait_until(when: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(when)).await;
}

/// `TransactionCanceledException` as DynamoDB sends it (awsJson1_0: `__type`, `Message`,
/// `CancellationReasons` with `Code` and `Message`), one reason per action in order.
fn transaction_cancelled(codes: &[CancellationCode]) -> Response<Full<Bytes>> {
    let reasons: Vec<Value> = codes
        .iter()
        .map(|c| match c {
            CancellationCode::None => json!({"Code": "None"}),
            CancellationCode::TransactionConflict => {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            }
            CancellationCode::ThrottlingError => json!({
                "Code": "ThrottlingError",
                "Message": "Throughput exceeds the current capacity of your table or index."
            }),
        })
        .collect();
    let listed: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    error_reply(
        "TransactionCanceledException",
        json!({
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                listed.join(", ")
            ),
            "CancellationReasons": reasons,
        }),
    )
}

/// `ProvisionedThroughputExceededException` with the key-range reason the SDK reads
/// (`ThrottlingReasons[].reason`, `resource`).
fn throughput_exceeded(table: &str, reason: &str) -> Response<Full<Bytes>> {
    error_reply(
        "ProvisionedThroughputExceededException",
        json!({
            "message": "Throughput exceeds the current capacity for one or more partitions of your table.",
            "ThrottlingReasons": [{
                "reason": reason,
                "resource": format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}"),
            }],
        }),
    )
}

fn error_reply(error: &str, mut fields: Value) -> Response<Full<Bytes>> {
    if let Value::Object(m) = &mut fields {
        m.insert(
            "__type".to_owned(),
            Value::String(format!("{ERROR_PREFIX}{error}")),
        );
    }
    reply(StatusCode::BAD_REQUEST, JSON_1_0, fields.to_string())
}

fn internal_error(message: &str) -> Response<Full<Bytes>> {
    eprintln!("contention model: {message}");
    let body = json!({"__type": format!("{ERROR_PREFIX}InternalServerError"), "message": message});
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        JSON_1_0,
        body.to_string(),
    )
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response.headers_mut().insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("contention-model"),
    );
    response
}

/// The error name of an awsJson1_0 error body (`__type` after the `#`).
fn error_type(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let t = v.get("__type")?.as_str()?;
    Some(t.rsplit('#').next().unwrap_or(t).to_owned())
}
