//! Sync from Tencent's REST API (contract section 6; what and why: docs/sync.md): each
//! account's profile, subscribers and messages, compared with the table, what differs
//! written as events through [`crate::store::Store::apply`]; fact to event: [`facts`].
//!
//! Doors call [`run_sync`]: the command line (`oa-webhook sync [--account ID]...`) and
//! the scheduled Lambda. It is bounded by a deadline and resumable ([`checkpoint`]).

pub mod checkpoint;
pub mod facts;

use crate::clock::Clock;
use crate::events::Event;
use crate::state::{Profile, Subscription};
use crate::store::items::{self, ProfileItem, SubscriptionItem};
use crate::store::limits::{self, MAX_MEMBER_BYTES};
use crate::store::read::ReadError;
use crate::store::{AccountWrites, Budget, Change, Store, StoreError};
use crate::tencent::rest::{
    RestClient, RestError, NO_SUCH_ACCOUNT, PLACE_DELETED, PLACE_RECALLED, SUBSCRIBERS_PER_PAGE,
};
use checkpoint::Stage;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// The accounts of an app (contract section 3), from `gsi2`, every page, in ID order.
pub(crate) async fn accounts_of_app(store: &Store, app: &str) -> Result<Vec<String>, ReadError> {
    use crate::store::schema::{app_pk, GSI2, GSI2_SK};
    // Every `gsi2sk` of an app's partition is `OA#{account}` (docs/table.md).
    let found = store.query(Some(GSI2), &app_pk(app), "OA#").await?;
    Ok(found
        .iter()
        .filter_map(|item| item.get(GSI2_SK)?.as_s().ok()?.strip_prefix("OA#"))
        .map(str::to_owned)
        .collect())
}

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The allowed clock skew (contract section 4; `CALLBACK_MAX_SKEW_SECS`): a fact read
    /// at `T` counts as an event at `T - skew` at the latest.
    pub skew: Duration,
    /// Message writes in flight at once for one account (subscription writes go one
    /// at a time: they share the account's counter).
    pub concurrency: usize,
    /// Keep checkpoints (resume a stopped run). Off: every run starts afresh.
    pub checkpoints: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            skew: Duration::from_secs(crate::config::DEFAULT_MAX_SKEW_SECS),
            concurrency: 8,
            checkpoints: true,
        }
    }
}

/// How one account's sync ended (each outcome's meaning: docs/sync.md, "The report"; the
/// next run continues a stopped account and tries a failed one again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountOutcome {
    #[default]
    Synced,
    AlreadyDone,
    NotFound,
    Stopped,
    Failed,
}

/// What a sync found and did for one account (each field's meaning: docs/sync.md, "The
/// report"; `found_missing` and `count_matches` are set in `AccountSync::run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    pub account: String,
    pub outcome: AccountOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub profile_events: u32,
    pub subscribers_listed: u32,
    pub subscribers_added: u32,
    pub subscribers_resubscribed: u32,
    pub subscribers_removed: u32,
    pub messages_listed: u32,
    pub messages_added: u32,
    pub messages_withdrawn: u32,
    pub messages_expired: u32,
    pub skipped: u32,
    pub kept_newer: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tencent_subscriber_num: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_subscriber_count: Option<i64>,
    pub dynamodb_writes: u32,
    pub found_missing: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_matches: Option<bool>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub app: String,
    pub accounts: Vec<AccountReport>,
    /// Every account done (synced, already done or not found). The run is finished,
    /// and the next one starts afresh, whenever no account was stopped by the deadline.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rest_calls: u64,
    pub rest_retries: u64,
    pub elapsed_ms: u64,
}

/// Why an account's sync stopped early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("deadline")]
    Deadline,
    #[error("{0}")]
    Rest(#[from] RestError),
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        match e {
            StoreError::Budget => Stop::Deadline,
            e => Stop::Store(e.to_string()),
        }
    }
}

/// Syncs `accounts` of `app` (all the accounts the table holds for the app when empty),
/// stopping cleanly at `deadline`. Never panics; errors are in the report.
pub async fn run_sync(
    store: &Store,
    client: &RestClient,
    app: &str,
    accounts: &[String],
    deadline: Instant,
    options: &SyncOptions,
) -> SyncReport {
    let started = Instant::now();
    let calls_before = client.stats.calls.load(Ordering::Relaxed);
    let retries_before = client.stats.retries.load(Ordering::Relaxed);
    let mut report = SyncReport {
        app: app.to_owned(),
        ..SyncReport::default()
    };
    let result = async {
        let list = if accounts.is_empty() {
            retried(deadline, || accounts_of_app(store, app))
                .await
                .map_err(|e| format!("listing the app's accounts: {e}"))?
        } else {
            let sorted: BTreeSet<&String> = accounts.iter().collect();
            sorted.into_iter().cloned().collect()
        };
        let scope = checkpoint::scope(accounts);
        let run = if options.checkpoints {
            let begin = || checkpoint::begin_run(store, app, &scope, Clock::system().now_ms());
            let run = retried(deadline, begin).await;
            Some(run.map_err(|e| format!("reading the checkpoint: {e}"))?)
        } else {
            None
        };
        for account in &list {
            let r = AccountSync {
                store,
                client,
                app,
                account,
                run,
                options,
                budget: Budget::until(deadline).paced(crate::store::Pacing::PerAccount),
                report: AccountReport::default(),
            }
            .run()
            .await;
            tracing::info!(
                app,
                account = %r.account,
                outcome = ?r.outcome,
                error = r.error.as_deref().unwrap_or(""),
                found_missing = r.found_missing,
                profile_events = r.profile_events,
                subscribers_listed = r.subscribers_listed,
                subscribers_added = r.subscribers_added,
                subscribers_resubscribed = r.subscribers_resubscribed,
                subscribers_removed = r.subscribers_removed,
                messages_listed = r.messages_listed,
                messages_added = r.messages_added,
                messages_withdrawn = r.messages_withdrawn,
                kept_newer = r.kept_newer,
                tencent_subscriber_num = r.tencent_subscriber_num,
                stored_subscriber_count = r.stored_subscriber_count,
                count_matches = r.count_matches,
                "account synced"
            );
            // The account's CloudWatch embedded-metric-format line.
            let counts = crate::telemetry::SyncCounts {
                found_missing: r.found_missing,
                subscribers_added: r.subscribers_added + r.subscribers_resubscribed,
                subscribers_removed: r.subscribers_removed,
                messages_added: r.messages_added,
                messages_withdrawn: r.messages_withdrawn,
                count_mismatch: u32::from(r.count_matches == Some(false)),
                failed: u32::from(r.outcome == AccountOutcome::Failed),
            };
            let line = crate::telemetry::sync_line(app, account, &counts, &Clock::system());
            println!("{line}");
            let stopped = r.outcome == AccountOutcome::Stopped;
            report.accounts.push(r);
            if stopped {
                break;
            }
        }
        // Finished once every account went through, failed ones included (why: docs/sync.md
        // "Resumable and bounded"); complete when none failed either.
        let none = |outcome| report.accounts.iter().all(|a| a.outcome != outcome);
        let went_through = report.accounts.len() == list.len() && none(AccountOutcome::Stopped);
        report.complete = went_through && none(AccountOutcome::Failed);
        if went_through && run.is_some() {
            let finish = || checkpoint::finish_run(store, app, &scope, Clock::system().now_ms());
            retried(Instant::now() + Duration::from_secs(10), finish)
                .await
                .map_err(|e| format!("closing the checkpoint: {e}"))?;
        }
        Ok::<(), String>(())
    }
    .await;
    report.error = result.err();
    report.rest_calls = client.stats.calls.load(Ordering::Relaxed) - calls_before;
    report.rest_retries = client.stats.retries.load(Ordering::Relaxed) - retries_before;
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// `fut` within `deadline`: [`Stop::Deadline`] when the deadline has passed or passes
/// first.
async fn within<T>(deadline: Instant, fut: impl Future<Output = T>) -> Result<T, Stop> {
    if Instant::now() >= deadline {
        return Err(Stop::Deadline);
    }
    let timed = tokio::time::timeout_at(deadline, fut);
    timed.await.map_err(|_| Stop::Deadline)
}

/// Runs a read or a checkpoint write (their errors are text, not classified) up to 6
/// times with backoff (100 ms doubling), within `deadline`: DynamoDB has slow moments.
async fn retried<T, Fut>(deadline: Instant, mut call: impl FnMut() -> Fut) -> Result<T, Stop>
where
    Fut: Future<Output = Result<T, ReadError>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match within(deadline, call()).await? {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= 6 => return Err(Stop::Store(e.0)),
            Err(e) => {
                tracing::debug!(attempt, error = %e, "sync: DynamoDB read or checkpoint retried");
                let wait = crate::retry::Backoff {
                    base: Duration::from_millis(100),
                    cap: Duration::from_millis(3200),
                    jitter: crate::retry::Jitter::None,
                }
                .wait(attempt);
                tokio::time::sleep_until(deadline.min(Instant::now() + wait)).await;
            }
        }
    }
}

/// One account's sync: what its stages share, and its report as they fill it.
struct AccountSync<'a> {
    store: &'a Store,
    client: &'a RestClient,
    app: &'a str,
    account: &'a str,
    /// The checkpointed run (its start, ms); `None` without checkpoints.
    run: Option<u64>,
    options: &'a SyncOptions,
    budget: Budget,
    report: AccountReport,
}

impl AccountSync<'_> {
    /// Profile, subscribers, messages, each stage checkpointed; the report, whatever
    /// happened.
    async fn run(mut self) -> AccountReport {
        let result = self.stages().await;
        let r = &mut self.report;
        r.account = self.account.to_owned();
        r.dynamodb_writes = self.budget.requests();
        r.found_missing = r.profile_events
            + r.subscribers_added
            + r.subscribers_resubscribed
            + r.subscribers_removed
            + r.messages_added
            + r.messages_withdrawn;
        let stored = r.stored_subscriber_count.unwrap_or(0);
        r.count_matches = r.tencent_subscriber_num.map(|n| n as i64 == stored);
        match result {
            Ok(()) => {}
            Err(Stop::Deadline) => r.outcome = AccountOutcome::Stopped,
            Err(e) => {
                r.outcome = AccountOutcome::Failed;
                r.error = Some(e.to_string());
            }
        }
        self.report
    }

    async fn stages(&mut self) -> Result<(), Stop> {
        let (store, app, account) = (self.store, self.app, self.account);
        let stage = match self.run {
            Some(run) => {
                retried(self.deadline(), || {
                    checkpoint::stage(store, app, account, run)
                })
                .await?
            }
            None => Stage::Start,
        };
        let cursor = match stage {
            Stage::Done => {
                self.report.outcome = AccountOutcome::AlreadyDone;
                return Ok(());
            }
            Stage::Messages { msg_cursor } => msg_cursor,
            Stage::Start => {
                if !self.profile().await? {
                    self.report.outcome = AccountOutcome::NotFound;
                    return self.save(&Stage::Done).await;
                }
                self.subscribers().await?;
                self.save(&Stage::Messages { msg_cursor: None }).await?;
                None
            }
        };
        self.messages(cursor).await?;
        self.save(&Stage::Done).await?;
        // The comparison the issue asks for: the stored counter against Tencent's.
        if let Ok(Some(item)) = retried(self.deadline(), || store.account(app, account)).await {
            self.report.stored_subscriber_count = items::from_item::<ProfileItem>(item)
                .ok()
                .and_then(|p| p.subscriber_count);
        }
        Ok(())
    }

    fn deadline(&self) -> Instant {
        self.budget.deadline()
    }

    /// `F` for a fact read at `t` (ms): `t` less the allowed skew.
    fn floor(&self, t: u64) -> u64 {
        t.saturating_sub(u64::try_from(self.options.skew.as_millis()).unwrap_or(u64::MAX))
    }

    /// Records the account's stage in the run (nothing without checkpoints).
    async fn save(&self, stage: &Stage) -> Result<(), Stop> {
        let Some(run) = self.run else {
            return Ok(());
        };
        let (store, app, account) = (self.store, self.app, self.account);
        retried(self.deadline(), || {
            checkpoint::save(store, app, account, run, stage)
        })
        .await
    }

    /// Applies events, `concurrency` at a time.
    async fn apply(&self, events: Vec<Event>, concurrency: usize) -> Result<(), Stop> {
        futures_util::stream::iter(events)
            .map(|e| async move { self.store.apply(&e, &self.budget).await.map(|_| ()) })
            .buffer_unordered(concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// The profile stage; false when Tencent does not know the account.
    async fn profile(&mut self) -> Result<bool, Stop> {
        let (store, app, account) = (self.store, self.app, self.account);
        let t = Clock::system().now_ms();
        let asked = [account.to_owned()];
        let infos = self.client.get_official_account_info(&asked);
        let infos = within(self.deadline(), infos).await??;
        let f = self.floor(t);
        let stored: Option<Profile> = retried(self.deadline(), || store.account(app, account))
            .await?
            .map(|i| items::from_item::<ProfileItem>(i).map(|p| p.to_state()))
            .transpose()
            .map_err(|e| Stop::Store(e.to_string()))?;
        let (events, known) = match infos.into_iter().find(|i| i.official_account == account) {
            Some(info) if info.error_code == 0 => {
                self.report.tencent_subscriber_num = info.subscriber_num;
                (facts::profile_events(app, stored.as_ref(), &info, f), true)
            }
            Some(info) if info.error_code != NO_SUCH_ACCOUNT => {
                return Err(Stop::Rest(RestError::Api {
                    code: info.error_code,
                    info: info.error_info.unwrap_or_default(),
                }))
            }
            _ => {
                let gone = facts::gone_event(app, account, stored.as_ref(), f);
                (gone.into_iter().collect(), false)
            }
        };
        self.report.profile_events = events.len() as u32;
        // In order: a create before the info change (each is order-free anyway).
        self.apply(events, 1).await?;
        Ok(known)
    }

    async fn subscribers(&mut self) -> Result<(), Stop> {
        let (store, app, account) = (self.store, self.app, self.account);
        let t = Clock::system().now_ms();
        let f = self.floor(t);
        let report = &mut self.report;
        let mut listed: HashMap<String, u64> = HashMap::new();
        let mut next = String::new();
        loop {
            let page = self
                .client
                .get_subscriber_info(account, &next, SUBSCRIBERS_PER_PAGE);
            let page = within(self.budget.deadline(), page).await??;
            report.tencent_subscriber_num = Some(page.subscriber_num);
            for s in page.subscriber_list {
                if s.subscriber_account.is_empty() || s.subscriber_account.len() > MAX_MEMBER_BYTES
                {
                    report.skipped += 1;
                    continue;
                }
                listed.insert(s.subscriber_account, s.subscribe_time);
            }
            if page.next.is_empty() || page.next == next {
                break;
            }
            next = page.next;
        }
        report.subscribers_listed = listed.len() as u32;
        let stored: HashMap<String, Subscription> =
            retried(self.budget.deadline(), || store.subscribers(app, account))
                .await?
                .into_iter()
                .filter_map(|i| items::from_item::<SubscriptionItem>(i).ok())
                .map(|s| (s.subscriber_account.clone(), s.to_state()))
                .collect();
        let plan = facts::plan_subscribers(&listed, &stored, f);
        report.subscribers_added = plan.added;
        report.subscribers_resubscribed = plan.resubscribed;
        report.subscribers_removed = plan.unsubscribe.len() as u32;
        report.kept_newer += plan.kept_newer;
        // Through the per-account writer (store/writer.rs): folded per user, its transactions
        // one at a time, as each updates `subscriber_count` (docs/sync.md, "Bench").
        let mut writes = AccountWrites::new(app, account);
        for (user, event_time) in plan.subscribe {
            writes.fold(&user, Change::Subscribe.state(event_time, None));
        }
        for user in &plan.unsubscribe {
            writes.fold(user, Change::Unsubscribe.state(f, None));
        }
        store.write_account(&writes, &self.budget).await?;
        Ok(())
    }

    /// The message stage, from `cursor` (`None`: the newest page), each page's cursor
    /// checkpointed.
    async fn messages(&mut self, mut cursor: Option<String>) -> Result<(), Stop> {
        let (store, app, account) = (self.store, self.app, self.account);
        let stored: HashMap<String, StoredMessage> =
            retried(self.deadline(), || store.messages(app, account))
                .await?
                .into_iter()
                .filter_map(|i| items::from_item::<StoredMessage>(i).ok())
                .map(|m| (m.msg_key.clone(), m))
                .collect();
        loop {
            let t = Clock::system().now_ms();
            let page = self
                .client
                .official_account_msg_get_simple(account, cursor.as_deref());
            let page = within(self.deadline(), page).await??;
            let f = self.floor(t);
            let report = &mut self.report;
            let mut sends = Vec::new();
            let mut withdrawals = Vec::new();
            report.messages_listed += page.rsp_msg_list.len() as u32;
            for m in &page.rsp_msg_list {
                if m.msg_key.is_empty() || m.msg_key.len() > MAX_MEMBER_BYTES {
                    report.skipped += 1;
                    continue;
                }
                if m.is_place_msg == PLACE_DELETED {
                    report.messages_expired += 1;
                    continue;
                }
                let recalled = m.is_place_msg == PLACE_RECALLED;
                let known = stored.get(&m.msg_key);
                if known.is_none_or(|k| k.event_time.is_none()) {
                    let body = if recalled { None } else { m.msg_body.clone() };
                    let mut send =
                        facts::send_event(app, account, &m.msg_key, m.msg_time_stamp, body, f);
                    // A body DynamoDB cannot hold: the message without it.
                    if limits::check(&send).is_err() {
                        if let crate::events::EventKind::MessageSent(msg) = &mut send.kind {
                            msg.msg_body = None;
                        }
                        report.skipped += 1;
                    }
                    sends.push(send);
                }
                if recalled && known.is_none_or(|k| k.withdrawn != Some(true)) {
                    withdrawals.push(m.msg_key.clone());
                }
            }
            report.messages_added += sends.len() as u32;
            report.messages_withdrawn += withdrawals.len() as u32;
            self.apply(sends, self.options.concurrency).await?;
            let withdraw = facts::withdraw_event(app, account, withdrawals, f);
            self.apply(withdraw.into_iter().collect(), 1).await?;
            let done = page.is_finished != 0
                || page.last_msg_key.is_empty()
                || page.rsp_msg_list.is_empty()
                || cursor.as_deref() == Some(page.last_msg_key.as_str());
            if done {
                return Ok(());
            }
            cursor = Some(page.last_msg_key);
            let msg_cursor = cursor.clone();
            self.save(&Stage::Messages { msg_cursor }).await?;
        }
    }
}

/// A stored message's item, as far as a sync needs it.
#[derive(serde::Deserialize)]
struct StoredMessage {
    msg_key: String,
    /// Set once a send event is stored (the item may exist from a withdrawal alone).
    event_time: Option<u64>,
    withdrawn: Option<bool>,
}
