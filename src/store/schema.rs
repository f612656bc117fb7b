//! The table's layout (contract section 3): key names, the index, and item keys.
//!
//! `template.yaml` declares the same table; `tests/it/template.rs` holds the two equal;
//! `tests/standin/src/table.rs` creates it for tests, benches and `make run`.

use aws_sdk_dynamodb::types::{BillingMode, KeyType, ProjectionType, ScalarAttributeType};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub(crate) const GSI1: &str = "gsi1";
pub(crate) const GSI1_PK: &str = "gsi1pk";
pub(crate) const GSI1_SK: &str = "gsi1sk";
/// "The accounts of an app" (contract section 3): on every `PROFILE` item,
/// `gsi2pk = APP#{app}`, `gsi2sk = OA#{oa}`. Keys only: the counter updates of every
/// subscription write then never reach the index (one index write per account).
pub(crate) const GSI2: &str = "gsi2";
pub(crate) const GSI2_PK: &str = "gsi2pk";
pub(crate) const GSI2_SK: &str = "gsi2sk";

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

/// An index besides `gsi1`: name, key, projection.
pub(crate) type IndexDefinition = (&'static str, [(&'static str, KeyType); 2], ProjectionType);

/// The table definition, as attribute definitions, key schema and index.
pub struct TableDefinition {
    pub attributes: Vec<(&'static str, ScalarAttributeType)>,
    pub key: [(&'static str, KeyType); 2],
    pub index_name: &'static str,
    pub index_key: [(&'static str, KeyType); 2],
    pub index_projection: ProjectionType,
    /// Indexes besides `gsi1`: name, key, projection.
    pub more_indexes: Vec<IndexDefinition>,
    pub billing_mode: BillingMode,
}

pub fn definition() -> TableDefinition {
    TableDefinition {
        attributes: vec![
            (PK, ScalarAttributeType::S),
            (SK, ScalarAttributeType::S),
            (GSI1_PK, ScalarAttributeType::S),
            (GSI1_SK, ScalarAttributeType::S),
            (GSI2_PK, ScalarAttributeType::S),
            (GSI2_SK, ScalarAttributeType::S),
        ],
        key: [(PK, KeyType::Hash), (SK, KeyType::Range)],
        index_name: GSI1,
        index_key: [(GSI1_PK, KeyType::Hash), (GSI1_SK, KeyType::Range)],
        index_projection: ProjectionType::All,
        more_indexes: vec![(
            GSI2,
            [(GSI2_PK, KeyType::Hash), (GSI2_SK, KeyType::Range)],
            ProjectionType::KeysOnly,
        )],
        billing_mode: BillingMode::PayPerRequest,
    }
}
