//! The request line: one JSON line per request on stdout, which is at once the log line
//! (request id, command, outcome, status, timings) and the request's CloudWatch metrics in
//! Embedded Metric Format (the `_aws` member; CloudWatch Logs extracts the metrics, no API
//! call). One line, rendered into one buffer and written with one `write`, because on a
//! 128 MB Lambda every microsecond of CPU is about fourteen of billed time (Lambda gives
//! a 128 MB function a fourteenth of a vCPU), and the logging crates' several lines and
//! many small writes per request cost more than the request's own logic
//! (docs/performance.md).
//!
//! Metrics (namespace [`NAMESPACE`]; every dimension set also has `FunctionName` when
//! `AWS_LAMBDA_FUNCTION_NAME` is set):
//! - `requests` (Count) by `callback` (a bounded label of the command, [`command_label`])
//!   and `outcome`;
//! - `requests_total`, `server_errors` (Count), `duration` (Milliseconds),
//!   `dynamodb_requests`, `dynamodb_retries` (Count), and `dynamodb_time` (Milliseconds,
//!   only for requests that called DynamoDB), with no other dimension;
//! - `rejections` (Count) by `reason`, on rejected requests;
//! - `fields_dropped` (Count): optional fields of after-events left out because they
//!   could not be read (docs/contract.md section 2, "Reading fields").

use crate::events::CommandKind;
use crate::outcome::Outcome;
use serde::Serialize;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "OaWebhook";

/// Every metric name the request line carries (`template.yaml`'s alarms may use only these).
pub const METRIC_NAMES: &[&str] = &[
    "requests",
    "requests_total",
    "server_errors",
    "rejections",
    "duration",
    "dynamodb_time",
    "dynamodb_requests",
    "dynamodb_retries",
    "fields_dropped",
];

/// One request's figures.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetrics<'a> {
    pub request_id: &'a str,
    /// The command as received, already reduced to log-safe characters.
    pub command: Option<&'a str>,
    /// The SdkAppid as received, log-safe.
    pub sdk_app_id: Option<&'a str>,
    pub outcome: &'a Outcome,
    /// Optional fields of the event left out because they could not be read.
    pub fields_dropped: u32,
    pub status: u16,
    pub duration: Duration,
    pub dynamodb_time: Duration,
    pub dynamodb_requests: u32,
    pub dynamodb_retries: u32,
}

/// Where request lines go.
#[derive(Debug, Clone)]
enum Sink {
    Off,
    Stdout,
    Buffer(Arc<Mutex<Vec<u8>>>),
}

/// Writes the request line; built once per instance.
#[derive(Debug, Clone)]
pub struct RequestLog {
    sink: Sink,
    function_name: Option<String>,
    /// The `CloudWatchMetrics` directives, rendered once.
    directives: Directives,
    /// Fixed `Timestamp` (tests); `None`: the clock.
    timestamp_ms: Option<u64>,
}

/// The EMF `CloudWatchMetrics` directives a line may carry, each rendered once as JSON.
#[derive(Debug, Clone)]
struct Directives {
    /// `requests` by `callback` and `outcome`: every line.
    requests: String,
    /// The per-request figures with `dynamodb_time`: lines of requests that called DynamoDB.
    per_request_with_dynamodb_time: String,
    /// The same without `dynamodb_time`: the other lines.
    per_request: String,
    /// `rejections` by `reason`: lines of rejected requests.
    rejections: String,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::off()
    }
}

impl RequestLog {
    /// Writes nothing (the default for an `App` built in tests).
    pub fn off() -> RequestLog {
        RequestLog::new(Sink::Off, None)
    }

    /// To stdout, with `FunctionName` from `AWS_LAMBDA_FUNCTION_NAME`: what `main` uses.
    pub fn stdout() -> RequestLog {
        let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty());
        RequestLog::new(Sink::Stdout, name)
    }

    /// Into `buffer` (tests), with a fixed timestamp and an optional function name.
    pub fn buffer(
        buffer: Arc<Mutex<Vec<u8>>>,
        function_name: Option<&str>,
        timestamp_ms: u64,
    ) -> RequestLog {
        let mut log = RequestLog::new(Sink::Buffer(buffer), function_name.map(str::to_owned));
        log.timestamp_ms = Some(timestamp_ms);
        log
    }

    fn new(sink: Sink, function_name: Option<String>) -> RequestLog {
        let dims = |extra: &[&'static str]| -> Vec<&'static str> {
            let mut set: Vec<&'static str> = function_name.iter().map(|_| "FunctionName").collect();
            set.extend_from_slice(extra);
            set
        };
        let directive = |set: Vec<&str>, metrics: &[(&str, &str)]| {
            let metrics: Vec<_> = metrics
                .iter()
                .map(|(name, unit)| serde_json::json!({"Name": name, "Unit": unit}))
                .collect();
            serde_json::json!({"Namespace": NAMESPACE, "Dimensions": [set], "Metrics": metrics})
                .to_string()
        };
        // The figures every request has, plus `extra`.
        let per_request = |extra: &[(&'static str, &'static str)]| {
            let mut m = vec![
                ("requests_total", "Count"),
                ("server_errors", "Count"),
                ("duration", "Milliseconds"),
                ("dynamodb_requests", "Count"),
                ("dynamodb_retries", "Count"),
                ("fields_dropped", "Count"),
            ];
            m.extend_from_slice(extra);
            directive(dims(&[]), &m)
        };
        let directives = Directives {
            requests: directive(dims(&["callback", "outcome"]), &[("requests", "Count")]),
            per_request_with_dynamodb_time: per_request(&[("dynamodb_time", "Milliseconds")]),
            per_request: per_request(&[]),
            rejections: directive(dims(&["reason"]), &[("rejections", "Count")]),
        };
        RequestLog {
            sink,
            function_name,
            directives,
            timestamp_ms: None,
        }
    }

    /// Writes one request line (nothing when off). A failed write becomes a `tracing`
    /// warning and is otherwise ignored: the reply does not depend on it.
    pub fn write(&self, m: &RequestMetrics<'_>) {
        if matches!(self.sink, Sink::Off) {
            return;
        }
        let line = self.render(m);
        let result = match &self.sink {
            Sink::Off => Ok(()),
            Sink::Stdout => std::io::stdout().lock().write_all(&line),
            Sink::Buffer(b) => {
                if let Ok(mut b) = b.lock() {
                    b.extend_from_slice(&line);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "request line not written");
        }
    }

    /// The line, newline included.
    pub fn render(&self, m: &RequestMetrics<'_>) -> Vec<u8> {
        let timestamp = self.timestamp_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        });
        let rejected = m.outcome.is_rejected();
        let called_dynamodb = m.dynamodb_requests > 0;
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(b"{\"_aws\":{\"Timestamp\":");
        let _ = write!(out, "{timestamp},\"CloudWatchMetrics\":["); // into a Vec: cannot fail
        let d = &self.directives;
        out.extend_from_slice(d.requests.as_bytes());
        out.push(b',');
        out.extend_from_slice(if called_dynamodb {
            d.per_request_with_dynamodb_time.as_bytes()
        } else {
            d.per_request.as_bytes()
        });
        if rejected {
            out.push(b',');
            out.extend_from_slice(d.rejections.as_bytes());
        }
        out.extend_from_slice(b"]},");
        let fields = Fields {
            level: "INFO",
            message: "webhook",
            request_id: m.request_id,
            command: m.command.unwrap_or(""),
            sdk_app_id: m.sdk_app_id.unwrap_or(""),
            outcome: m.outcome.label(),
            reason: m.outcome.reason(),
            status: m.status,
            duration_us: u64::try_from(m.duration.as_micros()).unwrap_or(u64::MAX),
            items_written: m.outcome.items_written(),
            ddb_requests: m.dynamodb_requests,
            ddb_retries: m.dynamodb_retries,
            function_name: self.function_name.as_deref(),
            callback: command_label(m.command),
            requests: 1,
            requests_total: 1,
            server_errors: u8::from(m.status >= 500),
            rejections: rejected.then_some(1),
            duration: millis(m.duration),
            dynamodb_time: called_dynamodb.then(|| millis(m.dynamodb_time)),
            dynamodb_requests: m.dynamodb_requests,
            dynamodb_retries: m.dynamodb_retries,
            fields_dropped: m.fields_dropped,
        };
        let start = out.len();
        // Serializing a struct of strings and numbers into a Vec cannot fail.
        if serde_json::to_writer(&mut out, &fields).is_ok() && out.get(start) == Some(&b'{') {
            out.remove(start); // the object's own '{': the `_aws` member opened it
        } else {
            out.truncate(start);
            out.extend_from_slice(b"\"message\":\"webhook\"}");
        }
        out.push(b'\n');
        out
    }
}

fn millis(d: Duration) -> f64 {
    // Microsecond resolution is what CloudWatch can show; keeps the line short.
    (d.as_micros() as f64) / 1000.0
}

/// The line's fields after `_aws`: the log fields, then the metric values and dimensions.
#[derive(Serialize)]
struct Fields<'a> {
    level: &'static str,
    message: &'static str,
    request_id: &'a str,
    command: &'a str,
    sdk_app_id: &'a str,
    outcome: &'static str,
    reason: &'static str,
    status: u16,
    duration_us: u64,
    items_written: u32,
    ddb_requests: u32,
    ddb_retries: u32,
    #[serde(rename = "FunctionName", skip_serializing_if = "Option::is_none")]
    function_name: Option<&'a str>,
    callback: &'static str,
    requests: u8,
    requests_total: u8,
    server_errors: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejections: Option<u8>,
    duration: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dynamodb_time: Option<f64>,
    dynamodb_requests: u32,
    dynamodb_retries: u32,
    fields_dropped: u32,
}

/// A bounded label for a command ([`CommandKind::label`]); `none` without one.
pub fn command_label(command: Option<&str>) -> &'static str {
    command.map_or("none", |c| CommandKind::of(c).label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Reason};
    use serde_json::Value;

    const STORED: Outcome = Outcome::Stored { items_written: 1 };

    #[test]
    fn command_labels_are_bounded() {
        assert_eq!(
            command_label(Some("OfficialAccount.CallbackAfterSendMsg")),
            "AfterSendMsg"
        );
        assert_eq!(
            command_label(Some("OfficialAccount.CallbackBeforeSendMsg")),
            "Before"
        );
        assert_eq!(
            command_label(Some("OfficialAccount.Whatever")),
            "OfficialAccountOther"
        );
        assert_eq!(
            command_label(Some("Group.CallbackAfterNewMemberJoin")),
            "OtherProduct"
        );
        assert_eq!(command_label(None), "none");
    }

    fn figures(outcome: &Outcome, requests: u32) -> RequestMetrics<'_> {
        RequestMetrics {
            request_id: "r\"1",
            command: Some("OfficialAccount.CallbackAfterSendMsg"),
            sdk_app_id: Some("1400000001"),
            outcome,
            fields_dropped: 0,
            status: outcome.reply().status,
            duration: Duration::from_micros(1234),
            dynamodb_time: Duration::from_micros(900),
            dynamodb_requests: requests,
            dynamodb_retries: 0,
        }
    }

    fn parse(log: &RequestLog, m: &RequestMetrics<'_>) -> Value {
        let line = log.render(m);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        serde_json::from_slice(&line).expect("the line is one JSON object")
    }

    #[test]
    fn a_line_is_a_valid_emf_document_with_the_log_fields() {
        let log = RequestLog::buffer(Arc::default(), Some("fn-a"), 1_700_000_000_000);
        let v = parse(&log, &figures(&STORED, 1));
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(v["message"], "webhook");
        assert_eq!(v["request_id"], "r\"1");
        assert_eq!(v["callback"], "AfterSendMsg");
        assert_eq!(v["FunctionName"], "fn-a");
        assert_eq!(v["duration"], 1.234);
        assert_eq!(v["dynamodb_time"], 0.9);
        // Every declared metric has a number; every dimension a string.
        let directives = v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives");
        assert_eq!(directives.len(), 2, "no rejection directive: {v}");
        for d in directives {
            assert_eq!(d["Namespace"], NAMESPACE);
            for dim in d["Dimensions"][0].as_array().expect("one set") {
                let dim = dim.as_str().expect("name");
                assert!(v[dim].is_string(), "dimension {dim} in {v}");
            }
            for metric in d["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("name");
                assert!(METRIC_NAMES.contains(&name), "{name}");
                assert!(v[name].is_number(), "metric {name} in {v}");
            }
        }
    }

    #[test]
    fn rejections_and_requests_without_dynamodb() {
        let log = RequestLog::buffer(Arc::default(), None, 1);
        let v = parse(
            &log,
            &figures(
                &Outcome::rejected(
                    Reason::Auth(crate::protocol::signature::AuthError::BadSign),
                    "x",
                ),
                0,
            ),
        );
        let directives = v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives");
        assert_eq!(directives.len(), 3);
        assert_eq!(directives[2]["Dimensions"], serde_json::json!([["reason"]]));
        assert_eq!(v["rejections"], 1);
        assert!(v.get("dynamodb_time").is_none(), "{v}");
        assert!(v.get("FunctionName").is_none(), "{v}");
        let declared: Vec<&str> = directives
            .iter()
            .flat_map(|d| d["Metrics"].as_array().into_iter().flatten())
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert!(!declared.contains(&"dynamodb_time"), "{declared:?}");
        let failed = parse(&log, &figures(&Outcome::Failed(Failure::StoreTimeout), 2));
        assert_eq!(failed["server_errors"], 1);
        assert!(failed.get("rejections").is_none(), "{failed}");
    }

    #[test]
    fn off_writes_nothing_and_buffer_collects_lines() {
        RequestLog::off().write(&figures(&STORED, 1));
        let buf = Arc::new(Mutex::new(Vec::new()));
        let log = RequestLog::buffer(Arc::clone(&buf), None, 1);
        log.write(&figures(&STORED, 1));
        log.write(&figures(&Outcome::Unchanged, 1));
        let text =
            String::from_utf8(buf.lock().map(|b| b.clone()).unwrap_or_default()).expect("UTF-8");
        assert_eq!(text.lines().count(), 2);
    }
}
