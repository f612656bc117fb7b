//! The HTTP door: API Gateway (HTTP API 2.0, REST API 1.0) and Lambda function URL events
//! in as a `lambda_http::Request`, the reply out as an `http::Response`, over
//! [`App::webhook`].
//!
//! The event is read into `aws_lambda_events`' request type for its shape (chosen by
//! [`super::Shape`], so one parse) and converted the way `lambda_http` converts it, with
//! two steps of ours around that conversion (docs/decisions.md): the body is
//! base64-decoded here, fallibly (an undecodable body is a 400, row 7, where
//! `lambda_http` would panic), and a raw query that `http::Uri` would refuse is
//! percent-encoded first (where `lambda_http` would panic building the URI).

use crate::app::App;
use crate::outcome::{Outcome, Reason};
use crate::protocol::query::Query;
use crate::protocol::signature::AuthError;
use crate::protocol::{self, BodyDecodeError, Reply, Seen};
use crate::relay::{RelayedReply, HOP_HEADER};
use crate::store::Budget;
use crate::telemetry::RequestMetrics;
use crate::token::Reread;
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Body, RequestExt};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use lambda_http::Request;

/// Kept free before the Lambda deadline, to send the reply.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Which of the HTTP front doors' payloads an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// REST API (payload format 1.0).
    RestApi,
    /// HTTP API payload format 2.0, and Lambda function URLs (the same format).
    V2,
}

/// An event read for the door: the request as `lambda_http` sees it, without its body,
/// and the body decoded by us.
#[derive(Debug)]
pub struct Incoming {
    pub event: LambdaRequest,
    pub body: Result<Vec<u8>, BodyDecodeError>,
}

/// Why an event could not become a request.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not the JSON of the payload format (an invalid method or header value, a missing
    /// `requestContext`): API Gateway and function URLs never send one.
    #[error("the event is not an API Gateway or function URL request: {0}")]
    Shape(super::JsonError),
    /// `lambda_http` could not convert it: a query no URI can hold (over 64 KiB).
    #[error("the event's request line cannot be converted")]
    Conversion,
}

impl From<serde_json::Error> for EventError {
    fn from(e: serde_json::Error) -> EventError {
        EventError::Shape(super::JsonError::from(e))
    }
}

impl Incoming {
    /// Reads `json` as `payload`'s event type.
    pub fn read(json: &str, payload: Payload) -> Result<Incoming, EventError> {
        Ok(match payload {
            Payload::V2 => {
                let mut e: ApiGatewayV2httpRequest = serde_json::from_str(json)?;
                let body = take_body(&mut e.body, &mut e.is_base64_encoded);
                if let Some(q) = e.raw_query_string.as_mut() {
                    if let Cow::Owned(fixed) = uri_safe_query(q) {
                        *q = fixed;
                    }
                }
                let query = e.raw_query_string.clone().unwrap_or_default();
                let ctx = &mut e.request_context;
                let mut line = RequestLine {
                    headers: &mut e.headers,
                    domain_name: &mut ctx.domain_name,
                    stage: &mut ctx.stage,
                    path: &mut e.raw_path,
                };
                line.make_convertible(&query)?;
                Incoming {
                    event: LambdaRequest::ApiGatewayV2(e),
                    body,
                }
            }
            Payload::RestApi => {
                let mut e: ApiGatewayProxyRequest = serde_json::from_str(json)?;
                let body = take_body(&mut e.body, &mut e.is_base64_encoded);
                let query = if e.multi_value_query_string_parameters.is_empty() {
                    e.query_string_parameters.to_query_string()
                } else {
                    e.multi_value_query_string_parameters.to_query_string()
                };
                let ctx = &mut e.request_context;
                let mut line = RequestLine {
                    headers: &mut e.headers,
                    domain_name: &mut ctx.domain_name,
                    stage: &mut ctx.stage,
                    path: &mut e.path,
                };
                line.make_convertible(&query)?;
                Incoming {
                    event: LambdaRequest::ApiGatewayV1(e),
                    body,
                }
            }
        })
    }

    /// Reads `json`, of either payload format ([`super::Shape`] tells which).
    pub fn from_json(json: &str) -> Result<Incoming, EventError> {
        match super::Shape::of(json) {
            super::Shape::Http(payload) => Incoming::read(json, payload),
            _ => Err(EventError::Shape(super::JsonError::from(
                <serde_json::Error as serde::de::Error>::custom(
                    "no requestContext with httpMethod, routeKey or http",
                ),
            ))),
        }
    }

    /// The `lambda_http::Request`, converted as `lambda_http::run` converts it, with the
    /// body put back ([`with_body`]). [`Incoming::read`] made sure the conversion cannot
    /// panic.
    pub fn into_request(self) -> Result<Request, EventError> {
        let Incoming { event, body } = self;
        Ok(with_body(Request::from(event), body))
    }
}

/// The parts of an event `lambda_http` builds the request's URI from (`build_request_uri`
/// in its `request.rs`, which `unwrap`s the URL parse and `expect`s the URI).
struct RequestLine<'a> {
    headers: &'a mut http::HeaderMap,
    domain_name: &'a mut Option<String>,
    stage: &'a mut Option<String>,
    path: &'a mut Option<String>,
}

impl RequestLine<'_> {
    /// The URI `lambda_http` will build, if it can build one.
    fn uri(&self, query: &str) -> Option<http::Uri> {
        let raw_path = self.path.as_deref().unwrap_or_default();
        let path = match self.stage.as_deref() {
            _ if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() => {
                raw_path.to_owned()
            }
            None | Some("$default") => raw_path.to_owned(),
            Some(stage) if raw_path.starts_with(&format!("/{stage}/")) => raw_path.to_owned(),
            Some(stage) => format!("/{stage}{raw_path}"),
        };
        let host = self
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(self.domain_name.as_deref());
        let mut uri = match host {
            None => url::Url::parse(&format!("http://localhost{path}"))
                .ok()?
                .path()
                .to_owned(),
            Some(host) => {
                let scheme = self
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|s| s.to_str().ok())
                    .unwrap_or("https");
                url::Url::parse(&format!("{scheme}://{host}{path}"))
                    .ok()?
                    .to_string()
            }
        };
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(query);
        }
        http::Uri::try_from(uri).ok()
    }

    /// Leaves the request line as it is when `lambda_http` can convert it (every event
    /// API Gateway and function URLs send); else drops the parts it could not build a URL
    /// from (host, scheme, stage, path: none of which the webhook reads).
    fn make_convertible(&mut self, query: &str) -> Result<(), EventError> {
        if self.uri(query).is_some() {
            return Ok(());
        }
        self.headers.remove(http::header::HOST);
        self.headers.remove("x-forwarded-proto");
        *self.domain_name = None;
        *self.stage = None;
        *self.path = Some("/".to_owned());
        self.uri(query).map(|_| ()).ok_or(EventError::Conversion)
    }
}

/// The request with the body this door decoded: bytes, or the mark that decoding failed.
pub fn with_body(mut request: Request, body: Result<Vec<u8>, BodyDecodeError>) -> Request {
    match body {
        Ok(bytes) if bytes.is_empty() => *request.body_mut() = Body::Empty,
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => *request.body_mut() = Body::Text(text),
            Err(e) => *request.body_mut() = Body::Binary(e.into_bytes()),
        },
        Err(e) => {
            *request.body_mut() = Body::Empty;
            request.extensions_mut().insert(e);
        }
    }
    request
}

/// Takes the body out of the event, base64-decoded when the event says so (padding
/// optional, surrounding whitespace ignored); the event keeps none.
fn take_body(
    body: &mut Option<String>,
    is_base64_encoded: &mut bool,
) -> Result<Vec<u8>, BodyDecodeError> {
    let text = body.take().unwrap_or_default();
    if std::mem::take(is_base64_encoded) {
        BASE64.decode(text.trim()).map_err(|_| BodyDecodeError)
    } else {
        Ok(text.into_bytes())
    }
}

/// The raw query, unchanged when `http::Uri` accepts it; else with every byte it refuses
/// percent-encoded (the same pairs once decoded).
fn uri_safe_query(raw: &str) -> Cow<'_, str> {
    let fine = |b: u8| b.is_ascii_graphic() && !b"\"#<>\\^`{|}".contains(&b);
    if raw.bytes().all(fine) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for b in raw.bytes() {
        if fine(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// The reply, before it becomes an `http::Response` ([`ApiResponse::into_http`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResponse {
    pub status_code: u16,
    pub headers: ResponseHeaders,
    pub body: String,
    /// `body` is the base64 of bytes that are not UTF-8 (a relayed reply only).
    pub is_base64_encoded: bool,
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
        }
    }

    /// The `http::Response`: the status, the content type when there is one, the body as
    /// text or (not UTF-8) bytes, which `lambda_http` sends base64-encoded.
    pub fn into_http(self) -> lambda_http::Response<Body> {
        let body = if self.is_base64_encoded {
            match base64::engine::general_purpose::STANDARD.decode(&self.body) {
                Ok(bytes) => Body::Binary(bytes),
                Err(_) => Body::Text(self.body),
            }
        } else if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Text(self.body)
        };
        let mut response = lambda_http::Response::new(body);
        *response.status_mut() =
            http::StatusCode::from_u16(self.status_code).unwrap_or(http::StatusCode::BAD_GATEWAY);
        if let Ok(v) = http::HeaderValue::from_str(&self.headers.content_type) {
            if !self.headers.content_type.is_empty() {
                response.headers_mut().insert(http::header::CONTENT_TYPE, v);
            }
        }
        response
    }
}

/// Sent as it is: `lambda_http`'s own conversion of an `http::Response` would re-read the
/// body by its content type (a relayed `charset=` transcoded, bytes made text), and a
/// relayed reply is the backend's own (contract section 7).
impl lambda_http::IntoResponse for ApiResponse {
    fn into_response(self) -> Pin<Box<dyn Future<Output = lambda_http::Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.into_http()))
    }
}

/// The response in the JSON its front door reads, as `lambda_http` writes it: REST API's
/// with the headers in `multiValueHeaders`, payload 2.0's with `headers` and `cookies`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FrontDoorResponse {
    RestApi(ApiGatewayProxyResponse),
    V2(ApiGatewayV2httpResponse),
}

/// `response` for the front door that sent a `payload` event.
pub fn front_door_response(
    response: lambda_http::Response<Body>,
    payload: Payload,
) -> FrontDoorResponse {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        b @ Body::Text(_) => (false, Some(b)),
        b @ Body::Binary(_) => (true, Some(b)),
        _ => (false, None),
    };
    let status_code = i64::from(parts.status.as_u16());
    match payload {
        Payload::RestApi => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = status_code;
            r.multi_value_headers = parts.headers;
            r.body = body;
            r.is_base64_encoded = is_base64_encoded;
            FrontDoorResponse::RestApi(r)
        }
        Payload::V2 => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = status_code;
            r.headers = parts.headers;
            r.body = body;
            r.is_base64_encoded = is_base64_encoded;
            FrontDoorResponse::V2(r)
        }
    }
}

impl App {
    /// The Lambda entry point: the budget is the nearer of [`DEFAULT_BUDGET`] and the
    /// invocation's own deadline (from the Lambda context the request carries). A
    /// deadline that is not in the future (cargo lambda watch sends a relative one) is
    /// ignored.
    ///
    /// [`DEFAULT_BUDGET`]: crate::app::DEFAULT_BUDGET
    pub async fn handle_lambda(&self, request: Request) -> ApiResponse {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let deadline = request.lambda_context_ref().map_or(0, |c| c.deadline);
        let (budget, limit) = match deadline.checked_sub(now_ms) {
            Some(left) if left > 0 => {
                let left = Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN);
                (self.budget.min(left), Some(left))
            }
            _ => (self.budget, None),
        };
        self.handle_within(request, budget, limit).await
    }

    /// Handles one request within `budget`, and writes its request line.
    pub async fn handle(&self, request: Request, budget: Duration) -> ApiResponse {
        self.handle_within(request, budget, None).await
    }

    /// [`App::handle`], with the reply never later than `limit` from now (what is left
    /// before the Lambda deadline), whatever the last resort would wait (section 5).
    pub async fn handle_within(
        &self,
        request: Request,
        budget: Duration,
        limit: Option<Duration>,
    ) -> ApiResponse {
        let started = tokio::time::Instant::now();
        let mut budget = self.webhook_budget(budget);
        if let Some(limit) = limit {
            budget = budget.limited_to(started + limit);
        }
        let mut seen = Seen::default();
        let outcome = self.respond(&request, &budget, &mut seen).await;
        let response = match &outcome {
            Outcome::Relayed(relayed) => ApiResponse::relayed(relayed),
            other => ApiResponse::from(&other.reply()),
        };
        self.log.write(&RequestMetrics {
            request_id: request_id(&request),
            command: seen.command.as_deref(),
            sdk_app_id: seen.app.as_deref(),
            outcome: &outcome,
            fields_dropped: seen.fields_dropped,
            status: response.status_code,
            duration: started.elapsed(),
            dynamodb_time: budget.dynamodb_time(),
            dynamodb_requests: budget.requests(),
            dynamodb_retries: budget.retries(),
        });
        response
    }

    async fn respond(&self, request: &Request, budget: &Budget, seen: &mut Seen) -> Outcome {
        let raw_query = request.uri().query().unwrap_or("");
        let body = match request.extensions().get::<BodyDecodeError>() {
            Some(e) => Err(*e),
            None => Ok(Cow::Borrowed(request.body().as_ref())),
        };
        let req = protocol::Request {
            method: request.method().as_str(),
            source_ip: source_ip(request),
            query: Query::parse(raw_query),
            raw_query: Cow::Borrowed(raw_query),
            relayed: relayed(request, self.config.forward_url.is_some()),
            body,
        };
        let outcome = self.webhook(&req, budget, seen).await;
        // A `Sign` that does not match a token from a secret: the token may have changed
        // in the console and the secret; read it again (at most once a minute) and, when
        // it did change, decide again (docs/contract.md section 1; src/token.rs).
        let mismatch = matches!(
            &outcome,
            Outcome::Rejected(r) if r.reason == Reason::Auth(AuthError::BadSign)
        );
        if let (true, Some(token)) = (mismatch, &self.config.callback_token) {
            let reread = tokio::time::timeout_at(
                budget.end(),
                token.reread_after_mismatch(self.clock.now_secs()),
            )
            .await;
            if reread == Ok(Reread::Changed) {
                *seen = Seen::default();
                return self.webhook(&req, budget, seen).await;
            }
        }
        outcome
    }
}

/// The front door's request id (`requestContext.requestId`), else the invocation's.
fn request_id(request: &Request) -> &str {
    let from_context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.request_id.as_deref(),
        Some(RequestContext::ApiGatewayV1(c)) => c.request_id.as_deref(),
        _ => None,
    };
    from_context
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.as_str()))
        .unwrap_or("")
}

/// The source address the front door reports (contract row 1a): 2.0's
/// `requestContext.http.sourceIp`, 1.0's `requestContext.identity.sourceIp`; never a
/// header.
fn source_ip(request: &Request) -> Option<std::net::IpAddr> {
    let ip = match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
        _ => None,
    };
    ip?.trim().parse().ok()
}

/// Whether the request carries [`HOP_HEADER`]; with `FORWARD_URL` set that is a loop,
/// worth a warning.
fn relayed(request: &Request, forwarding: bool) -> bool {
    let hop = request.headers().contains_key(HOP_HEADER);
    if hop && forwarding {
        tracing::warn!(
            "a request relayed by this function came back: FORWARD_URL points at this \
             webhook; answered here instead of relaying it again"
        );
    }
    hop
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_the_uri_refuses_is_percent_encoded_to_the_same_pairs() {
        assert!(matches!(uri_safe_query("a=1&b=%20"), Cow::Borrowed(_)));
        let raw = "SdkAppid=1400000001&x=a b\"é#";
        let safe = uri_safe_query(raw);
        assert!(http::uri::PathAndQuery::try_from(format!("/?{safe}")).is_ok());
        let decoded: Vec<_> = form_urlencoded::parse(safe.as_bytes()).collect();
        let original: Vec<_> = form_urlencoded::parse(raw.as_bytes()).collect();
        assert_eq!(decoded, original);
    }

    /// What `lambda_http` would panic on converts, the parts the webhook reads kept.
    #[test]
    fn a_request_line_no_url_can_hold_still_converts() {
        let json = serde_json::json!({
            "version": "2.0",
            "rawPath": ":99999/x",
            "rawQueryString": "SdkAppid=1&x=a b",
            "headers": {"host": "bad host:99999x", "x-forwarded-proto": "h t"},
            "requestContext": {
                "http": {"method": "POST", "sourceIp": "203.0.113.9"},
                "stage": "s t"
            },
            "body": "e30=",
            "isBase64Encoded": true
        })
        .to_string();
        let request = Incoming::read(&json, Payload::V2)
            .and_then(Incoming::into_request)
            .expect("converts");
        assert_eq!(request.uri().query(), Some("SdkAppid=1&x=a%20b"));
        assert_eq!(request.body().as_ref(), b"{}");
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            source_ip(&request),
            Some(std::net::IpAddr::from([203, 0, 113, 9]))
        );
    }

    #[test]
    fn an_undecodable_body_is_marked_not_dropped() {
        let json = r#"{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"%%%","isBase64Encoded":true}"#;
        let request = Incoming::read(json, Payload::V2)
            .and_then(Incoming::into_request)
            .expect("converts");
        assert_eq!(
            request.extensions().get::<BodyDecodeError>(),
            Some(&BodyDecodeError)
        );
    }
}
