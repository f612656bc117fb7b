//! Constants the integration tests share, each taken from where the project defines it.

use oa_webhook::events::AfterCommand;

// The after-commands' wire names (`CallbackCommand`), from the one list in src/events.rs.
pub const CREATE: &str = AfterCommand::CreateOfficialAccount.wire_name();
pub const INFO: &str = AfterCommand::OfficialAccountInfoChanged.wire_name();
pub const DESTROY: &str = AfterCommand::OfficialAccountDestroyed.wire_name();
pub const ADD: &str = AfterCommand::AddSubscriber.wire_name();
pub const DELETE: &str = AfterCommand::DeleteSubscriber.wire_name();
pub const SEND: &str = AfterCommand::SendMsg.wire_name();
pub const WITHDRAW: &str = AfterCommand::MsgWithdraw.wire_name();

/// The webhook signature's documented test vector (docs/protocol.md section 4): token
/// [`VECTOR_TOKEN`] at `RequestTime` [`VECTOR_TIME`] signs to this `Sign`.
pub const VECTOR_SIGN: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";
pub const VECTOR_TOKEN: &str = "xxxxyyyy";
pub const VECTOR_TIME: u64 = 1669872112;
