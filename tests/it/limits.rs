//! Row 12a where the local DynamoDB cannot show it: moto stores documents nested deeper
//! than 32 levels, empty map keys and map keys of 64 KB or more, all of which DynamoDB
//! refuses (../shared/spec/aws.md, "The local DynamoDB"; src/store/limits.rs). So these run
//! against `aws-smithy-mocks`, not the local DynamoDB:
//! - the function's own check refuses each before any DynamoDB call: 400 naming the field;
//! - when DynamoDB itself refuses a write as invalid (a `ValidationException`, as it answers
//!   a document nested too deeply), the function does not acknowledge the event and does
//!   not retry what cannot succeed: one call, then a clean FAIL 5xx.
//!
//! The dead letter of row 12a is `tests/it/handoff.rs`'s (`row12a_...`), against the local
//! SQS.

use crate::common::vectors::SEND;
use crate::common::*;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::mock;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};
use std::time::Duration;

/// `levels` maps, one in the other, around a number.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

fn send_with(msg_content: Value) -> String {
    json!({
        "CallbackCommand": SEND,
        "Official_Account": "@TOA#_limits",
        "MsgKey": "k",
        "MsgTime": 1,
        "EventTime": 1,
        "MsgBody": [{"MsgType": "TIMCustomElem", "MsgContent": msg_content}]
    })
    .to_string()
}

/// What moto would store and DynamoDB refuses: each answered 400 naming `MsgBody[0]`, and
/// DynamoDB is never called (every rule below counts its calls).
#[tokio::test]
async fn what_dynamodb_refuses_is_refused_before_any_write() {
    let long_key = "k".repeat(64 * 1024);
    for (what, content) in [
        ("33 levels of maps", nested(33)),
        ("an empty map key", json!({"": 1})),
        ("an empty key deep down", json!({"a": [{"b": {"": "x"}}]})),
        ("a map key of 64 KB", json!({ long_key.as_str(): 1 })),
    ] {
        let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
        let update = mock!(Client::update_item).then_http_response(|| {
            HttpResponse::new(StatusCode::try_from(500).expect("status"), SdkBody::empty())
        });
        let app = mocked_app(&[&get, &update]);
        let (r, _) = timed(&app, SEND, &send_with(content), Duration::from_secs(2)).await;
        let info = assert_fail(&r, 400);
        assert!(info.starts_with("MsgBody[0]"), "{what}: {info}");
        assert_eq!(
            (get.num_calls(), update.num_calls()),
            (0, 0),
            "{what}: refused before any DynamoDB call"
        );
    }
}

/// Just inside the limits: stored (the check refuses no more than DynamoDB does).
#[tokio::test]
async fn what_dynamodb_holds_is_written() {
    let key = "k".repeat(64 * 1024 - 1);
    for (what, content) in [
        // The item's msg_body list, its element, then these maps: 30 levels in all.
        ("28 levels of maps", nested(28)),
        ("a map key just under 64 KB", json!({ key.as_str(): 1 })),
        ("an empty string value", json!({"a": ""})),
    ] {
        let update = mock!(Client::update_item).then_output(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemOutput::builder().build()
        });
        let app = mocked_app(&[&update]);
        let (r, _) = timed(&app, SEND, &send_with(content), Duration::from_secs(2)).await;
        assert_ok(&r);
        assert_eq!(update.num_calls(), 1, "{what}: written once");
    }
}

/// DynamoDB's own refusal of a write (what the check above keeps from happening): not
/// acknowledged, not retried, no internals in the reply.
#[tokio::test]
async fn dynamodbs_own_refusal_is_not_acknowledged_nor_retried() {
    for message in [
        "Nesting Levels have exceeded supported limits",
        "One or more parameter values were invalid: An AttributeValue may not contain an empty string",
        "Item size has exceeded the maximum allowed size",
    ] {
        let update = mock!(Client::update_item).then_http_response(move || {
            HttpResponse::new(
                StatusCode::try_from(400).expect("status"),
                SdkBody::from(
                    json!({
                        "__type": "com.amazon.coral.validate#ValidationException",
                        "message": message
                    })
                    .to_string(),
                ),
            )
        });
        let app = mocked_app(&[&update]);
        let (r, _) = timed(&app, SEND, &send_with(json!({"a": 1})), Duration::from_secs(2)).await;
        assert_failed_cleanly(&r, message);
        assert_eq!(update.num_calls(), 1, "{message}: a refusal is not retried");
    }
}
