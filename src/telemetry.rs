//! The request line: one JSON line per request on stdout, which is at once the log line
//! (request id, command, outcome, status, timings) and the request's CloudWatch metrics in
//! Embedded Metric Format (the `_aws` member; CloudWatch Logs extracts the metrics, no API
//! call). One line, rendered into one buffer by `metrique`'s EMF formatter and written with
//! one `write`: on a 128 MB Lambda the logging crates' several lines and small writes per
//! request cost more than the request's own logic (docs/performance.md; docs/decisions.md,
//! "metrique for the EMF line"). Its fields, metrics and dimension sets are listed in
//! docs/operations.md ("Logs", "Metrics and alarms"); the metric names are [`METRIC_NAMES`],
//! `fields_dropped` counting optional fields left out (docs/contract.md section 2).

use crate::clock::Clock;
use crate::events::CommandKind;
use crate::outcome::Outcome;
use metrique::emf::flags::NoMetric;
use metrique::emf::{Emf, MetricDefinition, MetricDirective};
use metrique::unit::{Count, Millisecond};
use metrique::unit_of_work::metrics;
use metrique::writer::format::Format;
use metrique::writer::Unit;
use metrique::{CloseValue, InflectableEntry, RootEntry};
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
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
#[derive(Clone)]
enum Sink {
    Off,
    Stdout,
    Buffer(Arc<Mutex<Vec<u8>>>),
}

/// Writes the request line; built once per instance.
#[derive(Clone)]
pub struct RequestLog {
    sink: Sink,
    function_name: Option<String>,
    /// The EMF formatters: `plain` declares `requests` by `callback` and `outcome` besides
    /// the per-request figures, `rejected` also `rejections` by `reason` (on rejected
    /// requests' lines alone). In a `Mutex`: `Emf::format` takes `&mut self` (it reuses its
    /// buffers), and one process may serve several invocations at once (docs/contract.md
    /// section 9).
    plain: Arc<Mutex<Emf>>,
    rejected: Arc<Mutex<Emf>>,
    /// The `Timestamp`'s clock (a set one in tests).
    clock: Clock,
}

impl RequestLog {
    /// Writes nothing (the default for an `App` built in tests).
    pub fn off() -> RequestLog {
        RequestLog::new(Sink::Off, None, Clock::system())
    }

    /// To stdout, with `FunctionName` from `AWS_LAMBDA_FUNCTION_NAME` (read through `env`,
    /// [`Env::process`](crate::config::Env::process) in the binary).
    pub fn stdout<L: Fn(&str) -> Option<String>>(env: &crate::config::Env<L>) -> RequestLog {
        let function_name = env.get("AWS_LAMBDA_FUNCTION_NAME");
        RequestLog::new(Sink::Stdout, function_name, Clock::system())
    }

    /// Into `buffer` (tests), with a fixed timestamp and an optional function name.
    pub fn buffer(
        buffer: Arc<Mutex<Vec<u8>>>,
        function_name: Option<&str>,
        timestamp_ms: u64,
    ) -> RequestLog {
        let function_name = function_name.map(str::to_owned);
        RequestLog::new(
            Sink::Buffer(buffer),
            function_name,
            Clock::at_ms(timestamp_ms),
        )
    }

    fn new(sink: Sink, function_name: Option<String>, clock: Clock) -> RequestLog {
        let dims = |extra: &[&'static str]| -> Vec<&'static str> {
            let mut set: Vec<&'static str> = function_name.iter().map(|_| "FunctionName").collect();
            set.extend_from_slice(extra);
            set
        };
        // A count under a dimension set of its own.
        let count_by = |name, extra: &[&'static str]| MetricDirective {
            dimensions: vec![dims(extra)],
            metrics: vec![MetricDefinition {
                name,
                unit: Unit::Count,
                storage_resolution: None,
            }],
            namespace: NAMESPACE,
        };
        // The per-request figures: the fields of `Line` that are metrics, under the default
        // dimension set.
        let set = dims(&[]).into_iter().map(str::to_owned).collect();
        let plain = Emf::builder(NAMESPACE.to_owned(), vec![set])
            .directive(count_by("requests", &["callback", "outcome"]));
        let rejected = plain.clone().directive(count_by("rejections", &["reason"]));
        RequestLog {
            sink,
            function_name,
            plain: Arc::new(Mutex::new(plain.build())),
            rejected: Arc::new(Mutex::new(rejected.build())),
            clock,
        }
    }

    /// Writes one request line (nothing when off). A failed write becomes a `tracing`
    /// warning and is otherwise ignored: the reply does not depend on it.
    pub fn write(&self, m: &RequestMetrics<'_>) {
        let result = match &self.sink {
            Sink::Off => return,
            Sink::Stdout => std::io::stdout().write_all(&self.render(m)),
            Sink::Buffer(b) => b
                .lock()
                .map_or(Ok(()), |mut b| b.write_all(&self.render(m))),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "request line not written");
        }
    }

    /// The line, newline included.
    pub(crate) fn render(&self, m: &RequestMetrics<'_>) -> Vec<u8> {
        let rejected = m.outcome.is_rejected();
        let line = Line {
            timestamp: UNIX_EPOCH + Duration::from_millis(self.clock.now_ms()),
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
            duration: micros(m.duration),
            dynamodb_time: (m.dynamodb_requests > 0).then(|| micros(m.dynamodb_time)),
            dynamodb_requests: m.dynamodb_requests,
            dynamodb_retries: m.dynamodb_retries,
            fields_dropped: m.fields_dropped,
        };
        let emf = if rejected {
            &self.rejected
        } else {
            &self.plain
        };
        let mut emf = emf.lock().unwrap_or_else(PoisonError::into_inner);
        emf_line(&mut emf, line, "request line")
            .unwrap_or_else(|| b"{\"level\":\"INFO\",\"message\":\"webhook\"}\n".to_vec())
    }
}

fn micros(d: Duration) -> Duration {
    // Microsecond resolution is what CloudWatch can show; keeps the line short.
    Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The line's fields besides `_aws`: the log fields, then the metric values and
/// dimensions. Numbers that are log fields only carry `NoMetric`; `requests` and
/// `rejections` are declared by their own directives (dimension sets of their own).
#[metrics]
struct Line<'a> {
    #[metrics(timestamp)]
    timestamp: SystemTime,
    level: &'static str,
    message: &'static str,
    request_id: &'a str,
    command: &'a str,
    sdk_app_id: &'a str,
    outcome: &'static str,
    reason: &'static str,
    #[metrics(flags(NoMetric))]
    status: u16,
    #[metrics(flags(NoMetric))]
    duration_us: u64,
    #[metrics(flags(NoMetric))]
    items_written: u32,
    #[metrics(flags(NoMetric))]
    ddb_requests: u32,
    #[metrics(flags(NoMetric))]
    ddb_retries: u32,
    #[metrics(name = "FunctionName")]
    function_name: Option<&'a str>,
    callback: &'static str,
    #[metrics(flags(NoMetric))]
    requests: u8,
    #[metrics(unit = Count)]
    requests_total: u8,
    #[metrics(unit = Count)]
    server_errors: u8,
    #[metrics(flags(NoMetric))]
    rejections: Option<u8>,
    #[metrics(unit = Millisecond)]
    duration: Duration,
    #[metrics(unit = Millisecond)]
    dynamodb_time: Option<Duration>,
    #[metrics(unit = Count)]
    dynamodb_requests: u32,
    #[metrics(unit = Count)]
    dynamodb_retries: u32,
    #[metrics(unit = Count)]
    fields_dropped: u32,
}

/// One account's sync as counts: the metrics of its EMF line ([`sync_line`]), each
/// named with a `sync_` prefix.
#[metrics(subfield)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SyncCounts {
    #[metrics(unit = Count)]
    pub found_missing: u32,
    #[metrics(unit = Count)]
    pub subscribers_added: u32,
    #[metrics(unit = Count)]
    pub subscribers_removed: u32,
    #[metrics(unit = Count)]
    pub messages_added: u32,
    #[metrics(unit = Count)]
    pub messages_withdrawn: u32,
    /// 1 when the stored `subscriber_count` differed from the REST API's.
    #[metrics(unit = Count)]
    pub count_mismatch: u32,
    /// 1 when the account's sync failed.
    #[metrics(unit = Count)]
    pub failed: u32,
}

/// The sync's line for one account: its counts as EMF metrics (namespace [`NAMESPACE`],
/// dimension `Door` = `sync`), through metrique's formatter as the request line is; no
/// newline. Clock: `clock` (the `Timestamp`).
pub(crate) fn sync_line(app: &str, account: &str, counts: &SyncCounts, clock: &Clock) -> String {
    let line = SyncLine {
        timestamp: UNIX_EPOCH + Duration::from_millis(clock.now_ms()),
        door: "sync",
        sdk_app_id: app,
        official_account: account,
        counts,
    };
    let mut emf = Emf::builder(NAMESPACE.to_owned(), vec![vec!["Door".to_owned()]]).build();
    let out = emf_line(&mut emf, line, "sync line").unwrap_or_default();
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

#[metrics]
struct SyncLine<'a> {
    #[metrics(timestamp)]
    timestamp: SystemTime,
    #[metrics(name = "Door")]
    door: &'static str,
    sdk_app_id: &'a str,
    official_account: &'a str,
    #[metrics(flatten, exact_prefix = "sync_")]
    counts: &'a SyncCounts,
}

/// `line` as one EMF document (newline included) through `emf`, the one writer of both
/// lines; `None`, logged, only for an entry that fails metrique's validation (a
/// debug-build check).
fn emf_line(
    emf: &mut Emf,
    line: impl CloseValue<Closed: InflectableEntry>,
    what: &str,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    match emf.format(&RootEntry::new(line.close()), &mut out) {
        Ok(()) => Some(out),
        Err(e) => {
            tracing::warn!(error = %e, "{what} not rendered as EMF");
            None
        }
    }
}

/// A bounded label for a command ([`CommandKind::label`]); `none` without one.
pub(crate) fn command_label(command: Option<&str>) -> &'static str {
    command.map_or("none", |c| CommandKind::of(c).label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Reason};
    use crate::protocol::signature::AuthError;
    use serde_json::Value;

    #[test]
    fn a_sync_line_is_emf_with_its_counts_under_door() {
        let counts = SyncCounts {
            found_missing: 3,
            failed: 1,
            ..SyncCounts::default()
        };
        let line = sync_line("1400000001", "@TOA#_a", &counts, &Clock::at_ms(1_000));
        let v: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["_aws"]["Timestamp"], 1000, "{line}");
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
        assert_eq!(directive["Dimensions"][0][0], "Door", "{line}");
        assert!(declared(&v).contains(&"sync_found_missing"), "{line}");
        assert_eq!(v["Door"], "sync");
        assert_eq!(v["official_account"], "@TOA#_a");
        assert_eq!(v["sync_found_missing"], 3);
        assert_eq!(v["sync_failed"], 1);
    }

    /// `v`'s metric directives.
    fn directives(v: &Value) -> &[Value] {
        v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .expect("directives")
    }

    /// The metric names `v`'s directives declare.
    fn declared(v: &Value) -> Vec<&str> {
        directives(v)
            .iter()
            .flat_map(|d| d["Metrics"].as_array().into_iter().flatten())
            .filter_map(|m| m["Name"].as_str())
            .collect()
    }

    const STORED: Outcome = Outcome::Stored { items_written: 1 };

    #[test]
    fn command_labels_are_bounded() {
        for (command, label) in [
            (Some("OfficialAccount.CallbackAfterSendMsg"), "AfterSendMsg"),
            (Some("OfficialAccount.CallbackBeforeSendMsg"), "Before"),
            (Some("OfficialAccount.Whatever"), "OfficialAccountOther"),
            (Some("Group.CallbackAfterNewMemberJoin"), "OtherProduct"),
            (None, "none"),
        ] {
            assert_eq!(command_label(command), label, "{command:?}");
        }
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
        let directives = directives(&v);
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
        let rejected = Outcome::rejected(Reason::Auth(AuthError::BadSign), "x");
        let v = parse(&log, &figures(&rejected, 0));
        let directives = directives(&v);
        assert_eq!(directives.len(), 3);
        assert_eq!(directives[2]["Dimensions"], serde_json::json!([["reason"]]));
        assert_eq!(v["rejections"], 1);
        assert!(v.get("dynamodb_time").is_none(), "{v}");
        assert!(v.get("FunctionName").is_none(), "{v}");
        assert!(!declared(&v).contains(&"dynamodb_time"), "{v}");
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
