//! End to end: the release binary, driven the way Lambda drives it, against the local
//! DynamoDB (moto). `make bench` (benches/run.sh) runs it with `cargo bench --bench lambda`, once for
//! the function and once for the floor (examples/floor.rs); `make bench-ab`
//! (benches/ab.sh) runs it for two revisions and the floor. Without `--bench` (as under
//! `cargo test --all-targets`) it does nothing.
//!
//! A small Lambda Runtime API emulator (plain threads and blocking sockets, so that it
//! adds as little as possible to what it measures) serves `GET .../invocation/next` and
//! takes `POST .../invocation/{id}/response`, one invocation in flight per function
//! instance, as Lambda does. The latency of an invocation is the time from the emulator
//! writing the event to it reading the complete response.
//!
//! Environment:
//! - `AWS_ENDPOINT_URL_DYNAMODB` (required): the local DynamoDB (moto).
//! - `BENCH_BIN`: the binary (default `target/release/oa-webhook`).
//! - `BENCH_FLOOR=1`: the binary is the floor (examples/floor.rs), which writes a profile
//!   item keyed by the request id for every event and logs nothing: the final check looks
//!   for the last create's item instead of a subscriber count, and the DynamoDB requests
//!   per event (read from the request lines) are reported as unknown.
//! - `BENCH_IN_PROCESS` (`1`, `0` with `BENCH_FLOOR=1`): `0` skips the driver's own
//!   measurements (the local DynamoDB warm-up, bare GetItems, `doors::http::answer` in-process); their
//!   figures are then null.
//! - `BENCH_OUT`: where the JSON results go (default `target/bench/lambda.json`).
//! - `BENCH_TABLE` (default `oa-bench`), `BENCH_LOG_LEVEL` (`AWS_LAMBDA_LOG_LEVEL` of the
//!   function, default `info`, as deployed).
//! - Sizes: `BENCH_COLD_RUNS` (10), `BENCH_CREATES` (3000), `BENCH_ADD100` (400),
//!   `BENCH_TOTAL` (10000: events per instance in all, the rest a mix of creates and
//!   adds of 2), `BENCH_BARE` (2000), `BENCH_INSTANCES` (`1,4`; empty: cold starts only).
//! - `BENCH_CHILD_ENV`: more environment for the function, as `K=V` words (e.g.
//!   `TLS_TRUST_STORE=system` to measure the platform trust store; the default here is
//!   `amazon`, the deployed one).

use aws_sdk_dynamodb::types::AttributeValue;
#[path = "support/http1.rs"]
mod http1;

use http1::{read_request, respond, HttpRequest};
use oa_webhook::app::App;
use oa_webhook::clients;
use oa_webhook::clients::sdk::{AwsSettings, TrustRoots};
use oa_webhook::config::Config;
use oa_webhook::doors::http::{self, Request as WebhookRequest};
use oa_webhook::doors::Shape;
use oa_webhook::store::{schema, Store};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const APP: &str = "1400000001";
const CREATE: &str = "OfficialAccount.CallbackAfterCreateOfficialAccount";
const ADD: &str = "OfficialAccount.CallbackAfterAddSubscriber";
/// Longest an invocation may take before the run is declared broken.
const STALL: Duration = Duration::from_secs(30);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "lambda bench: skipped (run it with `cargo bench --bench lambda`, or `make bench`)"
        );
        return;
    }
    if let Err(e) = run() {
        eprintln!("lambda bench: error: {e}");
        std::process::exit(1);
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn env_num(name: &str, default: usize) -> usize {
    env_or(name, &default.to_string())
        .parse()
        .unwrap_or_else(|_| panic!("{name} must be a whole number"))
}

struct Settings {
    bin: PathBuf,
    out: PathBuf,
    endpoint: String,
    table: String,
    log_level: String,
    cold_runs: usize,
    creates: usize,
    add100: usize,
    total: usize,
    bare: usize,
    instances: Vec<usize>,
    /// Unique per run, so that account ids never collide with an earlier run's.
    run_id: String,
    /// More environment for the function (`BENCH_CHILD_ENV`: `K=V` words).
    child_env: Vec<(String, String)>,
    /// The binary is the floor (`BENCH_FLOOR=1`).
    floor: bool,
    /// The driver's own measurements (`BENCH_IN_PROCESS`).
    in_process: bool,
}

fn run() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let floor = env_or("BENCH_FLOOR", "0") == "1";
    let s = Settings {
        floor,
        in_process: env_or("BENCH_IN_PROCESS", if floor { "0" } else { "1" }) == "1",
        bin: PathBuf::from(env_or(
            "BENCH_BIN",
            &root.join("target/release/oa-webhook").to_string_lossy(),
        )),
        out: PathBuf::from(env_or(
            "BENCH_OUT",
            &root.join("target/bench/lambda.json").to_string_lossy(),
        )),
        endpoint: std::env::var("AWS_ENDPOINT_URL_DYNAMODB").map_err(|_| {
            "AWS_ENDPOINT_URL_DYNAMODB is not set (make bench starts the local DynamoDB)"
        })?,
        table: env_or("BENCH_TABLE", "oa-bench"),
        log_level: env_or("BENCH_LOG_LEVEL", "info"),
        cold_runs: env_num("BENCH_COLD_RUNS", 10),
        creates: env_num("BENCH_CREATES", 3000),
        add100: env_num("BENCH_ADD100", 400),
        total: env_num("BENCH_TOTAL", 10_000),
        bare: env_num("BENCH_BARE", 2000),
        instances: env_or("BENCH_INSTANCES", "1,4")
            .split(',')
            .filter(|n| !n.trim().is_empty() && n.trim() != "0")
            .map(|n| {
                n.trim()
                    .parse()
                    .map_err(|_| "BENCH_INSTANCES: numbers, comma-separated")
            })
            .collect::<Result<_, _>>()?,
        child_env: env_or("BENCH_CHILD_ENV", "")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        run_id: format!(
            "{:x}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        ),
    };
    if !s.bin.is_file() {
        return Err(format!(
            "{} not found: build it with cargo build --release",
            s.bin.display()
        ));
    }
    let started = Instant::now();
    let templates = Templates::load(&root)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    // The SDK as the function configures it (main.rs: AwsSettings, then client_from), with
    // the trust store it has when deployed (see the child's TLS_TRUST_STORE).
    let mut aws = AwsSettings::from_env().map_err(|e| e.to_string())?;
    aws.roots = TrustRoots::Amazon;
    let sdk = aws.sdk_config();
    let client = clients::webhook_dynamodb(&sdk);
    rt.block_on(tencent_standin::table::create_table(
        &aws_sdk_dynamodb::Client::new(&sdk),
        &s.table,
    ))
    .map_err(|e| e.to_string())?;
    eprintln!("lambda bench: table {} ready at {}", s.table, s.endpoint);

    // In-process: the local DynamoDB warms up, then the references the binary is
    // compared with (a bare round trip, the same handler without the Lambda runtime).
    let store = Store::new(client.clone(), s.table.clone());
    let app = App::new(
        Config {
            table_name: s.table.clone(),
            sdk_app_ids: vec![APP.to_owned()],
            callback_token: None,
            ..Config::default()
        },
        store.clone(),
    )
    .with_clock(oa_webhook::clock::Clock::at_ms(0));
    let warm: Vec<Vec<u8>> = (0..600)
        .map(|i| match i % 3 {
            0 => templates.create(&format!("{}_w{i}", s.run_id)),
            1 => templates.add(&format!("{}_w{}", s.run_id, i - 1), 0, 100),
            _ => templates.add(&format!("{}_w{}", s.run_id, i - 2), 100, 2),
        })
        .collect();
    let mut handle_future_bytes = None;
    let (mut bare_before, mut ip_create, mut ip_add100) = (None, None, None);
    if s.in_process {
        // The first calls to a fresh local DynamoDB can outlast the budget: not counted.
        in_process(&rt, &app, &warm, false)?;
        // How big the handler's future is: lambda_runtime moves it (memcpy) several
        // times per invocation.
        handle_future_bytes = {
            let event = http_request(&warm[0])?;
            Some(std::mem::size_of_val(&http::answer(
                &app,
                event,
                Duration::from_secs(1),
            )))
        };
        let bare = bare_round_trips(&rt, &client, &s.table, s.bare)?;
        let creates: Vec<Vec<u8>> = (0..s.bare)
            .map(|i| templates.create(&format!("{}_ip{i}", s.run_id)))
            .collect();
        let create = in_process(&rt, &app, &creates, true)?;
        let adds: Vec<Vec<u8>> = (0..s.bare / 10)
            .map(|i| templates.add(&format!("{}_ip{i}", s.run_id), 0, 100))
            .collect();
        let add100 = in_process(&rt, &app, &adds, true)?;
        eprintln!(
            "lambda bench: bare GetItem p50 {:.3} ms; in-process handle: create p50 {:.3} ms, add100 p50 {:.3} ms",
            bare.p50_ms, create.p50_ms, add100.p50_ms
        );
        (bare_before, ip_create, ip_add100) = (Some(bare), Some(create), Some(add100));
    }

    // Cold starts, one process at a time.
    let mut cold = Vec::new();
    for i in 0..s.cold_runs {
        let mut inst = Instance::start(&s, &format!("cold{i}"))?;
        let first = templates.create(&format!("{}_cold{i}", s.run_id));
        check(&inst.invoke(first)?)?;
        cold.push((inst.ready_ms, inst.first_reply_ms));
        inst.stop();
    }
    let cold_json = json!({
        "runs": s.cold_runs,
        "ready_ms": summary(cold.iter().map(|c| c.0).collect()),
        "first_reply_ms": summary(cold.iter().filter_map(|c| c.1).collect()),
    });
    eprintln!("lambda bench: cold starts {cold_json}");

    // Warm runs: 1 instance, then N at once.
    let mut runs = Vec::new();
    for &n in &s.instances {
        let t = Instant::now();
        let results: Vec<Result<Value, String>> = thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|k| {
                    let (s, templates) = (&s, &templates);
                    scope.spawn(move || warm_run(s, templates, &format!("n{n}i{k}")))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("instance thread panicked".into()))
                })
                .collect()
        });
        let results = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        eprintln!(
            "lambda bench: {n} instance(s) done in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        runs.push(json!({ "instances": n, "per_instance": results }));
    }

    // Did the writes land? One account of the last run's add100 phase must count 100;
    // the floor's last create must be in the table.
    if s.floor {
        let last = runs
            .last()
            .and_then(|r| r["per_instance"][0]["last_create_request_id"].as_str());
        if let Some(id) = last {
            rt.block_on(store.account(APP, &format!("@TOA#_{id}")))
                .map_err(|e| e.to_string())?
                .ok_or("sanity check: the floor's last create is not in the table")?;
        }
    } else if let Some(&n) = s.instances.last().filter(|_| s.add100 > 0) {
        check_landed(&rt, &store, &format!("{}_n{n}i0_c0", s.run_id))?;
    }

    let bare_after = if s.in_process {
        Some(bare_round_trips(&rt, &client, &s.table, s.bare)?)
    } else {
        None
    };
    let stats_json = |x: &Option<Stats>| x.as_ref().map_or(Value::Null, Stats::json);
    let out = json!({
        "binary": s.bin,
        "binary_bytes": std::fs::metadata(&s.bin).map(|m| m.len()).unwrap_or(0),
        "log_level": s.log_level,
        "floor": s.floor,
        "child_env": s.child_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "handle_future_bytes": handle_future_bytes,
        "settings": {"creates": s.creates, "add100": s.add100, "total": s.total, "bare": s.bare},
        "bare_getitem_before": stats_json(&bare_before),
        "bare_getitem_after": stats_json(&bare_after),
        "in_process_create": stats_json(&ip_create),
        "in_process_add100": stats_json(&ip_add100),
        "cold": cold_json,
        "runs": runs,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let Some(dir) = s.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        &s.out,
        serde_json::to_string_pretty(&out).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", s.out.display()))?;
    eprintln!(
        "lambda bench: wrote {} ({:.0} s)",
        s.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The account `@TOA#_{tag}` must exist with 100 subscribers.
fn check_landed(rt: &tokio::runtime::Runtime, store: &Store, tag: &str) -> Result<(), String> {
    let item = rt
        .block_on(store.account(APP, &format!("@TOA#_{tag}")))
        .map_err(|e| e.to_string())?
        .ok_or("sanity check: an account created by the binary is not in the table")?;
    let count = item.get("subscriber_count").cloned();
    if count != Some(AttributeValue::N("100".into())) {
        return Err(format!(
            "sanity check: subscriber_count is {count:?}, expected 100"
        ));
    }
    Ok(())
}

/// The sample events, with the body swapped per invocation.
struct Templates {
    create: Value,
    add: Value,
}

impl Templates {
    fn load(root: &std::path::Path) -> Result<Templates, String> {
        let read = |name: &str| -> Result<Value, String> {
            let path = root.join("events").join(name);
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
        };
        Ok(Templates {
            create: read("after-create-official-account.json")?,
            add: read("after-add-subscriber.json")?,
        })
    }

    fn with_body(template: &Value, body: Value) -> Vec<u8> {
        let mut ev = template.clone();
        ev["body"] = Value::String(body.to_string());
        serde_json::to_vec(&ev).unwrap_or_default()
    }

    /// A create of account `@TOA#_{tag}`.
    fn create(&self, tag: &str) -> Vec<u8> {
        Templates::with_body(
            &self.create,
            json!({
                "CallbackCommand": CREATE,
                "Official_Account": format!("@TOA#_{tag}"),
                "Operator_Account": "107867",
                "Owner_Account": "107867",
                "Name": "TestOfficialAccount",
                "EventTime": 1_670_574_414_123u64
            }),
        )
    }

    /// An add of subscribers `u{first}` .. `u{first+n-1}` to account `@TOA#_{tag}`.
    fn add(&self, tag: &str, first: usize, n: usize) -> Vec<u8> {
        let list: Vec<Value> = (first..first + n)
            .map(|i| json!({ "Subscriber_Account": format!("u{i}") }))
            .collect();
        Templates::with_body(
            &self.add,
            json!({
                "CallbackCommand": ADD,
                "Official_Account": format!("@TOA#_{tag}"),
                "Operator_Account": "107867",
                "SubscribeAccountList": list,
                "EventTime": 1_670_574_414_123u64
            }),
        )
    }
}

/// Latencies, summarised.
struct Stats {
    n: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    /// CPU time of the measuring thread per event, where measured.
    cpu_us_per_event: Option<f64>,
}

impl Stats {
    fn of(mut v: Vec<Duration>) -> Stats {
        v.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let pct = |p: f64| {
            if v.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            ms(v[rank - 1])
        };
        Stats {
            n: v.len(),
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: v.last().map_or(0.0, |d| ms(*d)),
            mean_ms: if v.is_empty() {
                0.0
            } else {
                v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64
            },
            cpu_us_per_event: None,
        }
    }

    fn json(&self) -> Value {
        json!({"n": self.n, "p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms,
               "max_ms": self.max_ms, "mean_ms": self.mean_ms,
               "cpu_us_per_event": self.cpu_us_per_event})
    }
}

fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Value::Null;
    }
    json!({"median": v[v.len() / 2], "min": v[0], "max": v[v.len() - 1], "n": v.len()})
}

/// GetItem of a missing key, strongly consistent, with the function's client: the
/// smallest DynamoDB round trip the function can make.
fn bare_round_trips(
    rt: &tokio::runtime::Runtime,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    n: usize,
) -> Result<Stats, String> {
    rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for i in 0..n + n / 10 {
            let t = Instant::now();
            client
                .get_item()
                .table_name(table)
                .key(
                    schema::PK,
                    AttributeValue::S(format!("OA#{APP}#@TOA#_missing{i}")),
                )
                .key(schema::SK, AttributeValue::S(schema::PROFILE_SK.to_owned()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| format!("bare GetItem: {}", oa_webhook::clients::describe(&e)))?;
            if i >= n / 10 {
                v.push(t.elapsed());
            }
        }
        Ok(Stats::of(v))
    })
}

/// The event as the Lambda door reads it.
fn http_request(json: &[u8]) -> Result<WebhookRequest, String> {
    let json = std::str::from_utf8(json).map_err(|e| e.to_string())?;
    let Shape::Http(payload) = Shape::of(json) else {
        return Err("not an HTTP event".to_owned());
    };
    http::read(json, payload)
        .map(WebhookRequest::from)
        .map_err(|e| e.to_string())
}

/// `doors::http::answer` in this process, on the same local DynamoDB, for each event.
fn in_process(
    rt: &tokio::runtime::Runtime,
    app: &App,
    events: &[Vec<u8>],
    strict: bool,
) -> Result<Stats, String> {
    rt.block_on(async {
        let mut v = Vec::with_capacity(events.len());
        // This thread's CPU: the whole handler with real HTTP, without the Lambda runtime.
        let cpu0 = cpu_time("/proc/thread-self/stat");
        for ev in events {
            let event = http_request(ev)?;
            let t = Instant::now();
            let r = http::answer(app, event, Duration::from_millis(1400)).await;
            v.push(t.elapsed());
            if strict && r.status() != 200 {
                return Err(format!(
                    "in-process handle: {} {:?}",
                    r.status(),
                    r.0.body()
                ));
            }
        }
        let cpu = cpu_time("/proc/thread-self/stat").saturating_sub(cpu0);
        let mut stats = Stats::of(v);
        stats.cpu_us_per_event = Some(ms(cpu) * 1e3 / events.len().max(1) as f64);
        Ok(stats)
    })
}

/// One function instance: the binary as a child process and its Runtime API emulator.
struct Instance {
    child: Child,
    pid: u32,
    events: Sender<Invocation>,
    done: Receiver<Completion>,
    ready_ms: f64,
    first_reply_ms: Option<f64>,
    spawned: Instant,
    stderr_tail: Arc<Mutex<Vec<String>>>,
    log_lines: Arc<AtomicUsize>,
    /// Sum of `ddb_requests` over the function's request log lines.
    ddb_requests: Arc<AtomicUsize>,
    invocations: u64,
    /// The request id of the last invocation.
    last_id: String,
}

struct Invocation {
    id: String,
    body: Vec<u8>,
}

struct Completion {
    id: String,
    latency: Duration,
    status: Option<u64>,
    error: Option<String>,
}

impl Instance {
    /// Starts the binary and waits for its first `GET /next`.
    fn start(s: &Settings, name: &str) -> Result<Instance, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (events_tx, events_rx) = channel::<Invocation>();
        let (done_tx, done_rx) = channel::<Completion>();
        let (ready_tx, ready_rx) = channel::<Instant>();
        let shared = Arc::new(Emulator {
            events: Mutex::new(events_rx),
            done: Mutex::new(done_tx),
            sent: Mutex::new(HashMap::new()),
            ready: Mutex::new(Some(ready_tx)),
        });
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.serve(conn));
            }
        });

        let spawned = Instant::now();
        let mut child = Command::new(&s.bin)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "oa-webhook-bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/oa-webhook-bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("bench/{name}"))
            .env("AWS_LAMBDA_LOG_LEVEL", &s.log_level)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test")
            .env("AWS_ENDPOINT_URL_DYNAMODB", &s.endpoint)
            // The trust store of a deployment (no endpoint override there); the override
            // here would otherwise select the system store (clients/sdk.rs).
            .env("TLS_TRUST_STORE", "amazon")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TABLE_NAME", &s.table)
            .env("SDKAPPID", APP)
            .envs(s.child_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", s.bin.display()))?;
        let pid = child.id();
        // Drain the log (as Lambda's log collector does) and keep stderr's tail.
        let log_lines = Arc::new(AtomicUsize::new(0));
        let ddb_requests = Arc::new(AtomicUsize::new(0));
        if let Some(out) = child.stdout.take() {
            let (lines, requests) = (Arc::clone(&log_lines), Arc::clone(&ddb_requests));
            thread::spawn(move || {
                for line in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                    lines.fetch_add(1, Ordering::Relaxed);
                    if line.windows(12).any(|w| w == b"ddb_requests") {
                        let v: Value = serde_json::from_slice(&line).unwrap_or_default();
                        let n = v["ddb_requests"].as_u64().unwrap_or(0);
                        requests.fetch_add(usize::try_from(n).unwrap_or(0), Ordering::Relaxed);
                    }
                }
            });
        }
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let tail = Arc::clone(&stderr_tail);
            thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    t.push(line);
                    if t.len() > 20 {
                        t.remove(0);
                    }
                }
            });
        }
        let mut inst = Instance {
            child,
            pid,
            events: events_tx,
            done: done_rx,
            ready_ms: 0.0,
            first_reply_ms: None,
            spawned,
            stderr_tail,
            log_lines,
            ddb_requests,
            invocations: 0,
            last_id: String::new(),
        };
        match ready_rx.recv_timeout(STALL) {
            Ok(at) => inst.ready_ms = ms(at - spawned),
            Err(_) => {
                let why = inst.why();
                inst.stop();
                return Err(format!("{name}: no GET /next within {STALL:?}{why}"));
            }
        }
        Ok(inst)
    }

    fn why(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(st)) => format!("; exited: {st}"),
            _ => String::new(),
        };
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.join("\n"))
            .unwrap_or_default();
        format!("{status}; stderr:\n{tail}")
    }

    /// Sends one event and waits for its response.
    fn invoke(&mut self, body: Vec<u8>) -> Result<Completion, String> {
        self.invocations += 1;
        let id = format!(
            "{:08x}-bench-{}-{}",
            self.pid,
            self.invocations,
            fastrand::u32(..)
        );
        self.events
            .send(Invocation {
                id: id.clone(),
                body,
            })
            .map_err(|_| "emulator gone".to_owned())?;
        self.last_id.clone_from(&id);
        let c = match self.done.recv_timeout(STALL) {
            Ok(c) => c,
            Err(_) => return Err(format!("no response within {STALL:?}{}", self.why())),
        };
        if self.first_reply_ms.is_none() {
            self.first_reply_ms = Some(ms(self.spawned.elapsed()));
        }
        if c.id != id {
            return Err(format!("response for {} while waiting for {id}", c.id));
        }
        Ok(c)
    }

    /// SIGTERM (so that a profiler wrapping the binary can write its output), then
    /// SIGKILL after 10 s.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time (utime + stime) from a `stat` file: `/proc/<pid>/stat` counts all of a
/// process's threads, dead ones too; `/proc/thread-self/stat` the calling thread.
fn cpu_time(path: &str) -> Duration {
    let (user, sys) = cpu_split(path);
    user + sys
}

/// (utime, stime) from a `stat` file.
fn cpu_split(path: &str) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15, i.e. 12 and 13 after the name and state;
    // in ticks of USER_HZ, which is 100 on Linux whatever the kernel's HZ.
    let tick = |i: usize| Duration::from_millis(f.get(i).copied().unwrap_or(0) * 10);
    (tick(11), tick(12))
}

/// A `/proc/<pid>/status` value in kB (VmHWM, VmRSS) or a count (Threads).
fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One instance through its phases: first reply (a create), warm-up, creates, adds of
/// 100, then a mix of creates and adds of 2 up to `total` events.
fn warm_run(s: &Settings, t: &Templates, name: &str) -> Result<Value, String> {
    let mut inst = Instance::start(s, name)?;
    let tag = |kind: &str, i: usize| format!("{}_{name}_{kind}{i}", s.run_id);
    let result = (|| {
        let first = inst.invoke(t.create(&tag("first", 0)))?;
        check(&first)?;
        let mut phases = Vec::new();
        let mut count = 1;
        let warmup: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                if i % 2 == 0 {
                    t.create(&tag("w", i))
                } else {
                    t.add(&tag("w", i - 1), 0, 2)
                }
            })
            .collect();
        phase(&mut inst, "warmup", warmup)?;
        count += 200;
        let creates: Vec<Vec<u8>> = (0..s.creates).map(|i| t.create(&tag("c", i))).collect();
        phases.push(phase(&mut inst, "create", creates)?);
        count += s.creates;
        let last_create = inst.last_id.clone();
        let adds: Vec<Vec<u8>> = (0..s.add100.min(s.creates))
            .map(|i| t.add(&tag("c", i), 0, 100))
            .collect();
        count += adds.len();
        phases.push(phase(&mut inst, "add100", adds)?);
        let rest = s.total.saturating_sub(count);
        let mix: Vec<Vec<u8>> = (0..rest)
            .map(|i| {
                if i % 2 == 0 {
                    t.create(&tag("m", i))
                } else {
                    t.add(&tag("m", i - 1), 0, 2)
                }
            })
            .collect();
        phases.push(phase(&mut inst, "mix", mix)?);
        count += rest;
        Ok::<_, String>((phases, count, last_create))
    })();
    let (phases, count, last_create) = match result {
        Ok(r) => r,
        Err(e) => {
            let why = inst.why();
            inst.stop();
            return Err(format!("{name}: {e}{why}"));
        }
    };
    let out = json!({
        "name": name,
        "ready_ms": inst.ready_ms,
        "first_reply_ms": inst.first_reply_ms,
        "events": count,
        "phases": phases,
        "vmhwm_kb": proc_status(inst.pid, "VmHWM"),
        "vmrss_kb": proc_status(inst.pid, "VmRSS"),
        "threads": proc_status(inst.pid, "Threads"),
        "cpu_total_ms": ms(cpu_time(&format!("/proc/{}/stat", inst.pid))),
        "log_lines": inst.log_lines.load(Ordering::Relaxed),
        "last_create_request_id": last_create,
    });
    inst.stop();
    Ok(out)
}

fn check(c: &Completion) -> Result<(), String> {
    if let Some(e) = &c.error {
        return Err(format!("invocation error: {e}"));
    }
    if c.status != Some(200) {
        return Err(format!("statusCode {:?}", c.status));
    }
    Ok(())
}

fn phase(inst: &mut Instance, name: &str, events: Vec<Vec<u8>>) -> Result<Value, String> {
    let n = events.len();
    let stat = format!("/proc/{}/stat", inst.pid);
    let (user0, sys0) = cpu_split(&stat);
    let requests0 = inst.ddb_requests.load(Ordering::Relaxed);
    let lines0 = inst.log_lines.load(Ordering::Relaxed);
    let wall = Instant::now();
    let mut lat = Vec::with_capacity(n);
    let mut failed = 0;
    for ev in events {
        let c = inst.invoke(ev)?;
        if check(&c).is_err() {
            failed += 1;
        }
        lat.push(c.latency);
    }
    let wall = wall.elapsed();
    let (user1, sys1) = cpu_split(&stat);
    let (user, sys) = (user1.saturating_sub(user0), sys1.saturating_sub(sys0));
    let cpu = user + sys;
    let stats = Stats::of(lat);
    let mut v = stats.json();
    let per = |d: Duration| ms(d) * 1e3 / n.max(1) as f64;
    // The log is read by another thread: let it catch up with the last response.
    thread::sleep(Duration::from_millis(20));
    let count = |a: &AtomicUsize, from: usize| {
        (a.load(Ordering::Relaxed).saturating_sub(from)) as f64 / n.max(1) as f64
    };
    // Read from the request lines: unknown for a binary that logs nothing (the floor).
    v["ddb_requests_per_event"] = if inst.log_lines.load(Ordering::Relaxed) > lines0 {
        json!(count(&inst.ddb_requests, requests0))
    } else {
        Value::Null
    };
    v["log_lines_per_event"] = json!(count(&inst.log_lines, lines0));
    v["cpu_user_us_per_event"] = json!(per(user));
    v["cpu_sys_us_per_event"] = json!(per(sys));
    v["name"] = json!(name);
    v["failed"] = json!(failed);
    v["cpu_ms"] = json!(ms(cpu));
    v["cpu_us_per_event"] = json!(if n == 0 {
        0.0
    } else {
        ms(cpu) * 1e3 / n as f64
    });
    v["wall_s"] = json!(wall.as_secs_f64());
    if failed > 0 {
        return Err(format!(
            "phase {name}: {failed} of {n} invocations did not answer 200"
        ));
    }
    Ok(v)
}

/// The Runtime API side of one instance.
struct Emulator {
    events: Mutex<Receiver<Invocation>>,
    done: Mutex<Sender<Completion>>,
    /// When each invocation's event was written, by request id.
    sent: Mutex<HashMap<String, Instant>>,
    ready: Mutex<Option<Sender<Instant>>>,
}

impl Emulator {
    /// One connection of the function's Runtime API client (HTTP/1.1, keep-alive).
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_nodelay(true);
        let Ok(write_half) = conn.try_clone() else {
            return;
        };
        let mut writer = write_half;
        let mut reader = BufReader::new(conn);
        while let Some(req) = read_request(&mut reader) {
            let ok = if req.method == "GET" && req.path.ends_with("/runtime/invocation/next") {
                self.next(&mut writer)
            } else if req.method == "POST" && req.path.contains("/runtime/invocation/") {
                self.completed(&req);
                respond(&mut writer, "202 Accepted", &[], b"{\"status\":\"OK\"}")
            } else if req.method == "POST" && req.path.ends_with("/runtime/init/error") {
                let _ = self.finish(
                    "init".into(),
                    Duration::ZERO,
                    None,
                    Some(String::from_utf8_lossy(&req.body).into_owned()),
                );
                respond(&mut writer, "202 Accepted", &[], b"{\"status\":\"OK\"}")
            } else {
                respond(&mut writer, "404 Not Found", &[], b"{}")
            };
            if !ok {
                return;
            }
        }
    }

    /// `GET /next`: blocks until the driver has an event, as Lambda does between invokes.
    fn next(&self, w: &mut TcpStream) -> bool {
        if let Some(tx) = self.ready.lock().ok().and_then(|mut r| r.take()) {
            let _ = tx.send(Instant::now());
        }
        let inv = match self.events.lock() {
            Ok(rx) => match rx.recv() {
                Ok(inv) => inv,
                Err(_) => return false,
            },
            Err(_) => return false,
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let deadline = (now_ms + 3000).to_string();
        let trace = format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0;Lineage=1:0cc2e6f5:0",
            now_ms / 1000,
            fastrand::u128(..) >> 32,
            fastrand::u64(..)
        );
        let headers = [
            ("Lambda-Runtime-Aws-Request-Id", inv.id.as_str()),
            ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:oa-webhook-bench",
            ),
            ("Lambda-Runtime-Trace-Id", trace.as_str()),
        ];
        if let Ok(mut sent) = self.sent.lock() {
            sent.insert(inv.id.clone(), Instant::now());
        }
        respond(w, "200 OK", &headers, &inv.body)
    }

    /// `POST /invocation/{id}/response` or `/error`.
    fn completed(&self, req: &HttpRequest) {
        let at = Instant::now();
        let mut parts = req.path.rsplitn(3, '/');
        let kind = parts.next().unwrap_or("");
        let id = parts.next().unwrap_or("").to_owned();
        let latency = self
            .sent
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&id))
            .map_or(Duration::ZERO, |t| at - t);
        let (status, error) = if kind == "response" {
            let v: Option<Value> = serde_json::from_slice(&req.body).ok();
            (v.and_then(|v| v["statusCode"].as_u64()), None)
        } else {
            (None, Some(String::from_utf8_lossy(&req.body).into_owned()))
        };
        let _ = self.finish(id, latency, status, error);
    }

    fn finish(
        &self,
        id: String,
        latency: Duration,
        status: Option<u64>,
        error: Option<String>,
    ) -> Option<()> {
        self.done
            .lock()
            .ok()?
            .send(Completion {
                id,
                latency,
                status,
                error,
            })
            .ok()
    }
}
