//! Contract section 9: one binary, several doors. Whatever the function's `Handler` names,
//! an event is served by the door its shape asks for, or its invocation fails so that the
//! source retries it; never a success that drops it. Driven through the Lambda door
//! ([`LambdaDoor::serve`]) with real event JSON, as `lambda_runtime` hands it over.

use crate::common::*;
use lambda_runtime::{Context, LambdaEvent};
use oa_webhook::doors::{Door, LambdaDoor, Served};
use oa_webhook::handoff::{Envelope, ENVELOPE_VERSION};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const CREATE: &str = "OfficialAccount.CallbackAfterCreateOfficialAccount";

fn door(f: &Fixture, intended: Door) -> LambdaDoor {
    LambdaDoor {
        app: f.app.clone(),
        intended,
        sync: None,
    }
}

fn invocation(json: &str) -> LambdaEvent<Box<RawValue>> {
    let payload = RawValue::from_string(json.to_owned()).expect("the event is JSON");
    LambdaEvent::new(payload, Context::default())
}

fn create_body(account: &str) -> String {
    json!({
        "CallbackCommand": CREATE,
        "Official_Account": account,
        "Owner_Account": "107867",
        "EventTime": 1670574414123u64
    })
    .to_string()
}

/// An SQS batch as Lambda's event source mapping delivers it: one hand-off envelope.
fn sqs_batch(account: &str) -> String {
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        sdk_app_id: APP.to_owned(),
        callback_command: Some(CREATE.to_owned()),
        received_at_ms: NOW * 1000,
        body: Some(create_body(account)),
        body_base64: None,
    };
    json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": envelope.to_json(),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185"
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:oa-webhook-handoff",
        "awsRegion": "us-east-1"
    }]})
    .to_string()
}

async fn profile_exists(f: &Fixture, account: &str) -> bool {
    f.dump()
        .await
        .contains_key(&(format!("OA#{APP}#{account}"), "PROFILE".to_owned()))
}

#[tokio::test]
async fn an_sqs_batch_to_the_webhook_function_is_consumed_by_the_queue_door() {
    let f = Fixture::new().await;
    let served = door(&f, Door::Http)
        .serve(invocation(&sqs_batch("@TOA#_doors_sqs")))
        .await
        .expect("served, not failed");
    let reply = serde_json::to_value(&served).expect("serializes");
    assert!(matches!(served, Served::Queue(_)), "{reply}");
    // No failures listed: the whole batch was taken, and it is in the table.
    assert_eq!(reply, json!({"batchItemFailures": []}));
    assert!(profile_exists(&f, "@TOA#_doors_sqs").await);
}

#[tokio::test]
async fn an_sqs_batch_the_table_cannot_take_lists_its_records_as_failures() {
    // The table does not exist: the record is not stored, so it must come back.
    let f = Fixture::new().await;
    let mut app = app_at(&endpoint(), "no-such-table", None).await;
    app.queues = oa_webhook::handoff::Queues::none();
    let lambda = LambdaDoor {
        app,
        intended: Door::Http,
        sync: None,
    };
    let served = lambda
        .serve(invocation(&sqs_batch("@TOA#_doors_missing")))
        .await
        .expect("served");
    let reply = serde_json::to_value(&served).expect("serializes");
    assert_eq!(
        reply,
        json!({"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]})
    );
    assert!(f.dump().await.is_empty());
}

#[tokio::test]
async fn an_api_gateway_event_to_the_queue_function_is_answered_by_the_webhook_door() {
    let f = Fixture::new().await;
    for (file, account) in [
        ("after-create-official-account.json", None),
        ("rest-api-after-create-official-account.json", None),
        ("function-url-after-create-official-account.json", None),
        ("http", Some("@TOA#_doors_http")),
    ] {
        let json = match account {
            Some(a) => http_event_json("POST", &query_for(CREATE), &create_body(a)),
            None => {
                std::fs::read_to_string(format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR")))
                    .expect("event file")
            }
        };
        let served = door(&f, Door::Queue)
            .serve(invocation(&json))
            .await
            .expect("served, not failed");
        assert!(matches!(served, Served::Http(_)), "{file}");
        let reply = serde_json::to_value(&served).expect("serializes");
        assert_eq!(reply["statusCode"], 200, "{file}: {reply}");
        let body: Value =
            serde_json::from_str(reply["body"].as_str().expect("a text body")).expect("JSON");
        assert_eq!(body["ActionStatus"], "OK", "{file}: {reply}");
        if file.starts_with("rest-api") {
            // REST API: headers in multiValueHeaders.
            assert_eq!(
                reply["multiValueHeaders"]["content-type"],
                json!(["application/json"]),
                "{reply}"
            );
        } else {
            assert_eq!(
                reply["headers"]["content-type"], "application/json",
                "{reply}"
            );
            assert_eq!(reply["cookies"], json!([]), "{reply}");
        }
    }
    assert!(profile_exists(&f, "@TOA#_doors_http").await);
}

#[tokio::test]
async fn a_schedule_to_a_function_without_the_sync_fails_the_invocation() {
    let f = Fixture::new().await;
    let cloudwatch = r#"{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-04T18:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/sync"],"detail":{}}"#;
    for intended in [Door::Http, Door::Queue] {
        for event in [cloudwatch, "{}", r#"{"accounts":["@TOA#_a"]}"#] {
            let result = door(&f, intended).serve(invocation(event)).await;
            let e = result.expect_err("no door here: the invocation fails");
            assert!(e.to_string().contains("serves no door"), "{e}");
        }
    }
    assert!(f.dump().await.is_empty());
}

#[tokio::test]
async fn events_of_no_door_fail_the_invocation() {
    let f = Fixture::new().await;
    let sns =
        r#"{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","Sns":{"Message":"hi"}}]}"#;
    let empty_batch = r#"{"Records":[]}"#;
    for intended in [Door::Http, Door::Queue] {
        for event in [sns, empty_batch, "[]", "\"text\"", "null"] {
            let result = door(&f, intended).serve(invocation(event)).await;
            assert!(
                result.is_err(),
                "{intended:?} {event}: must fail, not succeed"
            );
        }
    }
    // An SQS-shaped batch that does not read as one: fails too, never an empty success.
    let broken = r#"{"Records":[{"eventSource":"aws:sqs","messageId":7}]}"#;
    assert!(door(&f, Door::Http)
        .serve(invocation(broken))
        .await
        .is_err());
}

/// Section 9: invocations served at once by one process (as under `run_concurrent`) each
/// write their own request line with their own request id and outcome, whatever the
/// others do: eight at once, half of them refused.
#[tokio::test]
async fn concurrent_invocations_keep_their_own_request_lines() {
    let f = Fixture::new().await;
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let mut app = f.app.clone();
    app.log = oa_webhook::telemetry::RequestLog::buffer(Arc::clone(&buffer), None, 1);
    let lambda = LambdaDoor {
        app,
        intended: Door::Http,
        sync: None,
    };
    let invocations = (0..8).map(|i| {
        let query = if i % 2 == 0 {
            query_for(CREATE)
        } else {
            query_for(CREATE).replace(APP, "1400000009")
        };
        let mut event: Value = serde_json::from_str(&http_event_json(
            "POST",
            &query,
            &create_body(&format!("@TOA#_doors_conc{i}")),
        ))
        .expect("JSON");
        event["requestContext"]["requestId"] = json!(format!("req-{i}"));
        let mut context = Context::default();
        context.request_id = format!("lambda-{i}");
        let payload = RawValue::from_string(event.to_string()).expect("JSON");
        lambda.clone().serve(LambdaEvent::new(payload, context))
    });
    let served = futures_util::future::join_all(invocations).await;
    for (i, s) in served.into_iter().enumerate() {
        let reply = serde_json::to_value(s.expect("served")).expect("serializes");
        let want = if i % 2 == 0 { 200 } else { 403 };
        assert_eq!(reply["statusCode"], want, "invocation {i}: {reply}");
    }
    let text = String::from_utf8(buffer.lock().expect("lock").clone()).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 8, "{text}");
    for i in 0..8 {
        let line = lines
            .iter()
            .find(|l| l["request_id"] == format!("req-{i}"))
            .unwrap_or_else(|| panic!("no line for req-{i}: {text}"));
        let want = if i % 2 == 0 { 200 } else { 403 };
        assert_eq!(line["status"], want, "{line}");
    }
}
