//! Where a stopped sync resumes (docs/sync.md, "Resumable and bounded"): one item per
//! run (`sk = RUN#{scope}`) and one per account in it (`sk = OA#{oa}`), under
//! `pk = SYNC#{app}`, apart from the account data so that no access pattern sees them.

use crate::store::items::{self, number_value, Item};
use crate::store::read::ReadError;
use crate::store::Store;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub(crate) const ENTITY_CHECKPOINT: &str = "sync_checkpoint";

fn pk(app: &str) -> String {
    format!("SYNC#{app}")
}

/// The scope of a run: `ALL`, or the accounts named.
pub fn scope(accounts: &[String]) -> String {
    if accounts.is_empty() {
        return "ALL".to_owned();
    }
    let mut sorted: Vec<&str> = accounts.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sorted.join("\n").as_bytes());
    format!("ACCOUNTS#{}", hex::encode(&digest[..12]))
}

/// Where an account stands in the current run: its item's `stage` (and `msg_cursor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Nothing done in this run.
    Start,
    /// Profile and subscribers done; messages from this cursor (`None`: newest page).
    Messages {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg_cursor: Option<String>,
    },
    Done,
}

/// The item at `key` as `T`; an item that is not one (written by hand, say) reads as
/// `None`.
async fn get<T: DeserializeOwned>(store: &Store, key: Item) -> Result<Option<T>, ReadError> {
    let got = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| ReadError::of(&e))?;
    Ok(got.item.and_then(|i| items::from_item(i).ok()))
}

/// Writes `value` as an item (serde_dynamo).
async fn put<T: Serialize>(store: &Store, value: &T) -> Result<(), ReadError> {
    let item = items::to_item(value).map_err(|e| ReadError(e.to_string()))?;
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| ReadError::of(&e))
}

/// A run's item (docs/sync.md, "Resumable and bounded").
#[derive(Debug, Serialize, Deserialize)]
struct RunItem {
    pk: String,
    sk: String,
    entity: String,
    started_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<u64>,
}

/// An account's item in a run.
#[derive(Debug, Serialize, Deserialize)]
struct AccountItem {
    pk: String,
    sk: String,
    entity: String,
    official_account: String,
    run_started_at: Option<u64>,
    #[serde(flatten)]
    stage: Stage,
}

/// The run to continue (its start, ms), or a new one started at `now`.
pub(crate) async fn begin_run(
    store: &Store,
    app: &str,
    scope: &str,
    now: u64,
) -> Result<u64, ReadError> {
    let sk = format!("RUN#{scope}");
    let run: Option<RunItem> = get(store, items::key(pk(app), sk.clone())).await?;
    if let Some(started) = run
        .filter(|r| r.finished_at.is_none())
        .and_then(|r| r.started_at)
    {
        return Ok(started);
    }
    let run = RunItem {
        pk: pk(app),
        sk,
        entity: ENTITY_CHECKPOINT.to_owned(),
        started_at: Some(now),
        finished_at: None,
    };
    put(store, &run).await?;
    Ok(now)
}

/// Marks the run finished: the next run starts afresh.
pub(crate) async fn finish_run(
    store: &Store,
    app: &str,
    scope: &str,
    now: u64,
) -> Result<(), ReadError> {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(items::key(pk(app), format!("RUN#{scope}"))))
        .update_expression("SET finished_at = :t")
        .expression_attribute_values(":t", number_value(now))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| ReadError::of(&e))
}

/// The account's stage in the run started at `run`.
pub async fn stage(store: &Store, app: &str, account: &str, run: u64) -> Result<Stage, ReadError> {
    let item: Option<AccountItem> =
        get(store, items::key(pk(app), format!("OA#{account}"))).await?;
    Ok(item
        .filter(|i| i.run_started_at == Some(run))
        .map_or(Stage::Start, |i| i.stage))
}

/// Records the account's stage in the run started at `run`.
pub(crate) async fn save(
    store: &Store,
    app: &str,
    account: &str,
    run: u64,
    stage: &Stage,
) -> Result<(), ReadError> {
    let item = AccountItem {
        pk: pk(app),
        sk: format!("OA#{account}"),
        entity: ENTITY_CHECKPOINT.to_owned(),
        official_account: account.to_owned(),
        run_started_at: Some(run),
        stage: stage.clone(),
    };
    put(store, &item).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn scope_ignores_order_and_repeats() {
        assert_eq!(super::scope(&[]), "ALL");
        let a = super::scope(&["b".into(), "a".into()]);
        assert_eq!(a, super::scope(&["a".into(), "b".into(), "a".into()]));
        assert_ne!(a, super::scope(&["a".into()]));
        assert!(a.starts_with("ACCOUNTS#"));
    }

    /// The stage's stored values (docs/sync.md's checkpoint table), both ways (serde_dynamo).
    #[test]
    fn stages_keep_their_stored_names() {
        use super::{items, Stage};
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let msg_cursor = Some("7_1_1".to_owned());
        let cases = [
            (Stage::Start, "start", None),
            (
                Stage::Messages { msg_cursor },
                "messages",
                Some(S("7_1_1".into())),
            ),
            (Stage::Messages { msg_cursor: None }, "messages", None),
            (Stage::Done, "done", None),
        ];
        for (stage, name, cursor) in cases {
            let item = items::to_item(&stage).expect("item");
            assert_eq!(item["stage"], S(name.into()));
            assert_eq!(item.get("msg_cursor"), cursor.as_ref());
            assert_eq!(items::from_item::<Stage>(item).ok(), Some(stage));
        }
    }
}
