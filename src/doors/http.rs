//! The HTTP door: API Gateway (HTTP API 2.0, REST API 1.0) and Lambda function URL events
//! in, the reply out, over [`App::webhook`].
//!
//! The event is read with one small serde struct for all three shapes rather than
//! `lambda_http`'s request conversion, which panics on an invalid base64 body
//! (docs/decisions.md): a public URL must answer every input with a clear reply.

use crate::app::App;
use crate::outcome::Outcome;
use crate::protocol::query::Query;
use crate::protocol::{self, BodyDecodeError, Reply, Seen};
use crate::relay::RelayedReply;
use crate::store::Budget;
use crate::telemetry::RequestMetrics;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Only the headers the webhook reads (null in some REST API events).
    #[serde(default)]
    pub headers: Option<RequestHeaders>,
}

/// The request headers the webhook reads; the others are skipped unread.
#[derive(Debug, Default, Deserialize)]
pub struct RequestHeaders {
    /// [`crate::relay::HOP_HEADER`]: this request was relayed by this function. Only its
    /// presence counts, whatever the value.
    #[serde(rename = "x-oa-webhook-relay", default)]
    pub relay_hop: Option<serde::de::IgnoredAny>,
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
    /// REST API (1.0): `identity.sourceIp`.
    #[serde(default)]
    pub identity: Option<Identity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpContext {
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP API 2.0 and function URLs: the address of the TCP peer, as the front door saw
    /// it (never a header).
    #[serde(default)]
    pub source_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// REST API (1.0): the address of the TCP peer, as API Gateway saw it.
    #[serde(default)]
    pub source_ip: Option<String>,
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
    /// Empty (and then not sent) only for a relayed reply whose backend sent none.
    #[serde(
        rename = "content-type",
        default,
        skip_serializing_if = "String::is_empty"
    )]
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

impl ApiResponse {
    /// A relayed reply (contract section 7): the backend's status, content type and body
    /// as they are; a body that is not UTF-8 travels base64-encoded.
    pub fn relayed(r: &RelayedReply) -> ApiResponse {
        let (body, is_base64_encoded) = match std::str::from_utf8(&r.body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(&r.body),
                true,
            ),
        };
        ApiResponse {
            status_code: r.status,
            headers: ResponseHeaders {
                content_type: r.content_type.clone().unwrap_or_default(),
            },
            body,
            is_base64_encoded,
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

impl App {
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
        let (budget, limit) = match event.context.deadline.checked_sub(now_ms) {
            Some(left) if left > 0 => {
                let left = Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN);
                (self.budget.min(left), Some(left))
            }
            _ => (self.budget, None),
        };
        let mut payload = event.payload;
        if payload.request_context.request_id.is_none() {
            payload.request_context.request_id = Some(event.context.request_id);
        }
        Ok(self.handle_within(payload, budget, limit).await)
    }

    /// Handles one event within `budget`, and writes its request line.
    pub async fn handle(&self, event: ApiEvent, budget: Duration) -> ApiResponse {
        self.handle_within(event, budget, None).await
    }

    /// [`App::handle`], with the reply never later than `limit` from now (what is left
    /// before the Lambda deadline), whatever the last resort would wait (section 5).
    pub async fn handle_within(
        &self,
        event: ApiEvent,
        budget: Duration,
        limit: Option<Duration>,
    ) -> ApiResponse {
        let started = tokio::time::Instant::now();
        let mut budget = self.webhook_budget(budget);
        if let Some(limit) = limit {
            budget = budget.limited_to(started + limit);
        }
        let mut seen = Seen::default();
        let outcome = self.respond(&event, &budget, &mut seen).await;
        let mut response = match &outcome {
            Outcome::Relayed(relayed) => ApiResponse::relayed(relayed),
            other => ApiResponse::from(&other.reply()),
        };
        let duration = started.elapsed();
        self.log.write(&RequestMetrics {
            request_id: event.request_context.request_id.as_deref().unwrap_or(""),
            command: seen.command.as_deref(),
            sdk_app_id: seen.app.as_deref(),
            outcome: &outcome,
            fields_dropped: seen.fields_dropped,
            status: response.status_code,
            duration,
            dynamodb_time: budget.dynamodb_time(),
            dynamodb_requests: budget.requests(),
            dynamodb_retries: budget.retries(),
        });
        if event.is_v2() {
            response.cookies = Some(Vec::new());
        }
        response
    }

    async fn respond(&self, event: &ApiEvent, budget: &Budget, seen: &mut Seen) -> Outcome {
        let req = protocol::Request {
            method: method(event),
            source_ip: source_ip(event),
            query: query(event),
            raw_query: raw_query(event),
            relayed: relayed(event, self.config.forward_url.is_some()),
            body: decode_body(event),
        };
        self.webhook(&req, budget, seen).await
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

/// The source address the front door reports (contract row 1a): 2.0's
/// `requestContext.http.sourceIp`, else 1.0's `requestContext.identity.sourceIp`.
fn source_ip(event: &ApiEvent) -> Option<std::net::IpAddr> {
    let ctx = &event.request_context;
    ctx.http
        .as_ref()
        .and_then(|h| h.source_ip.as_deref())
        .or_else(|| ctx.identity.as_ref()?.source_ip.as_deref())?
        .trim()
        .parse()
        .ok()
}

/// Whether the request carries [`crate::relay::HOP_HEADER`]; with `FORWARD_URL` set that
/// is a loop, worth a warning.
fn relayed(event: &ApiEvent, forwarding: bool) -> bool {
    let hop = event
        .headers
        .as_ref()
        .is_some_and(|h| h.relay_hop.is_some());
    if hop && forwarding {
        tracing::warn!(
            "a request relayed by this function came back: FORWARD_URL points at this \
             webhook; answered here instead of relaying it again"
        );
    }
    hop
}

/// The query string as received: 2.0's `rawQueryString`; for 1.0, which only has the
/// decoded parameters, the same pairs encoded again (their order is lost).
fn raw_query(event: &ApiEvent) -> Cow<'_, str> {
    if let Some(raw) = &event.raw_query_string {
        return Cow::Borrowed(raw.as_str());
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    if let Some(mv) = &event.multi_value_query_string_parameters {
        for (k, vs) in mv {
            for v in vs.iter().flatten() {
                out.append_pair(k, v);
            }
        }
    } else if let Some(single) = &event.query_string_parameters {
        for (k, v) in single {
            if let Some(v) = v {
                out.append_pair(k, v);
            }
        }
    }
    Cow::Owned(out.finish())
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
