//! `CALLBACK_TOKEN_ARN` (docs/contract.md section 1) against moto's Secrets Manager (the
//! local SQS's moto server serves it too; `AWS_ENDPOINT_URL_SQS`): the token read at
//! start, a changed secret followed after a `Sign` that does not match, never read again
//! within a minute, and a secret that cannot be read stopping the start.

use crate::common::sqs::sqs_endpoint;
use crate::common::*;
use oa_webhook::clock::Clock;
use oa_webhook::protocol::signature::sign;
use oa_webhook::token::{CallbackToken, Reread};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const CREATE: &str = "OfficialAccount.CallbackAfterCreateOfficialAccount";

fn secrets() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(&sdk_config())
        .endpoint_url(sqs_endpoint())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A new secret holding `value`; its ARN.
async fn secret(value: &str) -> String {
    let name = format!("oa-webhook-token-{}", fastrand::u64(..));
    let made = secrets()
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto's Secrets Manager at {}: {e:?}", sqs_endpoint()));
    made.arn().expect("an ARN").to_owned()
}

async fn put(arn: &str, value: &str) {
    secrets()
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("put_secret_value");
}

async fn token_from(arn: &str, now: u64) -> Result<CallbackToken, String> {
    CallbackToken::from_secret(&sdk_config(), arn, Some(&sqs_endpoint()), now)
        .await
        .map_err(|e| e.to_string())
}

/// A create signed with `token` at `now`.
fn signed(token: &str, now: u64) -> oa_webhook::doors::http::Request {
    let time = now.to_string();
    let query = format!(
        "{}&RequestTime={time}&Sign={}",
        query_for(CREATE),
        sign(token, &time)
    );
    let body = json!({
        "CallbackCommand": CREATE,
        "Official_Account": format!("@TOA#_token{}", fastrand::u32(..)),
        "Owner_Account": "107867",
        "EventTime": 1670574414123u64
    });
    http_event("POST", &query, &body.to_string())
}

#[tokio::test]
async fn the_token_is_read_from_the_secret_plain_or_json() {
    let plain = secret("tok-plain-1").await;
    assert_eq!(
        &*token_from(&plain, NOW).await.expect("read").current(),
        "tok-plain-1"
    );
    let in_json = secret(r#"{"CALLBACK_TOKEN": "tok-json-1", "other": "x"}"#).await;
    let token = token_from(&in_json, NOW).await.expect("read");
    assert_eq!(&*token.current(), "tok-json-1");
    // Never in a Debug output (a log line's way in).
    assert!(!format!("{token:?}").contains("tok-json-1"));
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_is_an_error() {
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:oa-webhook-missing-AbCdEf";
    let e = token_from(missing, NOW).await.expect_err("no such secret");
    assert!(e.contains("could not be read"), "{e}");
    let empty = secret("   ").await;
    assert!(token_from(&empty, NOW).await.is_err());
}

#[tokio::test]
async fn a_changed_secret_is_followed_after_a_bad_sign_at_most_once_a_minute() {
    let arn = secret("tok-old").await;
    let clock = Clock::at_secs(NOW);
    let f = Fixture::new().await;
    let mut app = f.app.clone();
    let mut config = (*app.config).clone();
    config.callback_token = Some(token_from(&arn, NOW).await.expect("read at start"));
    app.config = Arc::new(config);
    app.clock = clock.clone();
    let budget = Duration::from_millis(1500);
    let at = |t: u64| {
        clock.set_ms(t * 1000);
        t
    };

    // The token from the secret works.
    let t = at(NOW + 1);
    assert_ok(&app.handle(signed("tok-old", t), budget).await);

    // Changed in the console and the secret; a minute after the read at start, the first
    // request signed with the new token makes the function read it again.
    put(&arn, "tok-new").await;
    let t = at(NOW + 61);
    assert_ok(&app.handle(signed("tok-new", t), budget).await);
    // The old one is now refused.
    assert_fail(&app.handle(signed("tok-old", t), budget).await, 401);

    // Changed again 30 s later: not read again before a minute has passed since the last
    // read, however many requests fail meanwhile.
    put(&arn, "tok-newer").await;
    for s in [91, 100, 120] {
        let t = at(NOW + s);
        assert_fail(&app.handle(signed("tok-newer", t), budget).await, 401);
    }
    let t = at(NOW + 122);
    assert_ok(&app.handle(signed("tok-newer", t), budget).await);

    // A wrong Sign never changes a token that is still the secret's.
    let t = at(NOW + 200);
    assert_fail(&app.handle(signed("not-the-token", t), budget).await, 401);
    assert_ok(&app.handle(signed("tok-newer", t), budget).await);
}

#[tokio::test]
async fn reads_are_spaced_a_minute_apart_whatever_the_outcome() {
    let arn = secret("tok-a").await;
    let token = token_from(&arn, 1_000).await.expect("read");
    assert_eq!(token.reread_after_mismatch(1_030).await, Reread::TooSoon);
    assert_eq!(token.reread_after_mismatch(1_060).await, Reread::Unchanged);
    put(&arn, "tok-b").await;
    assert_eq!(token.reread_after_mismatch(1_119).await, Reread::TooSoon);
    assert_eq!(token.reread_after_mismatch(1_120).await, Reread::Changed);
    assert_eq!(&*token.current(), "tok-b");
    // Deleted: the read fails, the token in use stays, and the next try waits a minute.
    secrets()
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete");
    assert_eq!(token.reread_after_mismatch(1_180).await, Reread::Failed);
    assert_eq!(&*token.current(), "tok-b");
    assert_eq!(token.reread_after_mismatch(1_200).await, Reread::TooSoon);
}

/// The binary's start: a secret that cannot be read stops it (exit 2) with one log line
/// naming the variable.
#[tokio::test]
async fn an_unreadable_secret_stops_the_start_naming_the_variable() {
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:oa-webhook-gone-AbCdEf";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oa-webhook"))
        .env_clear()
        .env("TABLE_NAME", "oa-webhook-token")
        .env("SDKAPPID", APP)
        .env("CALLBACK_TOKEN_ARN", missing)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", sqs_endpoint())
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("CALLBACK_TOKEN_ARN") && log.contains("ERROR"),
        "{log}"
    );

    // A readable one: the start gets past the configuration (to the Lambda runtime,
    // which is not here), and the token is in no line it wrote.
    let arn = secret("tok-never-logged-9").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oa-webhook"))
        .env_clear()
        .env("TABLE_NAME", "oa-webhook-token")
        .env("SDKAPPID", APP)
        .env("CALLBACK_TOKEN_ARN", &arn)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", sqs_endpoint())
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_LOG_LEVEL", "trace")
        .output()
        .expect("the binary runs");
    assert_ne!(out.status.code(), Some(2), "{out:?}");
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains("tok-never-logged-9"));
    }
}
