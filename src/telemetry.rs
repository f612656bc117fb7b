//! CloudWatch metrics in Embedded Metric Format, written to the same log stream as the
//! request lines (no API calls): `metrics_cloudwatch_embedded` behind the `metrics`
//! facade, flushed after every invocation.
//!
//! Metrics (namespace [`NAMESPACE`], every one with a `FunctionName` dimension):
//! - `requests` by `command` and `outcome`; `requests_total` and `server_errors` with no
//!   dimension (what the 5xx-rate alarm divides);
//! - `rejections` by `reason`;
//! - `duration` (ms), `dynamodb_time` (ms spent waiting on DynamoDB), `dynamodb_requests`
//!   and `dynamodb_retries` per request, no dimension.

use crate::protocol::command::{AfterCommand, OFFICIAL_ACCOUNT_PREFIX};
use metrics::{counter, describe_histogram, histogram, Unit};
use metrics_cloudwatch_embedded::Collector;
use std::time::Duration;

pub const NAMESPACE: &str = "OaWebhook";

/// Every metric name this module emits (`template.yaml`'s alarms may use only these).
pub const METRIC_NAMES: &[&str] = &[
    "requests",
    "requests_total",
    "server_errors",
    "rejections",
    "duration",
    "dynamodb_time",
    "dynamodb_requests",
    "dynamodb_retries",
];

/// Installs the global EMF collector once per process.
pub fn install() -> Option<&'static Collector> {
    let mut builder = metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(NAMESPACE);
    // Every metric carries the function's name, so two deployments never mix.
    if let Ok(name) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        builder = builder.with_dimension("FunctionName", name);
    }
    let collector = builder
        .init()
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok()?;
    describe();
    Some(collector)
}

/// Declares the units (CloudWatch shows them).
pub fn describe() {
    describe_histogram!("duration", Unit::Milliseconds, "request duration");
    describe_histogram!(
        "dynamodb_time",
        Unit::Milliseconds,
        "time waiting on DynamoDB"
    );
}

/// One request's figures.
#[derive(Debug, Clone, Copy)]
pub struct RequestMetrics<'a> {
    pub command: Option<&'a str>,
    pub outcome: &'static str,
    pub reason: &'static str,
    pub status: u16,
    pub duration: Duration,
    pub dynamodb_time: Duration,
    pub dynamodb_requests: u32,
    pub dynamodb_retries: u32,
}

/// A bounded label for a command: the known Official Account commands by their short
/// name, and a handful of fixed buckets for everything else.
pub fn command_label(command: Option<&str>) -> &'static str {
    let Some(c) = command else { return "none" };
    if let Some(known) = AfterCommand::ALL.into_iter().find(|a| a.wire_name() == c) {
        return short_name(known);
    }
    match c.strip_prefix(OFFICIAL_ACCOUNT_PREFIX) {
        Some(rest) if rest.starts_with("CallbackBefore") => "Before",
        Some(_) => "OfficialAccountOther",
        None => "OtherProduct",
    }
}

fn short_name(c: AfterCommand) -> &'static str {
    match c {
        AfterCommand::CreateOfficialAccount => "AfterCreateOfficialAccount",
        AfterCommand::OfficialAccountInfoChanged => "AfterOfficialAccountInfoChanged",
        AfterCommand::OfficialAccountDestroyed => "AfterOfficialAccountDestroyed",
        AfterCommand::AddSubscriber => "AfterAddSubscriber",
        AfterCommand::OfficialAccountFull => "AfterOfficialAccountFull",
        AfterCommand::DeleteSubscriber => "AfterDeleteSubscriber",
        AfterCommand::SendMsg => "AfterSendMsg",
        AfterCommand::MsgWithdraw => "AfterMsgWithDraw",
    }
}

/// Records one request (a no-op when no collector is installed).
pub fn record(m: &RequestMetrics<'_>) {
    counter!("requests", "command" => command_label(m.command), "outcome" => m.outcome)
        .increment(1);
    counter!("requests_total").increment(1);
    if m.status >= 500 {
        counter!("server_errors").increment(1);
    }
    if !m.reason.is_empty() && m.outcome == "rejected" {
        counter!("rejections", "reason" => m.reason).increment(1);
    }
    histogram!("duration").record(m.duration.as_secs_f64() * 1000.0);
    if m.dynamodb_requests > 0 {
        histogram!("dynamodb_time").record(m.dynamodb_time.as_secs_f64() * 1000.0);
        counter!("dynamodb_requests").increment(u64::from(m.dynamodb_requests));
    }
    if m.dynamodb_retries > 0 {
        counter!("dynamodb_retries").increment(u64::from(m.dynamodb_retries));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
