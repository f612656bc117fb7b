//! The typed outcome of one request (or one queued record): what happened, the reply it
//! gets, and the labels its request line and metrics carry (docs/contract.md section 2).

use crate::relay::{RelayFailure, RelayedReply};
use crate::reply::Reply;
use std::borrow::Cow;

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An after-event whose effects are now durable in the table (row 13).
    Stored { items_written: u32 },
    /// An after-event that changed nothing: a duplicate, or older than what is stored (row 13).
    Unchanged,
    /// Another product's command, or an `OfficialAccount` command this version does not
    /// store (rows 8, 10).
    Ignored,
    /// A before-callback, allowed (row 9).
    Allowed,
    /// A connectivity probe: no `CallbackCommand` anywhere (row 4).
    Probe,
    /// Refused (rows 1-3, 5-7, 11, 12a).
    Rejected(Rejection),
    /// Not written in time, but accepted by the hand-off queue, from which the queue
    /// consumer writes it (row 12, section 5): acknowledged.
    HandedOff(HandOffCause),
    /// Could not be written, and was not acknowledged; or could not be relayed.
    Failed(Failure),
    /// Relayed to `FORWARD_URL` (rows 8 and 9, contract section 7): the backend's reply,
    /// which is the reply.
    Relayed(Box<RelayedReply>),
}

/// Why an event went to the hand-off queue rather than straight to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOffCause {
    /// Decided before any write: the event is too large to write inside the budget.
    TooLarge,
    /// The write met contention on the account's items (a cancelled transaction's
    /// `TransactionConflict`, a hot item's throttling): handed off at once
    /// (docs/contract.md section 5, "Contention").
    Contention,
    /// Decided before any write: a subscriber event of an account this instance found
    /// hot a moment ago (section 5, "Contention"; `app::HOT_HOLD`).
    HotAccount,
    /// The write failed ([`Failure::Store`], [`Failure::StoreTimeout`],
    /// [`Failure::StoreUnavailable`]).
    Store(Failure),
}

impl HandOffCause {
    pub fn label(self) -> &'static str {
        match self {
            HandOffCause::TooLarge => "too_large",
            HandOffCause::Contention => "contention",
            HandOffCause::HotAccount => "hot_account",
            HandOffCause::Store(f) => f.label(),
        }
    }
}

/// A refusal: why, and the sentence sent back in `ErrorInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    /// Names the problem (a field, a parameter), never echoes a value or a secret.
    pub info: Cow<'static, str>,
}

/// Why a request was refused; each has its status and a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Row 1.
    Method,
    /// Row 1a: the source address is outside `ALLOWED_SOURCE_CIDRS`.
    SourceNotAllowed,
    /// Row 2.
    SdkAppidUnknown,
    SdkAppidRepeated,
    /// Row 3.
    Auth(AuthError),
    /// Row 5.
    SdkAppidMissing,
    /// Row 6.
    BodyTooLarge,
    /// Row 7.
    BodyNotObject,
    CommandRepeated,
    CommandInvalid,
    CommandMismatch,
    /// Row 11: a required field is missing or unreadable.
    InvalidField,
    /// Row 12a: DynamoDB cannot hold the item as it is.
    Unstorable,
    /// A queued message that is not an event envelope (the hand-off's `Envelope`).
    BadEnvelope,
}

impl Reason {
    /// The reply's status and the `reason` label, side by side.
    fn status_and_label(self) -> (u16, &'static str) {
        match self {
            Reason::Method => (405, "method"),
            Reason::SourceNotAllowed => (403, "source_not_allowed"),
            Reason::SdkAppidUnknown => (403, "sdkappid_unknown"),
            Reason::SdkAppidRepeated => (403, "sdkappid_repeated"),
            Reason::Auth(e) => (401, e.reason()),
            Reason::SdkAppidMissing => (403, "sdkappid_missing"),
            Reason::BodyTooLarge => (413, "body_too_large"),
            Reason::BodyNotObject => (400, "body_not_object"),
            Reason::CommandRepeated => (400, "command_repeated"),
            Reason::CommandInvalid => (400, "command_invalid"),
            Reason::CommandMismatch => (400, "command_mismatch"),
            Reason::InvalidField => (400, "invalid_field"),
            Reason::Unstorable => (400, "unstorable"),
            Reason::BadEnvelope => (400, "bad_envelope"),
        }
    }

    pub fn status(self) -> u16 {
        self.status_and_label().0
    }

    /// The `reason` label of the request line and the `rejections` metric.
    pub fn label(self) -> &'static str {
        self.status_and_label().1
    }

    /// Whether a request refused for this reason is an authentic after-event that can
    /// never be stored as it is, and so goes to the dead-letter queue (rows 11, 12a).
    pub fn dead_letters(self) -> bool {
        matches!(
            self,
            Reason::InvalidField | Reason::Unstorable | Reason::BadEnvelope
        )
    }
}

/// Why an event could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// DynamoDB refused the write for good (a validation error, a fatal cancellation).
    Store,
    /// The time budget ran out.
    StoreTimeout,
    /// DynamoDB was unreachable or kept failing (throttling, 5xx).
    StoreUnavailable,
    /// The write failed and the hand-off queue did not take the event either.
    HandOff,
    /// The relay to `FORWARD_URL` failed or was too slow (contract section 7).
    Relay(RelayFailure),
}

impl Failure {
    pub fn status(self) -> u16 {
        match self {
            Failure::Store => 500,
            Failure::StoreTimeout | Failure::StoreUnavailable | Failure::HandOff => 503,
            Failure::Relay(_) => 502,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Failure::Store => "store_error",
            Failure::StoreTimeout => "store_timeout",
            Failure::StoreUnavailable => "store_unavailable",
            Failure::HandOff => "handoff_failed",
            Failure::Relay(r) => r.label(),
        }
    }
}

impl Outcome {
    pub fn rejected(reason: Reason, info: impl Into<Cow<'static, str>>) -> Outcome {
        Outcome::Rejected(Rejection {
            reason,
            info: info.into(),
        })
    }

    /// The `outcome` label of the request line and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Stored { .. } => "stored",
            Outcome::Unchanged => "unchanged",
            Outcome::Ignored => "ignored",
            Outcome::Allowed => "allowed",
            Outcome::Probe => "probe",
            Outcome::Rejected(_) => "rejected",
            Outcome::HandedOff(_) => "handed_off",
            Outcome::Failed(_) => "failed",
            Outcome::Relayed(_) => "relayed",
        }
    }

    /// The `reason` label: empty unless rejected, handed off or failed.
    pub fn reason(&self) -> &'static str {
        match self {
            Outcome::Rejected(r) => r.reason.label(),
            Outcome::Failed(f) => f.label(),
            Outcome::HandedOff(c) => c.label(),
            _ => "",
        }
    }

    pub(crate) fn is_rejected(&self) -> bool {
        matches!(self, Outcome::Rejected(_))
    }

    pub fn items_written(&self) -> u32 {
        match self {
            Outcome::Stored { items_written } => *items_written,
            _ => 0,
        }
    }

    /// The reply the Chat backend gets.
    pub fn reply(&self) -> Reply {
        match self {
            Outcome::Rejected(r) => Reply::fail(r.reason.status(), r.info.clone()),
            Outcome::Failed(Failure::Relay(_)) => Reply::fail(
                502,
                "the callback could not be relayed to the app's backend",
            ),
            Outcome::Failed(f) => Reply::fail(
                f.status(),
                "the event could not be stored; it was not acknowledged",
            ),
            // The status only: the body is the backend's (the HTTP door sends it).
            Outcome::Relayed(r) => Reply::fail(r.status, ""),
            _ => Reply::OK,
        }
    }
}

/// Why a request failed authentication. The text (`Display`) is safe to send back and to
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Sign is missing: webhook authentication is required")]
    MissingSign,
    #[error("RequestTime is missing: webhook authentication is required")]
    MissingRequestTime,
    #[error("Sign or RequestTime is given twice")]
    RepeatedParameter,
    #[error("Sign is not a 64-digit hex SHA-256")]
    MalformedSign,
    #[error("RequestTime is not Unix seconds")]
    MalformedRequestTime,
    #[error("RequestTime is outside the allowed window")]
    Expired,
    #[error("Sign does not match")]
    BadSign,
}

impl AuthError {
    /// A short machine-friendly reason, for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::MissingSign => "sign_missing",
            AuthError::MissingRequestTime => "request_time_missing",
            AuthError::RepeatedParameter => "auth_param_repeated",
            AuthError::MalformedSign => "sign_malformed",
            AuthError::MalformedRequestTime => "request_time_malformed",
            AuthError::Expired => "request_time_expired",
            AuthError::BadSign => "sign_mismatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outcome's reply status, `outcome` label and `reason` label.
    fn labels(o: &Outcome) -> (u16, &'static str, &'static str) {
        (o.reply().status, o.label(), o.reason())
    }

    #[test]
    fn statuses_and_labels() {
        let r = Outcome::rejected(Reason::Auth(AuthError::BadSign), "Sign does not match");
        assert_eq!(labels(&r), (401, "rejected", "sign_mismatch"));
        let f = Outcome::Failed(Failure::StoreTimeout);
        assert_eq!(labels(&f), (503, "failed", "store_timeout"));
        let s = Outcome::Stored { items_written: 3 };
        assert_eq!(labels(&s), (200, "stored", ""));
        assert_eq!((s.reply(), s.items_written()), (Reply::OK, 3));
        assert_eq!(Outcome::Probe.reply(), Reply::OK);
        let h = Outcome::HandedOff(HandOffCause::Store(Failure::StoreTimeout));
        assert_eq!(h.reply(), Reply::OK);
        assert_eq!(labels(&h), (200, "handed_off", "store_timeout"));
        let f = Outcome::Failed(Failure::HandOff);
        assert_eq!(labels(&f), (503, "failed", "handoff_failed"));
        let f = Outcome::Failed(Failure::Relay(RelayFailure::Timeout));
        assert_eq!(labels(&f), (502, "failed", "relay_timeout"));
        let r = Outcome::Relayed(Box::new(RelayedReply {
            status: 302,
            content_type: None,
            body: Vec::new(),
        }));
        assert_eq!(labels(&r), (302, "relayed", ""));
    }
}
