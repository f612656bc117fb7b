//! Send and withdraw: `MSG#{MsgKey}` items written with a single conditional UpdateItem
//! each, so that the newest send wins and the earliest withdrawal sticks, in any order.

use super::budget::{classify, Budget, ErrorClass, StoreError};
use super::items::{
    self, number_value, string_value, MessageItem, UpdateBuilder, MESSAGE_SEND_OPTIONAL,
};
use super::limits;
use super::schema::{account_pk, message_sk, ENTITY_MESSAGE};
use super::{Applied, Store};
use crate::events::Event;
use crate::events::Message;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{StreamExt, TryStreamExt};

/// Withdraw updates in flight at once for one event.
const WITHDRAW_CONCURRENCY: usize = 8;

pub(super) async fn send(
    store: &Store,
    event: &Event,
    msg: &Message,
    budget: &Budget,
) -> Result<Applied, StoreError> {
    let item = MessageItem {
        entity: ENTITY_MESSAGE.to_owned(),
        sdk_app_id: event.app.clone(),
        official_account: event.account.clone(),
        msg_key: msg.msg_key.clone(),
        msg_time: msg.msg_time,
        event_time: Some(event.event_time),
        online_only_flag: msg.online_only_flag,
        cloud_custom_data: msg.cloud_custom_data.clone(),
    };
    let mut attrs = items::to_item(&item)?;
    if let Some(body) = &msg.msg_body {
        attrs.insert("msg_body".to_owned(), limits::to_attribute(body));
    }
    let mut u = UpdateBuilder::default();
    u.set_item(attrs, MESSAGE_SEND_OPTIONAL);
    // Every message item carries `withdrawn`; a withdrawal seen first keeps it true.
    u.set_if_absent("withdrawn", AttributeValue::Bool(false));
    let et = u.name("event_time");
    let t = u.value(number_value(event.event_time));
    // Equal EventTimes for one MsgKey are the same send event: the first write stands.
    let condition = format!("attribute_not_exists({et}) OR {et} < {t}");
    conditional_update(store, event, &msg.msg_key, u, condition, budget).await
}

pub(super) async fn withdraw(
    store: &Store,
    event: &Event,
    msg_keys: &[String],
    budget: &Budget,
) -> Result<Applied, StoreError> {
    // By index: a closure over `&String` makes the future's `Send` higher-ranked, which
    // rustc cannot prove (needed by `run_concurrent`, src/main.rs).
    let results: Vec<Applied> = futures_util::stream::iter(0..msg_keys.len())
        .map(|i| {
            let key = &msg_keys[i];
            let mut u = UpdateBuilder::default();
            u.set("entity", string_value(ENTITY_MESSAGE))
                .set("sdk_app_id", string_value(event.app.as_str()))
                .set("official_account", string_value(event.account.as_str()))
                .set("msg_key", string_value(key.as_str()))
                .set("withdrawn", AttributeValue::Bool(true))
                .set("withdrawn_at", number_value(event.event_time));
            let at = u.name("withdrawn_at");
            let t = u.value(number_value(event.event_time));
            // Once withdrawn, stays withdrawn; `withdrawn_at` keeps the earliest withdrawal.
            let condition = format!("attribute_not_exists({at}) OR {at} > {t}");
            conditional_update(store, event, key, u, condition, budget)
        })
        .buffer_unordered(WITHDRAW_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Applied {
        items_written: results.iter().map(|a| a.items_written).sum(),
    })
}

/// One UpdateItem; a failed condition means the stored state is already newer.
async fn conditional_update(
    store: &Store,
    event: &Event,
    msg_key: &str,
    u: UpdateBuilder,
    condition: String,
    budget: &Budget,
) -> Result<Applied, StoreError> {
    let key = items::key(account_pk(&event.app, &event.account), message_sk(msg_key));
    let request = store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(key))
        .update_expression(u.expression())
        .condition_expression(condition)
        .set_expression_attribute_names(Some(u.names))
        .set_expression_attribute_values(Some(u.values));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match budget.call(request.clone().send()).await? {
            Ok(_) => return Ok(Applied { items_written: 1 }),
            Err(e) if classify(&e) == ErrorClass::Condition => return Ok(Applied::default()),
            Err(e) => budget.after_failure(e, attempt).await?,
        }
    }
}
