//! The SQS adapter of the durable hand-off (docs/contract.md section 5): the
//! [`Envelope`] an after-event travels in, and the two [`Queues`] (hand-off, dead
//! letters) with send, receive, delete and release. What to send where, and when, is
//! decided in `app/`; this module knows nothing of it.
//!
//! A queued event is an [`Envelope`]: the request as received (SdkAppid, CallbackCommand,
//! body), so that the consumer runs it through the same admission and store code as the
//! webhook, with the signature check left out (it was checked on arrival, and
//! `RequestTime` is long past by then), in its account's group ([`message_group`]).

use crate::clients::describe;
use crate::config::Config;
use crate::outcome::{HandOffCause, Rejection};
use crate::protocol::query::{Param, Query};
use crate::protocol::Callback;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::borrow::Cow;
use std::time::Duration;
use tokio::time::Instant;

/// The envelope format's version (`v`).
pub const ENVELOPE_VERSION: u32 = 1;

/// The first visibility timeout of a record the consumer fails back (its batch's time
/// spent while its account was paced at the ceiling, or a store failure).
pub(crate) const RETRY_VISIBILITY_FIRST: Duration = Duration::from_secs(10);
/// The longest: the queue's own visibility timeout (template.yaml, 180 s).
pub(crate) const RETRY_VISIBILITY_MAX: Duration = Duration::from_secs(180);

/// How long a record received `receive_count` times (SQS's `ApproximateReceiveCount`,
/// 1 on the first receive) stays hidden after it is failed back: 10 s, doubled each
/// receive, at most 180 s (10, 20, 40, 80, 160). A throttled account's records come back
/// soon, while a record that fails for good reaches the dead letters (after
/// `maxReceiveCount` receives) in about five minutes rather than fifteen
/// (docs/delivery.md, "The consumer").
pub(crate) fn visibility_after(receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    RETRY_VISIBILITY_FIRST
        .saturating_mul(1u32 << doublings)
        .min(RETRY_VISIBILITY_MAX)
}

/// SQS's largest message: 1 MiB (1,048,576 bytes) of body and attributes.
pub(crate) const SQS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

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
    pub fn of(req: &Callback<'_>, received_at_ms: u64) -> Option<Envelope> {
        let Param::One(app) = req.query.get("SdkAppid") else {
            return None;
        };
        let command = match req.query.get("CallbackCommand") {
            Param::One(c) => Some(c.to_owned()),
            _ => None,
        };
        let (body, body_base64) = match std::str::from_utf8(&req.body) {
            Ok(text) if text.chars().all(sqs_can_carry) => (Some(text.to_owned()), None),
            _ => (None, Some(BASE64.encode(&req.body))),
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
    pub(crate) fn body_bytes(&self) -> Result<Cow<'_, [u8]>, EnvelopeError> {
        match (&self.body, &self.body_base64) {
            (Some(text), _) => Ok(Cow::Borrowed(text.as_bytes())),
            (None, Some(b64)) => BASE64
                .decode(b64)
                .map(Cow::Owned)
                .map_err(|_| EnvelopeError("body_base64 is not base64")),
            (None, None) => Err(EnvelopeError("no body")),
        }
    }

    /// The request the webhook saw, as admission reads it: a POST of the body with the
    /// query's `SdkAppid` and `CallbackCommand`, from no known address, not relayed.
    pub(crate) fn request(&self) -> Result<Callback<'_>, EnvelopeError> {
        let command = self
            .callback_command
            .as_deref()
            .map(|c| ("CallbackCommand", c));
        let pairs = std::iter::once(("SdkAppid", self.sdk_app_id.as_str())).chain(command);
        Ok(Callback {
            method: "POST",
            source_ip: None,
            query: Query::from_pairs(pairs.map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))),
            raw_query: Cow::Borrowed(""),
            relayed: false,
            body: self.body_bytes()?,
        })
    }
}

/// Characters an SQS message body may hold (SQS refuses the others).
fn sqs_can_carry(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The longest `MessageGroupId` SQS takes.
pub(crate) const MAX_MESSAGE_GROUP_ID: usize = 128;

/// The `MessageGroupId` of an account's messages: `{app}#{oa}` (docs/contract.md section
/// 5, "Fairness"), or `{app}` when the account is not known (a message that is not an
/// event). SQS takes up to 128 ASCII letters, digits and punctuation: an account outside
/// that (a long or non-ASCII `Official_Account`) is named by the SHA-256 of its text
/// instead, `{app}#sha256:{hex}`, the same for every message of that account.
pub(crate) fn message_group(app: &str, account: Option<&str>) -> String {
    let plain = match account {
        Some(a) => format!("{app}#{a}"),
        None => app.to_owned(),
    };
    let fits = |s: &str| s.len() <= MAX_MESSAGE_GROUP_ID && s.bytes().all(|b| b.is_ascii_graphic());
    if fits(&plain) {
        return plain;
    }
    let hashed = |s: &str| hex::encode(sha2::Sha256::digest(s.as_bytes()));
    let app = if fits(app) && app.len() <= 40 {
        app.to_owned()
    } else {
        format!("sha256:{}", &hashed(app)[..32])
    };
    match account {
        Some(a) => format!("{app}#sha256:{}", hashed(a)),
        None => app,
    }
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

impl<E: ProvideErrorMetadata, R> From<SdkError<E, R>> for QueueError {
    fn from(e: SdkError<E, R>) -> QueueError {
        QueueError::Sqs(describe(&e))
    }
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
        self.client_and_url(QueueName::HandOff).is_ok()
    }

    pub(crate) fn can_dead_letter(&self) -> bool {
        self.client_and_url(QueueName::DeadLetters).is_ok()
    }

    fn client_and_url(&self, queue: QueueName) -> Result<(&aws_sdk_sqs::Client, &str), QueueError> {
        let url = match queue {
            QueueName::HandOff => &self.handoff,
            QueueName::DeadLetters => &self.dead_letters,
        };
        match (&self.client, url) {
            (Some(c), Some(u)) => Ok((c, u)),
            _ => Err(QueueError::NotConfigured),
        }
    }

    /// Sends `env` to the hand-off queue before `deadline`, in its account's message group
    /// ([`message_group`]), with the cause as its `cause` attribute.
    pub(crate) async fn hand_off(
        &self,
        env: &Envelope,
        cause: HandOffCause,
        account: Option<&str>,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let attrs = [("cause", cause.label().to_owned())];
        let group = message_group(&env.sdk_app_id, account);
        self.send(
            QueueName::HandOff,
            &env.to_json(),
            Some(&group),
            &attrs,
            deadline,
        )
        .await
    }

    /// Sends a message body (an envelope, or a queued message that is not one) to the
    /// dead-letter queue before `deadline`, with the rejection's reason as attributes, in
    /// the message group of what is known: its account, or its app ([`message_group`]).
    pub(crate) async fn dead_letter(
        &self,
        body: &str,
        r: &Rejection,
        app: Option<&str>,
        account: Option<&str>,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let attrs = [
            ("reason", r.reason.label().to_owned()),
            ("info", r.info.chars().take(256).collect::<String>()),
        ];
        let group = app.map(|app| message_group(app, account));
        let group = group.as_deref();
        self.send(QueueName::DeadLetters, body, group, &attrs, deadline)
            .await
    }

    async fn send(
        &self,
        queue: QueueName,
        body: &str,
        group: Option<&str>,
        attrs: &[(&str, String)],
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let (client, url) = self.client_and_url(queue)?;
        let attr_bytes: usize = attrs.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        if body.len() + attr_bytes > SQS_MAX_MESSAGE_BYTES {
            return Err(QueueError::TooLarge);
        }
        let mut req = client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .set_message_group_id(group.map(str::to_owned));
        for (name, value) in attrs.iter().filter(|(_, v)| !v.is_empty()) {
            let v = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value.as_str())
                .build()
                .map_err(|e| QueueError::Sqs(e.to_string()))?;
            req = req.message_attributes(*name, v);
        }
        tokio::time::timeout_at(deadline, req.send())
            .await
            .map_err(|_| QueueError::Budget)??;
        Ok(())
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
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .visibility_timeout(secs(hide))
            .wait_time_seconds(secs(wait).min(20))
            .message_attribute_names("All")
            .send()
            .await?;
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
            .await?;
        Ok(())
    }

    /// Hides a received message of `queue` for `hide` from now (`ChangeMessageVisibility`;
    /// zero makes it visible again at once): a record the consumer fails back comes again
    /// after [`visibility_after`], not the queue's whole visibility timeout; one `replay`
    /// leaves in place comes back at once. Waits at most until `deadline`.
    pub async fn hide(
        &self,
        queue: QueueName,
        receipt_handle: &str,
        hide: Duration,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let (client, url) = self.client_and_url(queue)?;
        let hidden = client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs(hide))
            .send();
        tokio::time::timeout_at(deadline, hidden)
            .await
            .map_err(|_| QueueError::Budget)??;
        Ok(())
    }
}

/// A duration as SQS's whole seconds.
fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(query: &'a str, body: &'a [u8]) -> Callback<'a> {
        Callback {
            method: "POST",
            source_ip: None,
            query: Query::parse(query),
            raw_query: Cow::Borrowed(query),
            relayed: false,
            body: Cow::Borrowed(body),
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
        let req = back.request().expect("a request");
        assert_eq!(req.query.get("sdkappid"), Param::One("1400000001"));
        assert_eq!(req.body.as_ref(), body);
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
    fn a_failed_back_record_is_hidden_longer_each_receive() {
        let secs: Vec<u64> = (0..=7).map(|n| visibility_after(n).as_secs()).collect();
        assert_eq!(secs, [10, 10, 20, 40, 80, 160, 180, 180]);
        assert_eq!(visibility_after(u32::MAX), RETRY_VISIBILITY_MAX);
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
    fn message_groups_name_the_account_within_what_sqs_takes() {
        assert_eq!(
            message_group("1400000001", Some("@TOA#_a")),
            "1400000001#@TOA#_a"
        );
        assert_eq!(message_group("1400000001", None), "1400000001");
        for odd in ["é", "a b", &"x".repeat(200)] {
            let g = message_group("1400000001", Some(odd));
            assert!(g.starts_with("1400000001#sha256:"), "{g}");
            assert!(g.len() <= MAX_MESSAGE_GROUP_ID && g.bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(g, message_group("1400000001", Some(odd)));
        }
        assert_ne!(message_group("1", Some("é")), message_group("1", Some("è")));
        let g = message_group(&"9".repeat(300), Some("a"));
        assert!(g.len() <= MAX_MESSAGE_GROUP_ID, "{g}");
    }
}
