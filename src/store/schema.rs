//! The table's layout (contract section 3): key names, the index, and item keys.
//!
//! `template.yaml` declares the same table; `tests/it/template.rs` holds the two equal.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

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
pub const SUB_PREFIX: &str = "SUB#";
pub const MSG_PREFIX: &str = "MSG#";
pub const OWNS_PREFIX: &str = "OWNS#";

pub const ENTITY_ACCOUNT: &str = "official_account";
pub const ENTITY_SUBSCRIPTION: &str = "subscription";
pub const ENTITY_MESSAGE: &str = "message";

/// `OA#{app}#{oa}`: the app is digits, so the first `#` after it ends it unambiguously.
pub fn account_pk(app: &str, account: &str) -> String {
    format!("OA#{app}#{account}")
}

/// `USER#{app}#{user}`.
pub fn user_pk(app: &str, user: &str) -> String {
    format!("USER#{app}#{user}")
}

pub fn subscription_sk(user: &str) -> String {
    format!("{SUB_PREFIX}{user}")
}

pub fn message_sk(msg_key: &str) -> String {
    format!("{MSG_PREFIX}{msg_key}")
}

/// `APP#{app}` (`gsi2pk` of a `PROFILE`).
pub fn app_pk(app: &str) -> String {
    format!("APP#{app}")
}

/// `OA#{oa}` (`gsi2sk` of a `PROFILE`).
pub fn app_account_sk(account: &str) -> String {
    format!("OA#{account}")
}

pub fn owns_sk(account: &str) -> String {
    format!("{OWNS_PREFIX}{account}")
}

/// An index besides `gsi1`: name, key, projection.
pub type IndexDefinition = (&'static str, [(&'static str, KeyType); 2], ProjectionType);

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

fn key_schema(key: &[(&'static str, KeyType); 2]) -> Result<Vec<KeySchemaElement>, TableError> {
    key.iter()
        .map(|(name, kt)| {
            KeySchemaElement::builder()
                .attribute_name(*name)
                .key_type(kt.clone())
                .build()
                .map_err(TableError::Definition)
        })
        .collect()
}

/// Why [`create_table`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The SDK refused the definition (a field it requires is missing).
    #[error("the table definition: {0}")]
    Definition(#[from] aws_sdk_dynamodb::error::BuildError),
    /// DynamoDB's answer ([`super::error::ReadError`]: its code and message).
    #[error("{0}")]
    DynamoDb(#[from] super::error::ReadError),
    #[error("table {0} did not become active")]
    NotActive(String),
}

/// Creates the table if it does not exist yet, and waits until it is active.
pub async fn create_table(client: &Client, table: &str) -> Result<(), TableError> {
    let def = definition();
    let attributes = def
        .attributes
        .iter()
        .map(|(name, t)| {
            AttributeDefinition::builder()
                .attribute_name(*name)
                .attribute_type(t.clone())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let index = GlobalSecondaryIndex::builder()
        .index_name(def.index_name)
        .set_key_schema(Some(key_schema(&def.index_key)?))
        .projection(
            Projection::builder()
                .projection_type(def.index_projection.clone())
                .build(),
        )
        .build()?;
    let mut indexes = vec![index];
    for (name, key, projection) in &def.more_indexes {
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(*name)
                .set_key_schema(Some(key_schema(key)?))
                .projection(
                    Projection::builder()
                        .projection_type(projection.clone())
                        .build(),
                )
                .build()?,
        );
    }
    let created = client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&def.key)?))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(def.billing_mode.clone())
        .send()
        .await;
    if let Err(e) = created {
        let exists = e
            .as_service_error()
            .is_some_and(|se| se.is_resource_in_use_exception());
        if !exists {
            return Err(super::error::ReadError::of(&e).into());
        }
    }
    for _ in 0..100 {
        let d = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| super::error::ReadError::of(&e))?;
        let active = d
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active);
        if active {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(TableError::NotActive(table.to_owned()))
}
