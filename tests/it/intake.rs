//! The intake cases (`tests/cases/intake/`, copied from the shared set): real-world-shaped
//! webhook inputs, each a class of fault, with the reply and the items contract revision 2
//! expects (docs/contract.md section 2, "Reading the body" and "Reading fields";
//! section 3). Each case runs through the HTTP door against the local DynamoDB; the tests
//! after them cover the rest of each case's class.

use crate::common::vectors::{ADD, CREATE, DELETE, INFO, SEND, WITHDRAW};
use crate::common::*;
use oa_webhook::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn case(file: &str) -> (Value, String) {
    let path = format!("{}/tests/cases/intake/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the case file exists");
    let case: Value = serde_json::from_str(&text).expect("a case is JSON");
    let event = case["event"].to_string();
    (case, event)
}

/// Runs a case on a fresh table: checks the reply it expects, returns the table. Each case
/// runs twice: straight to the local DynamoDB, and through the model of real DynamoDB's
/// contention rules in front of it (`support/`, contract section 8); both tables must be
/// the same.
async fn run(file: &str) -> BTreeMap<(String, String), Value> {
    let (case, event) = case(file);
    let direct = Fixture::new().await;
    let model = crate::support::model_in_front_of_local(crate::support::ModelConfig::default());
    let mut modelled = Fixture::new().await;
    modelled.app.store = Store::new(
        oa_webhook::clients::webhook_dynamodb(&sdk_config_at(&model.endpoint())),
        modelled.table.clone(),
    );
    let mut tables = Vec::new();
    for f in [&direct, &modelled] {
        let r = f.send(parse_event(&event)).await;
        let v = envelope(&r);
        assert_eq!(
            (json!(r.status_code), &v["ActionStatus"]),
            (
                case["expect"]["status"].clone(),
                &case["expect"]["ActionStatus"]
            ),
            "{file}: {v}"
        );
        tables.push(f.dump().await);
    }
    let through_model = tables.pop().unwrap_or_default();
    let table = tables.pop().unwrap_or_default();
    assert_eq!(
        table, through_model,
        "{file}: the same table through the contention model"
    );
    assert!(
        model.counters().transactions + model.counters().single_writes > 0 || table.is_empty(),
        "{file}: the model saw the writes"
    );
    table
}

fn item<'a>(items: &'a BTreeMap<(String, String), Value>, pk: &str, sk: &str) -> &'a Value {
    items
        .get(&(pk.to_owned(), sk.to_owned()))
        .unwrap_or_else(|| panic!("{pk} / {sk} missing from {items:?}"))
}

const DEALS: &str = "OA#1400000001#@TOA#_case_deals";

#[test]
fn every_shared_case_has_a_test_here() {
    let dir = format!("{}/tests/cases/intake", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/cases/intake exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let this = include_str!("intake.rs");
    for f in &files {
        assert!(this.contains(&format!("run(\"{f}\")")), "{f} has no test");
    }
    assert_eq!(files.len(), 6);
}

#[tokio::test]
async fn case_01_lone_surrogate_in_msgbody() {
    let items = run("01-lone-surrogate-in-msgbody.json").await;
    let m = item(&items, DEALS, "MSG#144115_31_1735689601");
    assert_eq!(
        m["msg_body"],
        json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "Flash sale starts now \u{fffd}"}}])
    );
    assert_eq!(m["entity"], "message");
    assert_eq!(m["msg_key"], "144115_31_1735689601");
    assert_eq!(m["msg_time"], 1735689601u64);
    assert_eq!(m["event_time"], 1735689601123u64);
    assert_eq!(m["online_only_flag"], 0);
    assert_eq!(m["cloud_custom_data"], r#"{"campaign":"cny-2025"}"#);
    assert_eq!(m["withdrawn"], false);
    assert_eq!(items.len(), 1);
}

#[tokio::test]
async fn case_04_msgbody_number_precision() {
    let items = run("04-msgbody-number-precision.json").await;
    let m = item(&items, DEALS, "MSG#144115_88_1735689800");
    let content = &m["msg_body"][0]["MsgContent"];
    assert!(content["OrderNo"].is_number() && content["Amount"].is_number());
    assert_eq!(content["OrderNo"].to_string(), "171717171717171717171");
    assert_eq!(content["Amount"].to_string(), "1584097275961.1234");
    assert_eq!(m["online_only_flag"], 1);
    assert_eq!(m["msg_time"], 1735689800u64);
    assert_eq!(m["event_time"], 1735689800123u64);
    assert_eq!(m["withdrawn"], false);
}

#[tokio::test]
async fn case_05_eventtime_integral_float() {
    let items = run("05-eventtime-integral-float.json").await;
    let p = item(&items, "OA#1400000001#@TOA#_case_float_time", "PROFILE");
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["created_at"].to_string(), "1735689900123");
    assert_eq!(p["created_by"], "user_001");
    assert_eq!(p["owner_account"], "user_001");
    assert_eq!(p["gsi1pk"], "USER#1400000001#user_001");
    assert_eq!(p["gsi1sk"], "OWNS#@TOA#_case_float_time");
    assert_eq!(p["name"], "Float Time Test");
    assert_eq!(p["subscriber_count"], 0);
}

#[tokio::test]
async fn case_06_onlineonlyflag_as_string() {
    let items = run("06-onlineonlyflag-as-string.json").await;
    let m = item(&items, DEALS, "MSG#144115_95_1735690000");
    assert_eq!(m["msg_time"].to_string(), "1735690000");
    assert_eq!(m["event_time"].to_string(), "1735690000456");
    assert_eq!(m["online_only_flag"].to_string(), "1");
    assert_eq!(
        m["msg_body"],
        json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "Doors open at 10"}}])
    );
    assert_eq!(m["cloud_custom_data"], "");
    assert_eq!(m["withdrawn"], false);
}

#[tokio::test]
async fn case_08_after_full_repeated_irrelevant_key() {
    let items = run("08-after-full-repeated-irrelevant-key.json").await;
    let p = item(&items, "OA#1400000001#@TOA#_case_full", "PROFILE");
    assert_eq!(p["entity"], "official_account");
    assert_eq!(p["full_at"].to_string(), "1735690200123");
    assert_eq!(p["subscriber_count"], 0);
    assert!(p.get("status").is_none() && p.get("name").is_none(), "{p}");
}

#[tokio::test]
async fn case_13_utf8_bom_before_body() {
    let items = run("13-utf8-bom-before-body.json").await;
    let pk = "OA#1400000001#@TOA#_case_bom";
    for user in ["user_002", "user_003"] {
        let s = item(&items, pk, &format!("SUB#{user}"));
        assert_eq!(s["status"], "SUBSCRIBED");
        assert_eq!(s["event_time"].to_string(), "1735690700123");
        assert_eq!(s["operator_account"], "user_002");
        assert_eq!(s["gsi1pk"], format!("USER#1400000001#{user}"));
        assert_eq!(s["gsi1sk"], "SUB#@TOA#_case_bom");
    }
    assert_eq!(item(&items, pk, "PROFILE")["subscriber_count"], 2);
}

// The rest of each class.

const OA: &str = "OA#1400000001#@TOA#_c";

/// Sends `body` as text for `command`; returns the status and the table.
async fn post(command: &str, body: &str) -> (u16, Value, BTreeMap<(String, String), Value>) {
    let f = Fixture::new().await;
    let r = f.post(&query_for(command), body).await;
    let v = envelope(&r);
    (r.status_code, v, f.dump().await)
}

/// Class 01: broken characters, in any string field of any command.
#[tokio::test]
async fn lone_surrogates_and_broken_utf8_in_every_string_field() {
    let (status, _, items) = post(
        CREATE,
        r#"{"CallbackCommand":"OfficialAccount.CallbackAfterCreateOfficialAccount","Official_Account":"@TOA#_c","Owner_Account":"o\ud800","Name":"Cut \ud83d","EventTime":1}"#,
    )
    .await;
    assert_eq!(status, 200);
    let p = item(&items, OA, "PROFILE");
    assert_eq!(p["name"], "Cut \u{fffd}");
    assert_eq!(p["owner_account"], "o\u{fffd}");
    let (status, _, items) = post(
        INFO,
        r#"{"Official_Account":"@TOA#_c","Introduction":"\udfff intro","EventTime":2}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        item(&items, OA, "PROFILE")["introduction"],
        "\u{fffd} intro"
    );
    // The account and the subscribers themselves: identifiers with U+FFFD are stored.
    let (status, _, items) = post(
        ADD,
        r#"{"Official_Account":"@TOA#_c","EventTime":3,"SubscribeAccountList":[{"Subscriber_Account":"u\udc00"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(item(&items, OA, "SUB#u\u{fffd}")["status"], "SUBSCRIBED");
    // CloudCustomData and a withdraw's MsgKey.
    let (status, _, items) = post(
        SEND,
        r#"{"Official_Account":"@TOA#_c","EventTime":4,"MsgKey":"k","CloudCustomData":"\ud83d"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(item(&items, OA, "MSG#k")["cloud_custom_data"], "\u{fffd}");
}

/// Class 05/06: every integer field, in every accepted form; an unreadable optional one
/// is left out and the rest stored.
#[tokio::test]
async fn integer_fields_in_every_form() {
    for (msg_time, flag, event_time) in [
        ("1735690000", "1", "1735690000456"),
        ("\"1735690000\"", "\"1\"", "\"1735690000456\""),
        ("1735690000.0", "1.0", "1735690000456.0"),
        ("1.735690000e9", "1e0", "1.735690000456E12"),
    ] {
        let body = format!(
            r#"{{"Official_Account":"@TOA#_c","MsgKey":"k","MsgTime":{msg_time},"OnlineOnlyFlag":{flag},"EventTime":{event_time}}}"#
        );
        let (status, v, items) = post(SEND, &body).await;
        assert_eq!(status, 200, "{body}: {v}");
        let m = item(&items, OA, "MSG#k");
        assert_eq!(
            (
                m["msg_time"].to_string(),
                m["online_only_flag"].to_string(),
                m["event_time"].to_string()
            ),
            (
                "1735690000".to_owned(),
                "1".to_owned(),
                "1735690000456".to_owned()
            ),
            "{body}"
        );
    }
    // Unreadable optional integers: left out, the message stored.
    let (status, _, items) = post(
        SEND,
        r#"{"Official_Account":"@TOA#_c","MsgKey":"k","MsgTime":"soon","OnlineOnlyFlag":1.5,"EventTime":1}"#,
    )
    .await;
    assert_eq!(status, 200);
    let m = item(&items, OA, "MSG#k");
    assert!(m.get("msg_time").is_none() && m.get("online_only_flag").is_none());
    // A required one that cannot be read: 400, naming it, nothing written.
    let (status, v, items) = post(
        SEND,
        r#"{"Official_Account":"@TOA#_c","MsgKey":"k","EventTime":"1.5"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["ErrorInfo"].as_str().unwrap_or("").contains("EventTime"),
        "{v}"
    );
    assert!(items.is_empty());
}

/// Class: string fields given as integers (IDs), in every command.
#[tokio::test]
async fn integer_ids_are_read_as_their_decimal_text() {
    let (status, _, items) = post(
        DELETE,
        r#"{"Official_Account":"@TOA#_c","Operator_Account":107867,"EventTime":5,"SubscribeAccountList":[{"Subscriber_Account":42}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let s = item(&items, OA, "SUB#42");
    assert_eq!(
        (&s["status"], &s["operator_account"]),
        (&json!("UNSUBSCRIBED"), &json!("107867"))
    );
    let (status, _, items) = post(
        WITHDRAW,
        r#"{"Official_Account":"@TOA#_c","EventTime":5,"WithdrawMsgList":[{"MsgKey":71}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(item(&items, OA, "MSG#71")["withdrawn"], true);
}

/// Class 08: repeated keys anywhere (a field we read, one we do not, inside list
/// entries), in after- and before-callbacks, and the byte-order mark (class 13) on each.
#[tokio::test]
async fn repeated_keys_and_byte_order_marks_in_every_kind_of_callback() {
    let (status, _, items) = post(
        ADD,
        "\u{feff}{\"Official_Account\":\"@TOA#_x\",\"Official_Account\":\"@TOA#_c\",\"EventTime\":1,\"EventTime\":7,\"SubscribeAccountList\":[{\"Subscriber_Account\":\"a\",\"Subscriber_Account\":\"b\"}]}",
    )
    .await;
    assert_eq!(status, 200);
    let s = item(&items, OA, "SUB#b");
    assert_eq!(s["event_time"], 7);
    assert_eq!(
        items.len(),
        2,
        "only @TOA#_c's PROFILE and SUB#b: {items:?}"
    );
    for before in [
        "OfficialAccount.CallbackBeforeSendMsg",
        "OfficialAccount.CallbackBeforeAddSubscriber",
        "OfficialAccount.CallbackBeforeCreateOfficialAccount",
    ] {
        let body = format!(
            "\u{feff}{{\"CallbackCommand\":\"{before}\",\"Name\":\"a\",\"Name\":\"\\ud83d\",\"OnlineOnlyFlag\":\"x\",\"MsgBody\":7}}"
        );
        let (status, v, items) = post(before, &body).await;
        assert_eq!((status, &v["ErrorCode"]), (200, &json!(0)), "{before}: {v}");
        assert!(items.is_empty());
    }
}

/// Message items carry `withdrawn` from their first write, whichever arrives first.
#[tokio::test]
async fn every_message_item_carries_withdrawn() {
    let f = Fixture::new().await;
    let send = r#"{"Official_Account":"@TOA#_c","MsgKey":"k1","EventTime":10}"#;
    assert_eq!(f.post(&query_for(SEND), send).await.status_code, 200);
    let items = f.dump().await;
    assert_eq!(item(&items, OA, "MSG#k1")["withdrawn"], false);
    // Withdrawn first, then sent: stays withdrawn.
    let w = r#"{"Official_Account":"@TOA#_c","EventTime":12,"WithdrawMsgList":[{"MsgKey":"k2"}]}"#;
    assert_eq!(f.post(&query_for(WITHDRAW), w).await.status_code, 200);
    let s2 = r#"{"Official_Account":"@TOA#_c","MsgKey":"k2","EventTime":11}"#;
    assert_eq!(f.post(&query_for(SEND), s2).await.status_code, 200);
    let items = f.dump().await;
    let k2 = item(&items, OA, "MSG#k2");
    assert_eq!(
        (&k2["withdrawn"], &k2["withdrawn_at"]),
        (&json!(true), &json!(12))
    );
}

/// Class 04: numbers in `MsgBody` kept digit for digit; what DynamoDB cannot hold, as text.
#[tokio::test]
async fn msg_body_numbers_exact_or_as_text() {
    let body = r#"{"Official_Account":"@TOA#_c","MsgKey":"k","EventTime":1,"MsgBody":[{"MsgType":"TIMCustomElem","MsgContent":{"a":12345678901234567890123456789012345678,"b":123456789012345678901234567890123456789,"c":1e200,"d":-0.000000000000000000001,"e":[1.50,2e3]}}]}"#;
    let (status, _, items) = post(SEND, body).await;
    assert_eq!(status, 200);
    let c = &item(&items, OA, "MSG#k")["msg_body"][0]["MsgContent"];
    assert_eq!(c["a"].to_string(), "12345678901234567890123456789012345678");
    assert_eq!(c["b"], "123456789012345678901234567890123456789");
    assert_eq!(c["c"], "1e+200");
    assert_eq!(c["d"].to_string(), "-0.000000000000000000001");
    assert_eq!(c["e"][0].to_string(), "1.50");
    assert!(c["e"][1].is_number());
}

/// Row 12a: what DynamoDB refuses as it is gets 400 naming the field, at once.
#[tokio::test]
async fn unstorable_items_are_named_at_once() {
    let big = "x".repeat(420 * 1024);
    for (command, body, field) in [
        (
            SEND,
            format!(
                r#"{{"Official_Account":"@TOA#_c","MsgKey":"k","EventTime":1,"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"{big}"}}}}]}}"#
            ),
            "MsgBody",
        ),
        (
            SEND,
            format!(
                r#"{{"Official_Account":"@TOA#_c","MsgKey":"k","EventTime":1,"CloudCustomData":"{big}"}}"#
            ),
            "CloudCustomData",
        ),
        (
            SEND,
            r#"{"Official_Account":"@TOA#_c","MsgKey":"k","EventTime":1,"MsgBody":[{"":1}]}"#
                .to_owned(),
            "MsgBody[0]",
        ),
        (
            INFO,
            format!(r#"{{"Official_Account":"@TOA#_c","EventTime":1,"Introduction":"{big}"}}"#),
            "Introduction",
        ),
    ] {
        let started = std::time::Instant::now();
        let (status, v, items) = post(command, &body).await;
        assert_eq!(status, 400, "{field}: {v}");
        assert!(
            v["ErrorInfo"].as_str().unwrap_or("").starts_with(field),
            "{v}"
        );
        assert!(items.is_empty());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}

/// The request line counts the optional fields left out (`fields_dropped`, a metric too).
#[tokio::test]
async fn the_request_line_counts_dropped_fields() {
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut f = Fixture::new().await;
    f.app.log = oa_webhook::telemetry::RequestLog::buffer(std::sync::Arc::clone(&buffer), None, 1);
    let body = r#"{"Official_Account":"@TOA#_c","MsgKey":"k","EventTime":1,"MsgTime":"soon","MsgBody":"x"}"#;
    assert_eq!(f.post(&query_for(SEND), body).await.status_code, 200);
    let ok = r#"{"Official_Account":"@TOA#_c","MsgKey":"k2","EventTime":1}"#;
    assert_eq!(f.post(&query_for(SEND), ok).await.status_code, 200);
    let text = String::from_utf8(buffer.lock().map(|b| b.clone()).unwrap_or_default())
        .expect("UTF-8 lines");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["fields_dropped"], &lines[0]["outcome"]),
        (&json!(2), &json!("stored"))
    );
    assert_eq!(lines[1]["fields_dropped"], 0);
}
