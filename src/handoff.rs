//! The durable hand-off (docs/contract.md section 5): what becomes of an authentic
//! after-event the table did not take in time (the hand-off queue), of one that can never
//! be stored (the dead-letter queue), and how a queued event is applied again (the queue
//! consumer and `oa-webhook replay`). Knows no door: the doors call [`App::webhook`],
//! [`App::redeliver`] and [`App::consume`].
//!
//! A queued event is an [`Envelope`]: the request as received (SdkAppid, CallbackCommand,
//! body), so that the consumer runs it through the same admission and store code as the
//! webhook, with the signature check left out (it was checked on arrival, and
//! `RequestTime` is long past by then).

use crate::app::App;
use crate::config::Config;
use crate::events::{Event, EventKind};
use crate::outcome::{Failure, HandOffCause, Outcome, Reason};
use crate::protocol::query::{Param, Query};
use crate::protocol::{self, Admission, Request, Seen};
use crate::store::Budget;
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The envelope format's version (`v`).
pub const ENVELOPE_VERSION: u32 = 1;

/// Time kept after the store for the hand-off when a hand-off queue is configured: the
/// store stops this long before the reply is due, so that SQS gets it, with room for a
/// retry (figures: docs/delivery.md).
pub const HANDOFF_RESERVE: Duration = Duration::from_millis(300);

/// A failed after-event is answered 503 no sooner than this after it arrived (section 5,
/// "last resort"): Tencent retries only requests that time out (2 s), so a late answer is
/// the one that gets the event sent again.
pub const LAST_RESORT_AFTER: Duration = Duration::from_millis(2100);

/// Lists longer than this (`SubscribeAccountList`, `WithdrawMsgList`) go to the hand-off
/// queue before any write, when one is configured: more than a transaction's worth,
/// which did not reliably fit the budget (docs/delivery.md). The REST API adds
/// at most 100 subscribers a call, so a genuine callback of that size is still written
/// directly.
pub const UP_FRONT_MAX_ENTRIES: usize = 100;

/// SQS's largest message: 1 MiB (1,048,576 bytes) of body and attributes.
pub const SQS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// An after-event as received, as it travels through the queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`].
    pub v: u32,
    /// The query's `SdkAppid`.
    pub sdk_app_id: String,
    /// The query's `CallbackCommand`; absent when only the body had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_command: Option<String>,
    /// When the webhook received it, Unix milliseconds.
    pub received_at_ms: u64,
    /// The body as received, when it is text SQS can carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Otherwise the body in standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

/// A message that is not a usable envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event envelope: {0}")]
pub struct EnvelopeError(pub &'static str);

impl Envelope {
    /// The envelope of `req`, received at `received_at_ms`. `None` when the request has
    /// no single SdkAppid or no readable body (never the case for an admitted
    /// after-event).
    pub fn of(req: &Request<'_>, received_at_ms: u64) -> Option<Envelope> {
        let Param::One(app) = req.query.get("SdkAppid") else {
            return None;
        };
        let command = match req.query.get("CallbackCommand") {
            Param::One(c) => Some(c.to_owned()),
            _ => None,
        };
        let bytes = req.body.as_ref().ok()?;
        let (body, body_base64) = match std::str::from_utf8(bytes) {
            Ok(text) if text.chars().all(sqs_can_carry) => (Some(text.to_owned()), None),
            _ => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ),
        };
        Some(Envelope {
            v: ENVELOPE_VERSION,
            sdk_app_id: app.to_owned(),
            callback_command: command,
            received_at_ms,
            body,
            body_base64,
        })
    }

    pub fn to_json(&self) -> String {
        // Serializing strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        let env: Envelope =
            serde_json::from_str(text).map_err(|_| EnvelopeError("not the envelope's JSON"))?;
        if env.v != ENVELOPE_VERSION {
            return Err(EnvelopeError("unknown envelope version"));
        }
        if env.body.is_some() == env.body_base64.is_some() {
            return Err(EnvelopeError("needs exactly one of body, body_base64"));
        }
        Ok(env)
    }

    /// The body's bytes.
    pub fn body_bytes(&self) -> Result<Cow<'_, [u8]>, EnvelopeError> {
        match (&self.body, &self.body_base64) {
            (Some(text), _) => Ok(Cow::Borrowed(text.as_bytes())),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(Cow::Owned)
                .map_err(|_| EnvelopeError("body_base64 is not base64")),
            (None, None) => Err(EnvelopeError("no body")),
        }
    }

    /// The query the webhook saw (the parts admission reads).
    pub fn query(&self) -> Query<'_> {
        let mut pairs = vec![(
            Cow::Borrowed("SdkAppid"),
            Cow::Borrowed(self.sdk_app_id.as_str()),
        )];
        if let Some(c) = &self.callback_command {
            pairs.push((Cow::Borrowed("CallbackCommand"), Cow::Borrowed(c.as_str())));
        }
        Query::from_pairs(pairs)
    }
}

/// Characters an SQS message body may hold (SQS refuses the others).
fn sqs_can_carry(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether an event is too large to write inside the webhook's budget, decided before
/// any write ([`UP_FRONT_MAX_ENTRIES`]).
pub fn too_large(event: &Event) -> bool {
    let entries = match &event.kind {
        EventKind::SubscribersAdded { subscribers, .. }
        | EventKind::SubscribersDeleted { subscribers, .. } => subscribers.len(),
        EventKind::MessagesWithdrawn { msg_keys } => msg_keys.len(),
        _ => 0,
    };
    entries > UP_FRONT_MAX_ENTRIES
}

/// Why a message was not sent to SQS. For the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("no queue configured")]
    NotConfigured,
    #[error("the message is larger than SQS accepts")]
    TooLarge,
    #[error("the time budget ran out")]
    Budget,
    #[error("SQS: {0}")]
    Sqs(String),
}

/// The two queues of an instance (either may be absent). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Queues {
    client: Option<aws_sdk_sqs::Client>,
    handoff: Option<String>,
    dead_letters: Option<String>,
}

/// Which of the two queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    HandOff,
    DeadLetters,
}

/// A message as `replay` (or the local poller) receives it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// The `reason` attribute, when the function sent it there itself.
    pub reason: Option<String>,
}

impl Queues {
    /// No queues: today's behaviour (no hand-off, no dead letters).
    pub fn none() -> Queues {
        Queues::default()
    }

    /// The queues `config` names, reached with `client`.
    pub fn new(client: aws_sdk_sqs::Client, config: &Config) -> Queues {
        Queues {
            client: Some(client),
            handoff: config.handoff_queue_url.clone(),
            dead_letters: config.dead_letter_queue_url.clone(),
        }
    }

    pub fn can_hand_off(&self) -> bool {
        self.client.is_some() && self.handoff.is_some()
    }

    pub fn can_dead_letter(&self) -> bool {
        self.client.is_some() && self.dead_letters.is_some()
    }

    pub fn client(&self) -> Option<&aws_sdk_sqs::Client> {
        self.client.as_ref()
    }

    pub fn url(&self, queue: QueueName) -> Option<&str> {
        match queue {
            QueueName::HandOff => self.handoff.as_deref(),
            QueueName::DeadLetters => self.dead_letters.as_deref(),
        }
    }

    fn client_and_url(&self, queue: QueueName) -> Result<(&aws_sdk_sqs::Client, &str), QueueError> {
        match (&self.client, self.url(queue)) {
            (Some(c), Some(u)) => Ok((c, u)),
            _ => Err(QueueError::NotConfigured),
        }
    }

    /// Sends `env` to the hand-off queue before `deadline`.
    pub async fn hand_off(
        &self,
        env: &Envelope,
        cause: HandOffCause,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let attrs = [("cause", cause.label().to_owned())];
        self.send(self.handoff.as_deref(), &env.to_json(), &attrs, deadline)
            .await
    }

    /// Sends a message body (an envelope, or a queued message that is not one) to the
    /// dead-letter queue before `deadline`, with the reason as attributes.
    pub async fn dead_letter(
        &self,
        body: &str,
        reason: Reason,
        info: &str,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let attrs = [
            ("reason", reason.label().to_owned()),
            ("info", info.chars().take(256).collect::<String>()),
        ];
        self.send(self.dead_letters.as_deref(), body, &attrs, deadline)
            .await
    }

    async fn send(
        &self,
        url: Option<&str>,
        body: &str,
        attrs: &[(&str, String)],
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let (Some(client), Some(url)) = (&self.client, url) else {
            return Err(QueueError::NotConfigured);
        };
        let attr_bytes: usize = attrs.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        if body.len() + attr_bytes > SQS_MAX_MESSAGE_BYTES {
            return Err(QueueError::TooLarge);
        }
        let mut req = client.send_message().queue_url(url).message_body(body);
        for (name, value) in attrs {
            if value.is_empty() {
                continue;
            }
            let v = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value.as_str())
                .build()
                .map_err(|e| QueueError::Sqs(e.to_string()))?;
            req = req.message_attributes(*name, v);
        }
        match tokio::time::timeout_at(deadline, req.send()).await {
            Err(_) => Err(QueueError::Budget),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(QueueError::Sqs(describe(&e))),
        }
    }

    /// Up to `max` (1-10) messages of `queue`, hidden from other readers for `hide`,
    /// waiting at most `wait` for some to arrive.
    pub async fn receive(
        &self,
        queue: QueueName,
        max: i32,
        hide: Duration,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        let (client, url) = self.client_and_url(queue)?;
        let secs = |d: Duration| i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .visibility_timeout(secs(hide))
            .wait_time_seconds(secs(wait).min(20))
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| QueueError::Sqs(describe(&e)))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                reason: m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get("reason"))
                    .and_then(|v| v.string_value.clone()),
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    /// Deletes a received message (once it is stored).
    pub async fn delete(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        let (client, url) = self.client_and_url(queue)?;
        client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Sqs(describe(&e)))
    }

    /// Makes a received message visible again at once (one `replay` leaves in place).
    pub async fn release(&self, queue: QueueName, receipt_handle: &str) -> Result<(), QueueError> {
        let (client, url) = self.client_and_url(queue)?;
        client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Sqs(describe(&e)))
    }
}

fn describe<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(
    err: &aws_sdk_sqs::error::SdkError<E, R>,
) -> String {
    use aws_sdk_sqs::error::SdkError;
    match err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown"),
            se.err().message().unwrap_or("")
        ),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch failure".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request construction failed".to_owned(),
        _ => "unknown SDK error".to_owned(),
    }
}

/// The SQS client as the function uses it: `sdk` (from
/// [`crate::store::sdk::AwsSettings::sqs_sdk_config`]: the same HTTPS stack, region and
/// credentials as DynamoDB) with timeouts sized to the hand-off's share of the budget
/// (a connection 200 ms, an attempt 250 ms, three attempts); the caller's deadline bounds
/// the whole call.
pub fn sqs_client_from(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(configure(aws_sdk_sqs::config::Builder::from(sdk)).build())
}

pub fn configure(builder: aws_sdk_sqs::config::Builder) -> aws_sdk_sqs::config::Builder {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_sqs::config::StalledStreamProtectionConfig;
    builder
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(200))
                .operation_attempt_timeout(Duration::from_millis(250))
                .operation_timeout(Duration::from_millis(1000))
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
}

/// The client `replay` uses: the same, with room for long polls (a receive waits up to
/// a few seconds for messages).
pub fn operator_sqs_client_from(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    use aws_config::timeout::TimeoutConfig;
    let builder = configure(aws_sdk_sqs::config::Builder::from(sdk)).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(60))
            .build(),
    );
    aws_sdk_sqs::Client::from_conf(builder.build())
}

/// The DynamoDB client of the queue consumer and `replay`: the function's
/// ([`crate::store::configure`]) with timeouts sized to a record's budget rather than to
/// the webhook's 2 seconds: under load (a batch of large events at once) a call that
/// takes longer than the webhook's 500 ms attempt would otherwise time out, be retried,
/// and time out again.
pub fn consumer_dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    use aws_config::timeout::TimeoutConfig;
    let builder = crate::store::configure(aws_sdk_dynamodb::config::Builder::from(sdk))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(15))
                .build(),
        );
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What became of a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done with: stored, unchanged, not an event to store, or moved to the dead letters.
    Done,
    /// Not taken: leave it in its queue for another try.
    Retry,
}

impl App {
    /// The budget of a webhook request that arrived now and must be answered within
    /// `budget`: when a hand-off queue is configured, the store stops
    /// [`HANDOFF_RESERVE`] early to leave SQS its share.
    pub fn webhook_budget(&self, budget: Duration) -> Budget {
        let b = Budget::until(Instant::now() + budget);
        if self.queues.can_hand_off() {
            b.reserving(HANDOFF_RESERVE)
        } else {
            b
        }
    }

    /// Section 5, after admission and the write: an event the table did not take goes to
    /// the hand-off queue (200 OK once SQS has it), one that can never be stored to the
    /// dead-letter queue, and one that neither the table nor the queue took is answered
    /// 503 no sooner than [`App::last_resort`] after arrival. Other outcomes pass
    /// unchanged, at once.
    pub async fn deliver(&self, req: &Request<'_>, outcome: Outcome, budget: &Budget) -> Outcome {
        match outcome {
            Outcome::HandedOff(cause) => self.hand_off(req, cause, budget).await,
            Outcome::Failed(f) => {
                let outcome = if self.queues.can_hand_off() {
                    self.hand_off(req, HandOffCause::Store(f), budget).await
                } else {
                    Outcome::Failed(f)
                };
                if matches!(outcome, Outcome::Failed(_)) {
                    // Never past the Lambda deadline: a reply is still better than none.
                    let mut until = budget.started() + self.last_resort;
                    if let Some(limit) = budget.limit() {
                        until = until.min(limit);
                    }
                    tokio::time::sleep_until(until).await;
                }
                outcome
            }
            Outcome::Rejected(r) if r.reason.dead_letters() => {
                if self.queues.can_dead_letter() {
                    let sent = match Envelope::of(req, now_ms()) {
                        Some(env) => {
                            self.queues
                                .dead_letter(&env.to_json(), r.reason, &r.info, budget.end())
                                .await
                        }
                        None => Err(QueueError::Sqs("no envelope".to_owned())),
                    };
                    match sent {
                        Ok(()) => tracing::info!(reason = r.reason.label(), "dead-lettered"),
                        Err(e) => tracing::error!(
                            reason = r.reason.label(),
                            error = %e,
                            "dead letter not sent: the event is lost"
                        ),
                    }
                }
                Outcome::Rejected(r)
            }
            other => other,
        }
    }

    /// Whether to send an admitted event to the hand-off queue before any write.
    pub fn hands_off_up_front(&self, event: &Event) -> bool {
        self.queues.can_hand_off() && too_large(event)
    }

    /// Sends the request to the hand-off queue within what is left of `budget`.
    async fn hand_off(&self, req: &Request<'_>, cause: HandOffCause, budget: &Budget) -> Outcome {
        let Some(env) = Envelope::of(req, now_ms()) else {
            return Outcome::Failed(Failure::HandOff);
        };
        let started = Instant::now();
        match self.queues.hand_off(&env, cause, budget.end()).await {
            Ok(()) => {
                tracing::info!(
                    cause = cause.label(),
                    sqs_ms = started.elapsed().as_millis() as u64,
                    "handed off"
                );
                Outcome::HandedOff(cause)
            }
            Err(e) => {
                tracing::error!(cause = cause.label(), error = %e, "hand-off failed");
                Outcome::Failed(Failure::HandOff)
            }
        }
    }

    /// A queued message (an [`Envelope`]) applied again: admitted as the webhook admits
    /// it, less the signature check, then written within `budget`. Nothing is sent to a
    /// queue. `seen` collects what the log line shows.
    pub async fn redeliver(&self, message: &str, budget: &Budget, seen: &mut Seen) -> Outcome {
        let env = match Envelope::parse(message) {
            Ok(env) => env,
            Err(e) => return Outcome::rejected(Reason::BadEnvelope, e.0),
        };
        let body = match env.body_bytes() {
            Ok(b) => b,
            Err(e) => return Outcome::rejected(Reason::BadEnvelope, e.0),
        };
        let req = Request {
            method: "POST",
            source_ip: None,
            query: env.query(),
            raw_query: Cow::Borrowed(""),
            relayed: false,
            body: Ok(body),
        };
        // Authenticated (signature, source address) on arrival; `RequestTime` is long
        // past now. Queued events are after-events: never relayed.
        let trusted = Config {
            callback_token: None,
            allowed_sources: None,
            forward_url: None,
            ..(*self.config).clone()
        };
        match protocol::admit(&req, &trusted, (self.clock)(), seen) {
            Admission::Answer(outcome) | Admission::Relay(outcome) => outcome,
            Admission::Store(event) => self.store_event(&event, budget).await,
        }
    }

    /// The queue consumer's work on one message: [`App::redeliver`], and a message that
    /// can never be stored goes to the dead-letter queue with its reason.
    pub async fn consume(
        &self,
        message: &str,
        budget: &Budget,
        seen: &mut Seen,
    ) -> (Outcome, Verdict) {
        let outcome = self.redeliver(message, budget, seen).await;
        let verdict = match &outcome {
            Outcome::Failed(_) | Outcome::HandedOff(_) => Verdict::Retry,
            Outcome::Rejected(r) => {
                // Moved to the dead letters with its reason, or left for the redrive to
                // move there after the queue's maximum receive count.
                let deadline = Instant::now() + Duration::from_secs(5);
                match self
                    .queues
                    .dead_letter(message, r.reason, &r.info, deadline)
                    .await
                {
                    Ok(()) => Verdict::Done,
                    Err(e) => {
                        tracing::error!(error = %e, "dead letter not sent; left in the queue");
                        Verdict::Retry
                    }
                }
            }
            _ => Verdict::Done,
        };
        (outcome, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(query: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method: "POST",
            source_ip: None,
            query: Query::parse(query),
            raw_query: Cow::Borrowed(query),
            relayed: false,
            body: Ok(Cow::Borrowed(body)),
        }
    }

    #[test]
    fn envelope_round_trip() {
        let body =
            br#"{"CallbackCommand":"OfficialAccount.CallbackAfterSendMsg","x":"\u00e9 \"q\""}"#;
        let req = request(
            "SdkAppid=1400000001&CallbackCommand=OfficialAccount.CallbackAfterSendMsg&Sign=s",
            body,
        );
        let env = Envelope::of(&req, 42).expect("an envelope");
        assert_eq!(
            env.callback_command.as_deref(),
            Some("OfficialAccount.CallbackAfterSendMsg")
        );
        assert!(env.body.is_some() && env.body_base64.is_none());
        let back = Envelope::parse(&env.to_json()).expect("parses");
        assert_eq!(back, env);
        assert_eq!(back.body_bytes().unwrap().as_ref(), body);
        assert_eq!(back.query().get("sdkappid"), Param::One("1400000001"));
        assert!(!env.to_json().contains("Sign"));
    }

    #[test]
    fn bodies_sqs_cannot_carry_travel_in_base64() {
        for body in [
            &b"\xef\xbb\xbf{}"[..],
            "{\"a\":\"\u{FFFF}\"}".as_bytes(),
            b"\xff{}",
        ] {
            let env = Envelope::of(&request("SdkAppid=1", body), 0).expect("an envelope");
            let is_bom = body.starts_with(b"\xef\xbb\xbf");
            assert_eq!(env.body_base64.is_some(), !is_bom, "{body:?}");
            let back = Envelope::parse(&env.to_json()).unwrap();
            assert_eq!(back.body_bytes().unwrap().as_ref(), body);
        }
        assert!(Envelope::of(&request("CallbackCommand=x", b"{}"), 0).is_none());
    }

    #[test]
    fn bad_envelopes() {
        for text in [
            "",
            "{}",
            r#"{"v":2,"sdk_app_id":"1","received_at_ms":0,"body":"{}"}"#,
            r#"{"v":1,"sdk_app_id":"1","received_at_ms":0}"#,
            r#"{"v":1,"sdk_app_id":"1","received_at_ms":0,"body":"{}","body_base64":"e30="}"#,
        ] {
            assert!(Envelope::parse(text).is_err(), "{text}");
        }
        let env =
            Envelope::parse(r#"{"v":1,"sdk_app_id":"1","received_at_ms":0,"body_base64":"!"}"#)
                .unwrap();
        assert!(env.body_bytes().is_err());
    }

    #[test]
    fn long_lists_are_too_large() {
        let event = |n: usize| Event {
            app: "1".into(),
            account: "a".into(),
            event_time: 1,
            kind: EventKind::SubscribersDeleted {
                operator: None,
                subscribers: (0..n).map(|i| format!("u{i}")).collect(),
            },
        };
        assert!(!too_large(&event(UP_FRONT_MAX_ENTRIES)));
        assert!(too_large(&event(UP_FRONT_MAX_ENTRIES + 1)));
    }
}
