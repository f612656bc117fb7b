//! Contract section 7 through the public handler: with `FORWARD_URL` set, rows 8 and 9
//! (another product's command, an `OfficialAccount` before-callback) are relayed to a local
//! backend, and its reply is the reply; a slow, absent or oversized backend is 502 FAIL
//! inside the budget; redirects are returned, not followed; nothing else is relayed.
//!
//! The backend is a small HTTP/1.1 server on a Tokio `TcpListener` (written here, so the
//! tests need no HTTP server crate); it records every request it gets.

use crate::common::*;
use oa_webhook::app::App;
use oa_webhook::clients;
use oa_webhook::config::ForwardUrl;
use oa_webhook::store::Store;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BUDGET: Duration = Duration::from_millis(1500);

/// One request as the backend received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    /// Path and query, as on the request line.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the backend answers.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
    /// Keep connections open, closing one after this long idle; `None`: one request per
    /// connection (`connection: close`).
    keep_alive: Option<Duration>,
}

impl Answer {
    fn json(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: vec![("content-type", "application/json; charset=utf-8".to_owned())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            keep_alive: None,
        }
    }
}

struct Backend {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    async fn start(answer: Answer) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (log, answer) = (Arc::clone(&log), answer.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, log, answer).await;
                });
            }
        });
        Backend {
            url,
            received,
            connections,
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn serve(
    mut sock: TcpStream,
    log: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // The next request's head; with keep-alive, an idle connection is closed after
        // `answer.keep_alive`, as servers do.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let read = match answer.keep_alive {
                Some(idle) => {
                    match tokio::time::timeout(idle, sock.read(&mut chunk)).await {
                        Ok(r) => r?,
                        Err(_) => return Ok(()), // idle: close
                    }
                }
                _ => sock.read(&mut chunk).await?,
            };
            if read == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or("").split(' ');
        let method = request_line.next().unwrap_or("").to_owned();
        let target = request_line.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut rest = buf.split_off(head_end + 4);
        while rest.len() < length {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = rest.drain(..length.min(rest.len())).collect();
        buf = rest; // anything after this request: the next one's start
        log.lock().expect("lock").push(Received {
            method,
            target,
            headers,
            body,
        });
        tokio::time::sleep(answer.delay).await;
        let connection = if answer.keep_alive.is_some() {
            "keep-alive"
        } else {
            "close"
        };
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: {connection}\r\n",
            answer.status,
            answer.body.len()
        );
        for (k, v) in &answer.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        sock.write_all(out.as_bytes()).await?;
        sock.write_all(&answer.body).await?;
        if answer.keep_alive.is_none() {
            return sock.shutdown().await;
        }
    }
}

/// An app relaying to `forward` whose store has no database behind it (port 9): any
/// DynamoDB call would fail the request.
fn app(forward: &str, token: Option<&str>) -> App {
    let mut config = config("no-table", token);
    config.forward_url = Some(ForwardUrl::parse(forward).expect("a valid URL"));
    let store = Store::new(
        clients::webhook_dynamodb(&sdk_config_at("http://127.0.0.1:9")),
        "no-table",
    );
    let mut app = App::new(config, store);
    app.clock = oa_webhook::clock::Clock::at_secs(NOW);
    app
}

async fn post(app: &App, query: &str, body: &str) -> (ApiResponse, Duration) {
    let started = Instant::now();
    let r = app.handle(http_event("POST", query, body), BUDGET).await;
    (r, started.elapsed())
}

const C2C_BEFORE: &str = "C2C.CallbackBeforeSendMsg";
const BLOCKED: &str = r#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"blocked"}"#;

fn c2c_body() -> String {
    json!({
        "CallbackCommand": C2C_BEFORE,
        "From_Account": "alice",
        "To_Account": "bob",
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi \u{4f60}"}}]
    })
    .to_string()
}

#[tokio::test]
async fn another_products_before_callback_reaches_the_backend_and_its_answer_reaches_tencent() {
    let backend = Backend::start(Answer::json(200, BLOCKED)).await;
    let token = "xxxxyyyy";
    let app = app(&format!("{}/im/callback", backend.url), Some(token));
    let t = NOW.to_string();
    let sign = oa_webhook::protocol::signature::sign(token, &t);
    let query = format!(
        "SdkAppid={APP}&CallbackCommand={C2C_BEFORE}&contenttype=json&ClientIP=1.2.3.4&OptPlatform=iOS&Sign={sign}&RequestTime={t}"
    );
    let body = c2c_body();
    let (r, _) = post(&app, &query, &body).await;

    // Tencent gets the backend's answer unchanged: status, body byte for byte, content type.
    assert_eq!(r.status_code, 200);
    assert_eq!(r.body, BLOCKED);
    assert!(!r.is_base64_encoded);
    assert_eq!(r.headers.content_type, "application/json; charset=utf-8");

    // The backend got the request as Tencent sent it.
    let got = backend.received();
    assert_eq!(got.len(), 1, "relayed once");
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, format!("/im/callback?{query}"));
    assert!(req.target.contains(&format!("Sign={sign}&RequestTime={t}")));
    assert_eq!(req.body, body.as_bytes());
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header(oa_webhook::relay::HOP_HEADER), Some("1"));
}

#[tokio::test]
async fn a_relay_that_comes_back_is_not_relayed_again() {
    // FORWARD_URL pointing at the webhook itself: the relayed request arrives with the
    // hop header, and is answered as if FORWARD_URL were unset.
    let backend = Backend::start(Answer::json(200, BLOCKED)).await;
    let app = app(&backend.url, None);
    let mut event: Value = serde_json::from_str(&http_event_json(
        "POST",
        &query_for(C2C_BEFORE),
        &c2c_body(),
    ))
    .expect("JSON");
    event["headers"][oa_webhook::relay::HOP_HEADER] = json!("1");
    let r = app.handle(parse_event(&event.to_string()), BUDGET).await;
    assert_ok(&r);
    assert!(backend.received().is_empty(), "relayed a second time");
}

#[tokio::test]
async fn official_account_before_callbacks_and_other_products_are_relayed_after_events_are_not() {
    let backend = Backend::start(Answer::json(200, r#"{"ActionStatus":"OK","ErrorCode":0}"#)).await;
    let app = app(&format!("{}/cb?route=im", backend.url), None);
    let before = "OfficialAccount.CallbackBeforeSendMsg";
    let body = json!({"CallbackCommand": before, "Official_Account": "@TOA#_a", "MsgBody": []})
        .to_string();
    let (r, _) = post(&app, &query_for(before), &body).await;
    assert_eq!(
        (r.status_code, r.body.as_str()),
        (200, r#"{"ActionStatus":"OK","ErrorCode":0}"#)
    );
    let group = "Group.CallbackAfterNewMemberJoin";
    let (r, _) = post(
        &app,
        &query_for(group),
        &json!({"CallbackCommand": group, "GroupId": "g"}).to_string(),
    )
    .await;
    assert_eq!(r.status_code, 200);
    let targets: Vec<String> = backend.received().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        vec![
            format!("/cb?route=im&{}", query_for(before)),
            format!("/cb?route=im&{}", query_for(group)),
        ]
    );

    // Row 10 (an OfficialAccount after-command this version does not know), probes and
    // rejections are answered here, never relayed.
    let unknown = "OfficialAccount.CallbackAfterSomethingNew";
    let (r, _) = post(
        &app,
        &query_for(unknown),
        &json!({"CallbackCommand": unknown}).to_string(),
    )
    .await;
    assert_ok(&r);
    assert_ok(&post(&app, &format!("SdkAppid={APP}"), "").await.0);
    assert_fail(
        &post(&app, &format!("SdkAppid=9&CallbackCommand={group}"), "{}")
            .await
            .0,
        403,
    );
    assert_fail(&post(&app, &query_for(group), "[]").await.0, 400);
    assert_eq!(backend.received().len(), 2, "nothing else was relayed");
}

#[tokio::test]
async fn after_events_are_stored_not_relayed() {
    let backend = Backend::start(Answer::json(500, "{}")).await;
    let mut f = Fixture::new().await;
    let mut config = (*f.app.config).clone();
    config.forward_url = Some(ForwardUrl::parse(&backend.url).expect("URL"));
    f.app.config = Arc::new(config);
    let create = "OfficialAccount.CallbackAfterCreateOfficialAccount";
    let r = f
        .after(
            create,
            json!({"Official_Account": "@TOA#_a", "EventTime": 1}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(f.dump().await.len(), 1);
    assert!(backend.received().is_empty());
}

#[tokio::test]
async fn a_slow_backend_is_502_inside_the_budget() {
    let mut answer = Answer::json(200, BLOCKED);
    answer.delay = Duration::from_secs(10);
    let backend = Backend::start(answer).await;
    let app = app(&backend.url, None);
    let (r, took) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    let info = assert_fail(&r, 502);
    assert!(info.contains("relayed"), "{info}");
    assert_failed_cleanly(&r, "slow backend");
    assert!(
        took >= BUDGET - Duration::from_millis(50) && took < BUDGET + Duration::from_millis(250),
        "answered after {took:?}, budget {BUDGET:?}"
    );
    assert_eq!(backend.received().len(), 1);
}

#[tokio::test]
async fn a_backend_that_never_answers_is_502_inside_the_budget() {
    let (url, holder) = silent_endpoint().await;
    let app = app(&url, None);
    let (r, took) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_failed_cleanly(&r, "silent backend");
    assert_eq!(r.status_code, 502);
    assert!(took < BUDGET + Duration::from_millis(250), "{took:?}");
    holder.abort();
}

#[tokio::test]
async fn a_backend_that_is_down_is_502_at_once() {
    // A port that was just free: nothing listens there.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        format!("http://{}", l.local_addr().expect("address"))
    };
    let app = app(&url, None);
    let (r, took) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_failed_cleanly(&r, "backend down");
    assert_eq!(r.status_code, 502);
    // At once: well inside the budget, even on a loaded machine.
    assert!(took < Duration::from_millis(1000), "{took:?}");
    // A name that does not resolve: the same.
    let app = self::app("http://backend.invalid:8080/cb", None);
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_failed_cleanly(&r, "unresolvable backend");
    assert_eq!(r.status_code, 502);
}

#[tokio::test]
async fn a_2_mb_reply_is_relayed_whole_and_a_too_large_one_is_502() {
    let big = format!(
        r#"{{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","Pad":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let backend = Backend::start(Answer::json(200, &big)).await;
    let app = app(&backend.url, None);
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_eq!(r.status_code, 200);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "the 2 MB reply arrived unchanged");

    let huge = "y".repeat(oa_webhook::relay::MAX_REPLY_BYTES + 1);
    let backend = Backend::start(Answer::json(200, &huge)).await;
    let app = self::app(&backend.url, None);
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_failed_cleanly(&r, "too large");
    assert_eq!(r.status_code, 502);
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    let elsewhere = Backend::start(Answer::json(200, BLOCKED)).await;
    let mut answer = Answer::json(302, r#"{"moved":true}"#);
    answer
        .headers
        .push(("location", format!("{}/new-place", elsewhere.url)));
    let backend = Backend::start(answer).await;
    let app = app(&backend.url, None);
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_eq!((r.status_code, r.body.as_str()), (302, r#"{"moved":true}"#));
    assert_eq!(backend.received().len(), 1);
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn backend_errors_and_odd_replies_pass_through_as_they_are() {
    // A 500 with a text body, no content type.
    let backend = Backend::start(Answer {
        status: 500,
        headers: vec![],
        body: b"upstream exploded".to_vec(),
        delay: Duration::ZERO,
        keep_alive: None,
    })
    .await;
    let app = app(&backend.url, None);
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_eq!((r.status_code, r.body.as_str()), (500, "upstream exploded"));
    assert_eq!(r.headers.content_type, "");
    // The front door's JSON, as `lambda_http` writes it.
    let event = oa_webhook::doors::http::read(
        &http_event_json("POST", &query_for(C2C_BEFORE), &c2c_body()),
        oa_webhook::doors::http::Payload::V2,
    )
    .expect("reads");
    let served = oa_webhook::doors::http::serve(
        &app,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await;
    let wire = serde_json::to_value(served).expect("serializes");
    assert_eq!(wire["statusCode"], 500, "{wire}");
    assert!(wire["headers"].get("content-type").is_none(), "{wire}");

    // Bytes that are not UTF-8 travel base64-encoded.
    let bytes = vec![0xff, 0x00, 0xfe, b'{'];
    let backend = Backend::start(Answer {
        status: 200,
        headers: vec![("content-type", "application/octet-stream".to_owned())],
        body: bytes.clone(),
        delay: Duration::ZERO,
        keep_alive: None,
    })
    .await;
    let app = self::app(&backend.url, None);
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert!(r.is_base64_encoded);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&r.body)
        .expect("base64");
    assert_eq!(decoded, bytes);
    assert_eq!(r.headers.content_type, "application/octet-stream");
}

#[tokio::test]
async fn a_rest_api_event_is_relayed_with_its_query_and_decoded_body() {
    let backend = Backend::start(Answer::json(200, BLOCKED)).await;
    let app = app(&backend.url, None);
    let body = c2c_body();
    use base64::Engine;
    let event = json!({
        "resource": "/callback",
        "path": "/callback",
        "httpMethod": "POST",
        "queryStringParameters": {"SdkAppid": APP, "CallbackCommand": C2C_BEFORE, "Sign": "a+b"},
        "multiValueQueryStringParameters": {"SdkAppid": [APP], "CallbackCommand": [C2C_BEFORE], "Sign": ["a+b"]},
        "requestContext": {"httpMethod": "POST", "requestId": "r", "identity": {"sourceIp": "203.0.113.10"}},
        "body": base64::engine::general_purpose::STANDARD.encode(&body),
        "isBase64Encoded": true
    });
    let r = app.handle(parse_event(&event.to_string()), BUDGET).await;
    assert_eq!(r.body, BLOCKED);
    let got = backend.received();
    let req = &got[0];
    assert_eq!(req.body, body.as_bytes(), "the body as Tencent sent it");
    let (_, query) = req.target.split_once('?').expect("a query");
    let mut pairs: Vec<(String, String)> = form_urlencoded_pairs(query);
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("CallbackCommand".to_owned(), C2C_BEFORE.to_owned()),
            ("SdkAppid".to_owned(), APP.to_owned()),
            ("Sign".to_owned(), "a+b".to_owned()),
        ]
    );
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn the_request_line_says_relayed_or_relay_failed() {
    let backend = Backend::start(Answer::json(202, BLOCKED)).await;
    let mut app = app(&backend.url, None);
    let lines = Arc::new(Mutex::new(Vec::new()));
    app.log = oa_webhook::telemetry::RequestLog::buffer(Arc::clone(&lines), None, 1);
    post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    let mut down = self::app("http://127.0.0.1:9", None);
    down.log = oa_webhook::telemetry::RequestLog::buffer(Arc::clone(&lines), None, 1);
    post(&down, &query_for(C2C_BEFORE), &c2c_body()).await;
    let text = String::from_utf8(lines.lock().expect("lock").clone()).expect("UTF-8");
    let parsed: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(parsed.len(), 2);
    let fields = |v: &Value| {
        (
            v["outcome"].as_str().unwrap_or("").to_owned(),
            v["reason"].as_str().unwrap_or("").to_owned(),
            v["status"].as_u64().unwrap_or(0),
            v["callback"].as_str().unwrap_or("").to_owned(),
            v["server_errors"].as_u64().unwrap_or(9),
        )
    };
    assert_eq!(
        fields(&parsed[0]),
        ("relayed".into(), "".into(), 202, "OtherProduct".into(), 0)
    );
    assert_eq!(
        fields(&parsed[1]),
        (
            "failed".into(),
            "relay_unreachable".into(),
            502,
            "OtherProduct".into(),
            1
        )
    );
}

#[tokio::test]
async fn connections_are_reused_and_one_the_backend_closed_is_not() {
    let mut answer = Answer::json(200, BLOCKED);
    answer.keep_alive = Some(Duration::from_millis(300));
    let backend = Backend::start(answer).await;
    let app = app(&backend.url, None);
    // Back to back: one connection, kept alive by both sides.
    for _ in 0..3 {
        let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
        assert_eq!((r.status_code, r.body.as_str()), (200, BLOCKED));
    }
    assert_eq!(backend.connections(), 1, "the connection was reused");
    // The backend closes the idle connection (its keep-alive timeout, shorter than the
    // relay's own): the next relay opens a new one instead of failing on the old one.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (r, _) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_eq!((r.status_code, r.body.as_str()), (200, BLOCKED));
    assert_eq!(backend.connections(), 2);
    assert_eq!(backend.received().len(), 4);
}

#[tokio::test]
async fn with_the_queues_on_a_failed_relay_is_not_handed_off_nor_delayed() {
    // Section 5 is for after-events: a relay that fails is 502 at once, and nothing is
    // sent to the hand-off or dead-letter queue.
    let queues = crate::common::sqs::TestQueues::new().await;
    let mut app = app("http://127.0.0.1:9", None);
    queues.wire(&mut app);
    let (r, took) = post(&app, &query_for(C2C_BEFORE), &c2c_body()).await;
    assert_failed_cleanly(&r, "relay with queues");
    assert_eq!(r.status_code, 502);
    assert!(took < Duration::from_millis(1000), "delayed: {took:?}");
    assert!(crate::common::sqs::drain(&queues.handoff).await.is_empty());
    assert!(crate::common::sqs::drain(&queues.dead_letters)
        .await
        .is_empty());
}
