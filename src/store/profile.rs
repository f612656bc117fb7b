//! Account-level events (create, info changed, destroyed, full): read the `PROFILE`
//! item, fold the event in, write it back under `rev` (optimistic concurrency).
//! Two requests when it changes something, one when it does not.

use super::budget::{Budget, StoreError};
use super::items::{self, n, ProfileItem, UpdateBuilder, PROFILE_OPTIONAL};
use super::schema::{account_pk, PROFILE_SK};
use super::{Applied, Store};
use crate::protocol::Event;

pub(super) async fn apply(
    store: &Store,
    event: &Event,
    budget: &Budget,
) -> Result<Applied, StoreError> {
    let key = items::key(
        account_pk(&event.app, &event.account),
        PROFILE_SK.to_owned(),
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let got = budget
            .call(
                store
                    .client()
                    .get_item()
                    .table_name(store.table())
                    .set_key(Some(key.clone()))
                    .consistent_read(true)
                    .send(),
            )
            .await?;
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                budget.after_failure(e, attempt).await?;
                continue;
            }
        };
        let current: Option<ProfileItem> = got
            .item
            .map(items::from_item)
            .transpose()
            .map_err(StoreError::Fatal)?;
        let rev = current.as_ref().and_then(|c| c.rev);
        let mut state = current
            .as_ref()
            .map(ProfileItem::to_state)
            .unwrap_or_default();
        let before = state.clone();
        state.apply(event);
        if current.is_some() && state == before {
            return Ok(Applied::default());
        }

        let item =
            ProfileItem::from_state(&event.app, &event.account, &state, rev.unwrap_or(0) + 1);
        let mut u = UpdateBuilder::new();
        u.set_item(
            items::to_item(&item).map_err(StoreError::Fatal)?,
            PROFILE_OPTIONAL,
        );
        u.set_if_absent("subscriber_count", n(0));
        let rev_name = u.name("rev");
        let condition = match rev {
            None => format!("attribute_not_exists({rev_name})"),
            Some(r) => {
                let v = u.value(n(r));
                format!("{rev_name} = {v}")
            }
        };
        let put = budget
            .call(
                store
                    .client()
                    .update_item()
                    .table_name(store.table())
                    .set_key(Some(key.clone()))
                    .update_expression(u.expression())
                    .condition_expression(condition)
                    .set_expression_attribute_names(Some(u.names))
                    .set_expression_attribute_values(Some(u.values))
                    .send(),
            )
            .await?;
        match put {
            Ok(_) => return Ok(Applied { items_written: 1 }),
            // Someone else wrote in between, or our own attempt landed unseen: re-read.
            Err(e) => budget.after_failure(e, attempt).await?,
        }
    }
}
