//! `make bench-hot` (benches/hot.sh): a campaign on one Official Account through the
//! DynamoDB contention model, measured the way Lambda would bill it.
//!
//! - DynamoDB: the local DynamoDB, moto (`AWS_ENDPOINT_URL_DYNAMODB`, started by benches/hot.sh)
//!   behind the contention model (`tests/it/support/ddb_model.rs`, in this process).
//! - SQS: the in-memory stand-in (`tests/it/support/sqs_fast.rs`, in this process), with
//!   the template's hand-off queue (visibility timeout, redrive after `maxReceiveCount`
//!   receives) and dead-letter queue.
//! - The webhook: the release binary (`BENCH_BIN`) as Lambda runs it, one process per
//!   function instance, each on its own Lambda Runtime API emulator (one invocation at a
//!   time per instance); an invocation goes to an idle instance, or a new one is started
//!   (up to `BENCH_MAX_INSTANCES`), as Lambda scales.
//! - The consumer: the same binary with `_HANDLER=queue`, fed by `BENCH_CONSUMERS`
//!   pollers standing in for Lambda's event source mapping: batches of up to `BENCH_BATCH`
//!   gathered for up to `BENCH_BATCH_WINDOW_MS`, the records a reply lists in
//!   `batchItemFailures` left to come back after the visibility timeout, the others deleted.
//!
//! Events: `BENCH_RATE` a second for `BENCH_SECS`, on a fixed schedule (event i at i/rate
//! seconds, whatever the replies do), after one `AfterCreateOfficialAccount`: each an
//! `AfterAddSubscriber` of one new user, except a share `BENCH_DELETE_SHARE` of
//! `AfterDeleteSubscriber` of an earlier user and a share `BENCH_LIST_SHARE` of adds of
//! `BENCH_LIST_SIZE` new users. EventTimes increase by 1 ms per event, so the expected table
//! is each user's newest event; "exact" means every subscription's status is the expected
//! one and the profile's `subscriber_count` is the number of SUBSCRIBED subscriptions. A
//! user whose newest event the function refused (503) is left out of the check and counted
//! (`users_not_checked`): that write may or may not have landed.
//!
//! Reported (stdout and `BENCH_OUT`, JSON): events/s offered and served, billed time per
//! invocation (p50/p99/max: from the emulator handing the event to the runtime to the
//! runtime's reply; a new instance's start-up is not in it and is counted apart), replies by
//! status, the concurrency the rate needs (mean billed time x events/s) and the most
//! invocations seen in flight, the model's counters per event, the share handed off, dead
//! letters, records failed back, and the seconds from the campaign's last reply until the
//! table is exact (or the difference left after `BENCH_SETTLE_SECS`); in the JSON only,
//! the write units committed and the requests throttled in each second from the campaign's
//! start (`committed_units_each_second`, `throttled_each_second`: where the ceiling sat idle). Also the stand-in
//! SQS's own `SendMessage` rate through aws-sdk-sqs, to show it is not the bottleneck.
//!
//! Environment (defaults): `AWS_ENDPOINT_URL_DYNAMODB` (required), `BENCH_BIN`
//! (target/release/oa-webhook), `BENCH_RATE` (150), `BENCH_SECS` (20),
//! `BENCH_TRANSACTION_MS` (15), `BENCH_CALL_MS` (4: the least time of any other DynamoDB
//! call), `BENCH_ITEM_WCU` (1000), `BENCH_PARTITION_WCU` (1000: the account's partition
//! ceiling, write units a second; 0 for none), `BENCH_CEILING_FACTOR` (unset; when set,
//! the ceiling is this times the campaign's need: its subscriber changes x 2.2 units over
//! `BENCH_SECS`, so 0.4545 is 2.2 times over and 1.1 just above), `BENCH_PARTITION_BUCKET`
//! (200: the least the partition's bucket holds, one full transaction),
//! `BENCH_DELETE_SHARE` (0.05), `BENCH_LIST_SHARE` (0.01),
//! `BENCH_LIST_SIZE` (100), `BENCH_SEED` (1), `BENCH_WARM` (10 instances started before
//! the campaign), `BENCH_MAX_INSTANCES` (400), `BENCH_CONSUMERS` (5: the event source's
//! first pollers), `BENCH_BATCH` (10), `BENCH_BATCH_WINDOW_MS` (1000), `BENCH_VISIBILITY_SECS`
//! (180), `BENCH_MAX_RECEIVES` (5), `BENCH_SETTLE_SECS` (180), `BENCH_SQS_PROBE` (3000
//! sends), `BENCH_OUT` (target/bench/hot.json), `BENCH_LOG` (target/bench/hot-functions.log:
//! the functions' output), `BENCH_LOG_LEVEL` (info), `BENCH_CHILD_ENV` (more `K=V` words
//! for the function).

#[path = "../tests/it/support/mod.rs"]
mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::sqs_fast::FastSqs;
use support::{ContentionModel, ModelConfig};
use tokio::sync::{mpsc, oneshot};

const APP: &str = "1400000001";
const ACCOUNT: &str = "@TOA#_hot";
const ADD: &str = "OfficialAccount.CallbackAfterAddSubscriber";
const DELETE: &str = "OfficialAccount.CallbackAfterDeleteSubscriber";
const CREATE: &str = "OfficialAccount.CallbackAfterCreateOfficialAccount";
const HANDOFF: &str = "oa-hot-handoff";
const DEAD_LETTERS: &str = "oa-hot-dead-letters";
/// Longest one invocation may take before it is counted as lost.
const STALL: Duration = Duration::from_secs(60);
/// The webhook's and the consumer's function timeouts (template.yaml): the deadline each
/// invocation is given.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(3);
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(30);
/// Most events one run may send, whatever the settings say.
const MAX_EVENTS: usize = 100_000;

fn main() {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench_hot: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench_hot: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(&settings)) {
        Ok(report) => {
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            if let Some(dir) = std::path::Path::new(&settings.out).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&settings.out, &text) {
                eprintln!("bench_hot: {}: {e}", settings.out);
            }
            println!("{}", summary(&report));
            eprintln!("bench_hot: results in {}", settings.out);
        }
        Err(e) => {
            eprintln!("bench_hot: error: {e}");
            std::process::exit(1);
        }
    }
}

struct Settings {
    ddb: String,
    /// `BENCH_CEILING_FACTOR`: the partition ceiling as a share of the campaign's need.
    ceiling_factor: Option<f64>,
    bin: String,
    rate: f64,
    secs: f64,
    model: ModelConfig,
    delete_share: f64,
    list_share: f64,
    list_size: usize,
    seed: u64,
    warm: usize,
    max_instances: usize,
    consumers: usize,
    batch: usize,
    batch_window: Duration,
    visibility: Duration,
    max_receives: u32,
    settle: Duration,
    sqs_probe: usize,
    out: String,
    log: String,
    log_level: String,
    child_env: Vec<(String, String)>,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str, d: f64| -> Result<f64, String> {
            match var(k) {
                None => Ok(d),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or(format!("{k} must be a number >= 0")),
            }
        };
        let int = |k: &str, d: u64| -> Result<u64, String> {
            match var(k) {
                None => Ok(d),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| format!("{k} must be a whole number")),
            }
        };
        let ms = |k: &str, d: u64| int(k, d).map(Duration::from_millis);
        let ddb = var("AWS_ENDPOINT_URL_DYNAMODB")
            .ok_or("AWS_ENDPOINT_URL_DYNAMODB (the local DynamoDB) is required")?;
        let child_env = var("BENCH_CHILD_ENV")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let ceiling_factor = match var("BENCH_CEILING_FACTOR") {
            None => None,
            Some(_) => Some(num("BENCH_CEILING_FACTOR", 1.0)?).filter(|f| *f > 0.0),
        };
        let s = Settings {
            ddb,
            ceiling_factor,
            bin: var("BENCH_BIN").unwrap_or_else(|| "target/release/oa-webhook".to_owned()),
            rate: num("BENCH_RATE", 150.0)?,
            secs: num("BENCH_SECS", 20.0)?,
            model: ModelConfig {
                transaction_time: ms("BENCH_TRANSACTION_MS", 15)?,
                call_time: ms("BENCH_CALL_MS", 4)?,
                item_write_units_per_second: u32::try_from(int("BENCH_ITEM_WCU", 1000)?)
                    .map_err(|_| "BENCH_ITEM_WCU is too large")?,
                partition_write_units_per_second: match int("BENCH_PARTITION_WCU", 1000)? {
                    0 => u32::MAX / 4,
                    n => u32::try_from(n).map_err(|_| "BENCH_PARTITION_WCU is too large")?,
                },
                partition_bucket_min_units: u32::try_from(int("BENCH_PARTITION_BUCKET", 200)?)
                    .map_err(|_| "BENCH_PARTITION_BUCKET is too large")?,
                ..ModelConfig::default()
            },
            delete_share: num("BENCH_DELETE_SHARE", 0.05)?,
            list_share: num("BENCH_LIST_SHARE", 0.01)?,
            list_size: int("BENCH_LIST_SIZE", 100)? as usize,
            seed: int("BENCH_SEED", 1)?,
            warm: int("BENCH_WARM", 10)? as usize,
            max_instances: int("BENCH_MAX_INSTANCES", 400)?.max(1) as usize,
            consumers: int("BENCH_CONSUMERS", 5)?.max(1) as usize,
            batch: int("BENCH_BATCH", 10)?.clamp(1, 10_000) as usize,
            batch_window: ms("BENCH_BATCH_WINDOW_MS", 1000)?,
            visibility: Duration::from_secs(int("BENCH_VISIBILITY_SECS", 180)?),
            max_receives: u32::try_from(int("BENCH_MAX_RECEIVES", 5)?.max(1))
                .map_err(|_| "BENCH_MAX_RECEIVES is too large")?,
            settle: Duration::from_secs(int("BENCH_SETTLE_SECS", 180)?),
            sqs_probe: int("BENCH_SQS_PROBE", 3000)?.min(100_000) as usize,
            out: var("BENCH_OUT").unwrap_or_else(|| "target/bench/hot.json".to_owned()),
            log: var("BENCH_LOG").unwrap_or_else(|| "target/bench/hot-functions.log".to_owned()),
            log_level: var("BENCH_LOG_LEVEL").unwrap_or_else(|| "info".to_owned()),
            child_env,
        };
        if s.rate <= 0.0 || s.secs <= 0.0 {
            return Err("BENCH_RATE and BENCH_SECS must be above zero".to_owned());
        }
        if s.delete_share + s.list_share > 1.0 {
            return Err("BENCH_DELETE_SHARE + BENCH_LIST_SHARE must be at most 1".to_owned());
        }
        Ok(s)
    }

    fn events(&self) -> usize {
        ((self.rate * self.secs).round() as usize).min(MAX_EVENTS)
    }
}

// ---------------------------------------------------------------------------------------
// The campaign's events and the table they must leave.

/// One webhook event of the campaign and the subscription changes it carries.
struct Planned {
    api_event: Vec<u8>,
    /// (user, subscribed after this event)
    changes: Vec<(String, bool)>,
}

struct Templates {
    add: Value,
    delete: Value,
    create: Value,
}

impl Templates {
    fn load() -> Result<Templates, String> {
        let read = |name: &str| -> Result<Value, String> {
            let path = format!("events/{name}");
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
        };
        Ok(Templates {
            add: read("after-add-subscriber.json")?,
            delete: read("after-delete-subscriber.json")?,
            create: read("after-create-official-account.json")?,
        })
    }

    fn event(template: &Value, body: Value) -> Vec<u8> {
        let mut ev = template.clone();
        ev["body"] = Value::String(body.to_string());
        serde_json::to_vec(&ev).unwrap_or_default()
    }

    fn create(&self, event_time: u64) -> Vec<u8> {
        Templates::event(
            &self.create,
            json!({
                "CallbackCommand": CREATE,
                "Official_Account": ACCOUNT,
                "Operator_Account": "107867",
                "Owner_Account": "107867",
                "Name": "HotAccount",
                "EventTime": event_time,
            }),
        )
    }

    fn subscribers(&self, command: &str, users: &[String], event_time: u64) -> Vec<u8> {
        let list: Vec<Value> = users
            .iter()
            .map(|u| json!({ "Subscriber_Account": u }))
            .collect();
        let template = if command == DELETE {
            &self.delete
        } else {
            &self.add
        };
        Templates::event(
            template,
            json!({
                "CallbackCommand": command,
                "Official_Account": ACCOUNT,
                "Operator_Account": "107867",
                "SubscribeAccountList": list,
                "EventTime": event_time,
            }),
        )
    }
}

/// The campaign: the events in sending order.
fn plan(s: &Settings, t: &Templates, first_time: u64) -> Vec<Planned> {
    let mut rng = fastrand::Rng::with_seed(s.seed);
    let mut next_user = 0usize;
    let mut added: Vec<String> = Vec::new();
    let mut events = Vec::with_capacity(s.events());
    for i in 0..s.events() {
        let time = first_time + i as u64;
        let roll = rng.f64();
        let planned = if roll < s.delete_share && !added.is_empty() {
            let user = added.swap_remove(rng.usize(..added.len()));
            Planned {
                api_event: t.subscribers(DELETE, std::slice::from_ref(&user), time),
                changes: vec![(user, false)],
            }
        } else {
            let n = if roll < s.delete_share + s.list_share {
                s.list_size.max(1)
            } else {
                1
            };
            let users: Vec<String> = (next_user..next_user + n)
                .map(|u| format!("u{u}"))
                .collect();
            next_user += n;
            added.extend(users.iter().cloned());
            Planned {
                api_event: t.subscribers(ADD, &users, time),
                changes: users.into_iter().map(|u| (u, true)).collect(),
            }
        };
        events.push(planned);
    }
    events
}

/// What the table must hold after the campaign: each user's status from their newest event
/// (EventTimes grow with the sending order), for the users whose newest event the function
/// accepted (a 200). A user whose newest event was refused (the last resort's 503: Tencent
/// sends it again only where "retry on timeout" is on, docs/protocol.md section 1) may
/// hold either state, since a write can land after its client gave up: not checked.
struct Expected {
    subscribed: BTreeMap<String, bool>,
    undetermined: usize,
}

fn expected(changes: &[Vec<(String, bool)>], accepted: &[bool]) -> Expected {
    let mut newest: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for (event, taken) in changes.iter().zip(accepted) {
        for (user, subscribed) in event {
            newest.insert(user.clone(), (*subscribed, *taken));
        }
    }
    let undetermined = newest.values().filter(|(_, taken)| !taken).count();
    Expected {
        subscribed: newest
            .into_iter()
            .filter(|(_, (_, taken))| *taken)
            .map(|(user, (subscribed, _))| (user, subscribed))
            .collect(),
        undetermined,
    }
}

// ---------------------------------------------------------------------------------------
// Function instances on a Lambda Runtime API emulator.

struct Invocation {
    id: String,
    body: Vec<u8>,
    deadline_ms: u64,
    done: oneshot::Sender<Completion>,
}

struct Completion {
    /// When the runtime received the event (its `/next` answered).
    handed: Instant,
    finished: Instant,
    /// The runtime's reply body, or its error report.
    reply: Result<Vec<u8>, Vec<u8>>,
}

/// One instance's side of the emulator.
struct Emulator {
    id: usize,
    invocations: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, (Instant, oneshot::Sender<Completion>)>>,
    idle: mpsc::UnboundedSender<usize>,
}

/// A pool of instances of one function, scaled as Lambda does: an invocation takes an idle
/// instance, or starts one.
struct Pool {
    name: &'static str,
    handler: &'static str,
    env: Vec<(String, String)>,
    bin: String,
    log: std::fs::File,
    max: usize,
    senders: Mutex<Vec<mpsc::Sender<Invocation>>>,
    children: Mutex<Vec<Child>>,
    idle: tokio::sync::Mutex<mpsc::UnboundedReceiver<usize>>,
    idle_tx: mpsc::UnboundedSender<usize>,
    started: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    next_request: AtomicU64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Pool {
    fn new(
        name: &'static str,
        handler: &'static str,
        s: &Settings,
        env: Vec<(String, String)>,
        max: usize,
    ) -> Result<Arc<Pool>, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&s.log)
            .map_err(|e| format!("{}: {e}", s.log))?;
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Pool {
            name,
            handler,
            env,
            bin: s.bin.clone(),
            log,
            max,
            senders: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
            idle: tokio::sync::Mutex::new(idle_rx),
            idle_tx,
            started: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            next_request: AtomicU64::new(0),
        }))
    }

    /// Starts one more instance (its emulator and the binary); it becomes idle when its
    /// runtime first asks for an event.
    async fn start_instance(&self) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (tx, rx) = mpsc::channel::<Invocation>(1);
        let id = {
            let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
            senders.push(tx);
            senders.len() - 1
        };
        let emulator = Arc::new(Emulator {
            id,
            invocations: tokio::sync::Mutex::new(rx),
            pending: Mutex::new(HashMap::new()),
            idle: self.idle_tx.clone(),
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let emulator = emulator.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let emulator = emulator.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(runtime_api(&emulator, req).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let log = self.log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("_HANDLER", self.handler)
            .env(
                "AWS_LAMBDA_FUNCTION_NAME",
                format!("oa-webhook-{}", self.name),
            )
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/oa-webhook-{}", self.name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("bench/{}-{id}", self.name),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // The functions' logs and request lines, for a reader (`BENCH_LOG`): the model
            // and the queues count what the benchmark reports.
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin))?;
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        self.started.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// An idle instance: one that is waiting already, else the first to become idle after
    /// this call started one more (below the maximum), as Lambda starts an instance for a
    /// request that finds none free. Instances start in parallel: no lock is held while
    /// one boots.
    async fn acquire(&self) -> Result<usize, String> {
        if let Ok(mut idle) = self.idle.try_lock() {
            if let Ok(id) = idle.try_recv() {
                return Ok(id);
            }
        }
        if self.started.load(Ordering::Relaxed) < self.max {
            self.start_instance().await?;
        }
        let mut idle = self.idle.lock().await;
        match tokio::time::timeout(STALL, idle.recv()).await {
            Ok(Some(id)) => Ok(id),
            _ => Err(format!(
                "no {} instance became idle within {STALL:?}",
                self.name
            )),
        }
    }

    /// Sends `body` to an instance and waits for its reply.
    async fn invoke(&self, body: Vec<u8>, timeout: Duration) -> Result<Completion, String> {
        let id = self.acquire().await?;
        let sender = self
            .senders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or("an unknown instance")?;
        let (done, completed) = oneshot::channel();
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        let deadline = SystemTime::now() + timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight
            .fetch_max(now_in_flight, Ordering::Relaxed);
        let sent = sender
            .send(Invocation {
                id: format!("{}-{n:08}", self.name),
                body,
                deadline_ms,
                done,
            })
            .await;
        let result = match sent {
            Err(_) => Err("the instance is gone".to_owned()),
            Ok(()) => match tokio::time::timeout(STALL, completed).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(_)) => Err("the instance dropped the invocation".to_owned()),
                Err(_) => Err(format!("no reply within {STALL:?}")),
            },
        };
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        result
    }
}

type Reply = hyper::Response<http_body_util::Full<bytes::Bytes>>;

fn reply(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// The Lambda Runtime API, for one instance: `GET /2018-06-01/runtime/invocation/next`,
/// `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`,
/// `POST .../init/error`.
async fn runtime_api(emulator: &Emulator, req: hyper::Request<hyper::body::Incoming>) -> Reply {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return reply(404, &[], Vec::new());
    };
    if method == hyper::Method::GET && rest == "invocation/next" {
        let _ = emulator.idle.send(emulator.id);
        let next = emulator.invocations.lock().await.recv().await;
        let Some(inv) = next else {
            return reply(500, &[], b"the benchmark is over".to_vec());
        };
        emulator
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(inv.id.clone(), (Instant::now(), inv.done));
        return reply(
            200,
            &[
                ("lambda-runtime-aws-request-id", inv.id),
                ("lambda-runtime-deadline-ms", inv.deadline_ms.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:oa-webhook-bench".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
                ),
                ("content-type", "application/json".to_owned()),
            ],
            inv.body,
        );
    }
    if method == hyper::Method::POST {
        if let Some(id_and_kind) = rest.strip_prefix("invocation/") {
            if let Some((id, kind)) = id_and_kind.rsplit_once('/') {
                let entry = emulator
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                if let Some((handed, done)) = entry {
                    let reply = if kind == "response" {
                        Ok(body)
                    } else {
                        Err(body)
                    };
                    let _ = done.send(Completion {
                        handed,
                        finished: Instant::now(),
                        reply,
                    });
                }
                return self::reply(202, &[], b"{}".to_vec());
            }
        }
        if rest == "init/error" {
            eprintln!(
                "bench_hot: an instance failed to start: {}",
                String::from_utf8_lossy(&body)
            );
            return self::reply(202, &[], b"{}".to_vec());
        }
    }
    reply(404, &[], Vec::new())
}

// ---------------------------------------------------------------------------------------
// The event source mapping stand-in.

#[derive(Default)]
struct ConsumerCounts {
    invocations: AtomicU64,
    records: AtomicU64,
    failed_back: AtomicU64,
    errors: AtomicU64,
    billed_us: AtomicU64,
}

/// One poller: gathers a batch, invokes the consumer, deletes what it did not fail back.
async fn poller(
    sqs: Arc<FastSqs>,
    pool: Arc<Pool>,
    s: Arc<SettingsLite>,
    stop: Arc<AtomicBool>,
    counts: Arc<ConsumerCounts>,
) {
    let arn = format!("arn:aws:sqs:us-east-1:000000000000:{HANDOFF}");
    // Bounded: ends when told to, and each wait is short.
    while !stop.load(Ordering::Relaxed) {
        let window_end = Instant::now() + s.batch_window;
        let mut batch = Vec::new();
        loop {
            let room = s.batch - batch.len();
            match sqs.receive(HANDOFF, room.min(10), None) {
                Ok(got) => batch.extend(got),
                Err(e) => {
                    eprintln!("bench_hot: receive: {e:?}");
                    break;
                }
            }
            if batch.len() >= s.batch
                || Instant::now() >= window_end
                || stop.load(Ordering::Relaxed)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if batch.is_empty() {
            // An empty queue: poll again shortly (Lambda's pollers long-poll).
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let records: Vec<Value> = batch
            .iter()
            .map(|m| {
                let mut attributes = json!({
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_ms.to_string(),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": m.sent_ms.to_string(),
                });
                if let Some(g) = &m.group {
                    attributes["MessageGroupId"] = Value::String(g.clone());
                }
                let message_attributes: serde_json::Map<String, Value> = m
                    .attributes
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            json!({
                                "stringValue": v.get("StringValue").cloned().unwrap_or(Value::Null),
                                "dataType": v.get("DataType").cloned().unwrap_or(json!("String")),
                                "stringListValues": [],
                                "binaryListValues": [],
                            }),
                        )
                    })
                    .collect();
                json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": attributes,
                    "messageAttributes": message_attributes,
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let event = serde_json::to_vec(&json!({ "Records": records })).unwrap_or_default();
        counts.invocations.fetch_add(1, Ordering::Relaxed);
        counts
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let failed: Vec<String> = match pool.invoke(event, CONSUMER_TIMEOUT).await {
            Ok(c) => {
                counts.billed_us.fetch_add(
                    (c.finished - c.handed).as_micros() as u64,
                    Ordering::Relaxed,
                );
                match c.reply {
                    Ok(body) => {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        v["batchItemFailures"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                            .collect()
                    }
                    // An invocation error: the whole batch comes back (Lambda's rule).
                    Err(_) => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                        batch.iter().map(|m| m.message_id.clone()).collect()
                    }
                }
            }
            Err(e) => {
                eprintln!("bench_hot: consumer invocation: {e}");
                counts.errors.fetch_add(1, Ordering::Relaxed);
                batch.iter().map(|m| m.message_id.clone()).collect()
            }
        };
        counts
            .failed_back
            .fetch_add(failed.len() as u64, Ordering::Relaxed);
        for m in &batch {
            if !failed.contains(&m.message_id) {
                let _ = sqs.delete(HANDOFF, &m.receipt_handle);
            }
        }
    }
}

struct SettingsLite {
    batch: usize,
    batch_window: Duration,
}

// ---------------------------------------------------------------------------------------
// The table.

fn ddb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .endpoint_url(endpoint)
        // The crate builds the SDK without a default HTTPS client (Cargo.toml): the
        // project's own, as the function uses.
        .http_client(oa_webhook::clients::sdk::https_client(
            oa_webhook::clients::sdk::TrustRoots::Amazon,
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// How far the table is from the expected state.
#[derive(Clone, Copy, Debug)]
struct Difference {
    /// The profile's `subscriber_count`.
    subscriber_count: Option<i64>,
    /// SUBSCRIBED subscription items in the table.
    subscribed_items: i64,
    /// Users whose status is not the expected one.
    wrong: usize,
}

impl Difference {
    fn exact(&self) -> bool {
        self.subscriber_count == Some(self.subscribed_items) && self.wrong == 0
    }
}

/// The profile's `subscriber_count` (one consistent GetItem).
async fn subscriber_count(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<i64>, String> {
    let profile = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("OA#{APP}#{ACCOUNT}")))
        .key("sk", AttributeValue::S("PROFILE".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("GetItem: {e:?}"))?;
    Ok(profile
        .item
        .as_ref()
        .and_then(|i| i.get("subscriber_count"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok()))
}

async fn difference(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    expected: &BTreeMap<String, bool>,
) -> Result<Difference, String> {
    let pk = format!("OA#{APP}#{ACCOUNT}");
    let count = subscriber_count(client, table).await?;
    let mut seen: HashMap<String, bool> = HashMap::new();
    let mut start = None;
    // Bounded: one page per 1 MB of subscriptions.
    for _ in 0..10_000 {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(":p", AttributeValue::S("SUB#".to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("Query: {e:?}"))?;
        for item in page.items() {
            let user = item
                .get("subscriber_account")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let subscribed = item
                .get("status")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s == "SUBSCRIBED");
            seen.insert(user, subscribed);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let wrong = expected
        .iter()
        .filter(|(user, subscribed)| seen.get(*user).copied().unwrap_or(false) != **subscribed)
        .count();
    Ok(Difference {
        subscriber_count: count,
        subscribed_items: seen.values().filter(|s| **s).count() as i64,
        wrong,
    })
}

// ---------------------------------------------------------------------------------------

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// The machine's 1-minute load average (`/proc/loadavg`): a run beside a compiler or
/// another benchmark measures them too.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `SendMessage` calls a second the stand-in takes through aws-sdk-sqs, 16 at a time.
async fn probe_sqs(sqs: &FastSqs, sends: usize) -> Result<f64, String> {
    let url = sqs.create_queue("oa-hot-probe", Duration::from_secs(30), None);
    let client = sqs.sdk_client();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < sends {
                client
                    .send_message()
                    .queue_url(&url)
                    .message_body("{\"probe\":true}")
                    .message_group_id("1400000001#@TOA#_probe")
                    .send()
                    .await
                    .map_err(|e| format!("SendMessage: {e:?}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(sends as f64 / started.elapsed().as_secs_f64())
}

async fn run(s: &Settings) -> Result<Value, String> {
    if !std::path::Path::new(&s.bin).is_file() {
        return Err(format!("{}: no such binary (cargo build --release)", s.bin));
    }
    if let Some(dir) = std::path::Path::new(&s.log).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&s.log, b"");
    let templates = Templates::load()?;
    let load_at_start = load_average();
    let first_time = 1_700_000_000_000u64;
    let events = plan(s, &templates, first_time);
    let changes: usize = events.iter().map(|e| e.changes.len()).sum();
    // The campaign's need at the promise's 2.2 units a change (docs/contract.md section 8).
    let need = changes as f64 * 2.2 / s.secs;
    let mut model_config = s.model.clone();
    if let Some(f) = s.ceiling_factor {
        model_config.partition_write_units_per_second = (need * f).round().max(1.0) as u32;
    }
    let ceiling = f64::from(model_config.partition_write_units_per_second);
    let model = ContentionModel::start(&s.ddb, model_config).map_err(|e| e.to_string())?;
    let sqs = Arc::new(FastSqs::start().map_err(|e| e.to_string())?);
    let dlq_url = sqs.create_queue(DEAD_LETTERS, Duration::from_secs(30), None);
    let handoff_url = sqs.create_queue(HANDOFF, s.visibility, Some((DEAD_LETTERS, s.max_receives)));

    let sqs_sends_per_s = probe_sqs(&sqs, s.sqs_probe).await?;
    eprintln!("bench_hot: the SQS stand-in takes {sqs_sends_per_s:.0} SendMessage/s through aws-sdk-sqs (16 at a time)");

    let table = format!("oa-hot-{}", std::process::id());
    let direct = ddb_client(&s.ddb);
    tencent_standin::table::create_table(&direct, &table)
        .await
        .map_err(|e| e.to_string())?;

    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_LOG_LEVEL".into(), s.log_level.clone()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_SESSION_TOKEN".into(), "test".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_ENDPOINT_URL_DYNAMODB".into(), model.endpoint()),
        ("AWS_ENDPOINT_URL_SQS".into(), sqs.endpoint()),
        ("TABLE_NAME".into(), table.clone()),
        ("SDKAPPID".into(), APP.into()),
        ("HANDOFF_QUEUE_URL".into(), handoff_url),
        ("DEAD_LETTER_QUEUE_URL".into(), dlq_url),
    ];
    env.extend(s.child_env.iter().cloned());
    let webhook = Pool::new("webhook", "bootstrap", s, env.clone(), s.max_instances)?;
    let consumer = Pool::new("consumer", "queue", s, env, s.consumers)?;

    // Warm instances, then the account.
    for _ in 0..s.warm.min(s.max_instances) {
        webhook.start_instance().await?;
    }
    let created = webhook
        .invoke(templates.create(first_time - 1), WEBHOOK_TIMEOUT)
        .await?;
    if let Err(e) = &created.reply {
        return Err(format!(
            "the account's create failed: {}",
            String::from_utf8_lossy(e)
        ));
    }
    // Until the warm instances are all idle (bounded: 30 s).
    for _ in 0..300 {
        if webhook.idle.lock().await.len() + 1 >= s.warm.min(s.max_instances) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..s.consumers {
        consumer.start_instance().await?;
    }

    let changes_of: Vec<Vec<(String, bool)>> = events.iter().map(|e| e.changes.clone()).collect();
    let mut accepted = vec![false; events.len()];
    let n = events.len();
    let deletes = events
        .iter()
        .filter(|e| e.changes.len() == 1 && !e.changes[0].1)
        .count();
    let lists = events.iter().filter(|e| e.changes.len() > 1).count();
    model.reset_counters();

    // The event source mapping.
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(ConsumerCounts::default());
    let lite = Arc::new(SettingsLite {
        batch: s.batch,
        batch_window: s.batch_window,
    });
    let pollers: Vec<_> = (0..s.consumers)
        .map(|_| {
            tokio::spawn(poller(
                sqs.clone(),
                consumer.clone(),
                lite.clone(),
                stop.clone(),
                counts.clone(),
            ))
        })
        .collect();

    // The campaign, on a fixed schedule.
    eprintln!(
        "bench_hot: {n} events at {}/s for {} s ({deletes} deletes, {lists} lists of {}), {:?} per transaction",
        s.rate, s.secs, s.list_size, s.model.transaction_time
    );
    let started_instances = webhook.started.load(Ordering::Relaxed);
    let campaign_start = tokio::time::Instant::now();
    // The partition's drain, second by second: write units committed and requests
    // throttled in each second from the campaign's start (where the ceiling sat idle).
    let timeline = {
        let read = model.counters_reader();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut seconds: Vec<(u64, u64)> = Vec::new();
            let mut last = read();
            let mut tick = campaign_start;
            while !stop.load(Ordering::Relaxed) {
                tick += Duration::from_secs(1);
                tokio::time::sleep_until(tick).await;
                let now = read();
                seconds.push((
                    now.write_units_committed - last.write_units_committed,
                    now.throttles - last.throttles,
                ));
                last = now;
            }
            seconds
        })
    };
    let mut tasks = Vec::with_capacity(n);
    for (i, planned) in events.into_iter().enumerate() {
        let due = campaign_start + Duration::from_secs_f64(i as f64 / s.rate);
        tokio::time::sleep_until(due).await;
        let pool = webhook.clone();
        tasks.push(tokio::spawn(async move {
            let r = pool.invoke(planned.api_event, WEBHOOK_TIMEOUT).await;
            (due, r)
        }));
    }
    let sent_in = campaign_start.elapsed();
    let mut billed = Vec::with_capacity(n);
    let mut waited = Vec::with_capacity(n);
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_reply = campaign_start;
    for (i, t) in tasks.into_iter().enumerate() {
        let (due, r) = t.await.map_err(|e| e.to_string())?;
        match r {
            Ok(c) => {
                let ran = c.finished - c.handed;
                // Lambda stops an invocation at the function's timeout and bills up to it.
                billed.push(ran.min(WEBHOOK_TIMEOUT).as_secs_f64() * 1e3);
                waited.push(
                    c.handed
                        .saturating_duration_since(due.into_std())
                        .as_secs_f64()
                        * 1e3,
                );
                last_reply = last_reply.max(tokio::time::Instant::from_std(c.finished));
                let status = match &c.reply {
                    _ if ran > WEBHOOK_TIMEOUT => "timeout (function timeout 3 s)".to_owned(),
                    Ok(body) => serde_json::from_slice::<Value>(body)
                        .ok()
                        .and_then(|v| v["statusCode"].as_u64())
                        .map_or("no statusCode".to_owned(), |s| s.to_string()),
                    Err(_) => "invocation error".to_owned(),
                };
                accepted[i] = status == "200";
                *statuses.entry(status).or_default() += 1;
            }
            Err(e) => {
                *statuses.entry(format!("lost: {e}")).or_default() += 1;
            }
        }
    }
    let campaign = last_reply - campaign_start;
    let at_end = model.counters();
    let handoff_at_end = sqs.stats(HANDOFF).map_err(|e| format!("{e:?}"))?;
    eprintln!(
        "bench_hot: campaign over in {:.1} s; waiting for the table",
        campaign.as_secs_f64()
    );

    // Until the table is exact (bounded by BENCH_SETTLE_SECS).
    let settle_start = Instant::now();
    let mut exact_after = None;
    let expected = expected(&changes_of, &accepted);
    let mut last_difference = None;
    // The counter first: while it is short of the expected count the table is not exact,
    // and reading the whole partition (thousands of items, each page holding the local
    // engine's table lock) would take the engine from the consumers being measured.
    let subscribed_expected = expected.subscribed.values().filter(|s| **s).count() as i64;
    while settle_start.elapsed() <= s.settle {
        let count = subscriber_count(&direct, &table).await?;
        if count.is_some_and(|c| c >= subscribed_expected) {
            let d = difference(&direct, &table, &expected.subscribed).await?;
            last_difference = Some(d);
            if d.exact() {
                exact_after = Some(last_reply.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if exact_after.is_none() {
        last_difference = Some(difference(&direct, &table, &expected.subscribed).await?);
    }
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = tokio::time::timeout(STALL, p).await;
    }
    let after = model.counters();
    let timeline = timeline.await.unwrap_or_default();
    let handoff = sqs.stats(HANDOFF).map_err(|e| format!("{e:?}"))?;
    let dead = sqs.stats(DEAD_LETTERS).map_err(|e| format!("{e:?}"))?;

    billed.sort_by(f64::total_cmp);
    waited.sort_by(f64::total_cmp);
    let mean_billed = billed.iter().sum::<f64>() / billed.len().max(1) as f64;
    let served_rate = n as f64 / campaign.as_secs_f64();
    let per_event = |x: u64| round(x as f64 / n.max(1) as f64, 3);
    let consumer_invocations = counts.invocations.load(Ordering::Relaxed);
    let capped = ceiling < 1e8;
    let exact_from_start = exact_after.map(|d| (campaign + d).as_secs_f64());
    // The later of the campaign's end and the moment the ceiling could have taken all its
    // writes (docs/contract.md section 8), from the campaign's start.
    let ceiling_bound = if capped {
        (after.write_units as f64 / ceiling).max(s.secs)
    } else {
        s.secs
    };
    let per_change = |x: u64| round(x as f64 / changes.max(1) as f64, 3);
    Ok(json!({
        "partition": {
            "wcu_per_s": capped.then_some(ceiling),
            "need_wcu_per_s": round(need, 1),
            "bucket_min_units": s.model.partition_bucket_min_units,
            "ceiling_factor": s.ceiling_factor,
        },
        "per_change": {
            "write_units_committed": per_change(after.write_units_committed),
            "write_units_refused": per_change(after.write_units_refused),
            "write_units": per_change(after.write_units),
            "read_units": round(after.read_half_units as f64 / 2.0 / changes.max(1) as f64, 3),
        },
        "throttled_requests": after.throttles,
        "partition_throttled_requests": after.partition_throttles,
        "conflict_cancelled_transactions": after.conflict_cancellations,
        "read_throttles": after.read_throttles,
        "drain_share_of_ceiling": match (capped, exact_from_start) {
            (true, Some(t)) => json!(round(after.write_units as f64 / ceiling / t, 3)),
            _ => Value::Null,
        },
        "ceiling_bound_s": round(ceiling_bound, 1),
        "committed_units_each_second": timeline.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        "throttled_each_second": timeline.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
        "exact_from_start_s": exact_from_start.map(|t| round(t, 1)),
        "exact_within_30s_of_bound": exact_from_start.map(|t| t <= ceiling_bound + 30.0),
        "load_average": { "at_start": load_at_start, "at_end": load_average() },
        "settings": {
            "rate_per_s": s.rate, "secs": s.secs, "events": n,
            "subscription_changes": changes, "deletes": deletes, "lists": lists, "list_size": s.list_size,
            "transaction_ms": s.model.transaction_time.as_millis() as u64,
            "call_ms": s.model.call_time.as_millis() as u64,
            "item_wcu_per_s": s.model.item_write_units_per_second,
            "consumers": s.consumers, "batch": s.batch,
            "batch_window_ms": s.batch_window.as_millis() as u64,
            "visibility_s": s.visibility.as_secs(), "max_receives": s.max_receives,
            "settle_s": s.settle.as_secs(), "bin": s.bin,
        },
        "sqs_standin_sends_per_s": round(sqs_sends_per_s, 0),
        "events_per_s_sent": round(n as f64 / sent_in.as_secs_f64(), 1),
        "events_per_s_served": round(served_rate, 1),
        "replies": statuses,
        "billed_ms": {
            "p50": round(percentile(&billed, 0.5), 1),
            "p99": round(percentile(&billed, 0.99), 1),
            "max": round(billed.last().copied().unwrap_or(f64::NAN), 1),
            "mean": round(mean_billed, 1),
        },
        "waited_for_an_instance_ms": {
            "p50": round(percentile(&waited, 0.5), 1),
            "p99": round(percentile(&waited, 0.99), 1),
        },
        "concurrency_needed": round(mean_billed / 1e3 * s.rate, 1),
        "most_in_flight": webhook.most_in_flight.load(Ordering::Relaxed),
        "instances_started_during_campaign": webhook.started.load(Ordering::Relaxed) - started_instances,
        "campaign": {
            "transactions_per_event": per_event(at_end.transactions),
            "cancelled_transactions_per_event": per_event(at_end.cancelled_transactions),
            "write_conflicts_per_event": per_event(at_end.write_conflicts),
            "throttles_per_event": per_event(at_end.throttles),
            "write_units_per_event": per_event(at_end.write_units),
            "handed_off": handoff_at_end.sent,
            "handed_off_share": round(handoff_at_end.sent as f64 / n.max(1) as f64, 3),
        },
        "until_exact": {
            "transactions_per_event": per_event(after.transactions),
            "cancelled_transactions_per_event": per_event(after.cancelled_transactions),
            "write_units_per_event": per_event(after.write_units),
            "write_units_per_subscription_change": round(after.write_units as f64 / changes.max(1) as f64, 3),
            "hottest_item_write_units": after.hottest_item().map(|(_, u)| u),
            "mean_transaction_hold_ms": round(after.hold_time_us as f64 / 1e3 / after.holds_released.max(1) as f64, 1),
            "throttles": after.throttles,
        },
        "handed_off_total": handoff.sent,
        "consumer": {
            "invocations": consumer_invocations,
            "records": counts.records.load(Ordering::Relaxed),
            "records_failed_back": counts.failed_back.load(Ordering::Relaxed),
            "invocation_errors": counts.errors.load(Ordering::Relaxed),
            "mean_billed_ms": round(counts.billed_us.load(Ordering::Relaxed) as f64 / 1e3 / consumer_invocations.max(1) as f64, 1),
        },
        "dead_letters": dead.sent + dead.redriven_in,
        "dead_letters_redriven": dead.redriven_in,
        "queue_left": { "visible": handoff.visible, "in_flight": handoff.in_flight },
        "exact_after_s": exact_after.map(|d| round(d.as_secs_f64(), 1)),
        "users_not_checked": expected.undetermined,
        "left_after_settle": if exact_after.is_some() { Value::Null } else { json!({
            "subscriber_count": last_difference.and_then(|d| d.subscriber_count),
            "subscribed_items": last_difference.map(|d| d.subscribed_items),
            "wrong_subscriptions": last_difference.map(|d| d.wrong),
        })},
    }))
}

/// A few lines for a person (the JSON has everything).
fn summary(r: &Value) -> String {
    let st = &r["settings"];
    let exact = match r["exact_after_s"].as_f64() {
        Some(s) => format!("{s} s"),
        None => format!(
            "NOT exact after {} s: {}",
            st["settle_s"], r["left_after_settle"]
        ),
    };
    format!(
        "bench-hot: {} events at {}/s ({} ms per transaction): served {}/s; replies {}\n\
         billed p50 {} ms, p99 {} ms, max {} ms; concurrency needed {} (most in flight {})\n\
         campaign: {} cancelled transactions/event, {} write units/event, {} handed off\n\
         until exact: {} write units/event ({} per subscription change), {} cancelled transactions/event\n\
         consumer: {} invocations, {} records, {} failed back; dead letters {}; table exact {} after the last reply \
         ({} users whose newest event was refused not checked)\n\
         partition: {} WCU/s (need {}); per change: {} units committed, {} refused; {} throttled requests; \
         drain {} of the ceiling; exact {} s from the start (bound {} s)\n\
         SQS stand-in: {} SendMessage/s; load average {}",
        st["events"], st["rate_per_s"], st["transaction_ms"], r["events_per_s_served"], r["replies"],
        r["billed_ms"]["p50"], r["billed_ms"]["p99"], r["billed_ms"]["max"],
        r["concurrency_needed"], r["most_in_flight"],
        r["campaign"]["cancelled_transactions_per_event"], r["campaign"]["write_units_per_event"],
        r["campaign"]["handed_off_share"],
        r["until_exact"]["write_units_per_event"], r["until_exact"]["write_units_per_subscription_change"],
        r["until_exact"]["cancelled_transactions_per_event"],
        r["consumer"]["invocations"], r["consumer"]["records"], r["consumer"]["records_failed_back"],
        r["dead_letters"], exact, r["users_not_checked"],
        r["partition"]["wcu_per_s"], r["partition"]["need_wcu_per_s"],
        r["per_change"]["write_units_committed"], r["per_change"]["write_units_refused"],
        r["throttled_requests"], r["drain_share_of_ceiling"], r["exact_from_start_s"], r["ceiling_bound_s"],
        r["sqs_standin_sends_per_s"], r["load_average"],
    )
}
