//! The HTTP door: API Gateway (HTTP API 2.0, REST API 1.0) and Lambda function URL events
//! in, over [`App::webhook`], the reply out, the way `lambda_http::run` serves them.
//!
//! The event is parsed once ([`read`]); `lambda_http`'s `Adapter` does the rest ([`serve`]).
//! The one step of ours: a payload 2.0 `rawQueryString` with bytes no URI may hold (a
//! front door may pass them on undecoded) is percent-encoded first ([`query::url_safe`]:
//! the same pairs once decoded).
//!
//! What API Gateway and function URLs never send (a body marked base64 that is not, a
//! `Host` no URL can hold) panics in `lambda_http`'s conversion, and `lambda_runtime`
//! turns that into the invocation's error: only a forged direct invoke reaches it
//! (`../shared/spec/aws.md`; docs/decisions.md).

use crate::app::App;
use crate::outcome::{Outcome, Reason};
use crate::protocol::query::{self, Query};
use crate::protocol::signature::AuthError;
use crate::protocol::{self, Seen};
use crate::relay::HOP_HEADER;
use crate::store::Budget;
use crate::telemetry::RequestMetrics;
use crate::token::Reread;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::tower::util::ServiceFn;
use lambda_http::{IntoResponse, RequestExt, Service};
use lambda_runtime::LambdaEvent;
use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::time::Duration;

pub use lambda_http::{Body, Request};

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

/// Reads `json`, an event of `payload`'s format, with one parse into `lambda_http`'s
/// event type. An error (an invalid method or header value, a missing `requestContext`:
/// API Gateway and function URLs never send one) gives its category and position only.
pub fn read(json: &str, payload: Payload) -> Result<LambdaRequest, super::JsonError> {
    Ok(match payload {
        Payload::V2 => {
            let mut e: ApiGatewayV2httpRequest = serde_json::from_str(json)?;
            if let Some(raw) = e.raw_query_string.as_mut() {
                if let Cow::Owned(safe) = query::url_safe(raw) {
                    *raw = safe;
                }
            }
            LambdaRequest::ApiGatewayV2(e)
        }
        Payload::RestApi => LambdaRequest::ApiGatewayV1(serde_json::from_str(json)?),
    })
}

/// The reply as `lambda_http` sends it: our status, content type and body, which its
/// `IntoResponse` passes on unchanged (its conversion of an `http::Response` would re-read
/// the body by content type: a relayed `charset=` transcoded, bytes made text, where a
/// relayed reply must stay the backend's own, contract section 7).
#[derive(Debug)]
pub struct Answer(pub lambda_http::Response<Body>);

impl IntoResponse for Answer {
    fn into_response(self) -> Pin<Box<dyn Future<Output = lambda_http::Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

impl Answer {
    /// The protocol's reply: JSON, `ActionStatus`, `ErrorCode`, `ErrorInfo`; or a relayed
    /// one (contract section 7): the backend's status, content type and body as they are,
    /// a body that is not UTF-8 sent as bytes (base64 on the wire).
    fn of(outcome: &Outcome) -> Answer {
        let (status, content_type, body) = match outcome {
            Outcome::Relayed(r) => {
                let body = match std::str::from_utf8(&r.body) {
                    Ok("") => Body::Empty,
                    Ok(text) => Body::Text(text.to_owned()),
                    Err(_) => Body::Binary(r.body.clone()),
                };
                (r.status, r.content_type.as_deref(), body)
            }
            other => {
                let reply = other.reply();
                let body = Body::Text(reply.body());
                (reply.status, Some("application/json"), body)
            }
        };
        let mut response = lambda_http::Response::new(body);
        *response.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
        if let Some(v) = content_type.and_then(|t| http::HeaderValue::from_str(t).ok()) {
            response.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        Answer(response)
    }

    pub fn status(&self) -> u16 {
        self.0.status().as_u16()
    }
}

/// The response JSON of the front door that sent the event (REST: `multiValueHeaders`;
/// 2.0: `headers`, `cookies`), as `lambda_http` writes it (its type is not public: named
/// through its `Adapter`).
pub(crate) type FrontDoorResponse = <lambda_http::Adapter<
    'static,
    Answer,
    ServiceFn<fn(Request) -> Ready<Result<Answer, Infallible>>>,
> as Service<LambdaEvent<LambdaRequest>>>::Response;

/// Serves one webhook invocation as `lambda_http::run` does: its `Adapter` turns the event
/// into a [`Request`] with the invocation's context, [`answer_invocation`] answers it, and
/// its response conversion writes the reply as the front door's JSON.
pub async fn serve(app: &App, event: LambdaEvent<LambdaRequest>) -> FrontDoorResponse {
    let webhook = lambda_http::service_fn(|request| async move {
        Ok::<_, Infallible>(answer_invocation(app, request).await)
    });
    match lambda_http::Adapter::from(webhook).call(event).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Answers a request within the nearer of `App`'s budget and the invocation's own
/// deadline (from the Lambda context the request carries; [`crate::clock::Clock::left_before`]).
pub async fn answer_invocation(app: &App, request: Request) -> Answer {
    let deadline = request.lambda_context_ref().map_or(0, |c| c.deadline);
    let limit = app.clock.left_before(deadline, DEADLINE_MARGIN);
    let budget = limit.map_or(app.budget, |left| app.budget.min(left));
    answer_within(app, request, budget, limit).await
}

/// Answers one request within `budget`, and writes its request line.
pub async fn answer(app: &App, request: Request, budget: Duration) -> Answer {
    answer_within(app, request, budget, None).await
}

/// Answers one request within `budget`, never later than `limit` from now (what is left
/// before the Lambda deadline) whatever the last resort would wait (section 5), and
/// writes its request line.
async fn answer_within(
    app: &App,
    request: Request,
    budget: Duration,
    limit: Option<Duration>,
) -> Answer {
    let started = tokio::time::Instant::now();
    let mut budget = app.webhook_budget(budget);
    if let Some(limit) = limit {
        budget = budget.limited_to(started + limit);
    }
    let mut seen = Seen::default();
    let outcome = respond(app, &request, &budget, &mut seen).await;
    let answer = Answer::of(&outcome);
    app.log.write(&RequestMetrics {
        request_id: request_id(&request),
        command: seen.command.as_deref(),
        sdk_app_id: seen.app.as_deref(),
        outcome: &outcome,
        fields_dropped: seen.fields_dropped,
        status: answer.status(),
        duration: started.elapsed(),
        dynamodb_time: budget.dynamodb_time(),
        dynamodb_requests: budget.requests(),
        dynamodb_retries: budget.retries(),
    });
    answer
}

/// The request as the protocol reads it (the query read once), then [`App::webhook`];
/// decided again once when a `Sign` fails against a token that may have changed.
async fn respond(app: &App, request: &Request, budget: &Budget, seen: &mut Seen) -> Outcome {
    let raw_query = request.uri().query().unwrap_or("");
    let req = protocol::Callback {
        method: request.method().as_str(),
        source_ip: source_ip(request),
        query: Query::parse(raw_query),
        raw_query: Cow::Borrowed(raw_query),
        relayed: relayed(request, app.config.forward_url.is_some()),
        body: Cow::Borrowed(request.body().as_ref()),
    };
    let outcome = app.webhook(&req, budget, seen).await;
    // A `Sign` that does not match a token from a secret: the token may have changed
    // in the console and the secret; read it again (at most once a minute) and, when
    // it did change, decide again (docs/contract.md section 1; src/token.rs).
    let mismatch = matches!(
        &outcome,
        Outcome::Rejected(r) if r.reason == Reason::Auth(AuthError::BadSign)
    );
    if let (true, Some(token)) = (mismatch, &app.config.callback_token) {
        let reread = tokio::time::timeout_at(
            budget.end(),
            token.reread_after_mismatch(app.clock.now_secs()),
        )
        .await;
        if reread == Ok(Reread::Changed) {
            *seen = Seen::default();
            return app.webhook(&req, budget, seen).await;
        }
    }
    outcome
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_no_uri_holds_is_made_safe_and_the_rest_read_as_lambda_http_reads_it() {
        let json = serde_json::json!({
            "version": "2.0",
            "rawPath": "/callback",
            "rawQueryString": "SdkAppid=1&x=a b",
            "headers": {"host": "example.com"},
            "requestContext": {"http": {"method": "POST", "sourceIp": "203.0.113.9"}},
            "body": "e30=",
            "isBase64Encoded": true
        })
        .to_string();
        let request = Request::from(read(&json, Payload::V2).expect("reads"));
        assert_eq!(request.uri().query(), Some("SdkAppid=1&x=a%20b"));
        assert_eq!(request.body().as_ref(), b"{}");
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(
            source_ip(&request),
            Some(std::net::IpAddr::from([203, 0, 113, 9]))
        );
    }

    /// Only a forged direct invoke carries a body marked base64 that is not: the
    /// conversion panics, and `lambda_runtime` makes that the invocation's error.
    #[test]
    fn an_undecodable_body_fails_the_conversion() {
        let json = r#"{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"%%%","isBase64Encoded":true}"#;
        let event = read(json, Payload::V2).expect("reads");
        assert!(std::panic::catch_unwind(move || Request::from(event)).is_err());
    }
}
