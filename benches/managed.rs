//! Lambda Managed Instances (docs/contract.md section 9): one process of the release
//! binary serving `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once, against DynamoDB at a
//! real service latency. `cargo bench --bench managed` (after `cargo build --release`);
//! without `--bench` (as under `cargo test --all-targets`) it does nothing.
//!
//! - A Runtime API emulator that, like Lambda Managed Instances, answers as many
//!   `GET .../invocation/next` at once as there are events waiting (one thread per
//!   connection, blocking sockets).
//! - A delaying TCP proxy in front of the local DynamoDB: every chunk the function sends
//!   waits `MANAGED_LATENCY_MS` (default 15, a transaction's typical service time,
//!   `../shared/spec/aws.md`) before it is forwarded, so each DynamoDB call costs at
//!   least that much, as on the real service, whatever the local DynamoDB does.
//! - For each concurrency in `MANAGED_CONCURRENCY` (default `1,8`): a fresh process,
//!   `MANAGED_WARM` (50) creates not counted, then `MANAGED_EVENTS` (400) creates of
//!   distinct accounts, all queued at once; events/s = events / (first event handed out
//!   to last reply); the process's CPU per event (user + system, 10 ms ticks: a coarse
//!   figure); its peak RSS (`VmHWM`) at the end; every reply must be a 200.
//!
//! Environment: `AWS_ENDPOINT_URL_DYNAMODB` (required), `BENCH_BIN` (default
//! `target/release/oa-webhook`), `BENCH_OUT` (default `target/bench/managed.json`).

#[path = "support/http1.rs"]
mod http1;

use http1::{read_request, respond, HttpRequest};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const APP: &str = "1400000001";
const CREATE: &str = "OfficialAccount.CallbackAfterCreateOfficialAccount";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("managed bench: skipped (run it with `cargo bench --bench managed`)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("managed bench: error: {e}");
        std::process::exit(1);
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn env_num(name: &str, default: u64) -> Result<u64, String> {
    env_or(name, &default.to_string())
        .parse()
        .map_err(|_| format!("{name} must be a whole number"))
}

fn run() -> Result<(), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env_or(
        "BENCH_BIN",
        &root.join("target/release/oa-webhook").to_string_lossy(),
    ));
    let out = PathBuf::from(env_or(
        "BENCH_OUT",
        &root.join("target/bench/managed.json").to_string_lossy(),
    ));
    let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .map_err(|_| "AWS_ENDPOINT_URL_DYNAMODB is not set (the local DynamoDB)".to_owned())?;
    let latency = Duration::from_millis(env_num("MANAGED_LATENCY_MS", 15)?);
    let warm = env_num("MANAGED_WARM", 50)?;
    let events = env_num("MANAGED_EVENTS", 400)?;
    let levels: Vec<u64> = env_or("MANAGED_CONCURRENCY", "1,8")
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .map_err(|_| format!("bad concurrency {c:?}"))
        })
        .collect::<Result<_, _>>()?;
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/after-create-official-account.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let table = format!("managed-{}", std::process::id());
    let admin = aws_sdk_dynamodb::Client::new(
        &rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(&dynamodb)
                // The crate builds the SDK without a default HTTPS client (Cargo.toml).
                .http_client(oa_webhook::clients::sdk::https_client(
                    oa_webhook::clients::sdk::TrustRoots::Amazon,
                ))
                .load(),
        ),
    );
    rt.block_on(tencent_standin::table::create_table(&admin, &table))
        .map_err(|e| format!("create table: {e}"))?;
    let proxy = DelayProxy::start(&dynamodb, latency)?;

    let run_id = format!("{:x}", fastrand::u32(..));
    let mut results = Vec::new();
    for &concurrency in &levels {
        let mut instance = Instance::start(&bin, &proxy.url, &table, concurrency)?;
        let event = |i: u64, phase: &str| {
            let mut e = template.clone();
            e["body"] = Value::String(
                json!({
                    "CallbackCommand": CREATE,
                    "Official_Account": format!("@TOA#_m{run_id}_{concurrency}_{phase}{i}"),
                    "Operator_Account": "107867",
                    "Owner_Account": "107867",
                    "EventTime": 1_670_574_414_123u64
                })
                .to_string(),
            );
            e.to_string().into_bytes()
        };
        instance.batch((0..warm).map(|i| event(i, "w")).collect())?;
        let cpu_before = instance.cpu_ticks();
        let took = instance.batch((0..events).map(|i| event(i, "e")).collect())?;
        let cpu_us_per_event =
            (instance.cpu_ticks() - cpu_before) as f64 * 10_000.0 / events as f64;
        let rss_kb = instance.peak_rss_kb();
        instance.stop();
        let per_sec = events as f64 / took.as_secs_f64();
        println!(
            "AWS_LAMBDA_MAX_CONCURRENCY={concurrency}: {events} creates in {:.2} s: {per_sec:.1} events/s, CPU {cpu_us_per_event:.0} µs per event, peak RSS {:.1} MB",
            took.as_secs_f64(),
            rss_kb as f64 / 1024.0
        );
        results.push(json!({
            "concurrency": concurrency,
            "events": events,
            "seconds": took.as_secs_f64(),
            "events_per_sec": per_sec,
            "cpu_us_per_event": cpu_us_per_event,
            "peak_rss_kb": rss_kb,
        }));
    }
    if let (Some(one), Some(most)) = (results.first(), results.last()) {
        let ratio = most["events_per_sec"].as_f64().unwrap_or(0.0)
            / one["events_per_sec"].as_f64().unwrap_or(1.0);
        println!(
            "events/s at {} in flight / at {}: {ratio:.2}x (DynamoDB latency {} ms)",
            most["concurrency"],
            one["concurrency"],
            latency.as_millis()
        );
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let report = json!({"latency_ms": latency.as_millis() as u64, "runs": results});
    std::fs::write(&out, report.to_string()).map_err(|e| e.to_string())?;
    let _ = rt.block_on(admin.delete_table().table_name(&table).send());
    Ok(())
}

/// A TCP proxy to the local DynamoDB that holds every chunk the client sends for a fixed time.
struct DelayProxy {
    url: String,
}

impl DelayProxy {
    fn start(target: &str, latency: Duration) -> Result<DelayProxy, String> {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                thread::spawn(move || pipe(client, server, latency));
                thread::spawn(move || pipe(s2, c2, Duration::ZERO));
            }
        });
        Ok(DelayProxy {
            url: format!("http://{addr}"),
        })
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !delay.is_zero() {
                    thread::sleep(delay);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

struct Instance {
    child: Child,
    events: Sender<(String, Vec<u8>)>,
    done: Receiver<(String, Option<u64>)>,
    first_out: Arc<Mutex<Option<Instant>>>,
}

impl Instance {
    fn start(
        bin: &PathBuf,
        dynamodb: &str,
        table: &str,
        concurrency: u64,
    ) -> Result<Instance, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let (events_tx, events_rx) = channel::<(String, Vec<u8>)>();
        let (done_tx, done_rx) = channel();
        let first_out = Arc::new(Mutex::new(None));
        let emulator = Arc::new(Emulator {
            events: Mutex::new(events_rx),
            done: Mutex::new(done_tx),
            first_out: first_out.clone(),
        });
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let emulator = emulator.clone();
                thread::spawn(move || emulator.serve(conn));
            }
        });
        let child = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "oa-webhook-managed")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_MAX_CONCURRENCY", concurrency.to_string())
            .env("AWS_LAMBDA_LOG_LEVEL", "warn")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
            .env("TABLE_NAME", table)
            .env("SDKAPPID", APP)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        Ok(Instance {
            child,
            events: events_tx,
            done: done_rx,
            first_out,
        })
    }

    /// Queues every event at once; waits for every reply. The time from the first event
    /// handed out to the last reply.
    fn batch(&mut self, events: Vec<Vec<u8>>) -> Result<Duration, String> {
        *self.first_out.lock().map_err(|_| "poisoned")? = None;
        let n = events.len();
        for (i, body) in events.into_iter().enumerate() {
            let id = format!("{:08x}-{i}", fastrand::u32(..));
            self.events.send((id, body)).map_err(|e| e.to_string())?;
        }
        let mut statuses: HashMap<Option<u64>, usize> = HashMap::new();
        for _ in 0..n {
            let (_, status) = self
                .done
                .recv_timeout(Duration::from_secs(60))
                .map_err(|_| "an invocation stalled".to_owned())?;
            *statuses.entry(status).or_default() += 1;
        }
        let end = Instant::now();
        if statuses.get(&Some(200)) != Some(&n) {
            return Err(format!("replies other than 200: {statuses:?}"));
        }
        let start = self
            .first_out
            .lock()
            .map_err(|_| "poisoned")?
            .ok_or("no event handed out")?;
        Ok(end - start)
    }

    /// The process's user + system CPU time, in clock ticks (1/100 s on Linux).
    fn cpu_ticks(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1;
                let f: Vec<&str> = after.split_whitespace().collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0)
    }

    fn peak_rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Emulator {
    events: Mutex<Receiver<(String, Vec<u8>)>>,
    done: Mutex<Sender<(String, Option<u64>)>>,
    first_out: Arc<Mutex<Option<Instant>>>,
}

impl Emulator {
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_nodelay(true);
        let Ok(mut writer) = conn.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(conn);
        while let Some(HttpRequest { method, path, body }) = read_request(&mut reader) {
            let ok = if method == "GET" && path.ends_with("/runtime/invocation/next") {
                self.next(&mut writer)
            } else if method == "POST" && path.contains("/runtime/invocation/") {
                let id = path.rsplit('/').nth(1).unwrap_or("").to_owned();
                let status = if path.ends_with("/response") {
                    serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["statusCode"].as_u64())
                } else {
                    eprintln!("invocation error: {}", String::from_utf8_lossy(&body));
                    None
                };
                if let Ok(done) = self.done.lock() {
                    let _ = done.send((id, status));
                }
                respond(&mut writer, "202 Accepted", &[], b"{\"status\":\"OK\"}")
            } else if method == "POST" && path.ends_with("/runtime/init/error") {
                eprintln!("init error: {}", String::from_utf8_lossy(&body));
                respond(&mut writer, "202 Accepted", &[], b"{\"status\":\"OK\"}")
            } else {
                respond(&mut writer, "404 Not Found", &[], b"{}")
            };
            if !ok {
                return;
            }
        }
    }

    fn next(&self, w: &mut TcpStream) -> bool {
        let received = match self.events.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return false,
        };
        let Ok((id, body)) = received else {
            return false;
        };
        if let Ok(mut first) = self.first_out.lock() {
            first.get_or_insert_with(Instant::now);
        }
        let deadline = (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
            + 3000)
            .to_string();
        let headers = [
            ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
            ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:oa-webhook-managed",
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            ),
        ];
        respond(w, "200 OK", &headers, &body)
    }
}
