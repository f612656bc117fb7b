//! A small, fast SQS stand-in for benchmarks: moto's server mode manages about 50
//! `SendMessage` calls a second on this 2-core machine (`../shared/spec/aws.md`), so a load
//! test through it measures moto. This one keeps its queues in memory behind one lock and
//! speaks the AWS JSON 1.0 protocol that aws-sdk-sqs 1.x uses (`X-Amz-Target:
//! AmazonSQS.<Operation>`), for the operations the function and the benchmark call:
//! `CreateQueue`, `GetQueueUrl`, `SendMessage` (with `MessageGroupId`), `SendMessageBatch`,
//! `ReceiveMessage` (long polling), `DeleteMessage`, `DeleteMessageBatch`,
//! `ChangeMessageVisibility`, `GetQueueAttributes`, `PurgeQueue`. A benchmark in the same
//! process can also use the queues directly ([`FastSqs::receive`], [`FastSqs::delete`]), as
//! Lambda's event source mapping would through the API.
//!
//! SQS semantics kept: a received message is hidden for its visibility timeout and then
//! received again with a higher `ApproximateReceiveCount`; with a redrive policy, a message
//! received `maxReceiveCount` times goes to the dead-letter queue on its next receive; a
//! receipt handle is valid for the latest receive only. Not kept: fair-queue ordering
//! between message groups (messages come out oldest first), FIFO queues, delays, MD5 digests
//! (aws-sdk-sqs does not check them), message size limits.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const JSON_1_0: &str = "application/x-amz-json-1.0";
const ACCOUNT: &str = "000000000000";
/// The longest `WaitTimeSeconds` SQS accepts.
const MAX_WAIT: Duration = Duration::from_secs(20);

/// One message as a reader receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// `MessageAttributes` in wire form (`{"reason": {"DataType": "String", "StringValue": ...}}`).
    pub attributes: Map<String, Value>,
    pub group: Option<String>,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
    /// `SentTimestamp`, Unix milliseconds.
    pub sent_ms: u64,
}

/// A message's body and `MessageAttributes` (wire form), as [`FastSqs::peek_all`] shows it.
pub type Peeked = (String, Map<String, Value>);

/// What one queue saw since it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    /// Messages moved here from another queue by its redrive policy.
    pub redriven_in: u64,
    /// Messages now visible.
    pub visible: u64,
    /// Messages now received and not yet deleted nor visible again.
    pub in_flight: u64,
}

struct Message {
    id: String,
    body: String,
    attributes: Map<String, Value>,
    group: Option<String>,
    sent_ms: u64,
    visible_at: Instant,
    receive_count: u32,
}

struct Queue {
    visibility: Duration,
    /// Dead-letter queue name and `maxReceiveCount`.
    redrive: Option<(String, u32)>,
    messages: BTreeMap<u64, Message>,
    stats: QueueStats,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    next: u64,
}

struct Shared {
    base_url: String,
    state: Mutex<State>,
    arrived: tokio::sync::Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running stand-in; stops when dropped.
pub struct FastSqs {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Why a call on a queue failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqsError {
    QueueDoesNotExist(String),
    ReceiptHandleIsInvalid,
    InvalidParameterValue(String),
}

impl FastSqs {
    /// An aws-sdk-sqs client for this stand-in (region us-east-1, test keys), over the
    /// project's HTTPS client: the crate builds the SDK without a default one (Cargo.toml).
    pub fn sdk_client(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::new()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "fast-sqs",
            ))
            .endpoint_url(self.endpoint())
            .http_client(oa_webhook::clients::sdk::https_client(
                oa_webhook::clients::sdk::TrustRoots::Amazon,
            ))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Starts the stand-in on `127.0.0.1` (any free port) on its own thread and runtime.
    pub fn start() -> std::io::Result<FastSqs> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            state: Mutex::new(State::default()),
            arrived: tokio::sync::Notify::new(),
        });
        let (stop, thread) =
            super::serve::serve("sqs-fast", listener, shared.clone(), |s, req| async move {
                handle(&s, req).await
            })?;
        Ok(FastSqs {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The URL to give the SDK (`AWS_ENDPOINT_URL_SQS`).
    pub fn endpoint(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Creates `name` (or keeps it if it exists) with a visibility timeout and, optionally,
    /// a redrive policy (`(dead-letter queue name, maxReceiveCount)`); returns its URL.
    pub fn create_queue(
        &self,
        name: &str,
        visibility: Duration,
        redrive: Option<(&str, u32)>,
    ) -> String {
        create(
            &self.shared,
            name,
            visibility,
            redrive.map(|(q, n)| (q.to_owned(), n)),
        )
    }

    /// Up to `max` visible messages of `queue`, hidden for `visibility` (the queue's own
    /// timeout when `None`).
    pub fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Option<Duration>,
    ) -> Result<Vec<Received>, SqsError> {
        receive_now(
            &mut self.shared.state(),
            queue,
            max,
            visibility,
            Instant::now(),
        )
    }

    /// Deletes a received message by its latest receipt handle.
    pub fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), SqsError> {
        delete(&mut self.shared.state(), queue, receipt_handle)
    }

    /// Sends a message as `SendMessage` would.
    pub fn send(
        &self,
        queue: &str,
        body: &str,
        attributes: Map<String, Value>,
        group: Option<&str>,
    ) -> Result<String, SqsError> {
        let id = send(
            &mut self.shared.state(),
            queue,
            body.to_owned(),
            attributes,
            group.map(str::to_owned),
        )?;
        self.shared.arrived.notify_waiters();
        Ok(id)
    }

    /// The queue's counters and current depth.
    pub fn stats(&self, queue: &str) -> Result<QueueStats, SqsError> {
        stats(&mut self.shared.state(), queue, Instant::now())
    }

    /// Every message now in `queue` (visible or not), oldest first: its body and attributes.
    pub fn peek_all(&self, queue: &str) -> Result<Vec<Peeked>, SqsError> {
        let st = self.shared.state();
        let q = st
            .queues
            .get(queue)
            .ok_or_else(|| SqsError::QueueDoesNotExist(queue.to_owned()))?;
        Ok(q.messages
            .values()
            .map(|m| (m.body.clone(), m.attributes.clone()))
            .collect())
    }
}

impl Drop for FastSqs {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn create(
    shared: &Shared,
    name: &str,
    visibility: Duration,
    redrive: Option<(String, u32)>,
) -> String {
    shared
        .state()
        .queues
        .entry(name.to_owned())
        .or_insert_with(|| Queue {
            visibility,
            redrive,
            messages: BTreeMap::new(),
            stats: QueueStats::default(),
        });
    format!("{}/{ACCOUNT}/{name}", shared.base_url)
}

fn send(
    st: &mut State,
    queue: &str,
    body: String,
    attributes: Map<String, Value>,
    group: Option<String>,
) -> Result<String, SqsError> {
    st.next += 1;
    let seq = st.next;
    let q = st
        .queues
        .get_mut(queue)
        .ok_or_else(|| SqsError::QueueDoesNotExist(queue.to_owned()))?;
    let id = format!("m-{seq:012}");
    q.messages.insert(
        seq,
        Message {
            id: id.clone(),
            body,
            attributes,
            group,
            sent_ms: now_ms(),
            visible_at: Instant::now(),
            receive_count: 0,
        },
    );
    q.stats.sent += 1;
    Ok(id)
}

fn receive_now(
    st: &mut State,
    queue: &str,
    max: usize,
    visibility: Option<Duration>,
    now: Instant,
) -> Result<Vec<Received>, SqsError> {
    let q = st
        .queues
        .get_mut(queue)
        .ok_or_else(|| SqsError::QueueDoesNotExist(queue.to_owned()))?;
    let hide = visibility.unwrap_or(q.visibility);
    let mut out = Vec::new();
    let mut redriven = Vec::new();
    for (seq, m) in q.messages.iter_mut() {
        if out.len() >= max {
            break;
        }
        if m.visible_at > now {
            continue;
        }
        if let Some((_, limit)) = &q.redrive {
            if m.receive_count >= *limit {
                redriven.push(*seq);
                continue;
            }
        }
        m.receive_count += 1;
        m.visible_at = now + hide;
        out.push(Received {
            message_id: m.id.clone(),
            receipt_handle: format!("{queue}/{seq}/{}", m.receive_count),
            body: m.body.clone(),
            attributes: m.attributes.clone(),
            group: m.group.clone(),
            receive_count: m.receive_count,
            sent_ms: m.sent_ms,
        });
    }
    q.stats.received += out.len() as u64;
    let target = q.redrive.as_ref().map(|(t, _)| t.clone());
    let moved: Vec<Message> = redriven
        .iter()
        .filter_map(|seq| q.messages.remove(seq))
        .collect();
    if let Some(target) = target {
        for mut m in moved {
            st.next += 1;
            let seq = st.next;
            if let Some(dlq) = st.queues.get_mut(&target) {
                m.visible_at = now;
                m.receive_count = 0;
                dlq.messages.insert(seq, m);
                dlq.stats.redriven_in += 1;
            }
        }
    }
    Ok(out)
}

/// The message a receipt handle names, if it is that message's latest receive.
fn by_handle<'q>(q: &'q mut Queue, handle: &str) -> Option<(u64, &'q mut Message)> {
    let mut parts = handle.rsplitn(3, '/');
    let count: u32 = parts.next()?.parse().ok()?;
    let seq: u64 = parts.next()?.parse().ok()?;
    let m = q.messages.get_mut(&seq)?;
    (m.receive_count == count).then_some((seq, m))
}

fn delete(st: &mut State, queue: &str, handle: &str) -> Result<(), SqsError> {
    let q = st
        .queues
        .get_mut(queue)
        .ok_or_else(|| SqsError::QueueDoesNotExist(queue.to_owned()))?;
    let (seq, _) = by_handle(q, handle).ok_or(SqsError::ReceiptHandleIsInvalid)?;
    q.messages.remove(&seq);
    q.stats.deleted += 1;
    Ok(())
}

fn change_visibility(
    st: &mut State,
    queue: &str,
    handle: &str,
    hide: Duration,
) -> Result<(), SqsError> {
    let q = st
        .queues
        .get_mut(queue)
        .ok_or_else(|| SqsError::QueueDoesNotExist(queue.to_owned()))?;
    let (_, m) = by_handle(q, handle).ok_or(SqsError::ReceiptHandleIsInvalid)?;
    m.visible_at = Instant::now() + hide;
    Ok(())
}

fn stats(st: &mut State, queue: &str, now: Instant) -> Result<QueueStats, SqsError> {
    let q = st
        .queues
        .get(queue)
        .ok_or_else(|| SqsError::QueueDoesNotExist(queue.to_owned()))?;
    let visible = q.messages.values().filter(|m| m.visible_at <= now).count() as u64;
    Ok(QueueStats {
        visible,
        in_flight: q.messages.len() as u64 - visible,
        ..q.stats.clone()
    })
}

/// The queue name of a `QueueUrl` (its last path segment).
fn queue_of(request: &Value) -> Result<String, SqsError> {
    let url = request
        .get("QueueUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| SqsError::InvalidParameterValue("QueueUrl is required".to_owned()))?;
    Ok(url.rsplit('/').next().unwrap_or(url).to_owned())
}

fn seconds(request: &Value, field: &str) -> Option<Duration> {
    let v = request.get(field)?;
    let n = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))?;
    Some(Duration::from_secs(n))
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .unwrap_or("")
        .to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(SqsError::InvalidParameterValue(
                "unreadable body".to_owned(),
            ))
        }
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match answer(shared, &operation, &request).await {
        Ok(v) => reply(StatusCode::OK, v),
        Err(e) => error(e),
    }
}

async fn answer(shared: &Shared, operation: &str, request: &Value) -> Result<Value, SqsError> {
    match operation {
        "CreateQueue" => {
            let name = request
                .get("QueueName")
                .and_then(Value::as_str)
                .ok_or_else(|| SqsError::InvalidParameterValue("QueueName".to_owned()))?;
            let attrs = request.get("Attributes").cloned().unwrap_or(Value::Null);
            let visibility =
                seconds(&attrs, "VisibilityTimeout").unwrap_or(Duration::from_secs(30));
            let redrive = attrs
                .get("RedrivePolicy")
                .and_then(Value::as_str)
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .and_then(|p| {
                    let target = p.get("deadLetterTargetArn")?.as_str()?;
                    let name = target.rsplit(':').next()?.to_owned();
                    let max = p.get("maxReceiveCount").and_then(|v| {
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })?;
                    Some((name, u32::try_from(max).ok()?))
                });
            Ok(json!({"QueueUrl": create(shared, name, visibility, redrive)}))
        }
        "GetQueueUrl" => {
            let name = request
                .get("QueueName")
                .and_then(Value::as_str)
                .ok_or_else(|| SqsError::InvalidParameterValue("QueueName".to_owned()))?;
            if !shared.state().queues.contains_key(name) {
                return Err(SqsError::QueueDoesNotExist(name.to_owned()));
            }
            Ok(json!({"QueueUrl": format!("{}/{ACCOUNT}/{name}", shared.base_url)}))
        }
        "SendMessage" => {
            let queue = queue_of(request)?;
            let id = send(
                &mut shared.state(),
                &queue,
                request
                    .get("MessageBody")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                message_attributes(request),
                request
                    .get("MessageGroupId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )?;
            shared.arrived.notify_waiters();
            Ok(json!({"MessageId": id}))
        }
        "SendMessageBatch" => {
            let queue = queue_of(request)?;
            let mut ok = Vec::new();
            {
                let mut st = shared.state();
                for e in request
                    .get("Entries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = send(
                        &mut st,
                        &queue,
                        e.get("MessageBody")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        message_attributes(e),
                        e.get("MessageGroupId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    )?;
                    ok.push(
                        json!({"Id": e.get("Id").cloned().unwrap_or(Value::Null), "MessageId": id}),
                    );
                }
            }
            shared.arrived.notify_waiters();
            Ok(json!({"Successful": ok, "Failed": []}))
        }
        "ReceiveMessage" => {
            let queue = queue_of(request)?;
            let max = request
                .get("MaxNumberOfMessages")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 10) as usize;
            let hide = seconds(request, "VisibilityTimeout");
            let wait = seconds(request, "WaitTimeSeconds")
                .unwrap_or(Duration::ZERO)
                .min(MAX_WAIT);
            let until = tokio::time::Instant::now() + wait;
            // Bounded by `WaitTimeSeconds` (at most 20 s); re-checked every 50 ms for
            // messages whose visibility timeout ran out.
            let got = loop {
                let arrived = shared.arrived.notified();
                let got = receive_now(&mut shared.state(), &queue, max, hide, Instant::now())?;
                if !got.is_empty() || tokio::time::Instant::now() >= until {
                    break got;
                }
                let step = (tokio::time::Instant::now() + Duration::from_millis(50)).min(until);
                let _ = tokio::time::timeout_at(step, arrived).await;
            };
            let messages: Vec<Value> = got.iter().map(wire_message).collect();
            Ok(json!({"Messages": messages}))
        }
        "DeleteMessage" => {
            let queue = queue_of(request)?;
            let handle = request
                .get("ReceiptHandle")
                .and_then(Value::as_str)
                .unwrap_or("");
            delete(&mut shared.state(), &queue, handle)?;
            Ok(json!({}))
        }
        "DeleteMessageBatch" => {
            let queue = queue_of(request)?;
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            let mut st = shared.state();
            for e in request
                .get("Entries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = e.get("Id").cloned().unwrap_or(Value::Null);
                let handle = e.get("ReceiptHandle").and_then(Value::as_str).unwrap_or("");
                match delete(&mut st, &queue, handle) {
                    Ok(()) => ok.push(json!({"Id": id})),
                    Err(_) => failed.push(json!({
                        "Id": id, "Code": "ReceiptHandleIsInvalid", "SenderFault": true,
                        "Message": "The receipt handle is not the message's latest"
                    })),
                }
            }
            Ok(json!({"Successful": ok, "Failed": failed}))
        }
        "ChangeMessageVisibility" => {
            let queue = queue_of(request)?;
            let handle = request
                .get("ReceiptHandle")
                .and_then(Value::as_str)
                .unwrap_or("");
            let hide = seconds(request, "VisibilityTimeout").unwrap_or(Duration::ZERO);
            change_visibility(&mut shared.state(), &queue, handle, hide)?;
            Ok(json!({}))
        }
        "GetQueueAttributes" => {
            let queue = queue_of(request)?;
            let s = stats(&mut shared.state(), &queue, Instant::now())?;
            Ok(json!({"Attributes": {
                "ApproximateNumberOfMessages": s.visible.to_string(),
                "ApproximateNumberOfMessagesNotVisible": s.in_flight.to_string(),
                "ApproximateNumberOfMessagesDelayed": "0",
                "QueueArn": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}"),
            }}))
        }
        "PurgeQueue" => {
            let queue = queue_of(request)?;
            let mut st = shared.state();
            let q = st
                .queues
                .get_mut(&queue)
                .ok_or(SqsError::QueueDoesNotExist(queue.clone()))?;
            q.messages.clear();
            Ok(json!({}))
        }
        other => Err(SqsError::InvalidParameterValue(format!(
            "operation {other:?} is not served by this stand-in"
        ))),
    }
}

fn message_attributes(request: &Value) -> Map<String, Value> {
    request
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn wire_message(m: &Received) -> Value {
    let mut attributes = json!({
        "ApproximateReceiveCount": m.receive_count.to_string(),
        "SentTimestamp": m.sent_ms.to_string(),
    });
    if let Some(g) = &m.group {
        attributes["MessageGroupId"] = Value::String(g.clone());
    }
    json!({
        "MessageId": m.message_id,
        "ReceiptHandle": m.receipt_handle,
        "Body": m.body,
        "Attributes": attributes,
        "MessageAttributes": m.attributes,
    })
}

fn error(e: SqsError) -> Response<Full<Bytes>> {
    let (code, query_code, message) = match e {
        SqsError::QueueDoesNotExist(q) => (
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            format!("The specified queue {q} does not exist."),
        ),
        SqsError::ReceiptHandleIsInvalid => (
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
            "The receipt handle is not the message's latest.".to_owned(),
        ),
        SqsError::InvalidParameterValue(m) => ("InvalidParameterValue", "InvalidParameterValue", m),
    };
    let mut r = reply(
        StatusCode::BAD_REQUEST,
        json!({"__type": format!("com.amazonaws.sqs#{code}"), "message": message}),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("{query_code};Sender")) {
        r.headers_mut().insert("x-amzn-query-error", v);
    }
    r
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(JSON_1_0),
    );
    response
}

/// The stand-in through the real aws-sdk-sqs: every operation the function uses, the
/// visibility timeout, the redrive to the dead-letter queue.
#[cfg(test)]
mod through_the_sdk {
    use super::*;
    use aws_sdk_sqs::types::MessageAttributeValue;

    #[tokio::test]
    async fn the_sdk_sends_receives_hides_and_deletes() {
        let sqs = FastSqs::start().expect("the stand-in starts");
        let sdk = sqs.sdk_client();
        sqs.create_queue("dlq", Duration::from_secs(30), None);
        let url = sdk
            .create_queue()
            .queue_name("handoff")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "30")
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"2"}"#,
            )
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("a queue URL");
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("contention")
            .build()
            .expect("an attribute");
        sdk.send_message()
            .queue_url(&url)
            .message_body("{\"e\":1}")
            .message_group_id("1400000001#@TOA#_a")
            .message_attributes("reason", reason)
            .send()
            .await
            .expect("SendMessage");

        let got = sdk
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = got.messages.unwrap_or_default();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.body.as_deref(), Some("{\"e\":1}"));
        let reason = m
            .message_attributes
            .as_ref()
            .and_then(|a| a.get("reason"))
            .and_then(|v| v.string_value.as_deref());
        assert_eq!(reason, Some("contention"));
        let handle = m.receipt_handle.clone().expect("a receipt handle");
        // Hidden now: an immediate receive finds nothing.
        let again = sdk
            .receive_message()
            .queue_url(&url)
            .send()
            .await
            .expect("ReceiveMessage");
        assert!(again.messages.unwrap_or_default().is_empty());
        // Visible again at once, received a second time; the old handle is stale.
        sdk.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&handle)
            .visibility_timeout(0)
            .send()
            .await
            .expect("ChangeMessageVisibility");
        let second = sqs.receive("handoff", 10, None).expect("receive");
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].receive_count, 2);
        assert_eq!(second[0].group.as_deref(), Some("1400000001#@TOA#_a"));
        let stale = sdk
            .delete_message()
            .queue_url(&url)
            .receipt_handle(&handle)
            .send()
            .await
            .expect_err("a stale receipt handle is refused");
        assert_eq!(
            aws_sdk_sqs::error::ProvideErrorMetadata::code(&stale),
            Some("ReceiptHandleIsInvalid")
        );
        // Received twice (maxReceiveCount 2): the next receive moves it to the DLQ.
        sdk.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&second[0].receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .expect("ChangeMessageVisibility");
        assert!(sqs
            .receive("handoff", 10, None)
            .expect("receive")
            .is_empty());
        assert_eq!(sqs.stats("dlq").expect("stats").redriven_in, 1);
        let dead = sqs.receive("dlq", 10, None).expect("receive");
        assert_eq!(dead.len(), 1);
        sdk.delete_message()
            .queue_url(format!("{}/000000000000/dlq", sqs.endpoint()))
            .receipt_handle(&dead[0].receipt_handle)
            .send()
            .await
            .expect("DeleteMessage");
        let attrs = sdk
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .expect("GetQueueAttributes");
        let n = attrs.attributes.and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        });
        assert_eq!(n.as_deref(), Some("0"));
        assert_eq!(sqs.stats("dlq").expect("stats").deleted, 1);
        let missing = sdk
            .send_message()
            .queue_url(format!("{}/000000000000/nope", sqs.endpoint()))
            .message_body("x")
            .send()
            .await
            .expect_err("no such queue");
        assert!(
            matches!(
                missing.as_service_error(),
                Some(aws_sdk_sqs::operation::send_message::SendMessageError::QueueDoesNotExist(_))
            ),
            "expected QueueDoesNotExist, got {missing:?}"
        );
    }
}
