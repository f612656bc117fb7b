//! The REST stand-in as a program, for `make run` and trying `oa-webhook sync` by hand:
//!
//! ```sh
//! cargo run --example tencent_standin -- examples/standin/accounts.json
//! ```
//!
//! Listens on `STANDIN_ADDR` (default `127.0.0.1:9100`) for app `SDKAPPID` (first of the
//! list; default 1400000001), admin `TENCENT_ADMIN_IDENTIFIER` (default `administrator`)
//! and key `TENCENT_SECRET_KEY` (default `standin-secret-key`), holding the accounts of
//! the JSON file (the shape of `tencent_standin::Truth`, tests/standin). Point the sync at
//! it with `TENCENT_API_BASE_URL=http://127.0.0.1:9100`.

use oa_webhook::tencent::usersig::SecretKey;
use tencent_standin::{Standin, StandinConfig, Truth};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let var = |k: &str, d: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| d.to_owned())
    };
    let truth = match std::env::args().nth(1) {
        None => Truth::default(),
        Some(path) => {
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Truth>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("tencent_standin: {path}: {e}");
                    std::process::exit(2);
                }
            }
        }
    };
    let app = var("SDKAPPID", "1400000001");
    let Ok(app) = app.split(',').next().unwrap_or("").trim().parse::<u64>() else {
        eprintln!("tencent_standin: SDKAPPID must be digits");
        std::process::exit(2);
    };
    let config = StandinConfig::new(
        app,
        &var("TENCENT_ADMIN_IDENTIFIER", "administrator"),
        SecretKey::new(var("TENCENT_SECRET_KEY", "standin-secret-key")),
    );
    let accounts = truth.accounts.len();
    let _standin = match Standin::start(&var("STANDIN_ADDR", "127.0.0.1:9100"), config, truth).await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tencent_standin: listen: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "tencent_standin: {accounts} accounts for app {app} on {} (Ctrl-C stops)",
        _standin.url()
    );
    // Serves until the process is stopped (Ctrl-C).
    std::future::pending::<()>().await;
}
