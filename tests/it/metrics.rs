//! The CloudWatch metrics: requests run through the handler, and their request lines
//! (Embedded Metric Format documents) are parsed and checked.

use crate::common::*;
use oa_webhook::telemetry;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn emf_documents_carry_requests_outcomes_rejections_and_dynamodb_figures() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = telemetry::RequestLog::buffer(Arc::clone(&lines), Some("fn-m"), 1_670_574_414_000);

    let mut f = Fixture::new().await;
    f.app.log = log;
    let create = "OfficialAccount.CallbackAfterCreateOfficialAccount";
    let body = json!({"Official_Account": "@TOA#_m", "Owner_Account": "o", "EventTime": 1});
    assert_ok(&f.after(create, body.clone()).await);
    assert_ok(&f.after(create, body).await);
    f.post("SdkAppid=9", "").await; // rejected: sdkappid_unknown
    f.post(
        &query_for("Group.CallbackAfterNewMemberJoin"),
        r#"{"CallbackCommand":"Group.CallbackAfterNewMemberJoin"}"#,
    )
    .await;
    let mut broken = f.app.clone();
    broken.store = oa_webhook::store::Store::new(f.client.clone(), "no-such-table");
    broken
        .handle(
            http_event(
                "POST",
                &query_for(create),
                &json!({"CallbackCommand": create, "Official_Account": "@TOA#_m", "EventTime": 2})
                    .to_string(),
            ),
            Duration::from_millis(300),
        )
        .await;

    let out = lines.lock().map(|b| b.clone()).unwrap_or_default();
    let docs: Vec<Value> = String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each EMF document is one JSON line"))
        .collect();
    assert_eq!(docs.len(), 5, "one line per request");
    assert!(!docs.is_empty());

    // Every document is valid EMF: _aws.Timestamp, one namespace, dimension names that
    // the document defines, and a value for every metric it declares.
    let mut values = std::collections::BTreeMap::<String, f64>::new();
    for d in &docs {
        assert_eq!(d["_aws"]["Timestamp"], 1_670_574_414_000u64);
        assert_eq!(
            d["message"], "webhook",
            "the metrics ride on the request line"
        );
        for cw in d["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives")
        {
            assert_eq!(cw["Namespace"], telemetry::NAMESPACE);
            let dims: Vec<&str> = cw["Dimensions"][0]
                .as_array()
                .expect("one dimension set")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(dims.first(), Some(&"FunctionName"), "{cw}");
            for dim in &dims {
                assert!(d[*dim].is_string(), "dimension {dim} has a value in {d}");
            }
            let key: String = dims
                .iter()
                .filter(|k| **k != "FunctionName")
                .map(|k| format!("{k}={},", d[*k].as_str().unwrap_or("")))
                .collect();
            for m in cw["Metrics"].as_array().expect("metrics") {
                let name = m["Name"].as_str().expect("metric name");
                let v = d[name]
                    .as_f64()
                    .expect("a number for every declared metric");
                *values.entry(format!("{key}{name}")).or_insert(0.0) += v;
                if name == "duration" || name == "dynamodb_time" {
                    assert_eq!(m["Unit"], "Milliseconds");
                }
            }
        }
    }
    let get = |k: &str| {
        values
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("no {k} in {values:?}"))
    };
    assert_eq!(
        get("callback=AfterCreateOfficialAccount,outcome=stored,requests"),
        1.0
    );
    assert_eq!(
        get("callback=AfterCreateOfficialAccount,outcome=unchanged,requests"),
        1.0
    );
    assert_eq!(get("callback=none,outcome=rejected,requests"), 1.0);
    assert_eq!(get("callback=OtherProduct,outcome=ignored,requests"), 1.0);
    assert_eq!(
        get("callback=AfterCreateOfficialAccount,outcome=failed,requests"),
        1.0
    );
    assert_eq!(get("reason=sdkappid_unknown,rejections"), 1.0);
    assert_eq!(get("requests_total"), 5.0);
    assert_eq!(get("server_errors"), 1.0);
    assert!(get("dynamodb_requests") >= 3.0);
    assert!(get("dynamodb_time") > 0.0);
    assert!(get("duration") > 0.0);
}
