//! The logs of a full run (every command, every kind of rejection, a storage failure)
//! hold one JSON line per request with the documented fields (the request line), and
//! never the token, any Sign, or body text, in it or in any other line.

use crate::common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const TOKEN: &str = "tok-3f9a-SECRET";
const MARKER: &str = "BODYMARKER";

fn body(cmd: &str, mut fields: Value) -> String {
    fields["CallbackCommand"] = json!(cmd);
    fields["Official_Account"] = json!(format!("@TOA#_{MARKER}acct"));
    fields["EventTime"] = json!(1670574414123u64);
    fields.to_string()
}

#[tokio::test]
async fn logs_carry_outcomes_but_no_secrets_and_no_body_text() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter("info,oa_webhook=debug")
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut f = Fixture::with_token(Some(TOKEN)).await;
    // The request lines (log + metrics) bypass tracing; they go to the same capture.
    f.app.log = oa_webhook::telemetry::RequestLog::buffer(Arc::clone(&captured.0), None, 1);
    let t = NOW.to_string();
    let sign = oa_webhook::protocol::signature::sign(TOKEN, &t);
    let signed = |cmd: &str| format!("{}&Sign={sign}&RequestTime={t}", query_for(cmd));
    let text = json!(MARKER);
    let requests: Vec<(String, String)> = vec![
        (
            signed("OfficialAccount.CallbackAfterCreateOfficialAccount"),
            body(
                "OfficialAccount.CallbackAfterCreateOfficialAccount",
                json!({"Owner_Account": format!("{MARKER}owner"), "Name": text}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterOfficialAccountInfoChanged"),
            body(
                "OfficialAccount.CallbackAfterOfficialAccountInfoChanged",
                json!({"Introduction": text, "FaceUrl": text, "Organization": text}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterAddSubscriber"),
            body(
                "OfficialAccount.CallbackAfterAddSubscriber",
                json!({"SubscribeAccountList": [{"Subscriber_Account": format!("{MARKER}user")}]}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterDeleteSubscriber"),
            body(
                "OfficialAccount.CallbackAfterDeleteSubscriber",
                json!({"SubscribeAccountList": [{"Subscriber_Account": format!("{MARKER}user")}]}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterOfficialAccountFull"),
            body(
                "OfficialAccount.CallbackAfterOfficialAccountFull",
                json!({}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterSendMsg"),
            body(
                "OfficialAccount.CallbackAfterSendMsg",
                json!({"MsgKey": format!("{MARKER}key"), "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}], "CloudCustomData": text}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterMsgWithDraw"),
            body(
                "OfficialAccount.CallbackAfterMsgWithDraw",
                json!({"WithdrawMsgList": [{"MsgKey": format!("{MARKER}key")}]}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackAfterOfficialAccountDestroyed"),
            body(
                "OfficialAccount.CallbackAfterOfficialAccountDestroyed",
                json!({"Name": text}),
            ),
        ),
        (
            signed("OfficialAccount.CallbackBeforeSendMsg"),
            body(
                "OfficialAccount.CallbackBeforeSendMsg",
                json!({"MsgBody": []}),
            ),
        ),
        (
            signed("Group.CallbackAfterNewMemberJoin"),
            body("Group.CallbackAfterNewMemberJoin", json!({})),
        ),
        // Rejections.
        (
            query_for("OfficialAccount.CallbackAfterCreateOfficialAccount"),
            body(
                "OfficialAccount.CallbackAfterCreateOfficialAccount",
                json!({}),
            ),
        ),
        (
            format!(
                "{}&Sign={}&RequestTime={t}",
                query_for("OfficialAccount.CallbackAfterCreateOfficialAccount"),
                "0".repeat(64)
            ),
            body("x", json!({})),
        ),
        (
            signed("OfficialAccount.CallbackAfterCreateOfficialAccount"),
            format!("{{\"{MARKER}\": "),
        ),
        (
            signed("OfficialAccount.CallbackAfterCreateOfficialAccount"),
            body(
                "OfficialAccount.CallbackAfterCreateOfficialAccount",
                json!({"Name": 5, "Official_Account": 7}),
            ),
        ),
        // Query values are logged for operators (sanitized): an unknown SdkAppid, a
        // command name. Control characters and other punctuation become '?'.
        (
            format!("SdkAppid=QV1%0A%22x&Sign={sign}&RequestTime={t}"),
            String::new(),
        ),
        (
            format!(
                "SdkAppid={APP}&Sign={sign}&RequestTime={t}&CallbackCommand=OfficialAccount.QV2"
            ),
            body("OfficialAccount.QV2", json!({})),
        ),
    ];
    let n = requests.len();
    for (q, b) in &requests {
        f.post(q, b).await;
    }
    // A storage failure too: its error is logged, without body text.
    let mut broken = f.app.clone();
    broken.store = oa_webhook::store::Store::new(f.client.clone(), "no-such-table");
    broken
        .handle(
            http_event("POST", &requests[0].0, &requests[0].1),
            Duration::from_millis(500),
        )
        .await;

    let logs = String::from_utf8(captured.0.lock().map(|b| b.clone()).unwrap_or_default())
        .expect("logs are UTF-8");
    assert!(!logs.contains(TOKEN), "the token leaked into the logs");
    assert!(!logs.contains(&sign), "a Sign leaked into the logs");
    assert!(
        !logs.contains(&"0".repeat(64)),
        "a wrong Sign leaked into the logs"
    );
    assert!(
        !logs.contains(MARKER),
        "body text leaked into the logs:\n{logs}"
    );

    assert!(
        logs.contains(r#""sdk_app_id":"QV1??x""#),
        "unknown SdkAppid logged, sanitized"
    );
    assert!(
        logs.contains(r#""command":"OfficialAccount.QV2""#),
        "command names are logged"
    );

    // One JSON line per request, with the documented fields.
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .filter(|v: &Value| v["message"] == "webhook")
        .collect();
    assert_eq!(lines.len(), n + 1, "one line per request");
    for v in &lines {
        for field in [
            "request_id",
            "command",
            "sdk_app_id",
            "outcome",
            "status",
            "duration_us",
            "items_written",
            "ddb_requests",
            "ddb_retries",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {v}");
        }
    }
    let outcomes: Vec<&str> = lines.iter().filter_map(|v| v["outcome"].as_str()).collect();
    for o in ["stored", "rejected", "ignored", "allowed", "failed"] {
        assert!(outcomes.contains(&o), "no {o} outcome in {outcomes:?}");
    }
}

/// The binary's own log set-up (src/logging.rs), both formats Lambda's advanced logging
/// controls can ask for: JSON lines by default, plain text with `AWS_LAMBDA_LOG_FORMAT=Text`
/// and no terminal colour codes in either (CloudWatch shows them as `[2m...[0m` noise).
/// The line is the start's refusal of a missing `TABLE_NAME` (exit 2, contract section 1).
#[test]
fn the_binary_logs_json_by_default_and_plain_text_on_request() {
    let start = |format: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oa-webhook"));
        cmd.env_clear().env("SDKAPPID", "1400000001");
        if let Some(f) = format {
            cmd.env("AWS_LAMBDA_LOG_FORMAT", f);
        }
        let out = cmd.output().expect("the binary runs");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let json_log = start(None);
    let line: Value = serde_json::from_str(json_log.trim()).expect("one JSON line");
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["variable"], "TABLE_NAME", "{line}");

    let text_log = start(Some("Text"));
    assert_eq!(text_log.lines().count(), 1, "{text_log}");
    assert!(
        serde_json::from_str::<Value>(text_log.trim()).is_err(),
        "{text_log}"
    );
    assert!(
        text_log.contains("ERROR") && text_log.contains("TABLE_NAME"),
        "{text_log}"
    );
    for log in [&json_log, &text_log] {
        assert!(!log.contains('\u{1b}'), "a colour code in {log:?}");
    }
}
