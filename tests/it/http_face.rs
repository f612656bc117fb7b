//! Contract section 2: every row, in order, through the public handler against
//! the local DynamoDB. Each rejection is checked for its status, its envelope, and that
//! nothing was written.

use crate::common::vectors::{CREATE, VECTOR_SIGN, VECTOR_TOKEN};
use crate::common::*;
use oa_webhook::app::App;
use serde_json::json;
use std::time::{Duration, Instant};

fn create_body() -> String {
    json!({
        "CallbackCommand": CREATE,
        "Official_Account": "@TOA#_test_OA_for_penn",
        "Operator_Account": "107867",
        "Owner_Account": "107867",
        "Name": "TestOfficialAccount",
        "EventTime": 1670574414123u64
    })
    .to_string()
}

/// Sends, checks the FAIL status, and that the table is still empty.
async fn rejected(f: &Fixture, method: &str, query: &str, body: &str, status: u16) -> String {
    let r = f.send(http_event(method, query, body)).await;
    let info = assert_fail(&r, status);
    assert!(f.dump().await.is_empty(), "a rejected request wrote items");
    info
}

/// Sends, checks 200 OK, and that the table is still empty.
async fn acknowledged_without_writes(f: &Fixture, query: &str, body: &str) {
    let r = f.post(query, body).await;
    assert_ok(&r);
    assert!(f.dump().await.is_empty(), "this request must write nothing");
}

#[tokio::test]
async fn row1_method_must_be_post() {
    let f = Fixture::new().await;
    for m in ["GET", "PUT", "DELETE", "HEAD", ""] {
        let info = rejected(&f, m, &query_for(CREATE), &create_body(), 405).await;
        assert!(info.contains("POST"), "{info}");
    }
    // Method case does not matter.
    assert_ok(
        &f.send(http_event("post", &query_for(CREATE), &create_body()))
            .await,
    );
}

#[tokio::test]
async fn row2_unknown_sdkappid_is_forbidden() {
    let f = Fixture::new().await;
    let q = |app: &str| format!("SdkAppid={app}&CallbackCommand={CREATE}");
    rejected(&f, "POST", &q("1400000009"), &create_body(), 403).await;
    rejected(&f, "POST", &q("%201400000001"), &create_body(), 403).await;
    rejected(&f, "POST", &q("1400000001+"), &create_body(), 403).await;
    rejected(&f, "POST", &q(""), &create_body(), 403).await;
    // Any case of the key.
    rejected(
        &f,
        "POST",
        &format!("SDKAPPID=9&CallbackCommand={CREATE}"),
        &create_body(),
        403,
    )
    .await;
    // Twice, differing: ambiguous.
    rejected(
        &f,
        "POST",
        &format!("SdkAppid=1400000001&SdkAppID=9&CallbackCommand={CREATE}"),
        &create_body(),
        403,
    )
    .await;
    // Row 2 comes before row 3 and row 4.
    let g = Fixture::with_token(Some(VECTOR_TOKEN)).await;
    rejected(&g, "POST", "SdkAppid=9", "", 403).await;
    // A second configured app is accepted, under its own key prefix.
    let r = f
        .post(
            &format!("sdkappid=1400000002&CallbackCommand={CREATE}"),
            &create_body(),
        )
        .await;
    assert_ok(&r);
    let items = f.dump().await;
    assert!(items.keys().all(|(pk, _)| pk.starts_with("OA#1400000002#")));
}

#[tokio::test]
async fn row3_signature_when_a_token_is_set() {
    let f = Fixture::with_token(Some(VECTOR_TOKEN)).await;
    let base = query_for(CREATE);
    let signed = |sign: &str, time: &str| format!("{base}&Sign={sign}&RequestTime={time}");
    rejected(&f, "POST", &base, &create_body(), 401).await;
    rejected(
        &f,
        "POST",
        &format!("{base}&Sign={VECTOR_SIGN}"),
        &create_body(),
        401,
    )
    .await;
    rejected(
        &f,
        "POST",
        &format!("{base}&RequestTime=1669872112"),
        &create_body(),
        401,
    )
    .await;
    rejected(
        &f,
        "POST",
        &signed(&VECTOR_SIGN[..63], "1669872112"),
        &create_body(),
        401,
    )
    .await;
    rejected(&f, "POST", &signed(VECTOR_SIGN, "abc"), &create_body(), 401).await;
    let wrong = VECTOR_SIGN.replace("17773", "17774");
    rejected(
        &f,
        "POST",
        &signed(&wrong, "1669872112"),
        &create_body(),
        401,
    )
    .await;
    // A probe (no command) still needs the signature: row 3 is before row 4.
    rejected(&f, "POST", &format!("SdkAppid={APP}"), "", 401).await;
    // The documented vector passes at its own time.
    assert_ok(
        &f.post(&signed(VECTOR_SIGN, "1669872112"), &create_body())
            .await,
    );
}

#[tokio::test]
async fn row3_window_holds_on_both_sides() {
    for (now, ok) in [
        (NOW + 60, true),
        (NOW - 60, true),
        (NOW + 61, false),
        (NOW - 61, false),
    ] {
        let mut f = Fixture::with_token(Some(VECTOR_TOKEN)).await;
        f.app.clock = oa_webhook::clock::Clock::at_secs(now);
        let q = format!(
            "{}&Sign={VECTOR_SIGN}&RequestTime=1669872112",
            query_for(CREATE)
        );
        if ok {
            assert_ok(&f.post(&q, &create_body()).await);
        } else {
            let info = rejected(&f, "POST", &q, &create_body(), 401).await;
            assert!(info.contains("window"), "{info}");
        }
    }
}

#[tokio::test]
async fn row4_probe_without_command_writes_nothing() {
    let f = Fixture::new().await;
    acknowledged_without_writes(&f, &format!("SdkAppid={APP}"), "").await;
    acknowledged_without_writes(&f, &format!("SdkAppid={APP}"), "{}").await;
    acknowledged_without_writes(&f, &format!("SdkAppid={APP}"), "not json").await;
    // Row 4 comes before row 5: no SdkAppid is fine for a probe.
    acknowledged_without_writes(&f, "", "").await;
    acknowledged_without_writes(&f, "contenttype=json", r#"{"Hello":"world"}"#).await;
}

#[tokio::test]
async fn row5_sdkappid_required_for_commands() {
    let f = Fixture::new().await;
    rejected(
        &f,
        "POST",
        &format!("CallbackCommand={CREATE}"),
        &create_body(),
        403,
    )
    .await;
    // The command in the body alone counts as a command.
    rejected(&f, "POST", "contenttype=json", &create_body(), 403).await;
}

#[tokio::test]
async fn row6_body_over_one_mebibyte() {
    let f = Fixture::new().await;
    let pad = |total: usize| {
        let head = create_body();
        let head = &head[..head.len() - 1];
        let filler = total - head.len() - r#","x":""}"#.len();
        format!(r#"{head},"x":"{}"}}"#, "a".repeat(filler))
    };
    let over = pad(1024 * 1024 + 1);
    assert_eq!(over.len(), 1024 * 1024 + 1);
    rejected(&f, "POST", &query_for(CREATE), &over, 413).await;
    // Exactly 1 MiB is accepted.
    let exact = pad(1024 * 1024);
    assert_ok(&f.post(&query_for(CREATE), &exact).await);
}

#[tokio::test]
async fn row7_body_must_be_a_matching_json_object() {
    let f = Fixture::new().await;
    let q = query_for(CREATE);
    for body in ["", "null", "[]", "\"x\"", "5", "{", "{\"a\":1} trailing"] {
        rejected(&f, "POST", &q, body, 400).await;
    }
    let other = create_body().replace(CREATE, "OfficialAccount.CallbackAfterSendMsg");
    let info = rejected(&f, "POST", &q, &other, 400).await;
    assert!(info.contains("CallbackCommand"), "{info}");
    // Invalid base64 (only a forged direct invoke): the invocation fails.
    let mut forged: serde_json::Value =
        serde_json::from_str(&http_event_json("POST", &q, "%%%not base64%%%")).expect("JSON");
    forged["isBase64Encoded"] = json!(true);
    assert!(fails_the_invocation(&forged.to_string()));
    assert!(f.dump().await.is_empty());
}

#[tokio::test]
async fn row8_other_products_are_acknowledged_and_ignored() {
    let f = Fixture::new().await;
    for cmd in [
        "Group.CallbackAfterNewMemberJoin",
        "C2C.CallbackAfterSendMsg",
        "Profile.CallbackPortraitSet",
    ] {
        let body = json!({"CallbackCommand": cmd, "GroupId": "g"}).to_string();
        acknowledged_without_writes(&f, &query_for(cmd), &body).await;
    }
}

/// A store whose endpoint refuses connections (port 9): any I/O would fail the request.
async fn app_without_database(token: Option<&str>) -> App {
    app_at("http://127.0.0.1:9", "unreachable", token).await
}

#[tokio::test]
async fn row9_before_callbacks_are_allowed_without_io() {
    let app = app_without_database(None).await;
    for (cmd, body) in [
        (
            "OfficialAccount.CallbackBeforeCreateOfficialAccount",
            json!({"Operator_Account":"107867","Owner_Account":"107867","Name":"n","EventTime":1}),
        ),
        (
            "OfficialAccount.CallbackBeforeAddSubscriber",
            json!({"Official_Account":"@TOA#_a","SubscribeAccountList":[{"Subscriber_Account":"u"}],"EventTime":1}),
        ),
        (
            "OfficialAccount.CallbackBeforeSendMsg",
            json!({"Official_Account":"@TOA#_a","MsgBody":[],"EventTime":1}),
        ),
        ("OfficialAccount.CallbackBeforeSomethingNew", json!({})),
    ] {
        let mut body = body;
        body["CallbackCommand"] = json!(cmd);
        let r = app
            .handle(
                http_event("POST", &query_for(cmd), &body.to_string()),
                Duration::from_millis(1500),
            )
            .await;
        // ErrorCode 0 means "allow"; any I/O would have failed against port 9.
        assert_ok(&r);
    }
}

#[tokio::test]
async fn row10_unknown_after_commands_are_acknowledged_and_ignored() {
    let f = Fixture::new().await;
    for cmd in [
        "OfficialAccount.CallbackAfterSomethingNew",
        "OfficialAccount.Unheard",
    ] {
        let body = json!({"CallbackCommand": cmd, "Official_Account": "@TOA#_a", "EventTime": 1});
        acknowledged_without_writes(&f, &query_for(cmd), &body.to_string()).await;
    }
}

#[tokio::test]
async fn row11_required_fields() {
    let f = Fixture::new().await;
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (CREATE, json!({"EventTime": 1}), "Official_Account"),
        (CREATE, json!({"Official_Account": "@TOA#_a"}), "EventTime"),
        (
            CREATE,
            json!({"Official_Account": 5.5, "EventTime": 1}),
            "Official_Account",
        ),
        (
            CREATE,
            json!({"Official_Account": "", "EventTime": 1}),
            "Official_Account",
        ),
        (
            CREATE,
            json!({"Official_Account": null, "EventTime": 1}),
            "Official_Account",
        ),
        (
            CREATE,
            json!({"Official_Account": "x".repeat(1020), "EventTime": 1}),
            "Official_Account",
        ),
        (
            CREATE,
            json!({"Official_Account": "@TOA#_a", "EventTime": "soon"}),
            "EventTime",
        ),
        (
            CREATE,
            json!({"Official_Account": "@TOA#_a", "EventTime": -1}),
            "EventTime",
        ),
        (
            CREATE,
            json!({"Official_Account": "@TOA#_a", "EventTime": 1.5}),
            "EventTime",
        ),
        (
            CREATE,
            json!({"Official_Account": "@TOA#_a", "EventTime": "1.0"}),
            "EventTime",
        ),
        (
            "OfficialAccount.CallbackAfterAddSubscriber",
            json!({"Official_Account": "@TOA#_a", "EventTime": 1}),
            "SubscribeAccountList",
        ),
        (
            "OfficialAccount.CallbackAfterAddSubscriber",
            json!({"Official_Account": "@TOA#_a", "EventTime": 1, "SubscribeAccountList": [{"Subscriber_Account": "ok"}, {}]}),
            "SubscribeAccountList[1]",
        ),
        (
            "OfficialAccount.CallbackAfterDeleteSubscriber",
            json!({"Official_Account": "@TOA#_a", "EventTime": 1, "SubscribeAccountList": [{"Subscriber_Account": ""}]}),
            "SubscribeAccountList[0].Subscriber_Account",
        ),
        (
            "OfficialAccount.CallbackAfterSendMsg",
            json!({"Official_Account": "@TOA#_a", "EventTime": 1}),
            "MsgKey",
        ),
        (
            "OfficialAccount.CallbackAfterMsgWithDraw",
            json!({"Official_Account": "@TOA#_a", "EventTime": 1, "WithdrawMsgList": [{"MsgKey": 3.5}]}),
            "WithdrawMsgList[0].MsgKey",
        ),
        (
            "OfficialAccount.CallbackAfterOfficialAccountFull",
            json!({"EventTime": 1}),
            "Official_Account",
        ),
    ];
    for (cmd, mut body, field) in cases {
        body["CallbackCommand"] = json!(cmd);
        let r = f.post(&query_for(cmd), &body.to_string()).await;
        let info = assert_fail(&r, 400);
        assert!(
            info.contains(field),
            "{cmd} {body}: {info:?} should name {field}"
        );
        assert!(f.dump().await.is_empty());
    }
}

#[tokio::test]
async fn row11_empty_lists_are_valid_and_write_nothing() {
    let f = Fixture::new().await;
    for (cmd, list) in [
        (
            "OfficialAccount.CallbackAfterAddSubscriber",
            "SubscribeAccountList",
        ),
        (
            "OfficialAccount.CallbackAfterDeleteSubscriber",
            "SubscribeAccountList",
        ),
        (
            "OfficialAccount.CallbackAfterMsgWithDraw",
            "WithdrawMsgList",
        ),
    ] {
        let mut body = json!({"Official_Account": "@TOA#_a", "EventTime": 1});
        body[list] = json!([]);
        assert_ok(&f.after(cmd, body).await);
    }
    assert!(f.dump().await.is_empty());
}

/// Row 12 without a hand-off queue: nothing took the event, so the 503 leaves no sooner
/// than 2.1 s after arrival (section 5's last resort), and names nothing internal.
#[tokio::test]
async fn row12_store_unreachable_fails_at_the_last_resort() {
    let app = app_without_database(None).await;
    let started = Instant::now();
    let r = app
        .handle(
            http_event("POST", &query_for(CREATE), &create_body()),
            Duration::from_millis(1500),
        )
        .await;
    let took = started.elapsed();
    let info = assert_fail(&r, 503);
    assert!(
        !info.contains("127.0.0.1") && !info.to_lowercase().contains("dispatch"),
        "{info}"
    );
    assert!(
        took >= Duration::from_millis(2100) && took < LATE_REPLY_BEFORE,
        "took {took:?}"
    );
}

#[tokio::test]
async fn row13_ok_after_the_write_and_on_redelivery() {
    let f = Fixture::new().await;
    assert_ok(&f.post(&query_for(CREATE), &create_body()).await);
    let first = f.dump().await;
    assert_eq!(first.len(), 1);
    assert_ok(&f.post(&query_for(CREATE), &create_body()).await);
    assert_eq!(f.dump().await, first);
}
