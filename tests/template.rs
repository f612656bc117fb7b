//! `template.yaml` against the code: the table definition cannot drift, and the IAM
//! policy grants exactly the operations the function sends (least privilege).

mod common;

use common::*;
use oa_webhook::store::schema;
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;

fn template() -> Yaml {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml exists");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn resource<'a>(t: &'a Yaml, name: &str) -> &'a Yaml {
    &t["Resources"][name]
}

fn pairs(list: &Yaml, a: &str, b: &str) -> BTreeSet<(String, String)> {
    list.as_sequence()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e[a].as_str().expect("a string").to_owned(),
                e[b].as_str().expect("a string").to_owned(),
            )
        })
        .collect()
}

#[test]
fn table_definition_matches_the_code() {
    let t = template();
    let table = resource(&t, "WebhookTable");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    let def = schema::definition();

    assert_eq!(p["BillingMode"].as_str(), Some(def.billing_mode.as_str()));
    let attrs: BTreeSet<(String, String)> = def
        .attributes
        .iter()
        .map(|(n, t)| (n.to_string(), t.as_str().to_owned()))
        .collect();
    assert_eq!(
        pairs(&p["AttributeDefinitions"], "AttributeName", "AttributeType"),
        attrs
    );
    let key = |k: &[(&str, aws_sdk_dynamodb::types::KeyType); 2]| -> BTreeSet<(String, String)> {
        k.iter()
            .map(|(n, t)| (n.to_string(), t.as_str().to_owned()))
            .collect()
    };
    assert_eq!(
        pairs(&p["KeySchema"], "AttributeName", "KeyType"),
        key(&def.key)
    );

    let gsis = p["GlobalSecondaryIndexes"].as_sequence().expect("indexes");
    assert_eq!(gsis[0]["IndexName"].as_str(), Some(def.index_name));
    assert_eq!(
        pairs(&gsis[0]["KeySchema"], "AttributeName", "KeyType"),
        key(&def.index_key)
    );
    assert_eq!(
        gsis[0]["Projection"]["ProjectionType"].as_str(),
        Some(def.index_projection.as_str())
    );
    assert_eq!(gsis.len(), 1 + def.more_indexes.len());
    for (g, (name, k, projection)) in gsis[1..].iter().zip(&def.more_indexes) {
        assert_eq!(g["IndexName"].as_str(), Some(*name));
        assert_eq!(pairs(&g["KeySchema"], "AttributeName", "KeyType"), key(k));
        assert_eq!(
            g["Projection"]["ProjectionType"].as_str(),
            Some(projection.as_str())
        );
    }
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
}

/// The DynamoDB actions the template grants the function.
fn granted_actions(t: &Yaml) -> BTreeSet<String> {
    let f = resource(t, "WebhookFunction");
    let mut actions = BTreeSet::new();
    for policy in f["Properties"]["Policies"]
        .as_sequence()
        .expect("Policies list")
    {
        assert!(
            policy.as_str().is_none(),
            "no managed or SAM policy templates: only explicit statements"
        );
        for st in policy["Statement"].as_sequence().expect("statements") {
            assert_eq!(st["Effect"], "Allow");
            for r in st["Resource"].as_sequence().expect("resources") {
                let text = format!("{r:?}");
                assert!(
                    text.contains("WebhookTable"),
                    "resource {text} is not the table"
                );
                assert!(!text.contains('*'), "no wildcard resources: {text}");
            }
            for a in st["Action"].as_sequence().expect("actions") {
                actions.insert(a.as_str().expect("action").to_owned());
            }
        }
    }
    actions
}

#[test]
fn policy_is_least_privilege() {
    let actions = granted_actions(&template());
    for a in &actions {
        assert!(a.starts_with("dynamodb:") && !a.contains('*'), "{a}");
        assert!(
            !a.contains("Scan") && !a.contains("Delete"),
            "{a} is not needed"
        );
    }
}

/// Runs every sample event plus the conflict-prone paths through an app whose client
/// records its operations, and holds them to the policy.
#[tokio::test]
async fn the_policy_covers_exactly_what_the_code_sends() {
    let recorder = OpRecorder::default();
    let app = recorder.app().await;
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/events"))
        .expect("events/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("event");
        let r = app
            .handle(parse_event(&text), std::time::Duration::from_millis(1500))
            .await;
        assert_ok(&r);
    }
    let sent: BTreeSet<String> = recorder.ops.lock().expect("lock").iter().cloned().collect();
    // Map operations to the IAM actions that authorize them.
    let mut needed = BTreeSet::new();
    for op in &sent {
        match op.as_str() {
            "TransactWriteItems" => {
                needed.insert("dynamodb:PutItem".to_owned());
                needed.insert("dynamodb:UpdateItem".to_owned());
            }
            other => {
                needed.insert(format!("dynamodb:{other}"));
            }
        }
    }
    assert!(
        sent.contains("TransactWriteItems"),
        "subscriber events were exercised: {sent:?}"
    );
    assert_eq!(
        granted_actions(&template()),
        needed,
        "operations sent: {sent:?}"
    );
}

/// The alarms watch metrics the function really emits, with the dimension it sets.
#[test]
fn alarms_use_emitted_metrics() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("resources");
    let mut ours = 0;
    for (_, r) in resources {
        if r["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let p = &r["Properties"];
        let mut stats: Vec<&Yaml> = Vec::new();
        if let Some(ms) = p["Metrics"].as_sequence() {
            stats.extend(ms.iter().map(|m| &m["MetricStat"]["Metric"]));
        } else {
            stats.push(p);
        }
        for m in stats {
            if m["Namespace"] == oa_webhook::telemetry::NAMESPACE {
                ours += 1;
                let name = m["MetricName"].as_str().expect("metric name");
                assert!(
                    oa_webhook::telemetry::METRIC_NAMES.contains(&name),
                    "alarm on {name}, which the function does not emit"
                );
                assert_eq!(m["Dimensions"][0]["Name"], "FunctionName");
            }
        }
    }
    assert!(
        ours >= 2,
        "the 5xx-rate alarm reads the function's own metrics"
    );
}
