//! The one subscriber write path (docs/contract.md sections 3, 5 and 8): the webhook's
//! add and delete events, the queue consumer's folded batches and the sync's facts all
//! go through [`Store::write_account`], one `SUB#{user}` item per user plus the
//! account's exact `subscriber_count`, in transactions of at most 99 items and the
//! counter update. Each item is written under a condition that makes the change, and so
//! the counter delta, exact (docs/consistency.md):
//! - add: "absent, or UNSUBSCRIBED by an older event" (the count grows by one);
//! - delete: "SUBSCRIBED by an older or equal event" (the count shrinks by one).
//!
//! The condition is a guess where nothing contradicts it; where a guess is likely wrong
//! ([`Doubt`], or an account the pacer found contended) the items are read first, and
//! the consumer and the sync pace at the partition's ceiling (docs/delivery.md, "At the
//! partition's ceiling"). A refused guess returns the items as they are (`ALL_OLD`): the
//! chunk is rewritten pinned to those states, or skipped where the stored state is
//! newer, so a chunk that already landed is a no-op on redelivery (which is what repairs
//! a request that failed halfway). The webhook hands a contended event off instead
//! ([`super::OnContention::GiveUp`]).

use super::budget::{
    classify, classify_code, is_key_range_throttle, Budget, ErrorClass, StoreError,
};
use super::items::{self, number_value, string_value, Item, SubscriptionItem, UpdateBuilder};
use super::pacing::Pacer;
use super::schema::{
    account_pk, app_account_sk, app_pk, subscription_sk, ENTITY_ACCOUNT, GSI2_PK, GSI2_SK, PK,
    PROFILE_SK, SK,
};
use super::writer::{AccountWrites, Doubt, Planned, CHUNK};
use super::{Applied, Pacing, Store};
use crate::state::Subscription;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use std::collections::HashMap;
use tokio::time::Instant;

/// What is known of each user's stored subscription: absent from the map, nothing
/// (guess); `None`, no item; `Some`, that state.
type Known = HashMap<String, Option<Subscription>>;

/// `BatchGetItem` rounds for one chunk's reads (unprocessed keys are asked again; what is
/// still unread after them is guessed).
const READ_ROUNDS: usize = 3;

impl Store {
    /// Writes an account's folded subscriber changes, each only where it wins over the
    /// stored one, with `subscriber_count` kept exact; what is already stored (or newer)
    /// is left alone. Paced at the account's partition ceiling, with doubtful items read
    /// first, under [`Pacing::PerAccount`] (the module's comment). An error may leave some
    /// transactions written: writing the same changes again repairs it. Errors:
    /// [`StoreError::Budget`] when the budget ends (also while waiting for a turn),
    /// [`StoreError::Contention`] under [`super::OnContention::GiveUp`], others as the SDK's.
    pub async fn write_account(
        &self,
        writes: &AccountWrites,
        budget: &Budget,
    ) -> Result<Applied, StoreError> {
        if writes.is_empty() {
            return Ok(Applied::default());
        }
        let pk = account_pk(writes.app(), writes.account());
        let pacing = match budget.pacing() {
            Pacing::PerAccount => Some((&self.pacer, format!("{}/{pk}", self.table()))),
            Pacing::Off => None,
        };
        let planned: Vec<(&String, &Planned)> = writes.planned().collect();
        let mut known = Known::new();
        let mut written = 0;
        for chunk in planned.chunks(CHUNK) {
            let mut attempt = 0;
            loop {
                if let Some((pacer, key)) = &pacing {
                    wait_turn(pacer, key, budget).await?;
                    let contended = pacer.is_contended(key, Instant::now());
                    let unread: Vec<&String> = chunk
                        .iter()
                        .filter(|(u, p)| {
                            !known.contains_key(*u) && (contended || p.doubt != Doubt::None)
                        })
                        .map(|(u, _)| *u)
                        .collect();
                    if !unread.is_empty() {
                        read_first(self, &pk, &unread, &mut known, budget).await?;
                    }
                }
                let Some((actions, targets)) = transaction(self, writes, &pk, chunk, &known)?
                else {
                    break;
                };
                // The write units its items and the counter update are charged, 2 each
                // under 1 KB (../shared/spec/aws.md): what the pacer is told.
                let charged = u32::try_from(2 * (targets.len() + 1)).unwrap_or(u32::MAX);
                let write = self
                    .client()
                    .transact_write_items()
                    .set_transact_items(Some(actions));
                let Err(err) = budget.call(write.send()).await? else {
                    written += u32::try_from(targets.len()).unwrap_or(u32::MAX) + 1;
                    if let Some((pacer, key)) = &pacing {
                        pacer.succeeded(key, Instant::now());
                    }
                    break;
                };
                let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    err.as_service_error()
                else {
                    // Unknown outcome (a timeout may hide a write that landed): forget what
                    // we knew of this chunk and guess again (or read, when contended).
                    forget(&mut known, chunk);
                    let ceiling = classify(&err) == ErrorClass::Contention
                        && is_key_range_throttle(err.code());
                    match &pacing {
                        // The partition's ceiling as a whole-request refusal: wait for a turn.
                        Some((pacer, key)) if ceiling => {
                            pacer.throttled(key, charged, Instant::now())
                        }
                        _ => {
                            attempt += 1;
                            budget.after_failure(err, attempt).await?;
                        }
                    }
                    continue;
                };
                let mut lost_race = false;
                let mut contended = None;
                let mut throttled = false;
                let mut refused = false;
                // One reason per action, the counter update's last: it has no condition,
                // so only contention, the ceiling or a transient failure cancels it.
                let reasons = tc.cancellation_reasons().iter().take(targets.len() + 1);
                for (i, reason) in reasons.enumerate() {
                    let code = reason.code();
                    match (classify_code(code), targets.get(i)) {
                        (ErrorClass::Condition, Some(user)) => {
                            refused = true;
                            let stored = reason.item().cloned().map(items::from_item);
                            let state = stored.transpose()?.map(|s: SubscriptionItem| s.to_state());
                            known.insert((*user).clone(), state);
                        }
                        (ErrorClass::Transient, _) => lost_race = true,
                        (ErrorClass::Contention, _) => {
                            throttled |= is_key_range_throttle(code);
                            contended = code;
                        }
                        (ErrorClass::Fatal, Some(_)) if code != Some("None") => {
                            return Err(StoreError::Fatal(format!(
                                "transaction cancelled: {}",
                                code.unwrap_or("unknown")
                            )))
                        }
                        _ => {}
                    }
                }
                // Another writer holds the account's items, or its partition is at the
                // ceiling (docs/contract.md section 5, "Contention"): the webhook's budget
                // gives up at once; the others pace (a throttle) or back off (a conflict).
                if let Some(code) = contended {
                    budget.gives_up_on_contention(|| format!("transaction cancelled: {code}"))?;
                }
                let now = Instant::now();
                if let Some((pacer, key)) = &pacing {
                    if throttled {
                        // Nothing of it was written, nor charged: the same guesses hold,
                        // but what was read is read again right before the next try.
                        pacer.throttled(key, charged, now);
                        if !refused {
                            forget(&mut known, chunk);
                        }
                        continue;
                    }
                    if refused || contended.is_some() {
                        pacer.contended(key, now);
                    }
                }
                attempt += 1;
                // A conflict, or a second wrong guess in a row (a race with another
                // writer): back off before trying again.
                if lost_race || contended.is_some() || attempt > 1 {
                    budget.backoff(attempt).await?;
                }
            }
        }
        Ok(Applied {
            items_written: written,
        })
    }
}

/// Waits for `key`'s turn to write; [`StoreError::Budget`] when the turn comes after the
/// budget's deadline (the records go back to the queue: docs/delivery.md).
async fn wait_turn(pacer: &Pacer, key: &str, budget: &Budget) -> Result<(), StoreError> {
    let now = Instant::now();
    let start = pacer.turn(key, now);
    if start > now {
        if start >= budget.deadline() {
            return Err(StoreError::Budget);
        }
        tokio::time::sleep_until(start).await;
    }
    Ok(())
}

/// Forgets what was known of `chunk`'s users.
fn forget(known: &mut Known, chunk: &[(&String, &Planned)]) {
    for (u, _) in chunk {
        known.remove(*u);
    }
}

/// Reads `users`' subscription items (strongly consistent) into `known`. A read the
/// table refuses (its own ceiling, a transient failure) leaves the users to the guess:
/// a guess costs at worst one refused transaction, a failed read nothing.
async fn read_first(
    store: &Store,
    pk: &str,
    users: &[&String],
    known: &mut Known,
    budget: &Budget,
) -> Result<(), StoreError> {
    let mut by_sk: HashMap<String, &String> =
        users.iter().map(|u| (subscription_sk(u), *u)).collect();
    let mut keys: Vec<Item> = by_sk
        .keys()
        .map(|sk| items::key(pk.to_owned(), sk.clone()))
        .collect();
    for _ in 0..READ_ROUNDS {
        if keys.is_empty() {
            break;
        }
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut keys)))
            .consistent_read(true)
            .build()?;
        let read = store
            .client()
            .batch_get_item()
            .request_items(store.table(), request);
        let Ok(out) = budget.call(read.send()).await? else {
            break;
        };
        let found = out.responses.and_then(|mut r| r.remove(store.table()));
        for item in found.unwrap_or_default() {
            let sk = item.get(SK).and_then(|v| v.as_s().ok());
            let Some(user) = sk.and_then(|sk| by_sk.remove(sk.as_str())) else {
                continue;
            };
            let state = items::from_item::<SubscriptionItem>(item)?.to_state();
            known.insert(user.clone(), Some(state));
        }
        keys = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(store.table()))
            .map(|k| k.keys)
            .unwrap_or_default();
        // What was asked, not found and not left unprocessed: no item.
        let unprocessed: Vec<&String> =
            keys.iter().filter_map(|k| k.get(SK)?.as_s().ok()).collect();
        by_sk.retain(|sk, user| {
            let unread = unprocessed.contains(&sk);
            if !unread {
                known.insert((*user).clone(), None);
            }
            unread
        });
        if !keys.is_empty() {
            budget.backoff(1).await?;
        }
    }
    Ok(())
}

/// A chunk's transaction actions, and the users its Put actions write (in order).
type Chunk<'u> = (Vec<TransactWriteItem>, Vec<&'u String>);

/// The transaction for one chunk: a conditioned Put per subscription that may change,
/// then the counter update. `None` when nothing in the chunk can change.
fn transaction<'u>(
    store: &Store,
    writes: &AccountWrites,
    pk: &str,
    chunk: &[(&'u String, &Planned)],
    known: &Known,
) -> Result<Option<Chunk<'u>>, StoreError> {
    let (app, account) = (writes.app(), writes.account());
    let mut actions = Vec::with_capacity(chunk.len() + 1);
    let mut targets = Vec::with_capacity(chunk.len());
    let mut delta: i64 = 0;
    // The guessed condition depends only on the new status and time: built once per
    // chunk when they are the same for every user (an event), else when they change.
    let mut guessed: Option<((bool, u64), Condition)> = None;
    for &(user, planned) in chunk {
        let new = &planned.state;
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
            .set_item(Some(items::to_item(&item)?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        actions.push(TransactWriteItem::builder().put(put).build());
        targets.push(user);
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let mut u = UpdateBuilder::default();
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
        .build()?;
    actions.push(TransactWriteItem::builder().update(update).build());
    Ok(Some((actions, targets)))
}

/// A condition expression with its attribute names and values.
type Condition = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

fn condition(build: impl FnOnce(&mut UpdateBuilder) -> String) -> Condition {
    let mut u = UpdateBuilder::default();
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
        Some(o) => format!("{op} = {}", u.value(string_value(o.as_str()))),
    };
    format!("{et} = {et_v} AND {st} = {st_v} AND {op_cond}")
}
