//! The sync bench: one account with 10 000 subscribers and 200 messages, synced
//! into an empty table against the REST stand-in and the local DynamoDB; wall time, REST calls,
//! DynamoDB requests, CPU. Then a second sync of the same account (nothing missing).
//!
//! ```sh
//! make ddb-start; source scripts/ddb-env.sh; use_ddb_local <endpoint>
//! cargo build --release --examples
//! target/release/examples/sync_bench [SUBSCRIBERS] [MESSAGES]
//! ```
//!
//! The stand-in runs as its own process (`tencent_standin`, next to this binary), so the CPU
//! figure is the sync's alone (the SDK, hyper, our code), read from `/proc/self/stat`.
//! Target on the project's 2-core VM: at most 30 s.

use aws_sdk_dynamodb::config::Intercept;
use oa_webhook::clients;
use oa_webhook::clients::sdk::AwsSettings;
use oa_webhook::store::Store;
use oa_webhook::sync::{run_sync, SyncOptions};
use oa_webhook::tencent::rest::{RestClient, RestSettings, TencentConfig};
use oa_webhook::tencent::usersig::SecretKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tencent_standin::{StandinAccount, Truth};
use tokio::time::Instant;

const APP: &str = "1400000001";
const OA: &str = "@TOA#_bench";
const KEY: &str = "bench-secret-key";

#[derive(Debug, Default, Clone)]
struct Counter(Arc<AtomicU64>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "Counter"
    }
    fn read_before_attempt(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// User + system CPU of this process, ms.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name; clock ticks
    // of 10 ms on Linux.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10
}

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let subscribers = arg(1, 10_000);
    let messages = arg(2, 200);

    // The truth: distinct SubscribeTimes (one second apart: the worst case, one event
    // per subscriber), a message every minute, every tenth recalled.
    let mut account = StandinAccount {
        name: Some("Bench".into()),
        owner_account: Some("owner".into()),
        create_time: 1_600_000_000,
        ..StandinAccount::default()
    };
    for i in 0..subscribers {
        account
            .subscribers
            .insert(format!("user{i:06}"), 1_600_000_100 + i);
    }
    for i in 0..messages {
        let key = account.send(
            1_650_000_000 + i * 60,
            serde_json::json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("broadcast {i}")}}]),
        );
        if i % 10 == 9 {
            account.recall(&key);
        }
    }
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), account);
    let file = std::env::temp_dir().join(format!("sync-bench-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&truth).expect("json")).expect("write truth");

    // The stand-in, as its own process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let standin_bin = std::env::current_exe()
        .expect("exe")
        .with_file_name("tencent_standin");
    let mut standin = std::process::Command::new(&standin_bin)
        .arg(&file)
        .env("STANDIN_ADDR", format!("127.0.0.1:{port}"))
        .env("SDKAPPID", APP)
        .env("TENCENT_ADMIN_IDENTIFIER", "administrator")
        .env("TENCENT_SECRET_KEY", KEY)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo build --examples)", standin_bin.display()));
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let aws = AwsSettings::from_env().expect("AWS settings (use_ddb_local <endpoint>)");
    let base = clients::webhook_dynamodb(&aws.sdk_config());
    let table = format!("sync-bench-{}", std::process::id());
    tencent_standin::table::create_table(&aws_sdk_dynamodb::Client::new(&aws.sdk_config()), &table)
        .await
        .expect("create the table in the local DynamoDB");
    let requests = Counter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        base.config()
            .to_builder()
            .interceptor(requests.clone())
            .build(),
    );
    let store = Store::new(client, table.clone());
    let rest = RestClient::new(
        &TencentConfig {
            base_url: format!("http://127.0.0.1:{port}"),
            admin: "administrator".into(),
            key: SecretKey::new(KEY),
        },
        APP.parse().expect("digits"),
        RestSettings::default(),
    );
    let options = SyncOptions {
        concurrency: std::env::var("SYNC_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(SyncOptions::default().concurrency),
        ..SyncOptions::default()
    };

    println!(
        "sync bench: 1 account, {subscribers} subscribers, {messages} messages; table {table}"
    );
    println!("| run | wall (s) | REST calls | DynamoDB requests | CPU (s) | found missing | count matches |");
    println!("|---|---|---|---|---|---|---|");
    for run in ["backfill (empty table)", "second sync (nothing missing)"] {
        let (cpu0, req0) = (cpu_ms(), requests.0.load(Ordering::Relaxed));
        let t0 = Instant::now();
        let r = run_sync(
            &store,
            &rest,
            APP,
            &[OA.to_owned()],
            Instant::now() + Duration::from_secs(900),
            &options,
        )
        .await;
        let wall = t0.elapsed().as_secs_f64();
        let a = &r.accounts[0];
        assert!(r.complete, "{r:#?}");
        println!(
            "| {run} | {wall:.2} | {} | {} | {:.2} | {} | {:?} |",
            r.rest_calls,
            requests.0.load(Ordering::Relaxed) - req0,
            (cpu_ms() - cpu0) as f64 / 1000.0,
            a.found_missing,
            a.count_matches,
        );
    }
    let _ = standin.kill();
    let _ = standin.wait();
    let _ = std::fs::remove_file(&file);
}
