//! The DynamoDB contention model (`tests/it/support/`) as a program, in front of a
//! the local DynamoDB, for `make bench-hot` and for trying `make run` against a hot item:
//!
//! ```sh
//! MODEL_UPSTREAM=http://127.0.0.1:8000 cargo run --example contention_proxy
//! # prints the model's endpoint: give it to the function as AWS_ENDPOINT_URL_DYNAMODB
//! curl http://127.0.0.1:<port>/model/counters
//! ```
//!
//! Environment: `MODEL_UPSTREAM` (the local DynamoDB; default `AWS_ENDPOINT_URL_DYNAMODB`),
//! `MODEL_ADDR` (a loopback address; default `127.0.0.1:0`, any free port),
//! `MODEL_TRANSACTION_MS` (how long a transaction holds its items; default 15),
//! `MODEL_CALL_MS` (the least time of any other call; default 0), `MODEL_ITEM_WCU` (write
//! units one item takes a second; default 1000). Prints the endpoint on stdout, then
//! serves until it is stopped (SIGTERM or SIGINT).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::Duration;
use support::{ContentionModel, ModelConfig};

fn main() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let number = |k: &str, default: u64| -> u64 {
        match var(k).map(|v| v.parse::<u64>()) {
            None => default,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                eprintln!("contention_proxy: {k} must be a whole number");
                std::process::exit(2);
            }
        }
    };
    let Some(upstream) = var("MODEL_UPSTREAM").or_else(|| var("AWS_ENDPOINT_URL_DYNAMODB")) else {
        eprintln!("contention_proxy: set MODEL_UPSTREAM to the local DynamoDB's endpoint");
        std::process::exit(2);
    };
    let config = ModelConfig {
        transaction_time: Duration::from_millis(number("MODEL_TRANSACTION_MS", 15)),
        call_time: Duration::from_millis(number("MODEL_CALL_MS", 0)),
        item_write_units_per_second: u32::try_from(number("MODEL_ITEM_WCU", 1000))
            .unwrap_or(u32::MAX),
        ..ModelConfig::default()
    };
    let addr = var("MODEL_ADDR").unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let model = match ContentionModel::start_on(&addr, &upstream, config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("contention_proxy: cannot start on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", model.endpoint());
    eprintln!(
        "contention_proxy: {} -> {upstream} ({:?} per transaction, {:?} per other call, {} WCU per item a second)",
        model.endpoint(),
        model.config().transaction_time,
        model.config().call_time,
        model.config().item_write_units_per_second,
    );
    // Serves on its own thread until the process is stopped.
    loop {
        std::thread::park();
    }
}
