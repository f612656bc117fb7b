//! The adapter: API Gateway (HTTP API 2.0, REST API 1.0) and Lambda function URL events
//! in, the reply out, joining [`crate::protocol`] to [`crate::store`].
//!
//! The event is read with our own small serde struct rather than `lambda_http`'s
//! request conversion: that conversion panics on an invalid base64 body and on some
//! hosts and paths, and a public URL must answer every input with a clear reply.

use crate::config::Config;
use crate::protocol::query::Query;
use crate::protocol::{self, Admission, BodyDecodeError, Outcome, Reply, Seen};
use crate::store::{Budget, Store, StoreError};
use crate::telemetry::{RequestLog, RequestMetrics};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a request may take, whatever DynamoDB does: the Chat backend waits 2 s.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(1400);
/// Kept free before the Lambda deadline, to send the reply.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// The parts of an API Gateway / function URL event that the webhook needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiEvent {
    /// `"2.0"` for HTTP API payload 2.0 and function URLs; `"1.0"` or absent for REST.
    #[serde(default)]
    pub version: Option<String>,
    /// REST API (1.0).
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub request_context: RequestContext,
    /// HTTP API and function URL (2.0), URL-encoded.
    #[serde(default)]
    pub raw_query_string: Option<String>,
    /// Decoded; REST API (1.0), or 2.0 without `rawQueryString`.
    #[serde(default)]
    pub query_string_parameters: Option<HashMap<String, Option<String>>>,
    /// Decoded; REST API (1.0).
    #[serde(default)]
    pub multi_value_query_string_parameters: Option<HashMap<String, Option<Vec<String>>>>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    #[serde(default)]
    pub http: Option<HttpContext>,
    #[serde(default)]
    pub http_method: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HttpContext {
    #[serde(default)]
    pub method: Option<String>,
}

/// The reply in the shape API Gateway (both versions) and function URLs accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResponse {
    pub status_code: u16,
    pub headers: ResponseHeaders,
    pub body: String,
    pub is_base64_encoded: bool,
    /// Present (empty) in replies to payload 2.0 events, whose response format has it;
    /// absent for REST API, which refuses fields it does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeaders {
    #[serde(rename = "content-type")]
    pub content_type: String,
}

impl From<&Reply> for ApiResponse {
    fn from(r: &Reply) -> ApiResponse {
        ApiResponse {
            status_code: r.status,
            headers: ResponseHeaders {
                content_type: "application/json".to_owned(),
            },
            body: r.body(),
            is_base64_encoded: false,
            cookies: None,
        }
    }
}

impl ApiEvent {
    /// Whether the event is in payload format 2.0 (HTTP API, function URL).
    pub fn is_v2(&self) -> bool {
        self.version.as_deref() == Some("2.0") || self.request_context.http.is_some()
    }
}

/// Unix seconds, injectable for tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Everything a function instance keeps between requests.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    pub budget: Duration,
    /// Where the request line (log + EMF metrics) goes; off unless set (`main`: stdout).
    pub log: RequestLog,
}

impl App {
    pub fn new(config: Config, store: Store) -> App {
        App {
            config: Arc::new(config),
            store,
            clock: system_clock(),
            budget: DEFAULT_BUDGET,
            log: RequestLog::off(),
        }
    }

    /// The Lambda entry point: the budget is the nearer of [`DEFAULT_BUDGET`] and the
    /// invocation's own deadline. A deadline that is not in the future (cargo lambda
    /// watch sends a relative one) is ignored.
    pub async fn handle_lambda(
        &self,
        event: lambda_runtime::LambdaEvent<ApiEvent>,
    ) -> Result<ApiResponse, std::convert::Infallible> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let budget = match event.context.deadline.checked_sub(now_ms) {
            Some(left) if left > 0 => self
                .budget
                .min(Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN)),
            _ => self.budget,
        };
        let mut payload = event.payload;
        if payload.request_context.request_id.is_none() {
            payload.request_context.request_id = Some(event.context.request_id);
        }
        Ok(self.handle(payload, budget).await)
    }

    /// Handles one event within `budget`, and writes its request line.
    pub async fn handle(&self, event: ApiEvent, budget: Duration) -> ApiResponse {
        let started = tokio::time::Instant::now();
        let budget = Budget::until(started + budget);
        let mut seen = Seen::default();
        let (reply, outcome, reason, written) = self.respond(&event, &budget, &mut seen).await;
        let duration = started.elapsed();
        self.log.write(&RequestMetrics {
            request_id: event.request_context.request_id.as_deref().unwrap_or(""),
            command: seen.command.as_deref(),
            sdk_app_id: seen.app.as_deref(),
            outcome,
            reason,
            status: reply.status,
            duration,
            items_written: written,
            dynamodb_time: budget.dynamodb_time(),
            dynamodb_requests: budget.requests(),
            dynamodb_retries: budget.retries(),
        });
        let mut response = ApiResponse::from(&reply);
        if event.is_v2() {
            response.cookies = Some(Vec::new());
        }
        response
    }

    async fn respond(
        &self,
        event: &ApiEvent,
        budget: &Budget,
        seen: &mut Seen,
    ) -> (Reply, &'static str, &'static str, u32) {
        let body = decode_body(event);
        let req = protocol::Request {
            method: method(event),
            query: query(event),
            body,
        };
        let admission = protocol::admit(&req, &self.config, (self.clock)(), seen);
        let event = match admission {
            Admission::Answer { reply, outcome } => {
                let reason = match outcome {
                    Outcome::Rejected(r) => r,
                    _ => "",
                };
                return (reply, outcome.label(), reason, 0);
            }
            Admission::Store(e) => e,
        };
        match self.store.apply(&event, budget).await {
            Ok(applied) if applied.items_written > 0 => {
                (Reply::OK, "stored", "", applied.items_written)
            }
            Ok(_) => (Reply::OK, "unchanged", "", 0),
            Err(e) => {
                tracing::warn!(error = %e, "write failed");
                let (status, reason) = match e {
                    StoreError::Fatal(_) => (500, "store_error"),
                    StoreError::Budget => (503, "store_timeout"),
                    StoreError::Unavailable(_) => (503, "store_unavailable"),
                };
                (
                    Reply::fail(
                        status,
                        "the event could not be stored; it was not acknowledged",
                    ),
                    "failed",
                    reason,
                    0,
                )
            }
        }
    }
}

fn method(event: &ApiEvent) -> &str {
    event
        .request_context
        .http
        .as_ref()
        .and_then(|h| h.method.as_deref())
        .or(event.http_method.as_deref())
        .or(event.request_context.http_method.as_deref())
        .unwrap_or("")
}

fn query(event: &ApiEvent) -> Query<'_> {
    if let Some(raw) = &event.raw_query_string {
        return Query::parse(raw);
    }
    if let Some(mv) = &event.multi_value_query_string_parameters {
        return Query::from_pairs(mv.iter().flat_map(|(k, vs)| {
            vs.iter()
                .flatten()
                .map(move |v| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
        }));
    }
    Query::from_pairs(
        event
            .query_string_parameters
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_deref()?)))),
    )
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode_body(event: &ApiEvent) -> Result<Cow<'_, [u8]>, BodyDecodeError> {
    let body = event.body.as_deref().unwrap_or("");
    if event.is_base64_encoded {
        BASE64
            .decode(body.trim())
            .map(Cow::Owned)
            .map_err(|_| BodyDecodeError)
    } else {
        Ok(Cow::Borrowed(body.as_bytes()))
    }
}

/// JSON log lines on stdout. Level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// INFO; `AWS_LAMBDA_LOG_FORMAT=Text` switches to plain text. See [`log_filter`].
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time();
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let registry = tracing_subscriber::registry().with(filter);
    if text {
        registry.with(fmt).init();
    } else {
        registry.with(fmt.json().flatten_event(true)).init();
    }
}

/// The log filter: `RUST_LOG` as `target=level` directives (`info,aws_smithy_runtime=debug`;
/// an invalid value is ignored), its default level replaced by `AWS_LAMBDA_LOG_LEVEL`
/// when that is a valid level, INFO when neither gives one.
///
/// A [`Targets`](tracing_subscriber::filter::Targets) filter, not an `EnvFilter`: the same
/// directives except span and field filters, without the regex engine an `EnvFilter`
/// brings into the binary.
pub fn log_filter(
    lambda_level: Option<&str>,
    rust_log: Option<&str>,
) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let targets = rust_log
        .and_then(|s| s.trim().parse::<Targets>().ok())
        .unwrap_or_default();
    let lambda = lambda_level.and_then(|l| l.trim().parse::<LevelFilter>().ok());
    match (lambda, targets.default_level()) {
        (Some(level), _) => targets.with_default(level),
        (None, Some(_)) => targets,
        (None, None) => targets.with_default(LevelFilter::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn log_filter_levels_and_directives() {
        let on = |f: &tracing_subscriber::filter::Targets, target: &str, level: Level| {
            f.would_enable(target, &level)
        };
        // Nothing set: INFO everywhere.
        let f = log_filter(None, None);
        assert!(on(&f, "oa_webhook", Level::INFO) && !on(&f, "oa_webhook", Level::DEBUG));
        // AWS_LAMBDA_LOG_LEVEL, case as Lambda writes it.
        let f = log_filter(Some("WARN"), None);
        assert!(on(&f, "oa_webhook", Level::WARN) && !on(&f, "oa_webhook", Level::INFO));
        // RUST_LOG directives: a default and per-target levels.
        let f = log_filter(None, Some("warn,aws_smithy_runtime=debug"));
        assert!(on(&f, "aws_smithy_runtime::client", Level::DEBUG));
        assert!(!on(&f, "oa_webhook", Level::INFO));
        // A per-target directive alone keeps INFO for the rest.
        let f = log_filter(None, Some("aws_smithy_runtime=trace"));
        assert!(on(&f, "oa_webhook", Level::INFO) && !on(&f, "oa_webhook", Level::DEBUG));
        assert!(on(&f, "aws_smithy_runtime", Level::TRACE));
        // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG's default, keeps its targets.
        let f = log_filter(Some("error"), Some("debug,hyper=trace"));
        assert!(!on(&f, "oa_webhook", Level::WARN) && on(&f, "hyper", Level::TRACE));
        // Invalid values are ignored, not fatal.
        let f = log_filter(Some("loud"), Some("debug,hyper=loud"));
        assert!(on(&f, "oa_webhook", Level::INFO) && !on(&f, "oa_webhook", Level::DEBUG));
    }
}
