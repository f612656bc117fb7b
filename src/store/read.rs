//! The five access patterns of contract section 3, each one Query (never a Scan),
//! following pagination to the end.

pub use super::error::ReadError;
use super::items::{self, string_value, Item};
use super::schema::*;
use super::Store;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

impl ReadError {
    pub fn of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> ReadError {
        ReadError(crate::clients::describe(err))
    }
}

impl Store {
    /// An account's `PROFILE` item.
    pub async fn account(&self, app: &str, account: &str) -> Result<Option<Item>, ReadError> {
        self.client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(items::key(
                account_pk(app, account),
                PROFILE_SK.to_owned(),
            )))
            .consistent_read(true)
            .send()
            .await
            .map(|got| got.item)
            .map_err(|e| ReadError::of(&e))
    }

    /// An account's subscription items (SUBSCRIBED and UNSUBSCRIBED, with `status`).
    pub async fn subscribers(&self, app: &str, account: &str) -> Result<Vec<Item>, ReadError> {
        self.query(None, &account_pk(app, account), SUB_PREFIX)
            .await
    }

    /// An account's message items.
    pub async fn messages(&self, app: &str, account: &str) -> Result<Vec<Item>, ReadError> {
        self.query(None, &account_pk(app, account), MSG_PREFIX)
            .await
    }

    /// The subscription items of the accounts a user subscribes to (via `gsi1`).
    pub async fn subscriptions_of(&self, app: &str, user: &str) -> Result<Vec<Item>, ReadError> {
        self.query(Some(GSI1), &user_pk(app, user), SUB_PREFIX)
            .await
    }

    /// The `PROFILE` items of the accounts a user owns (via `gsi1`).
    pub async fn owned_by(&self, app: &str, user: &str) -> Result<Vec<Item>, ReadError> {
        self.query(Some(GSI1), &user_pk(app, user), OWNS_PREFIX)
            .await
    }

    /// `pk = :pk AND begins_with(sk, :prefix)` on the table (strongly consistent) or on
    /// an index ([`GSI1`] or [`GSI2`]), all pages.
    pub(crate) async fn query(
        &self,
        index: Option<&str>,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, ReadError> {
        let (pk_name, sk_name) = match index {
            None => (PK, SK),
            Some(GSI2) => (GSI2_PK, GSI2_SK),
            Some(_) => (GSI1_PK, GSI1_SK),
        };
        self.client()
            .query()
            .table_name(self.table())
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_names("#sk", sk_name)
            .expression_attribute_values(":pk", string_value(pk))
            .expression_attribute_values(":prefix", string_value(prefix))
            .set_consistent_read(index.is_none().then_some(true))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<Item>, _>>()
            .await
            .map_err(|e| ReadError::of(&e))
    }
}
