//! The table's [`definition`], from the key names of src/store/schema.rs, created for the
//! tests, the benches and `make run` (examples/create_table.rs); the deployed table is the
//! template's (tests/it/template.rs holds the two equal).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use oa_webhook::store::error::ReadError;
use oa_webhook::store::schema::{GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};

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
    /// DynamoDB's answer ([`ReadError`]: its code and message).
    #[error("{0}")]
    DynamoDb(#[from] ReadError),
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
            return Err(ReadError::of(&e).into());
        }
    }
    for _ in 0..100 {
        let d = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| ReadError::of(&e))?;
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
