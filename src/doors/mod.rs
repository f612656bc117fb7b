//! The entry points: each door turns what arrives (an API Gateway event, an SQS batch, a
//! schedule, a command line) into calls on the core ([`crate::app::App`],
//! [`crate::store`]) and its outcome into what the caller expects.
//!
//! One binary serves every door (docs/contract.md section 9). On Lambda the event's shape
//! picks the door ([`Shape::of`], [`LambdaDoor`]); the function's `Handler` ([`Door`])
//! decides only what the shape does not (a scheduler's `Input`). From a shell, the
//! command line names a command ([`cli`]).

pub mod cli;
pub mod http;
pub mod queue;
pub mod sync;

use crate::app::App;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;

/// The Lambda door a function was deployed for: its `Handler` setting (`_HANDLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The webhook: API Gateway / function URL events (the default).
    Http,
    /// The hand-off queue's consumer: SQS events (`Handler: queue`).
    Queue,
    /// The scheduled sync from Tencent's REST API (`Handler: sync`; [`sync`]).
    Sync,
}

impl Door {
    /// `queue`, `sync`; anything else (`bootstrap`, the binary's name, empty or absent:
    /// cargo lambda's and SAM's defaults for a function that names no door) the webhook.
    pub(crate) fn for_handler(handler: Option<&str>) -> Door {
        match handler {
            Some("queue") => Door::Queue,
            Some("sync") => Door::Sync,
            _ => Door::Http,
        }
    }
}

/// What an invocation's payload is, read from its shape alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An API Gateway or function URL request: a `requestContext` with REST's
    /// `httpMethod`, or payload 2.0 (`version` "2.0", `routeKey`, `requestContext.http`).
    Http(http::Payload),
    /// An SQS batch: `Records`, every one with `eventSource` "aws:sqs".
    Sqs,
    /// An EventBridge / CloudWatch scheduled event: `detail-type` and `source`.
    Schedule,
    /// Anything else: JSON of no known shape (an EventBridge Scheduler `Input` such as
    /// `{}`), other records (SNS, S3, streams), not an object.
    Other,
}

/// The top-level keys [`Shape::of`] looks at; the values of the others are skipped
/// unread, so this is one scan of the event with no allocation but `Records`' list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Keys<'a> {
    #[serde(rename = "Records")]
    records: Option<Vec<RecordKeys<'a>>>,
    request_context: Option<ContextKeys>,
    http_method: Option<IgnoredAny>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    route_key: Option<IgnoredAny>,
    #[serde(rename = "detail-type")]
    detail_type: Option<IgnoredAny>,
    source: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RecordKeys<'a> {
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ContextKeys {
    http: Option<IgnoredAny>,
}

impl Shape {
    /// The shape of the event `json` (contract section 9).
    pub fn of(json: &str) -> Shape {
        let Ok(keys) = serde_json::from_str::<Keys<'_>>(json) else {
            return Shape::Other;
        };
        if let Some(records) = &keys.records {
            let sqs = !records.is_empty()
                && records
                    .iter()
                    .all(|r| r.event_source.as_deref() == Some("aws:sqs"));
            return if sqs { Shape::Sqs } else { Shape::Other };
        }
        if let Some(context) = &keys.request_context {
            if keys.version.as_deref() == Some("2.0")
                || (keys.http_method.is_none()
                    && (context.http.is_some() || keys.route_key.is_some()))
            {
                return Shape::Http(http::Payload::V2);
            }
            if keys.http_method.is_some() {
                return Shape::Http(http::Payload::RestApi);
            }
        }
        if keys.detail_type.is_some() && keys.source.is_some() {
            return Shape::Schedule;
        }
        Shape::Other
    }
}

/// Every Lambda door of one process: the event's shape picks one (contract section 9).
/// Cheap to clone: one per invocation under `run_concurrent`.
#[derive(Clone)]
pub struct LambdaDoor {
    pub app: App,
    /// The door `_HANDLER` names.
    pub intended: Door,
    /// The scheduled sync; only in a function deployed as `Handler: sync`, the one with
    /// the REST API's settings.
    pub sync: Option<Arc<sync::SyncDoor>>,
}

/// What an invocation returns: the reply of the door that served it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Served {
    /// The API Gateway / function URL response, in its front door's format.
    Http(Box<http::FrontDoorResponse>),
    Queue(SqsBatchResponse),
    Sync(Vec<crate::sync::SyncReport>),
}

/// Why an invocation failed: its source retries it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unserved {
    #[error("this function serves no door for this event ({0:?}): check the function's event sources and Handler")]
    NoDoor(Shape),
    #[error("the event is not an API Gateway or function URL request: {0}")]
    Http(JsonError),
    #[error("the SQS batch could not be read: {0}")]
    Sqs(JsonError),
}

/// A JSON error without the event's values: serde_json's message quotes them, and an
/// event may carry a token, a `Sign` or a body, which never go to a log line or back to
/// the invoker (docs/security.md). Its category and position only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{category:?} error at line {line} column {column}")]
pub struct JsonError {
    pub category: serde_json::error::Category,
    /// 1-based; 0 when serde_json had no position.
    pub line: usize,
    pub column: usize,
}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> JsonError {
        JsonError {
            category: e.classify(),
            line: e.line(),
            column: e.column(),
        }
    }
}

impl LambdaDoor {
    /// Serves one invocation with the door its payload's shape asks for.
    pub async fn serve(self, event: LambdaEvent<Box<RawValue>>) -> Result<Served, Error> {
        let LambdaEvent { payload, context } = event;
        let json = payload.get();
        let shape = Shape::of(json);
        let asked = match shape {
            Shape::Http(_) => Some(Door::Http),
            Shape::Sqs => Some(Door::Queue),
            Shape::Schedule if self.sync.is_some() => Some(Door::Sync),
            Shape::Schedule | Shape::Other => None,
        };
        if let Some(door) = asked.filter(|d| *d != self.intended) {
            tracing::warn!(
                ?shape,
                ?door,
                handler = ?self.intended,
                "an event for another door: served by the door its shape asks for"
            );
        }
        match shape {
            Shape::Http(payload) => {
                let event = http::read(json, payload).map_err(Unserved::Http)?;
                let response = http::serve(&self.app, LambdaEvent::new(event, context)).await;
                Ok(Served::Http(Box::new(response)))
            }
            Shape::Sqs => {
                let batch: SqsEvent =
                    serde_json::from_str(json).map_err(|e| Unserved::Sqs(JsonError::from(e)))?;
                let reply = queue::serve(&self.app, LambdaEvent::new(batch, context)).await;
                Ok(Served::Queue(reply))
            }
            Shape::Schedule | Shape::Other => match &self.sync {
                Some(door) if self.intended == Door::Sync => {
                    let value: serde_json::Value =
                        serde_json::from_str(json).map_err(JsonError::from)?;
                    let reports = sync::scheduled(door, LambdaEvent::new(value, context)).await?;
                    Ok(Served::Sync(reports))
                }
                _ => Err(Unserved::NoDoor(shape).into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_selection() {
        assert_eq!(Door::for_handler(None), Door::Http);
        assert_eq!(Door::for_handler(Some("bootstrap")), Door::Http);
        assert_eq!(Door::for_handler(Some("queue")), Door::Queue);
        assert_eq!(Door::for_handler(Some("sync")), Door::Sync);
    }

    #[test]
    fn shapes() {
        use super::http::Payload::{RestApi, V2};
        for (file, shape) in [
            ("after-send-msg.json", Shape::Http(V2)),
            (
                "function-url-after-create-official-account.json",
                Shape::Http(V2),
            ),
            (
                "rest-api-after-create-official-account.json",
                Shape::Http(RestApi),
            ),
        ] {
            let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
            let json = std::fs::read_to_string(path).expect("event file");
            assert_eq!(Shape::of(&json), shape, "{file}");
        }
        let sqs = r#"{"Records":[{"messageId":"m","body":"{}","eventSource":"aws:sqs"}]}"#;
        let sns = r#"{"Records":[{"EventSource":"aws:sns","Sns":{}}]}"#;
        let cron = r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2026-01-01T00:00:00Z","detail":{}}"#;
        for (json, shape) in [
            (sqs, Shape::Sqs),
            (sns, Shape::Other),
            (cron, Shape::Schedule),
            ("{}", Shape::Other),
            (r#"{"accounts":["@TOA#_a"]}"#, Shape::Other),
            ("\"text\"", Shape::Other),
            ("[1,2]", Shape::Other),
        ] {
            assert_eq!(Shape::of(json), shape, "{json}");
        }
    }

    #[test]
    fn unreadable_events_are_described_without_their_values() {
        let sqs = r#"{"Records":[{"eventSource":"aws:sqs","body":7,"messageId":"SECRETBODY"}]}"#;
        let http = r#"{"version":"2.0","routeKey":"$default","rawPath":"/","isBase64Encoded":"SECRETBODY","requestContext":{"http":{"method":"POST","sourceIp":"192.0.2.1"}}}"#;
        let sqs_err = serde_json::from_str::<SqsEvent>(sqs)
            .map(|_| ())
            .map_err(JsonError::from);
        let http_err = http::read(http, http::Payload::V2).map(|_| ());
        assert!(sqs_err.is_err() && http_err.is_err());
        let http_text = http_err.map_err(|e| Unserved::Http(e).to_string());
        let shown = format!(
            "{sqs_err:?} {http_err:?} {http_text:?} {:?}",
            sqs_err.map_err(Unserved::Sqs)
        );
        assert!(!shown.contains("SECRETBODY"), "{shown}");
        assert!(shown.contains("line 1 column"), "{shown}");
    }
}
