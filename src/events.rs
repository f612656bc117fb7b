//! The event model: what happened in the Chat app, whichever door it came through (the
//! webhook, the hand-off queue, a sync from the REST API).
//!
//! `after_commands!` holds the one list of after-commands this version stores: each
//! entry's variant, metric label (its wire name, `CallbackCommand`, less
//! `OfficialAccount.Callback`) and sample event file under `events/`. The protocol
//! reader (`protocol::body`), the folding rules (`state`), the store and telemetry all
//! take their command names from it, and a test enumerates it against `events/`
//! (`tests/it/seeds.rs`).

use std::borrow::Cow;

/// `CallbackCommand` prefix of every Official Account command (docs/protocol.md section 2).
pub(crate) const OFFICIAL_ACCOUNT_PREFIX: &str = "OfficialAccount.";

macro_rules! after_commands {
    ($($variant:ident => $label:literal, $sample:literal;)+) => {
        /// The after-commands this version stores (docs/protocol.md section 2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AfterCommand {
            $($variant,)+
        }

        impl AfterCommand {
            /// Every after-command, in the list's order.
            pub const ALL: &'static [AfterCommand] = &[$(AfterCommand::$variant,)+];

            /// The wire name, as in `CallbackCommand`.
            pub const fn wire_name(self) -> &'static str {
                match self {
                    $(AfterCommand::$variant => concat!("OfficialAccount.Callback", $label),)+
                }
            }

            /// The bounded metric label (`callback` dimension of the request line).
            pub const fn label(self) -> &'static str {
                match self {
                    $(AfterCommand::$variant => $label,)+
                }
            }

            /// The sample API Gateway event for this command, under `events/`.
            pub const fn sample_event(self) -> &'static str {
                match self {
                    $(AfterCommand::$variant => $sample,)+
                }
            }
        }
    };
}

after_commands! {
    CreateOfficialAccount => "AfterCreateOfficialAccount", "after-create-official-account.json";
    OfficialAccountInfoChanged =>
        "AfterOfficialAccountInfoChanged", "after-official-account-info-changed.json";
    OfficialAccountDestroyed =>
        "AfterOfficialAccountDestroyed", "after-official-account-destroyed.json";
    AddSubscriber => "AfterAddSubscriber", "after-add-subscriber.json";
    OfficialAccountFull => "AfterOfficialAccountFull", "after-official-account-full.json";
    DeleteSubscriber => "AfterDeleteSubscriber", "after-delete-subscriber.json";
    SendMsg => "AfterSendMsg", "after-send-msg.json";
    MsgWithdraw => "AfterMsgWithDraw", "after-msg-withdraw.json";
}

/// What a `CallbackCommand` value asks of this function (docs/contract.md section 2,
/// rows 8-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandKind {
    /// Not an `OfficialAccount.*` command: the app's one webhook URL also gets group,
    /// C2C, profile ... callbacks. Acknowledged, nothing written.
    NotOfficialAccount,
    /// `OfficialAccount.CallbackBefore*`: answered "allow" with no I/O.
    Before,
    /// An `OfficialAccount.*` command this version does not store.
    UnknownOfficialAccount,
    After(AfterCommand),
}

impl CommandKind {
    /// What `command` (a `CallbackCommand` value, compared exactly) is.
    pub fn of(command: &str) -> CommandKind {
        let Some(rest) = command.strip_prefix(OFFICIAL_ACCOUNT_PREFIX) else {
            return CommandKind::NotOfficialAccount;
        };
        if rest.starts_with("CallbackBefore") {
            return CommandKind::Before;
        }
        AfterCommand::ALL
            .iter()
            .copied()
            .find(|c| c.wire_name() == command)
            .map_or(CommandKind::UnknownOfficialAccount, CommandKind::After)
    }

    /// The bounded metric label (`callback` dimension of the request line,
    /// `src/telemetry.rs`): an after-command's own label, else one fixed bucket per kind.
    pub fn label(self) -> &'static str {
        match self {
            CommandKind::After(c) => c.label(),
            CommandKind::Before => "Before",
            CommandKind::UnknownOfficialAccount => "OfficialAccountOther",
            CommandKind::NotOfficialAccount => "OtherProduct",
        }
    }
}

/// A validated after-event: the SdkAppid it came for, the account, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub app: String,
    pub account: String,
    /// `EventTime`, Unix milliseconds.
    pub event_time: u64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileFields {
    pub name: Option<String>,
    pub introduction: Option<String>,
    pub face_url: Option<String>,
    pub organization: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub msg_key: String,
    /// `MsgTime`, Unix seconds.
    pub msg_time: Option<u64>,
    pub online_only_flag: Option<i64>,
    /// `MsgBody`: an array of message elements (objects).
    pub msg_body: Option<serde_json::Value>,
    pub cloud_custom_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Created {
        owner: Option<String>,
        operator: Option<String>,
        name: Option<String>,
    },
    InfoChanged {
        operator: Option<String>,
        fields: ProfileFields,
    },
    Destroyed {
        owner: Option<String>,
        name: Option<String>,
    },
    Full,
    /// Subscribers, de-duplicated, in the order first listed.
    SubscribersAdded {
        operator: Option<String>,
        subscribers: Vec<String>,
    },
    SubscribersDeleted {
        operator: Option<String>,
        subscribers: Vec<String>,
    },
    MessageSent(Message),
    /// `MsgKey`s, de-duplicated, in the order first listed.
    MessagesWithdrawn {
        msg_keys: Vec<String>,
    },
}

impl Event {
    pub fn command(&self) -> AfterCommand {
        match &self.kind {
            EventKind::Created { .. } => AfterCommand::CreateOfficialAccount,
            EventKind::InfoChanged { .. } => AfterCommand::OfficialAccountInfoChanged,
            EventKind::Destroyed { .. } => AfterCommand::OfficialAccountDestroyed,
            EventKind::Full => AfterCommand::OfficialAccountFull,
            EventKind::SubscribersAdded { .. } => AfterCommand::AddSubscriber,
            EventKind::SubscribersDeleted { .. } => AfterCommand::DeleteSubscriber,
            EventKind::MessageSent(_) => AfterCommand::SendMsg,
            EventKind::MessagesWithdrawn { .. } => AfterCommand::MsgWithdraw,
        }
    }
}

/// A field that makes an event unusable, named, never echoing its content: safe to
/// return in `ErrorInfo` and to log (docs/contract.md section 2, rows 11 and 12a).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub Cow<'static, str>);

impl FieldError {
    pub fn new(field: &str, problem: &str) -> FieldError {
        FieldError(Cow::Owned(format!("{field} {problem}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_commands() {
        use CommandKind::*;
        let new = "OfficialAccount.CallbackAfterSomethingNew";
        for (command, kind) in [
            ("Group.CallbackAfterNewMemberJoin", NotOfficialAccount),
            ("officialaccount.CallbackAfterSendMsg", NotOfficialAccount),
            ("OfficialAccount.CallbackBeforeSendMsg", Before),
            (new, UnknownOfficialAccount),
        ] {
            assert_eq!(CommandKind::of(command), kind, "{command}");
        }
        for &c in AfterCommand::ALL {
            assert_eq!(CommandKind::of(c.wire_name()), After(c));
            let short = c.wire_name().strip_prefix("OfficialAccount.Callback");
            assert_eq!(short, Some(c.label()));
        }
    }
}
