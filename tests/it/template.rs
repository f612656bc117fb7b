//! `template.yaml` against the code: the table definition cannot drift, and the IAM
//! policy grants exactly the operations the function sends (least privilege).

use crate::common::*;
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;
use tencent_standin::table::definition;

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
    let def = definition();

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

/// The actions the template grants `function`, each with the resource it is granted on
/// (the logical name of the table or queue).
fn grants(t: &Yaml, function: &str) -> BTreeSet<(String, String)> {
    let f = resource(t, function);
    let mut out = BTreeSet::new();
    for policy in f["Properties"]["Policies"]
        .as_sequence()
        .expect("Policies list")
    {
        assert!(
            policy.as_str().is_none(),
            "no managed or SAM policy templates: only explicit statements"
        );
        for st in policy["Statement"].as_sequence().expect("statements") {
            // A statement granted under a condition: `!If [Condition, statement,
            // !Ref AWS::NoValue]`.
            let st = match st {
                Yaml::Tagged(t) if t.tag == "If" => &t.value[1],
                plain => plain,
            };
            assert_eq!(st["Effect"], "Allow");
            let resources = match &st["Resource"] {
                Yaml::Sequence(list) => list.iter().collect::<Vec<_>>(),
                one => vec![one],
            };
            for r in resources {
                let text = format!("{r:?}");
                assert!(!text.contains('*'), "no wildcard resources: {text}");
                let name = ["WebhookTable", "HandOffQueue", "DeadLetterQueue"]
                    .into_iter()
                    .find(|n| text.contains(&format!("{n}.Arn")))
                    .or_else(|| {
                        // The token's secret: the one given, else the one created.
                        (text.contains("CallbackTokenSecretArn")
                            && text.contains("String(\"CallbackTokenSecret\")"))
                        .then_some("CallbackTokenSecret")
                    })
                    .unwrap_or_else(|| {
                        panic!("resource {text} is not the table, a queue or the token's secret")
                    });
                for a in st["Action"].as_sequence().expect("actions") {
                    out.insert((a.as_str().expect("action").to_owned(), name.to_owned()));
                }
            }
        }
    }
    out
}

/// The DynamoDB actions the template grants the webhook function (on the table only).
fn granted_actions(t: &Yaml) -> BTreeSet<String> {
    table_actions(t, "WebhookFunction")
}

fn table_actions(t: &Yaml, function: &str) -> BTreeSet<String> {
    grants(t, function)
        .into_iter()
        .filter(|(a, _)| a.starts_with("dynamodb:"))
        .map(|(a, r)| {
            assert_eq!(r, "WebhookTable", "{a} on {r}");
            a
        })
        .collect()
}

fn queue_grants(t: &Yaml, function: &str) -> BTreeSet<(String, String)> {
    grants(t, function)
        .into_iter()
        .filter(|(a, _)| a.starts_with("sqs:"))
        .collect()
}

/// Contract section 1: the token lives in a secret (created from CallbackToken or
/// given as CallbackTokenSecretArn); the webhook may read that secret and nothing else
/// of Secrets Manager; the function's environment names the secret, never the token.
#[test]
fn the_token_is_a_secret_the_webhook_only_reads() {
    let t = template();
    let secret_grants: BTreeSet<(String, String)> = grants(&t, "WebhookFunction")
        .into_iter()
        .filter(|(a, _)| !a.starts_with("dynamodb:") && !a.starts_with("sqs:"))
        .collect();
    assert_eq!(
        secret_grants,
        BTreeSet::from([(
            "secretsmanager:GetSecretValue".to_owned(),
            "CallbackTokenSecret".to_owned()
        )])
    );
    for other in ["QueueConsumerFunction"] {
        if t["Resources"].get(other).is_some() {
            assert!(
                grants(&t, other)
                    .iter()
                    .all(|(_, r)| r != "CallbackTokenSecret"),
                "{other} reads the token"
            );
        }
    }
    let env = &resource(&t, "WebhookFunction")["Properties"]["Environment"]["Variables"];
    assert!(
        env.get("CALLBACK_TOKEN").is_none(),
        "the token in the environment"
    );
    let arn = format!("{:?}", env["CALLBACK_TOKEN_ARN"]);
    assert!(
        arn.contains("CallbackTokenSecretArn") && arn.contains("CallbackTokenSecret"),
        "{arn}"
    );
    let secret = resource(&t, "CallbackTokenSecret");
    assert_eq!(secret["Type"], "AWS::SecretsManager::Secret");
    assert_eq!(secret["Condition"], "CreateCallbackTokenSecret");
}

#[test]
fn policy_is_least_privilege() {
    let t = template();
    for function in ["WebhookFunction", "QueueConsumerFunction"] {
        for (a, r) in grants(&t, function) {
            // The token's secret: read, held to it by the_token_is_a_secret_the_webhook_only_reads.
            let token = a == "secretsmanager:GetSecretValue" && r == "CallbackTokenSecret";
            assert!(
                (a.starts_with("dynamodb:") || a.starts_with("sqs:") || token) && !a.contains('*'),
                "{function}: {a}"
            );
            assert!(
                !a.contains("Scan") && !a.contains("dynamodb:Delete"),
                "{function}: {a} is not needed"
            );
        }
    }
}

/// SQS: the webhook only sends (hand-off, dead letters: what `tests/it/handoff.rs` shows it
/// sending); the consumer gets what its event source mapping polls with on the hand-off
/// queue, and sends to the dead letters; both write the table with the same actions.
#[test]
fn queue_policies_are_least_privilege() {
    let t = template();
    let set = |v: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        v.iter()
            .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
            .collect()
    };
    assert_eq!(
        queue_grants(&t, "WebhookFunction"),
        set(&[
            ("sqs:SendMessage", "HandOffQueue"),
            ("sqs:SendMessage", "DeadLetterQueue")
        ])
    );
    assert_eq!(
        queue_grants(&t, "QueueConsumerFunction"),
        set(&[
            ("sqs:ReceiveMessage", "HandOffQueue"),
            ("sqs:DeleteMessage", "HandOffQueue"),
            ("sqs:GetQueueAttributes", "HandOffQueue"),
            ("sqs:ChangeMessageVisibility", "HandOffQueue"),
            ("sqs:SendMessage", "DeadLetterQueue")
        ])
    );
    // The webhook's writes, and the reads of a hot account's chunks before writing them
    // (docs/delivery.md, "At the partition's ceiling").
    let mut consumer_needs = table_actions(&t, "WebhookFunction");
    consumer_needs.insert("dynamodb:BatchGetItem".to_owned());
    assert_eq!(table_actions(&t, "QueueConsumerFunction"), consumer_needs);
    let consumer = &resource(&t, "QueueConsumerFunction")["Properties"];
    assert_eq!(consumer["Handler"], "queue");
    assert_eq!(
        consumer["CodeUri"],
        resource(&t, "WebhookFunction")["Properties"]["CodeUri"]
    );
    let esm = &resource(&t, "QueueConsumerEventSource")["Properties"];
    assert_eq!(esm["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    // Per-account writing wants batches larger than a transaction's 99 users (docs/
    // delivery.md, "The consumer"), inside what Lambda takes for a standard queue
    // (../shared/spec/aws.md): up to 10 000 records, a batching window past 10, 2-1000 at once.
    let batch = esm["BatchSize"].as_u64().expect("BatchSize");
    assert!((100..=10_000).contains(&batch), "{batch}");
    let window = esm["MaximumBatchingWindowInSeconds"]
        .as_u64()
        .expect("MaximumBatchingWindowInSeconds");
    assert!((1..=300).contains(&window), "{window}");
    let concurrency = esm["ScalingConfig"]["MaximumConcurrency"]
        .as_u64()
        .expect("MaximumConcurrency");
    assert!((2..=1000).contains(&concurrency), "{concurrency}");
    let timeout = consumer["Timeout"].as_u64().expect("consumer timeout");
    let budget: u64 = consumer["Environment"]["Variables"]["QUEUE_RECORD_BUDGET_MS"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("QUEUE_RECORD_BUDGET_MS");
    assert!(
        budget + 500 <= timeout * 1000,
        "a record's budget fits the timeout"
    );
    for q in ["HandOffQueue", "DeadLetterQueue"] {
        let p = &resource(&t, q)["Properties"];
        assert_eq!(p["SqsManagedSseEnabled"], true, "{q}");
        assert_eq!(p["MessageRetentionPeriod"], 1_209_600, "{q}");
    }
    let handoff = &resource(&t, "HandOffQueue")["Properties"];
    assert!(handoff["VisibilityTimeout"].as_u64().expect("visibility") >= 6 * timeout);
    assert!(handoff["RedrivePolicy"]["maxReceiveCount"]
        .as_u64()
        .is_some());
    // The webhook's last resort (2.1 s) fits its own timeout.
    let webhook_timeout = resource(&t, "WebhookFunction")["Properties"]["Timeout"]
        .as_u64()
        .expect("webhook timeout");
    assert!(
        oa_webhook::app::LAST_RESORT_AFTER.as_millis() + 100 < u128::from(webhook_timeout) * 1000
    );
}

/// The SQS operations the code sends, recorded on the function's own client: the
/// webhook's hand-off and dead letter, the consumer's dead letter. The consumer's
/// receive, delete and queue attributes are its event source mapping's, not the code's.
#[tokio::test]
async fn the_queue_policies_cover_exactly_what_the_code_sends() {
    use crate::common::sqs::*;
    use oa_webhook::clients::configure_webhook_sqs as configure;
    use oa_webhook::handoff::Queues;
    use serde_json::json;
    let recorder = OpRecorder::default();
    let queues = TestQueues::new().await;
    let mut f = Fixture::new().await;
    queues.wire(&mut f.app);
    let client = aws_sdk_sqs::Client::from_conf(
        configure(aws_sdk_sqs::config::Builder::from(&sqs_sdk_config_at(
            &sqs_endpoint(),
        )))
        .interceptor(recorder.clone())
        .build(),
    );
    f.app.queues = Queues::new(client, &f.app.config);
    let add = "OfficialAccount.CallbackAfterAddSubscriber";
    let users: Vec<_> = (0..150)
        .map(|i| json!({"Subscriber_Account": format!("u{i}")}))
        .collect();
    let long = json!({"CallbackCommand": add, "Official_Account": "@TOA#_t", "EventTime": 1, "SubscribeAccountList": users});
    assert_ok(&f.post(&query_for(add), &long.to_string()).await);
    let create = "OfficialAccount.CallbackAfterCreateOfficialAccount";
    let invalid = json!({"CallbackCommand": create, "Official_Account": "@TOA#_t"});
    assert_fail(&f.post(&query_for(create), &invalid.to_string()).await, 400);
    let webhook: BTreeSet<String> = recorder.ops.lock().expect("lock").iter().cloned().collect();
    recorder.ops.lock().expect("lock").clear();
    let record = oa_webhook::app::QueuedRecord {
        message_id: "m",
        body: "not an envelope",
        receive_count: 1,
        receipt_handle: None,
    };
    let consumed = f
        .app
        .consume_records(&[record], std::time::Duration::from_secs(5))
        .await;
    assert_eq!(consumed[0].verdict, oa_webhook::app::Verdict::Done);
    let consumer: BTreeSet<String> = recorder.ops.lock().expect("lock").iter().cloned().collect();
    let actions = |ops: &BTreeSet<String>| -> BTreeSet<String> {
        ops.iter().map(|o| format!("sqs:{o}")).collect()
    };
    let t = template();
    let granted = |function: &str| -> BTreeSet<String> {
        queue_grants(&t, function)
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    };
    assert_eq!(
        granted("WebhookFunction"),
        actions(&webhook),
        "sent: {webhook:?}"
    );
    let mut consumer_needs = actions(&consumer);
    // ChangeMessageVisibility: sent by the consumer for a failed-back record (hot.rs).
    for polled in [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ] {
        consumer_needs.insert(polled.to_owned());
    }
    assert_eq!(
        granted("QueueConsumerFunction"),
        consumer_needs,
        "sent: {consumer:?}"
    );
    drain(&queues.handoff).await;
    drain(&queues.dead_letters).await;
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

/// The dashboard's body: the text of its `!Sub` with every `${...}` replaced by `X`, as JSON.
fn dashboard_body(t: &Yaml) -> serde_json::Value {
    let body = &resource(t, "WebhookDashboard")["Properties"]["DashboardBody"];
    let Yaml::Tagged(sub) = body else {
        panic!("DashboardBody is a !Sub: {body:?}")
    };
    assert_eq!(sub.tag, "Sub");
    let text = match &sub.value {
        Yaml::String(s) => s.as_str(),
        Yaml::Sequence(seq) => seq[0].as_str().expect("the !Sub template"),
        other => panic!("unexpected !Sub {other:?}"),
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').expect("a closed ${...}") + i;
        out.push('X');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).expect("the dashboard body is JSON")
}

/// The metrics (name -> dimension names) the request line declares, read from the lines
/// of a probe and of a rejection as the function writes them.
async fn emitted_dimensions() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut app = app_at("http://127.0.0.1:9", "unused", None).await;
    app.log = oa_webhook::telemetry::RequestLog::buffer(buffer.clone(), Some("fn"), 1);
    let budget = std::time::Duration::from_millis(200);
    app.handle(http_event("POST", "SdkAppid=1400000001", ""), budget)
        .await;
    app.handle(http_event("POST", "SdkAppid=9", ""), budget)
        .await;
    let text = String::from_utf8(buffer.lock().expect("lock").clone()).expect("UTF-8");
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        for d in v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives")
        {
            assert_eq!(d["Namespace"], oa_webhook::telemetry::NAMESPACE);
            let dims: BTreeSet<String> = d["Dimensions"][0]
                .as_array()
                .expect("one dimension set")
                .iter()
                .map(|x| x.as_str().expect("a name").to_owned())
                .collect();
            for m in d["Metrics"].as_array().expect("metrics") {
                out.insert(m["Name"].as_str().expect("name").to_owned(), dims.clone());
            }
        }
    }
    out
}

/// `SEARCH('{OaWebhook,FunctionName,reason} MetricName="rejections" ...', ...)`: the
/// namespace, the dimension names and the metric name.
fn search_parts(expression: &str) -> Option<(String, BTreeSet<String>, String)> {
    let schema = expression.split_once("{")?.1.split_once('}')?.0;
    let mut names = schema
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned());
    let namespace = names.next()?;
    let metric = expression
        .split_once("MetricName=\"")?
        .1
        .split_once('"')?
        .0
        .to_owned();
    Some((namespace, names.collect(), metric))
}

/// Every dashboard widget that reads the function's namespace reads a metric the code
/// emits, with the dimensions it emits it with; and the page shows what an operator needs.
#[tokio::test]
async fn dashboard_uses_emitted_metrics() {
    let emitted = emitted_dimensions().await;
    let function_only: BTreeSet<String> = ["FunctionName".to_owned()].into();
    let dims_of = |name: &str| -> BTreeSet<String> {
        assert!(
            oa_webhook::telemetry::METRIC_NAMES.contains(&name),
            "the dashboard reads {name}, which the function does not emit"
        );
        // Metrics absent from a probe and a rejection (DynamoDB time, dropped fields)
        // are per-request figures, dimensioned by FunctionName only.
        emitted
            .get(name)
            .cloned()
            .unwrap_or_else(|| function_only.clone())
    };
    let t = template();
    let body = dashboard_body(&t);
    let mut shown: BTreeSet<String> = BTreeSet::new();
    for w in body["widgets"].as_array().expect("widgets") {
        let Some(rows) = w["properties"]["metrics"].as_array() else {
            continue;
        };
        for row in rows {
            let row = row.as_array().expect("a metric row");
            if let Some(expr) = row[0]["expression"].as_str() {
                if let Some((ns, dims, metric)) = search_parts(expr) {
                    if ns == oa_webhook::telemetry::NAMESPACE {
                        assert_eq!(dims, dims_of(&metric), "{expr}");
                        shown.insert(metric);
                    }
                }
                continue;
            }
            let ns = row[0].as_str().expect("a namespace");
            let metric = row[1].as_str().expect("a metric name");
            let dims: BTreeSet<String> = row[2..]
                .iter()
                .take_while(|x| x.is_string())
                .step_by(2)
                .map(|x| x.as_str().expect("a name").to_owned())
                .collect();
            if ns == oa_webhook::telemetry::NAMESPACE {
                assert_eq!(dims, dims_of(metric), "{metric}");
                let stat = row.last().and_then(|o| o["stat"].as_str()).unwrap_or("Sum");
                shown.insert(format!("{metric}:{stat}"));
                shown.insert(metric.to_owned());
            } else {
                shown.insert(format!("{ns}/{metric}"));
            }
        }
    }
    for needed in [
        "requests",
        "rejections",
        "requests_total",
        "server_errors",
        "duration:p50",
        "duration:p99",
        "dynamodb_time:p50",
        "dynamodb_time:p99",
        "dynamodb_requests",
        "dynamodb_retries",
        "AWS/DynamoDB/ReadThrottleEvents",
        "AWS/DynamoDB/WriteThrottleEvents",
    ] {
        assert!(
            shown.contains(needed),
            "the dashboard lacks {needed}: {shown:?}"
        );
    }
}

/// `FrontDoor` chooses the HTTP API or a function URL: each one's resources under its
/// condition, nothing unconditional that creates a front door, throttling for each, and
/// `WebhookUrl` for either.
#[test]
fn front_door_choice() {
    let t = template();
    let p = &t["Parameters"]["FrontDoor"];
    assert_eq!(p["Default"], "HttpApi");
    assert_eq!(
        p["AllowedValues"],
        serde_yaml::from_str::<Yaml>("[HttpApi, FunctionUrl]").expect("YAML")
    );
    for (name, condition) in [
        ("WebhookApi", "UseHttpApi"),
        ("WebhookApiAccessLogs", "UseHttpApi"),
        ("WebhookApiPermission", "UseHttpApi"),
        ("WebhookFunctionUrl", "UseFunctionUrl"),
        ("WebhookFunctionUrlPermission", "UseFunctionUrl"),
        ("WebhookFunctionUrlInvokePermission", "UseFunctionUrl"),
    ] {
        assert_eq!(resource(&t, name)["Condition"], condition, "{name}");
    }
    let f = resource(&t, "WebhookFunction");
    assert!(
        f["Properties"]["Events"].is_null(),
        "a SAM event would create a front door whatever FrontDoor says"
    );
    // Throttling: the API's route settings; the function URL's reserved concurrency,
    // required by a rule.
    let api = &resource(&t, "WebhookApi")["Properties"];
    assert!(!api["DefaultRouteSettings"]["ThrottlingRateLimit"].is_null());
    assert!(!api["DefaultRouteSettings"]["ThrottlingBurstLimit"].is_null());
    let rule = &t["Rules"]["FunctionUrlNeedsReservedConcurrency"];
    assert!(format!("{rule:?}").contains("ReservedConcurrency"));
    assert!(
        format!("{:?}", f["Properties"]["ReservedConcurrentExecutions"])
            .contains("ReservedConcurrency")
    );
    // The URL: no AWS authentication (Tencent cannot sign with AWS keys).
    let url = &resource(&t, "WebhookFunctionUrl")["Properties"];
    assert_eq!(url["AuthType"], "NONE");
    let out = format!("{:?}", t["Outputs"]["WebhookUrl"]["Value"]);
    assert!(
        out.contains("UseHttpApi") && out.contains("WebhookApi"),
        "{out}"
    );
    assert!(out.contains("WebhookFunctionUrl.FunctionUrl"), "{out}");
    // The new settings reach the function.
    let env = &f["Properties"]["Environment"]["Variables"];
    assert!(!env["ALLOWED_SOURCE_CIDRS"].is_null());
    assert!(!env["FORWARD_URL"].is_null());
}
