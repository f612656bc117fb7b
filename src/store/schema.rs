//! The table's layout (contract section 3): key names, the index, and item keys.
//!
//! `template.yaml` declares the same table; `tests/standin/src/table.rs` defines it from
//! these names (and creates it for tests, benches and `make run`), and
//! `tests/it/template.rs` holds the two equal.

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// "The accounts of an app" (contract section 3): on every `PROFILE` item,
/// `gsi2pk = APP#{app}`, `gsi2sk = OA#{oa}`. Keys only: the counter updates of every
/// subscription write then never reach the index (one index write per account).
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";

pub const PROFILE_SK: &str = "PROFILE";
pub(crate) const SUB_PREFIX: &str = "SUB#";
pub(crate) const MSG_PREFIX: &str = "MSG#";
pub(crate) const OWNS_PREFIX: &str = "OWNS#";

pub(crate) const ENTITY_ACCOUNT: &str = "official_account";
pub(crate) const ENTITY_SUBSCRIPTION: &str = "subscription";
pub(crate) const ENTITY_MESSAGE: &str = "message";

/// `OA#{app}#{oa}`: the app is digits, so the first `#` after it ends it unambiguously.
pub(crate) fn account_pk(app: &str, account: &str) -> String {
    format!("OA#{app}#{account}")
}

/// `USER#{app}#{user}`.
pub(crate) fn user_pk(app: &str, user: &str) -> String {
    format!("USER#{app}#{user}")
}

pub(crate) fn subscription_sk(user: &str) -> String {
    format!("{SUB_PREFIX}{user}")
}

pub(crate) fn message_sk(msg_key: &str) -> String {
    format!("{MSG_PREFIX}{msg_key}")
}

/// `APP#{app}` (`gsi2pk` of a `PROFILE`).
pub(crate) fn app_pk(app: &str) -> String {
    format!("APP#{app}")
}

/// `OA#{oa}` (`gsi2sk` of a `PROFILE`).
pub(crate) fn app_account_sk(account: &str) -> String {
    format!("OA#{account}")
}

pub(crate) fn owns_sk(account: &str) -> String {
    format!("{OWNS_PREFIX}{account}")
}
