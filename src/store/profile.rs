//! Account-level events (create, info changed, destroyed, full): the event folded into
//! the `PROFILE` item's state and written back under `rev`, as docs/consistency.md
//! describes (a create straight away, the others after a read; a failed condition's
//! `ALL_OLD` item is the next try's start, not another read).

use super::budget::{classify, Budget, ErrorClass, StoreError};
use super::items::{self, number_value, ProfileItem, UpdateBuilder, PROFILE_OPTIONAL};
use super::schema::{account_pk, PROFILE_SK};
use super::{Applied, Store};
use crate::events::{Event, EventKind};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

pub(super) async fn apply(
    store: &Store,
    event: &Event,
    budget: &Budget,
) -> Result<Applied, StoreError> {
    let key = items::key(
        account_pk(&event.app, &event.account),
        PROFILE_SK.to_owned(),
    );
    // What the item is believed to be: `Some(None)` no account event stored yet,
    // `Some(Some(item))` that item, `None` unknown (read it).
    let mut known: Option<Option<ProfileItem>> =
        matches!(event.kind, EventKind::Created { .. }).then_some(None);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = match known.take() {
            Some(c) => c,
            None => {
                let read = store
                    .client()
                    .get_item()
                    .table_name(store.table())
                    .set_key(Some(key.clone()))
                    .consistent_read(true)
                    .send();
                match budget.call(read).await? {
                    Ok(got) => got.item.map(items::from_item).transpose()?,
                    Err(e) => {
                        budget.after_failure(e, attempt).await?;
                        continue;
                    }
                }
            }
        };
        let rev = current.as_ref().and_then(|c| c.rev);
        let mut state = current
            .as_ref()
            .map(ProfileItem::to_state)
            .unwrap_or_default();
        let before = state.clone();
        state.apply(event);
        if rev.is_some() && state == before {
            return Ok(Applied::default());
        }

        let item =
            ProfileItem::from_state(&event.app, &event.account, &state, rev.unwrap_or(0) + 1);
        let mut u = UpdateBuilder::default();
        u.set_item(items::to_item(&item)?, PROFILE_OPTIONAL);
        u.set_if_absent("subscriber_count", number_value(0));
        let rev_name = u.name("rev");
        let condition = match rev {
            None => format!("attribute_not_exists({rev_name})"),
            Some(r) => format!("{rev_name} = {}", u.value(number_value(r))),
        };
        let put = store
            .client()
            .update_item()
            .table_name(store.table())
            .set_key(Some(key.clone()))
            .update_expression(u.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let Err(e) = budget.call(put).await? else {
            return Ok(Applied { items_written: 1 });
        };
        if let Some(UpdateItemError::ConditionalCheckFailedException(c)) = e.as_service_error() {
            // Someone else wrote first (or our guess was wrong): start from what is
            // stored now.
            known = c.item.clone().map(items::from_item).transpose()?.map(Some);
        }
        if classify(&e) == ErrorClass::Condition && known.is_some() && attempt == 1 {
            continue;
        }
        budget.after_failure(e, attempt).await?;
    }
}
