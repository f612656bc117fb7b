//! Shared test harness: the local DynamoDB, fresh tables, the app, and event builders.
//!
//! Integration tests need the local DynamoDB (moto, scripts/moto_server.py) at `AWS_ENDPOINT_URL_DYNAMODB` (`make test`
//! starts one). Without it they FAIL with a message saying so; they never skip.

pub mod sqs;
pub mod vectors;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use oa_webhook::app::App;
use oa_webhook::clients;
use oa_webhook::clients::sdk::AwsSettings;
use oa_webhook::config::Config;
use oa_webhook::doors::http::{self, Answer, Payload, Request};
use oa_webhook::doors::Shape;
use oa_webhook::store::items::Item;
use oa_webhook::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const APP: &str = "1400000001";
/// The signature test vector's time, used as "now" by default.
pub const NOW: u64 = vectors::VECTOR_TIME;

pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: these tests need the local DynamoDB (moto). \
             Run them with `make test`, which starts one."
        ),
    }
}

/// An SDK config pointing at the local DynamoDB, with dummy credentials.
pub fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(&endpoint())
}

/// An SDK config pointing at any endpoint, with dummy credentials: built the way the
/// function builds its own ([`AwsSettings`], read from these variables instead of the
/// process environment).
pub fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
    ];
    let lookup = |k: &str| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    };
    match AwsSettings::from_lookup(lookup) {
        Ok(settings) => settings.sdk_config(),
        Err(e) => panic!("the test settings are invalid: {e}"),
    }
}

/// The local DynamoDB's margin (issue 24): moto answers a write in ~14 ms where DynamoDB
/// Local took ~1.5 ms (docs/performance.md, "The local DynamoDB is moto"), and on this
/// 2-core machine, shared with other builds, a request may wait a second or more for a
/// core. Where a test needs a webhook's write to complete, and does not measure how long it
/// takes, the webhook's budget ([`WEBHOOK_BUDGET`]) and its DynamoDB client's timeouts
/// ([`client`]) are stretched by this factor. Tests that measure budgets and timeouts
/// (deadline.rs, faults.rs, handoff.rs, hot.rs) build their own apps and keep the
/// function's own figures.
pub const ENGINE_MARGIN: u64 = 4;

/// The latest a late 503 may come (docs/contract.md section 5, "Last resort": no sooner
/// than 2.1 s): before the webhook function's own `Timeout: 3` (template.yaml), past
/// which Lambda ends the invocation and the caller gets no documented reply.
pub const LATE_REPLY_BEFORE: Duration = Duration::from_secs(3);

/// The webhook's budget in these tests: the function's 1.5 s (what the tests used against
/// DynamoDB Local) times [`ENGINE_MARGIN`].
pub const WEBHOOK_BUDGET: Duration = Duration::from_millis(1500 * ENGINE_MARGIN);

/// A client configured as the function configures it (`clients::configure_webhook_dynamodb`:
/// retries, classifiers), its timeouts (src/clients/mod.rs: connect 300 ms, attempt 500 ms,
/// call 1.2 s) times [`ENGINE_MARGIN`].
pub async fn client() -> Client {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(300 * ENGINE_MARGIN))
        .operation_attempt_timeout(Duration::from_millis(500 * ENGINE_MARGIN))
        .operation_timeout(Duration::from_millis(1200 * ENGINE_MARGIN))
        .build();
    let builder =
        clients::configure_webhook_dynamodb(aws_sdk_dynamodb::config::Builder::from(&sdk_config()))
            .timeout_config(timeouts);
    Client::from_conf(builder.build())
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A new, empty table with the contract's layout. Fails loudly when the local DynamoDB is
/// not reachable.
pub async fn fresh_table(client: &Client) -> String {
    let name = format!(
        "t{}-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    // A plain client (default timeouts) for table creation.
    let admin = Client::new(&sdk_config());
    if let Err(e) = tencent_standin::table::create_table(&admin, &name).await {
        panic!(
            "cannot create a table in the local DynamoDB at {}: {e}. Is it running? (`make test` starts it)",
            endpoint()
        );
    }
    let _ = client;
    name
}

/// An app whose store talks to `endpoint` (configured as the function configures it),
/// with the clock at [`NOW`].
pub async fn app_at(endpoint: &str, table: &str, token: Option<&str>) -> App {
    let store = Store::new(clients::webhook_dynamodb(&sdk_config_at(endpoint)), table);
    let mut app = App::new(config(table, token), store);
    app.clock = oa_webhook::clock::Clock::at_secs(NOW);
    app
}

/// A local TCP endpoint that accepts connections and never answers. Abort the handle
/// when done.
pub async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // keep open, never reply
        }
    });
    (format!("http://{addr}"), holder)
}

/// An SDK interceptor that counts the requests a client sends and records their
/// operation names.
#[derive(Debug, Default, Clone)]
pub struct OpRecorder {
    pub count: Arc<std::sync::atomic::AtomicUsize>,
    pub ops: Arc<std::sync::Mutex<Vec<String>>>,
}

impl aws_sdk_dynamodb::config::Intercept for OpRecorder {
    fn name(&self) -> &'static str {
        "OpRecorder"
    }
    fn read_before_serialization(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_smithy_runtime_api::client::orchestrator::Metadata;
        self.count.fetch_add(1, Ordering::SeqCst);
        let m = cfg
            .load::<Metadata>()
            .ok_or("operation metadata missing from the config bag")?;
        self.ops
            .lock()
            .map_err(|_| "poisoned")?
            .push(m.name().to_owned());
        Ok(())
    }
}

impl OpRecorder {
    /// An app on a fresh table whose client records through this interceptor.
    pub async fn app(&self) -> App {
        let base = client().await;
        let table = fresh_table(&base).await;
        let recorded =
            Client::from_conf(base.config().to_builder().interceptor(self.clone()).build());
        let mut app = App::new(config(&table, None), Store::new(recorded, table));
        app.clock = oa_webhook::clock::Clock::at_secs(NOW);
        app
    }
}

pub fn config(table: &str, token: Option<&str>) -> Config {
    Config {
        table_name: table.to_owned(),
        sdk_app_ids: vec![APP.to_owned(), "1400000002".to_owned()],
        callback_token: token.map(oa_webhook::token::CallbackToken::from),
        ..Config::default()
    }
}

/// A test fixture: an app on a fresh table, with the clock at [`NOW`].
pub struct Fixture {
    pub app: App,
    pub client: Client,
    pub table: String,
}

impl Fixture {
    pub async fn new() -> Fixture {
        Fixture::with_token(None).await
    }

    pub async fn with_token(token: Option<&str>) -> Fixture {
        let client = client().await;
        let table = fresh_table(&client).await;
        let store = Store::new(client.clone(), table.clone());
        let mut app = App::new(config(&table, token), store);
        app.clock = oa_webhook::clock::Clock::at_secs(NOW);
        Fixture { app, client, table }
    }

    pub fn store(&self) -> &Store {
        &self.app.store
    }

    pub async fn send(&self, event: Request) -> ApiResponse {
        self.app.handle(event, WEBHOOK_BUDGET).await
    }

    /// Sends an HTTP API 2.0 event with this query and body.
    pub async fn post(&self, query: &str, body: &str) -> ApiResponse {
        self.send(http_event("POST", query, body)).await
    }

    /// Sends a well-formed after-event for `command` with `body` (an object without
    /// `CallbackCommand`; it is added).
    pub async fn after(&self, command: &str, mut body: Value) -> ApiResponse {
        body["CallbackCommand"] = json!(command);
        self.post(&query_for(command), &body.to_string()).await
    }

    /// Every item of the table, keyed by (pk, sk), as JSON for easy comparison.
    pub async fn dump(&self) -> BTreeMap<(String, String), Value> {
        dump_table(&self.client, &self.table).await
    }
}

pub fn query_for(command: &str) -> String {
    format!(
        "SdkAppid={APP}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
    )
}

/// An API Gateway HTTP API (2.0) event, as JSON text.
pub fn http_event_json(method: &str, raw_query: &str, body: &str) -> String {
    json!({
        "version": "2.0",
        "routeKey": "POST /callback",
        "rawPath": "/callback",
        "rawQueryString": raw_query,
        "headers": {"content-type": "application/json", "host": "example.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "example",
            "domainName": "example.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": "/callback", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "test"},
            "requestId": "test-request",
            "routeKey": "POST /callback",
            "stage": "$default",
            "timeEpoch": 1670574414160u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

pub fn http_event(method: &str, raw_query: &str, body: &str) -> Request {
    parse_event(&http_event_json(method, raw_query, body))
}

/// An HTTP API (2.0) event whose body is `encoded`, marked base64-encoded.
pub fn http_event_base64(method: &str, raw_query: &str, encoded: &str) -> Request {
    let mut e: Value =
        serde_json::from_str(&http_event_json(method, raw_query, encoded)).expect("JSON");
    e["isBase64Encoded"] = json!(true);
    parse_event(&e.to_string())
}

/// The event JSON as the webhook door reads it ([`Shape::of`], [`http::read`]), converted
/// into `lambda_http`'s request as its `Adapter` converts it.
pub fn parse_event(json: &str) -> Request {
    let payload = match Shape::of(json) {
        Shape::Http(payload) => payload,
        other => panic!("test event JSON must be an API Gateway request, not {other:?}"),
    };
    match http::read(json, payload) {
        Ok(event) => Request::from(event),
        Err(e) => panic!("test event JSON must be an API Gateway request: {e}"),
    }
}

/// Whether the webhook door fails the invocation of this event instead of answering it
/// (what `lambda_runtime` makes of a panic in `lambda_http`'s conversion).
pub fn fails_the_invocation(json: &str) -> bool {
    let Ok(event) = http::read(json, Payload::V2) else {
        return true;
    };
    std::panic::catch_unwind(move || Request::from(event)).is_err()
}

/// The webhook's reply as the tests read it: status, content type, body (text; base64
/// when the body is bytes that are not UTF-8, as the front door's JSON carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status_code: u16,
    pub headers: ResponseHeaders,
    pub body: String,
    pub is_base64_encoded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeaders {
    /// Empty when the reply has none.
    pub content_type: String,
}

impl From<Answer> for ApiResponse {
    fn from(answer: Answer) -> ApiResponse {
        use base64::Engine;
        let (parts, body) = answer.0.into_parts();
        let content_type = parts
            .headers
            .get(::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (body, is_base64_encoded) = match body {
            lambda_http::Body::Text(text) => (text, false),
            lambda_http::Body::Binary(bytes) => (
                base64::engine::general_purpose::STANDARD.encode(bytes),
                true,
            ),
            _ => (String::new(), false),
        };
        ApiResponse {
            status_code: parts.status.as_u16(),
            headers: ResponseHeaders { content_type },
            body,
            is_base64_encoded,
        }
    }
}

/// The webhook door's answers, as the tests call them on an [`App`].
pub trait Handle {
    /// [`http::answer`]: one request within `budget`.
    async fn handle(&self, request: Request, budget: Duration) -> ApiResponse;
    /// [`http::answer_invocation`]: within the Lambda deadline the request carries.
    async fn handle_lambda(&self, request: Request) -> ApiResponse;
}

/// The queue door's batch, as the tests call it on an [`App`]
/// ([`oa_webhook::doors::queue::consume_batch`]).
pub trait ConsumeBatch {
    async fn consume_batch(
        &self,
        records: &[aws_lambda_events::event::sqs::SqsMessage],
        budget: Duration,
    ) -> aws_lambda_events::event::sqs::SqsBatchResponse;
}

impl ConsumeBatch for App {
    async fn consume_batch(
        &self,
        records: &[aws_lambda_events::event::sqs::SqsMessage],
        budget: Duration,
    ) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        oa_webhook::doors::queue::consume_batch(self, records, budget).await
    }
}

impl Handle for App {
    async fn handle(&self, request: Request, budget: Duration) -> ApiResponse {
        http::answer(self, request, budget).await.into()
    }

    async fn handle_lambda(&self, request: Request) -> ApiResponse {
        http::answer_invocation(self, request).await.into()
    }
}

/// The reply's envelope, checked for shape: all three fields, `Content-Type` JSON,
/// `ErrorCode` 0 on OK and equal to the status on FAIL.
pub fn envelope(r: &ApiResponse) -> Value {
    assert_eq!(r.headers.content_type, "application/json");
    let v: Value = serde_json::from_str(&r.body).expect("reply body is JSON");
    let obj = v.as_object().expect("reply is an object");
    assert_eq!(obj.len(), 3, "reply has exactly three fields: {v}");
    let code = v["ErrorCode"].as_u64().expect("ErrorCode is an integer");
    assert!(v["ErrorInfo"].is_string());
    match v["ActionStatus"].as_str() {
        Some("OK") => {
            assert_eq!(r.status_code, 200);
            assert_eq!(code, 0);
        }
        Some("FAIL") => assert_eq!(code, u64::from(r.status_code)),
        other => panic!("bad ActionStatus {other:?}"),
    }
    v
}

pub fn assert_ok(r: &ApiResponse) {
    let v = envelope(r);
    assert_eq!(
        (r.status_code, v["ActionStatus"].as_str()),
        (200, Some("OK")),
        "reply {v}"
    );
}

pub fn assert_fail(r: &ApiResponse, status: u16) -> String {
    let v = envelope(r);
    assert_eq!(r.status_code, status, "reply {v}");
    assert_eq!(v["ActionStatus"], "FAIL");
    let info = v["ErrorInfo"].as_str().unwrap_or_default().to_owned();
    assert!(!info.is_empty(), "FAIL replies say what is wrong");
    info
}

pub async fn dump_table(client: &Client, table: &str) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan (test-only) works");
        for item in page.items.unwrap_or_default() {
            let v = item_json(&item);
            let pk = v["pk"].as_str().unwrap_or_default().to_owned();
            let sk = v["sk"].as_str().unwrap_or_default().to_owned();
            out.insert((pk, sk), v);
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// An item as JSON: numbers as JSON numbers, maps and lists natively.
pub fn item_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attr_json(v)))
            .collect(),
    )
}

pub fn attr_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => serde_json::from_str(n).unwrap_or_else(|_| json!(n)),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(attr_json).collect()),
        AttributeValue::M(m) => item_json(m),
        other => json!(format!("{other:?}")),
    }
}

/// Sends one HTTP API event to `app` within `budget`; returns the reply and how long it took.
pub async fn timed(
    app: &App,
    command: &str,
    body: &str,
    budget: Duration,
) -> (ApiResponse, Duration) {
    let started = std::time::Instant::now();
    let r = app
        .handle(http_event("POST", &query_for(command), body), budget)
        .await;
    (r, started.elapsed())
}

/// A FAIL 5xx with a well-formed envelope whose ErrorInfo shows no internals.
pub fn assert_failed_cleanly(r: &ApiResponse, what: &str) {
    let v = envelope(r);
    assert!(
        (500..600).contains(&r.status_code),
        "{what}: expected FAIL 5xx, got {} {v}",
        r.status_code
    );
    let info = v["ErrorInfo"].as_str().unwrap_or_default();
    assert!(!info.is_empty(), "{what}: FAIL replies say what is wrong");
    for leak in [
        "injected",
        "Exception",
        "Throttl",
        "dynamodb",
        "Validation",
        "127.0.0.1",
    ] {
        assert!(
            !info.contains(leak),
            "{what}: ErrorInfo leaks internals: {info}"
        );
    }
    assert!(!info.to_lowercase().contains("timeout"), "{what}: {info}");
}

/// A webhook app whose DynamoDB client is `aws-smithy-mocks` answering by `rules` (the
/// webhook's client profile), at the vectors' time, with no last-resort wait: DynamoDB's
/// own faults and refusals (`faults.rs`, `limits.rs`).
pub fn mocked_app(rules: &[&aws_smithy_mocks::Rule]) -> App {
    use oa_webhook::clients::configure_webhook_dynamodb as configure;
    let client: Client = aws_smithy_mocks::mock_client!(
        aws_sdk_dynamodb,
        aws_smithy_mocks::RuleMode::MatchAny,
        rules,
        configure
    );
    let mut app = App::new(config("mocked", None), Store::new(client, "mocked"));
    app.clock = oa_webhook::clock::Clock::at_secs(NOW);
    app.last_resort = Duration::ZERO;
    app
}
