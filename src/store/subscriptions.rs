//! Add and delete subscriber: one `SUB#{user}` item per user plus the account's exact
//! `subscriber_count`.
//!
//! Subscriptions are written in transactions of at most 99 items plus one counter
//! update on `PROFILE`. Nothing is read first: each item is written under a condition
//! that makes the change, and so the counter delta, exact:
//! - add: "absent, or UNSUBSCRIBED by an older event" (the count grows by one);
//! - delete: "SUBSCRIBED by an older or equal event" (the count shrinks by one).
//!
//! When a guess is wrong (a redelivery, an unknown user deleted, a newer event already
//! stored), the cancelled transaction returns the items as they are
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`); the chunk is then rewritten with
//! conditions pinned to those exact states, or skipped where the stored state is newer.
//! A lost race repeats that; a chunk that already landed is a no-op on redelivery,
//! which is what repairs a request that failed halfway.

use super::budget::{classify_code, Budget, Failure, StoreError};
use super::items::{self, number_value, string_value, SubscriptionItem, UpdateBuilder};
use super::schema::{
    account_pk, app_account_sk, app_pk, ENTITY_ACCOUNT, GSI2_PK, GSI2_SK, PK, PROFILE_SK,
};
use super::writer::Change;
use super::{Applied, Store};
use crate::events::Event;
use crate::state::Subscription;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::HashMap;

/// Items per transaction besides the counter update (DynamoDB allows 100 actions).
pub const CHUNK: usize = 99;

/// What is known of each user's stored subscription: absent from the map, nothing
/// (guess); `None`, no item; `Some`, that state.
type Known = HashMap<String, Option<Subscription>>;

pub(super) async fn apply(
    store: &Store,
    event: &Event,
    change: Change,
    operator: Option<&str>,
    users: &[String],
    budget: &Budget,
) -> Result<Applied, StoreError> {
    let new = change.state(event.event_time, operator);
    write(
        store,
        &event.app,
        &event.account,
        users,
        std::slice::from_ref(&new),
        budget,
    )
    .await
}

/// Writes `news[i]` as `users[i]`'s subscription (`news[0]` for every user when it has
/// one entry), each only where it wins (the rules of add and delete events), with the
/// counter kept exact. The sync writes facts this way, one time per user.
pub(super) async fn write(
    store: &Store,
    app: &str,
    account: &str,
    users: &[String],
    news: &[Subscription],
    budget: &Budget,
) -> Result<Applied, StoreError> {
    if news.len() != 1 && news.len() != users.len() {
        return Err(StoreError::Fatal(
            "one subscription state, or one per user".to_owned(),
        ));
    }
    let pk = account_pk(app, account);
    let mut known = Known::new();
    let mut written = 0;
    for (c, chunk) in users.chunks(CHUNK).enumerate() {
        let news = match news.len() {
            1 => news,
            _ => &news[c * CHUNK..c * CHUNK + chunk.len()],
        };
        let mut attempt = 0;
        loop {
            let Some((actions, targets)) =
                transaction(store, app, account, &pk, news, chunk, &known)?
            else {
                break;
            };
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
            let err = match sent {
                Ok(_) => {
                    written += u32::try_from(targets.len()).unwrap_or(u32::MAX) + 1;
                    break;
                }
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                err.as_service_error()
            else {
                // Unknown outcome (a timeout may hide a write that landed): forget what
                // we knew of this chunk and guess again.
                for u in chunk {
                    known.remove(u);
                }
                budget.after_failure(err, attempt).await?;
                continue;
            };
            let mut lost_race = false;
            let mut contended = None;
            for (reason, user) in tc.cancellation_reasons().iter().zip(&targets) {
                match classify_code(reason.code()) {
                    Failure::Condition => {
                        let state = match reason.item() {
                            Some(item) => Some(
                                items::from_item::<SubscriptionItem>(item.clone())
                                    .map_err(StoreError::Fatal)?
                                    .to_state(),
                            ),
                            None => None,
                        };
                        known.insert((*user).clone(), state);
                    }
                    Failure::Transient => lost_race = true,
                    Failure::Contention => contended = reason.code(),
                    Failure::Fatal if reason.code() == Some("None") => {}
                    Failure::Fatal => {
                        return Err(StoreError::Fatal(format!(
                            "transaction cancelled: {}",
                            reason.code().unwrap_or("unknown")
                        )))
                    }
                }
            }
            // The counter update has no condition: only contention or a transient
            // failure cancels it.
            if let Some(r) = tc.cancellation_reasons().get(targets.len()) {
                match classify_code(r.code()) {
                    Failure::Transient => lost_race = true,
                    Failure::Contention => contended = r.code(),
                    _ => {}
                }
            }
            // Another writer holds the account's items (docs/contract.md section 5,
            // "Contention"): the webhook's budget gives up at once; others wait.
            if let Some(code) = contended {
                if let Some(e) =
                    budget.gives_up_on_contention(|| format!("transaction cancelled: {code}"))
                {
                    return Err(e);
                }
                lost_race = true;
            }
            // A conflict, or a second wrong guess in a row (a race with another
            // writer): back off before trying again.
            if lost_race || attempt > 1 {
                budget.backoff(attempt).await?;
            }
        }
    }
    Ok(Applied {
        items_written: written,
    })
}

/// A chunk's transaction actions, and the users its Put actions write (in order).
type Chunk<'u> = (Vec<TransactWriteItem>, Vec<&'u String>);

/// The transaction for one chunk: a conditioned Put per subscription that may change,
/// then the counter update. `None` when nothing in the chunk can change.
fn transaction<'u>(
    store: &Store,
    app: &str,
    account: &str,
    pk: &str,
    news: &[Subscription],
    chunk: &'u [String],
    known: &Known,
) -> Result<Option<Chunk<'u>>, StoreError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Fatal(e.to_string());
    let mut actions = Vec::with_capacity(chunk.len() + 1);
    let mut targets = Vec::with_capacity(chunk.len());
    let mut delta: i64 = 0;
    // The guessed condition depends only on the new status and time: built once per
    // chunk when they are the same for every user (an event), else when they change.
    let mut guessed: Option<((bool, u64), Condition)> = None;
    for (i, user) in chunk.iter().enumerate() {
        let new = if news.len() == 1 { &news[0] } else { &news[i] };
        let (condition, names, values) = match known.get(user) {
            None => {
                delta += if new.subscribed { 1 } else { -1 };
                let key = (new.subscribed, new.event_time);
                if guessed.as_ref().is_none_or(|(k, _)| *k != key) {
                    guessed = Some((key, condition(|u| guessed_condition(u, new))));
                }
                guessed.as_ref().map(|(_, c)| c.clone()).unwrap_or_default()
            }
            Some(old) => {
                if !new.supersedes(old.as_ref()) {
                    continue;
                }
                let was = old.as_ref().is_some_and(|o| o.subscribed);
                delta += i64::from(new.subscribed) - i64::from(was);
                condition(|u| pinned_condition(u, old.as_ref()))
            }
        };
        let item = SubscriptionItem::new(app, account, user, new);
        let put = Put::builder()
            .table_name(store.table())
            .set_item(Some(items::to_item(&item).map_err(StoreError::Fatal)?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        actions.push(TransactWriteItem::builder().put(put).build());
        targets.push(user);
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let mut u = UpdateBuilder::new();
    u.set("entity", string_value(ENTITY_ACCOUNT))
        .set("sdk_app_id", string_value(app))
        .set("official_account", string_value(account))
        .set(GSI2_PK, string_value(app_pk(app)))
        .set(GSI2_SK, string_value(app_account_sk(account)))
        .add("subscriber_count", number_value(delta));
    let update = Update::builder()
        .table_name(store.table())
        .set_key(Some(items::key(pk.to_owned(), PROFILE_SK.to_owned())))
        .update_expression(u.expression())
        .set_expression_attribute_names(Some(u.names))
        .set_expression_attribute_values(Some(u.values))
        .build()
        .map_err(build)?;
    actions.push(TransactWriteItem::builder().update(update).build());
    Ok(Some((actions, targets)))
}

/// A condition expression with its attribute names and values.
type Condition = (
    String,
    HashMap<String, String>,
    HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
);

fn condition(build: impl FnOnce(&mut UpdateBuilder) -> String) -> Condition {
    let mut u = UpdateBuilder::new();
    let expression = build(&mut u);
    (expression, u.names, u.values)
}

/// The condition under which the new event changes the subscription's status, so the
/// counter moves by exactly one: an add wins over an absent item or an older
/// UNSUBSCRIBED; a delete wins over an older-or-equal SUBSCRIBED (ties go to delete).
fn guessed_condition(u: &mut UpdateBuilder, new: &Subscription) -> String {
    let st = u.name("status");
    let et = u.name("event_time");
    let t = u.value(number_value(new.event_time));
    if new.subscribed {
        let pk = u.name(PK);
        let unsub = u.value(string_value("UNSUBSCRIBED"));
        format!("attribute_not_exists({pk}) OR ({st} = {unsub} AND {et} < {t})")
    } else {
        let sub = u.value(string_value("SUBSCRIBED"));
        format!("{st} = {sub} AND {et} <= {t}")
    }
}

/// A condition that holds only while the item is exactly as it was seen.
fn pinned_condition(u: &mut UpdateBuilder, old: Option<&Subscription>) -> String {
    let Some(old) = old else {
        let pk = u.name(PK);
        return format!("attribute_not_exists({pk})");
    };
    let et = u.name("event_time");
    let st = u.name("status");
    let op = u.name("operator_account");
    let et_v = u.value(number_value(old.event_time));
    let st_v = u.value(string_value(old.status_str()));
    let op_cond = match &old.operator {
        None => format!("attribute_not_exists({op})"),
        Some(o) => {
            let v = u.value(string_value(o.as_str()));
            format!("{op} = {v}")
        }
    };
    format!("{et} = {et_v} AND {st} = {st_v} AND {op_cond}")
}
