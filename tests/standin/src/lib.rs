//! A local stand-in for the three REST calls a sync makes, built from the documentation's
//! samples (docs/protocol.md section 7), for the integration tests (tests/it/sync.rs),
//! `make run` (`cargo run --example tencent_standin`) and the sync bench
//! (examples/sync_bench.rs). Test code: it is no part of the production library.
//!
//! It holds accounts (profile, subscribers with their `SubscribeTime`, messages, some of
//! them recalled) that a test mutates through [`Standin::with_truth`], and answers like
//! Tencent: it checks the UserSig against the configured key (70001/70003/70009/70013/
//! 70014), the admin (60010), pages with `Next` and `LastMsgKey`, answers the busy code
//! ([`StandinConfig::busy_code`]) to the calls above [`StandinConfig::calls_per_second`]
//! in any one second of one command (and to as many calls as a test asks for with
//! [`Standin::inject_busy`]), and 130004 for accounts it does not know.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use oa_webhook::tencent::rest::{
    AccountInfo, AccountInfoRequest, HistoryMessage, MessageRequest, Subscriber, SubscriberRequest,
    GET_ACCOUNT_INFO, GET_MESSAGES, GET_SUBSCRIBERS, NO_SUCH_ACCOUNT, PLACE_RECALLED,
};
use oa_webhook::tencent::usersig::SecretKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub mod table;
pub mod usersig;

/// One message of an account's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandinMessage {
    pub msg_key: String,
    /// Unix seconds.
    pub time_stamp: u64,
    pub from_account: String,
    pub body: Value,
    #[serde(default)]
    pub recalled: bool,
}

/// What Tencent holds for one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StandinAccount {
    pub name: Option<String>,
    pub owner_account: Option<String>,
    /// Unix seconds.
    pub create_time: u64,
    pub introduction: Option<String>,
    pub face_url: Option<String>,
    pub organization: Option<String>,
    /// Subscriber → `SubscribeTime` (Unix seconds).
    pub subscribers: BTreeMap<String, u64>,
    /// `MsgSeq` → message.
    pub messages: BTreeMap<u64, StandinMessage>,
}

impl StandinAccount {
    /// Sends a message at `time` (Unix seconds); returns its `MsgKey`
    /// (`{MsgSeq}_1_{time}`).
    pub fn send(&mut self, time: u64, body: Value) -> String {
        let seq = self.messages.keys().next_back().map_or(1, |s| s + 1);
        let msg_key = format!("{seq}_1_{time}");
        self.messages.insert(
            seq,
            StandinMessage {
                msg_key: msg_key.clone(),
                time_stamp: time,
                from_account: self.owner_account.clone().unwrap_or_default(),
                body,
                recalled: false,
            },
        );
        msg_key
    }

    /// Recalls a message; false when there is none with that key.
    pub fn recall(&mut self, msg_key: &str) -> bool {
        match self.messages.values_mut().find(|m| m.msg_key == msg_key) {
            Some(m) => {
                m.recalled = true;
                true
            }
            None => false,
        }
    }
}

/// Everything the stand-in holds: account ID → account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub accounts: BTreeMap<String, StandinAccount>,
}

/// Who may call, and how busy the stand-in gets.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    pub sdkappid: u64,
    pub admin: String,
    pub key: SecretKey,
    /// Calls of one command allowed in one wall-clock second (Tencent: 200).
    pub calls_per_second: u32,
    /// The code answered above that.
    pub busy_code: i64,
}

impl StandinConfig {
    pub fn new(sdkappid: u64, admin: &str, key: SecretKey) -> StandinConfig {
        StandinConfig {
            sdkappid,
            admin: admin.to_owned(),
            key,
            calls_per_second: 200,
            busy_code: 60018,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// Command → (second, calls in it).
    windows: HashMap<String, (u64, u32)>,
    /// Command → busy answers still to give.
    injected: HashMap<String, u32>,
    /// Command → calls received (all answers).
    calls: HashMap<String, u64>,
    /// Command → busy answers given.
    busy: HashMap<String, u64>,
}

#[derive(Debug)]
struct Shared {
    config: StandinConfig,
    truth: Mutex<Truth>,
    counters: Mutex<Counters>,
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct Standin {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Standin {
    /// Listens on `addr` (`127.0.0.1:0` for any free port) and serves in the background.
    pub async fn start(
        addr: &str,
        config: StandinConfig,
        truth: Truth,
    ) -> std::io::Result<Standin> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            truth: Mutex::new(truth),
            counters: Mutex::new(Counters::default()),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Standin { shared, addr, task })
    }

    /// The base URL to give the client (`TENCENT_API_BASE_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reads or changes what the stand-in holds.
    pub fn with_truth<R>(&self, f: impl FnOnce(&mut Truth) -> R) -> R {
        f(&mut self.shared.truth.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The next `n` calls of `command` are answered with the busy code.
    pub fn inject_busy(&self, command: &str, n: u32) {
        self.counters().injected.insert(command.to_owned(), n);
    }

    /// Calls of `command` received so far.
    pub fn calls(&self, command: &str) -> u64 {
        self.counters().calls.get(command).copied().unwrap_or(0)
    }

    /// Busy answers given to `command` so far.
    pub fn busy_answers(&self, command: &str) -> u64 {
        self.counters().busy.get(command).copied().unwrap_or(0)
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

fn fail(code: i64, info: &str) -> Value {
    json!({"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})
}

fn ok(mut fields: Value) -> Value {
    if let Some(map) = fields.as_object_mut() {
        map.insert("ActionStatus".into(), json!("OK"));
        map.insert("ErrorCode".into(), json!(0));
        map.insert("ErrorInfo".into(), json!(""));
    }
    fields
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let answer = match answer(shared, req).await {
        Ok(v) | Err(v) => v,
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn answer(shared: &Shared, req: Request<Incoming>) -> Result<Value, Value> {
    let config = &shared.config;
    let command = req
        .uri()
        .path()
        .strip_prefix("/v4/official_account_open_http_svc/")
        .ok_or_else(|| fail(90001, "unknown service"))?
        .to_owned();
    let query: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let q = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    let app: u64 = q("sdkappid")
        .parse()
        .map_err(|_| fail(70014, "sdkappid invalid"))?;
    usersig::verify(q("usersig"), &config.key, q("identifier"), app, now_secs())
        .map_err(|e| fail(e.code(), &e.to_string()))?;
    if app != config.sdkappid {
        return Err(fail(70014, "SDKAppID does not match"));
    }
    if q("identifier") != config.admin {
        return Err(fail(60010, "the request needs an app admin"));
    }
    {
        let mut c = shared.counters.lock().unwrap_or_else(|p| p.into_inner());
        *c.calls.entry(command.clone()).or_default() += 1;
        let injected = c.injected.get(&command).copied().unwrap_or(0);
        let second = now_secs();
        let window = c.windows.entry(command.clone()).or_insert((second, 0));
        if window.0 != second {
            *window = (second, 0);
        }
        window.1 += 1;
        let over = window.1 > config.calls_per_second;
        if injected > 0 || over {
            if injected > 0 {
                c.injected.insert(command.clone(), injected - 1);
            }
            *c.busy.entry(command.clone()).or_default() += 1;
            return Err(fail(config.busy_code, "call frequency over the limit"));
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| fail(90002, "body unreadable"))?
        .to_bytes();
    let bad = |_| fail(90009, "request body invalid");
    let truth = shared.truth.lock().unwrap_or_else(|p| p.into_inner());
    match command.as_str() {
        GET_ACCOUNT_INFO => {
            let r: AccountInfoRequest = serde_json::from_slice(&body).map_err(bad)?;
            if r.official_account_id_list.len() > 50 {
                return Err(fail(90009, "at most 50 accounts a call"));
            }
            let list: Vec<AccountInfo> = r
                .official_account_id_list
                .iter()
                .map(|id| match truth.accounts.get(&id.official_account) {
                    None => AccountInfo {
                        action_status: Some("FAIL".into()),
                        error_code: NO_SUCH_ACCOUNT,
                        error_info: Some("official account not exist".into()),
                        official_account: id.official_account.clone(),
                        ..AccountInfo::default()
                    },
                    Some(a) => AccountInfo {
                        action_status: Some("OK".into()),
                        error_code: 0,
                        error_info: Some(String::new()),
                        official_account: id.official_account.clone(),
                        name: a.name.clone(),
                        owner_account: a.owner_account.clone(),
                        create_time: Some(a.create_time),
                        introduction: a.introduction.clone(),
                        face_url: a.face_url.clone(),
                        organization: a.organization.clone(),
                        subscriber_num: Some(a.subscribers.len() as u64),
                    },
                })
                .collect();
            Ok(ok(json!({ "OfficialAccountInfoList": list })))
        }
        GET_SUBSCRIBERS => {
            let r: SubscriberRequest = serde_json::from_slice(&body).map_err(bad)?;
            let account = truth
                .accounts
                .get(&r.official_account)
                .ok_or_else(|| fail(NO_SUCH_ACCOUNT, "official account not exist"))?;
            let limit = match r.limit {
                0 => usize::MAX,
                n => n.min(200) as usize,
            };
            let range = if r.next.is_empty() {
                account.subscribers.range::<String, _>(..)
            } else {
                account.subscribers.range::<String, _>((
                    std::ops::Bound::Excluded(r.next.clone()),
                    std::ops::Bound::Unbounded,
                ))
            };
            let mut rest = range.peekable();
            let mut list = Vec::new();
            while list.len() < limit {
                let Some((user, time)) = rest.next() else {
                    break;
                };
                list.push(Subscriber {
                    subscriber_account: user.clone(),
                    subscribe_time: *time,
                });
            }
            let next = match (rest.peek(), list.last()) {
                (Some(_), Some(last)) => last.subscriber_account.clone(),
                _ => String::new(),
            };
            Ok(ok(json!({
                "Next": next,
                "SubscriberNum": account.subscribers.len(),
                "SubscriberList": list,
            })))
        }
        GET_MESSAGES => {
            let r: MessageRequest = serde_json::from_slice(&body).map_err(bad)?;
            let account = truth
                .accounts
                .get(&r.official_account)
                .ok_or_else(|| fail(NO_SUCH_ACCOUNT, "official account not exist"))?;
            let before = match r.last_msg_key.as_deref().filter(|k| !k.is_empty()) {
                None => u64::MAX,
                Some(k) => {
                    *account
                        .messages
                        .iter()
                        .find(|(_, m)| m.msg_key == k)
                        .ok_or_else(|| fail(90009, "LastMsgKey unknown"))?
                        .0
                }
            };
            let n = r.req_msg_number.clamp(1, 20) as usize;
            let mut older = account
                .messages
                .range(..before)
                .rev()
                .filter(|(_, m)| r.with_recalled_msg == 1 || !m.recalled)
                .peekable();
            let mut list = Vec::new();
            while list.len() < n {
                let Some((seq, m)) = older.next() else {
                    break;
                };
                list.push(HistoryMessage {
                    msg_key: m.msg_key.clone(),
                    msg_seq: *seq,
                    msg_time_stamp: m.time_stamp,
                    from_account: Some(m.from_account.clone()),
                    is_place_msg: if m.recalled { PLACE_RECALLED } else { 0 },
                    msg_body: Some(if m.recalled {
                        json!([])
                    } else {
                        m.body.clone()
                    }),
                });
            }
            let finished = older.peek().is_none();
            Ok(ok(json!({
                "IsFinished": u8::from(finished),
                "LastMsgKey": list.last().map(|m| m.msg_key.clone()).unwrap_or_default(),
                "RspMsgList": list,
            })))
        }
        _ => Err(fail(90001, "unknown command")),
    }
}
