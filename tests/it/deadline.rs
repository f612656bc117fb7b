//! The time budget, whatever DynamoDB does: a silent endpoint, resetting connections, a
//! near Lambda deadline. Kept apart from the CPU-heavy fault tests (tests in one binary
//! run in parallel) so that the timings measure the function, not its neighbours.
//!
//! No hand-off queue here: a write that fails is answered 503 at the last resort's time,
//! 2.1 s after arrival (contract section 5), never earlier and never much later, and
//! never past the Lambda deadline. With a queue: `tests/it/handoff.rs`.

use crate::common::vectors::{ADD, CREATE};
use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn create_body() -> String {
    json!({
        "CallbackCommand": CREATE,
        "Official_Account": "@TOA#_deadline",
        "Owner_Account": "107867",
        "EventTime": 1670574414123u64
    })
    .to_string()
}

fn add_body() -> String {
    json!({
        "CallbackCommand": ADD,
        "Official_Account": "@TOA#_deadline",
        "SubscribeAccountList": [{"Subscriber_Account": "a"}, {"Subscriber_Account": "b"}],
        "EventTime": 1670574414123u64
    })
    .to_string()
}

/// A listener that accepts connections and never answers: the store gives up inside the
/// budget (the SDK attempt timeouts and the request deadline), and the 503 leaves at the
/// last resort's time, not later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_cannot_stall_the_reply() {
    let (endpoint, holder) = silent_endpoint().await;
    let app = app_at(&endpoint, "t", None).await;
    let mut slowest = Duration::ZERO;
    for (command, body) in [(CREATE, create_body()), (ADD, add_body())] {
        let (r, took) = timed(&app, command, &body, oa_webhook::app::DEFAULT_BUDGET).await;
        assert_failed_cleanly(&r, "silent endpoint");
        assert_eq!(r.status_code, 503);
        slowest = slowest.max(took);
        assert!(
            took >= oa_webhook::app::LAST_RESORT_AFTER && took < LATE_REPLY_BEFORE,
            "{command} took {took:?}"
        );
    }
    println!("slowest reply against a silent endpoint: {slowest:?}");
    holder.abort();
}

/// A listener that accepts and immediately closes: connection resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_fail_cleanly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let closer = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            // Linger 0: closing sends a TCP reset rather than an orderly FIN.
            #[allow(deprecated)]
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(sock);
        }
    });
    let app = app_at(&format!("http://{addr}"), "t", None).await;
    let (r, took) = timed(&app, CREATE, &create_body(), Duration::from_millis(1500)).await;
    assert_failed_cleanly(&r, "connection reset");
    assert!(
        took >= oa_webhook::app::LAST_RESORT_AFTER && took < LATE_REPLY_BEFORE,
        "took {took:?}"
    );
    closer.abort();
}

/// When the Lambda deadline is nearer than the budget (and the last resort's 2.1 s), the
/// reply comes before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_deadline_bounds_the_reply_when_nearer() {
    let (endpoint, holder) = silent_endpoint().await;
    let app = app_at(&endpoint, "t", None).await;
    // The deadline is read against the app's clock, as every "now" is.
    let mut context = lambda_runtime::Context::default();
    context.deadline = app.clock.now_ms() + 500;
    let event = lambda_http::RequestExt::with_lambda_context(
        http_event("POST", &query_for(CREATE), &create_body()),
        context,
    );
    let started = Instant::now();
    let r = app.handle_lambda(event).await;
    let took = started.elapsed();
    assert_failed_cleanly(&r, "near Lambda deadline");
    // 500 ms to the deadline, less the 100 ms kept to send the reply.
    assert!(took < Duration::from_millis(480), "took {took:?}");
    println!("reply with the Lambda deadline 500 ms away: {took:?}");
    holder.abort();
}
