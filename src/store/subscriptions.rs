//! Add and delete subscriber: one `SUB#{user}` item per user plus the account's exact
//! `subscriber_count`.
//!
//! The current subscriptions are read (BatchGetItem, 100 keys a request), the event is
//! folded in, and the changed items are written in transactions of at most 99 items plus
//! one counter update on `PROFILE`, each item conditioned on the state that was read.
//! A lost race (condition failure, conflict) re-reads that chunk and tries again, so
//! the count moves exactly with the statuses. A chunk that already landed is a no-op on
//! redelivery, which is what repairs a request that failed halfway.

use super::budget::{classify_code, Budget, Failure, StoreError};
use super::items::{self, n, s, Item, SubscriptionItem, UpdateBuilder};
use super::schema::{account_pk, subscription_sk, ENTITY_ACCOUNT, PK, PROFILE_SK};
use super::{Applied, Store};
use crate::protocol::Event;
use crate::state::Subscription;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, TransactWriteItem, Update};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Items per transaction besides the counter update (DynamoDB allows 100 actions).
pub const CHUNK: usize = 99;
/// Keys per BatchGetItem (DynamoDB's limit).
const READ_CHUNK: usize = 100;
/// BatchGetItem requests in flight at once for one event.
const READ_CONCURRENCY: usize = 8;

type Current = HashMap<String, Option<Subscription>>;

pub(super) async fn apply(
    store: &Store,
    event: &Event,
    subscribed: bool,
    operator: Option<&str>,
    users: &[String],
    budget: &Budget,
) -> Result<Applied, StoreError> {
    if users.is_empty() {
        return Ok(Applied::default());
    }
    let pk = account_pk(&event.app, &event.account);
    let new = Subscription {
        subscribed,
        event_time: event.event_time,
        operator: operator.map(str::to_owned),
    };
    let mut current = read(store, &pk, users, budget).await?;
    let mut written = 0;
    for chunk in users.chunks(CHUNK) {
        let mut attempt = 0;
        loop {
            let changed: Vec<&String> = chunk
                .iter()
                .filter(|u| new.supersedes(current.get(*u).and_then(Option::as_ref)))
                .collect();
            if changed.is_empty() {
                break;
            }
            let actions = transaction(store, event, &pk, &new, &changed, &current)?;
            attempt += 1;
            let sent = budget
                .call(
                    store
                        .client()
                        .transact_write_items()
                        .set_transact_items(Some(actions))
                        .send(),
                )
                .await?;
            match sent {
                Ok(_) => {
                    written += u32::try_from(changed.len()).unwrap_or(u32::MAX) + 1;
                    break;
                }
                Err(e) => {
                    if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                        e.as_service_error()
                    {
                        let fatal = tc
                            .cancellation_reasons()
                            .iter()
                            .filter_map(|r| r.code())
                            .find(|c| *c != "None" && classify_code(Some(c)) == Failure::Fatal);
                        if let Some(code) = fatal {
                            return Err(StoreError::Fatal(format!(
                                "transaction cancelled: {code}"
                            )));
                        }
                        budget.backoff(attempt).await?;
                    } else {
                        budget.after_failure(e, attempt).await?;
                    }
                    // Whatever happened (a lost race, a conflict, a write that landed
                    // unseen), the truth is in the table: read this chunk again.
                    current.extend(read(store, &pk, chunk, budget).await?);
                }
            }
        }
    }
    Ok(Applied {
        items_written: written,
    })
}

/// The transaction for one chunk: a conditioned Put per changed subscription and the
/// counter update on the account.
fn transaction(
    store: &Store,
    event: &Event,
    pk: &str,
    new: &Subscription,
    changed: &[&String],
    current: &Current,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Fatal(e.to_string());
    let mut actions = Vec::with_capacity(changed.len() + 1);
    let mut delta: i64 = 0;
    for user in changed {
        let old = current.get(*user).and_then(Option::as_ref);
        delta += i64::from(new.subscribed) - i64::from(old.is_some_and(|o| o.subscribed));
        let item = SubscriptionItem::new(&event.app, &event.account, user, new);
        let mut u = UpdateBuilder::new();
        let condition = pinned_condition(&mut u, old);
        let put = Put::builder()
            .table_name(store.table())
            .set_item(Some(items::to_item(&item).map_err(StoreError::Fatal)?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values((!u.values.is_empty()).then_some(u.values))
            .build()
            .map_err(build)?;
        actions.push(TransactWriteItem::builder().put(put).build());
    }
    let mut u = UpdateBuilder::new();
    u.set("entity", s(ENTITY_ACCOUNT))
        .set("sdk_app_id", s(event.app.as_str()))
        .set("official_account", s(event.account.as_str()))
        .add("subscriber_count", n(delta));
    let update = Update::builder()
        .table_name(store.table())
        .set_key(Some(items::key(pk.to_owned(), PROFILE_SK.to_owned())))
        .update_expression(u.expression())
        .set_expression_attribute_names(Some(u.names))
        .set_expression_attribute_values(Some(u.values))
        .build()
        .map_err(build)?;
    actions.push(TransactWriteItem::builder().update(update).build());
    Ok(actions)
}

/// A condition that holds only while the item is exactly as it was read.
fn pinned_condition(u: &mut UpdateBuilder, old: Option<&Subscription>) -> String {
    let Some(old) = old else {
        let pk = u.name(PK);
        return format!("attribute_not_exists({pk})");
    };
    let et = u.name("event_time");
    let st = u.name("status");
    let op = u.name("operator_account");
    let et_v = u.value(n(old.event_time));
    let st_v = u.value(s(old.status_str()));
    let op_cond = match &old.operator {
        None => format!("attribute_not_exists({op})"),
        Some(o) => {
            let v = u.value(s(o.as_str()));
            format!("{op} = {v}")
        }
    };
    format!("{et} = {et_v} AND {st} = {st_v} AND {op_cond}")
}

/// Reads the current subscriptions of `users` (strongly consistent).
async fn read(
    store: &Store,
    pk: &str,
    users: &[String],
    budget: &Budget,
) -> Result<Current, StoreError> {
    let parts: Vec<Current> = futures_util::stream::iter(users.chunks(READ_CHUNK))
        .map(|chunk| read_chunk(store, pk, chunk, budget))
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(parts.into_iter().flatten().collect())
}

async fn read_chunk(
    store: &Store,
    pk: &str,
    users: &[String],
    budget: &Budget,
) -> Result<Current, StoreError> {
    let mut current: Current = users.iter().map(|u| (u.clone(), None)).collect();
    let by_sk: HashMap<String, &String> = users.iter().map(|u| (subscription_sk(u), u)).collect();
    let mut keys: Vec<Item> = by_sk
        .keys()
        .map(|sk| items::key(pk.to_owned(), sk.clone()))
        .collect();
    let mut attempt = 0;
    while !keys.is_empty() {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut keys)))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Fatal(e.to_string()))?;
        let got = budget
            .call(
                store
                    .client()
                    .batch_get_item()
                    .request_items(store.table(), request.clone())
                    .send(),
            )
            .await?;
        let mut out = match got {
            Ok(out) => out,
            Err(e) => {
                attempt += 1;
                budget.after_failure(e, attempt).await?;
                keys = request.keys;
                continue;
            }
        };
        for item in out
            .responses
            .as_mut()
            .and_then(|r| r.remove(store.table()))
            .unwrap_or_default()
        {
            let sub: SubscriptionItem = items::from_item(item).map_err(StoreError::Fatal)?;
            if let Some(user) = by_sk.get(&sub.sk) {
                current.insert((*user).clone(), Some(sub.to_state()));
            }
        }
        if let Some(left) = out
            .unprocessed_keys
            .as_mut()
            .and_then(|u| u.remove(store.table()))
        {
            keys = left.keys;
            if !keys.is_empty() {
                attempt += 1;
                budget.backoff(attempt).await?;
            }
        }
    }
    Ok(current)
}
