//! The sync (contract section 6) against the local DynamoDB and the REST stand-in: backfill,
//! repair after lost events, newer events kept, busy answers retried, a wrong key
//! refused, a stopped run resumed. Needs the local DynamoDB (`make test` starts one): without
//! it these tests fail, they never skip.

use crate::common::vectors::{ADD, CREATE, DELETE, SEND, WITHDRAW};
use crate::common::{assert_ok, Fixture, Handle, APP};
use oa_webhook::store::items::Item;
use oa_webhook::sync::{run_sync, AccountOutcome, AccountReport, SyncOptions, SyncReport};
use oa_webhook::tencent::rest::{
    RestClient, RestSettings, TencentConfig, GET_ACCOUNT_INFO, GET_MESSAGES, GET_SUBSCRIBERS,
};
use oa_webhook::tencent::usersig::SecretKey;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tencent_standin::{Standin, StandinAccount, StandinConfig, Truth};
use tokio::time::Instant;

const ADMIN: &str = "administrator";
const KEY: &str = "standin-test-key";
const OA: &str = "@TOA#_sync_news";
const OA2: &str = "@TOA#_sync_small";

async fn standin(truth: Truth) -> Standin {
    Standin::start(
        "127.0.0.1:0",
        StandinConfig::new(APP.parse().unwrap(), ADMIN, SecretKey::new(KEY)),
        truth,
    )
    .await
    .expect("the stand-in listens")
}

fn client_with(standin: &Standin, key: &str, settings: RestSettings) -> RestClient {
    let config = TencentConfig {
        base_url: standin.url(),
        admin: ADMIN.to_owned(),
        key: SecretKey::new(key),
    };
    RestClient::new(&config, APP.parse().unwrap(), settings)
}

fn client(standin: &Standin) -> RestClient {
    client_with(
        standin,
        KEY,
        RestSettings {
            backoff_base: Duration::from_millis(5),
            backoff_cap: Duration::from_millis(50),
            ..RestSettings::default()
        },
    )
}

fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

/// An account with `subs` subscribers and `msgs` messages, every seventh recalled.
fn account(owner: &str, subs: u64, msgs: u64) -> StandinAccount {
    let mut a = StandinAccount {
        name: Some(format!("Account of {owner}")),
        owner_account: Some(owner.to_owned()),
        create_time: 1_670_000_000,
        introduction: Some("Backfilled".to_owned()),
        ..StandinAccount::default()
    };
    for i in 0..subs {
        a.subscribers
            .insert(format!("user{i:05}"), 1_670_000_100 + i % 50);
    }
    for i in 0..msgs {
        let key = a.send(1_670_001_000 + i * 10, text(&format!("message {i}")));
        if i % 7 == 3 {
            a.recall(&key);
        }
    }
    a
}

async fn sync(
    f: &Fixture,
    client: &RestClient,
    accounts: &[&str],
    deadline: Duration,
) -> SyncReport {
    let accounts: Vec<String> = accounts.iter().map(|a| (*a).to_owned()).collect();
    run_sync(
        f.store(),
        client,
        APP,
        &accounts,
        Instant::now() + deadline,
        &SyncOptions::default(),
    )
    .await
}

fn report_of<'r>(r: &'r SyncReport, account: &str) -> &'r AccountReport {
    r.accounts
        .iter()
        .find(|a| a.account == account)
        .unwrap_or_else(|| panic!("no report for {account}: {r:#?}"))
}

fn json_of(item: &Item) -> Value {
    crate::common::item_json(item)
}

/// (status, event_time) of each stored subscription.
async fn subscriptions(f: &Fixture, oa: &str) -> BTreeMap<String, (String, u64)> {
    f.store()
        .subscribers(APP, oa)
        .await
        .expect("query")
        .iter()
        .map(json_of)
        .map(|v| {
            (
                v["subscriber_account"].as_str().unwrap().to_owned(),
                (
                    v["status"].as_str().unwrap().to_owned(),
                    v["event_time"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

async fn messages(f: &Fixture, oa: &str) -> BTreeMap<String, Value> {
    f.store()
        .messages(APP, oa)
        .await
        .expect("query")
        .iter()
        .map(json_of)
        .map(|v| (v["msg_key"].as_str().unwrap().to_owned(), v))
        .collect()
}

async fn profile(f: &Fixture, oa: &str) -> Value {
    json_of(
        &f.store()
            .account(APP, oa)
            .await
            .expect("read")
            .expect("a profile"),
    )
}

/// The table holds exactly what the stand-in holds for `oa` (contract-level: statuses,
/// counts, message keys, bodies, withdrawals).
async fn assert_table_equals_truth(f: &Fixture, standin: &Standin, oa: &str) {
    let truth = standin.with_truth(|t| t.accounts[oa].clone());
    let p = profile(f, oa).await;
    assert_eq!(p["status"], "ACTIVE", "{p}");
    assert_eq!(p["name"].as_str(), truth.name.as_deref());
    assert_eq!(p["owner_account"].as_str(), truth.owner_account.as_deref());
    assert_eq!(p["introduction"].as_str(), truth.introduction.as_deref());
    assert_eq!(p["subscriber_count"], json!(truth.subscribers.len()));
    assert_eq!(p["gsi2pk"], json!(format!("APP#{APP}")));

    let subs = subscriptions(f, oa).await;
    let subscribed: BTreeSet<&String> = subs
        .iter()
        .filter(|(_, (s, _))| s == "SUBSCRIBED")
        .map(|(u, _)| u)
        .collect();
    assert_eq!(
        subscribed,
        truth.subscribers.keys().collect::<BTreeSet<_>>()
    );

    let msgs = messages(f, oa).await;
    assert_eq!(
        msgs.keys().collect::<BTreeSet<_>>(),
        truth
            .messages
            .values()
            .map(|m| &m.msg_key)
            .collect::<BTreeSet<_>>()
    );
    for m in truth.messages.values() {
        let stored = &msgs[&m.msg_key];
        // (The webhook's send does not write `withdrawn: false` yet: absent counts as false.)
        let withdrawn = stored["withdrawn"].as_bool().unwrap_or(false);
        assert_eq!(withdrawn, m.recalled, "{stored}");
        assert_eq!(stored["msg_time"], json!(m.time_stamp));
        if !m.recalled {
            assert_eq!(stored["msg_body"], m.body, "{stored}");
        }
    }
}

#[tokio::test]
async fn backfill_into_an_empty_table_equals_the_standin() {
    let f = Fixture::new().await;
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), account("owner1", 450, 45));
    truth.accounts.insert(OA2.into(), account("owner2", 3, 2));
    let standin = standin(truth).await;
    let client = client(&standin);

    let r = sync(
        &f,
        &client,
        &[OA, OA2, "@TOA#_unknown"],
        Duration::from_secs(120),
    )
    .await;
    assert!(r.complete, "{r:#?}");
    assert!(r.error.is_none(), "{r:#?}");
    let a = report_of(&r, OA);
    assert_eq!(a.outcome, AccountOutcome::Synced);
    assert_eq!(a.subscribers_listed, 450);
    assert_eq!(a.subscribers_added, 450);
    assert_eq!(a.messages_listed, 45);
    assert_eq!(a.messages_added, 45);
    assert_eq!(a.messages_withdrawn, 6, "3, 10, 17, 24, 31, 38");
    assert_eq!(a.profile_events, 2, "create + info");
    assert_eq!(a.tencent_subscriber_num, Some(450));
    assert_eq!(a.count_matches, Some(true), "{a:#?}");
    assert_eq!(
        report_of(&r, "@TOA#_unknown").outcome,
        AccountOutcome::NotFound
    );
    // 3 pages of 200, 3 pages of 20 messages (45 of them).
    assert_eq!(standin.calls(GET_SUBSCRIBERS), 3 + 1);
    assert_eq!(standin.calls(GET_MESSAGES), 3 + 1);

    assert_table_equals_truth(&f, &standin, OA).await;
    assert_table_equals_truth(&f, &standin, OA2).await;
    // Listed users are SUBSCRIBED at the last millisecond of their SubscribeTime.
    let subs = subscriptions(&f, OA).await;
    assert_eq!(subs["user00000"], ("SUBSCRIBED".into(), 1_670_000_100_999));
    // The create fact: at CreateTime, no operator.
    let p = profile(&f, OA).await;
    assert_eq!(p["created_at"], 1_670_000_000_000u64);
    assert!(p.get("created_by").is_none());
    // Nothing for the unknown account.
    assert!(f
        .store()
        .account(APP, "@TOA#_unknown")
        .await
        .unwrap()
        .is_none());

    // A second sync finds nothing missing and writes nothing.
    let again = sync(&f, &client, &[OA, OA2], Duration::from_secs(120)).await;
    for a in &again.accounts {
        assert_eq!(a.outcome, AccountOutcome::Synced);
        assert_eq!(a.found_missing, 0, "{a:#?}");
        assert_eq!(a.dynamodb_writes, 0, "{a:#?}");
    }

    // Without accounts, the sync walks the accounts of the app (gsi2).
    let walked = sync(&f, &client, &[], Duration::from_secs(120)).await;
    assert!(walked.complete, "{walked:#?}");
    let names: BTreeSet<&str> = walked.accounts.iter().map(|a| a.account.as_str()).collect();
    assert_eq!(names, BTreeSet::from([OA, OA2]));
}

const T0: u64 = 1_670_574_414_123;

fn users(list: &[&str]) -> Value {
    Value::Array(
        list.iter()
            .map(|u| json!({"Subscriber_Account": u}))
            .collect(),
    )
}

/// Delivers `events` (command, body) to the fixture, each answered OK.
async fn deliver(f: &Fixture, events: &[(&str, Value)]) {
    for (command, body) in events {
        assert_ok(&f.after(command, body.clone()).await);
    }
}

#[tokio::test]
async fn events_lost_then_a_sync_restores_the_table() {
    // What happened in the app, as callbacks; Tencent holds the outcome.
    let send = |seq: u64, t: u64| {
        json!({"Official_Account": OA, "MsgKey": format!("{seq}_1_{}", t / 1000), "MsgTime": t / 1000,
               "OnlineOnlyFlag": 0, "MsgBody": text(&format!("m{seq}")), "CloudCustomData": "ccd", "EventTime": t})
    };
    let all: Vec<(&str, Value)> = vec![
        (
            CREATE,
            json!({"Official_Account": OA, "Operator_Account": "boss", "Owner_Account": "boss", "Name": "News", "EventTime": T0}),
        ),
        (
            ADD,
            json!({"Official_Account": OA, "Operator_Account": "boss", "SubscribeAccountList": users(&["u1", "u2", "u3"]), "EventTime": T0 + 1_000}),
        ),
        (
            ADD,
            json!({"Official_Account": OA, "Operator_Account": "boss", "SubscribeAccountList": users(&["u4", "u5"]), "EventTime": T0 + 2_000}),
        ),
        (
            DELETE,
            json!({"Official_Account": OA, "Operator_Account": "u2", "SubscribeAccountList": users(&["u2"]), "EventTime": T0 + 3_000}),
        ),
        (SEND, send(1, T0 + 4_000)),
        (SEND, send(2, T0 + 5_000)),
        (SEND, send(3, T0 + 6_000)),
        (
            WITHDRAW,
            json!({"Official_Account": OA, "WithdrawMsgList": [{"MsgKey": format!("2_1_{}", (T0 + 5_000) / 1000)}], "EventTime": T0 + 7_000}),
        ),
    ];
    // Tencent's side.
    let mut oa = StandinAccount {
        name: Some("News".into()),
        owner_account: Some("boss".into()),
        create_time: T0 / 1000,
        ..StandinAccount::default()
    };
    for (u, t) in [("u1", 1_000), ("u3", 1_000), ("u4", 2_000), ("u5", 2_000)] {
        oa.subscribers.insert(u.into(), (T0 + t) / 1000);
    }
    for (seq, t) in [(1u64, 4_000u64), (2, 5_000), (3, 6_000)] {
        let key = oa.send((T0 + t) / 1000, text(&format!("m{seq}")));
        assert_eq!(key, format!("{seq}_1_{}", (T0 + t) / 1000));
    }
    oa.recall(&format!("2_1_{}", (T0 + 5_000) / 1000));
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), oa);

    // The table that saw every event, and one that lost four of them (the second add,
    // the delete, the third send, the withdrawal).
    let complete = Fixture::new().await;
    deliver(&complete, &all).await;
    let f = Fixture::new().await;
    let delivered: Vec<(&str, Value)> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| ![2, 3, 6, 7].contains(i))
        .map(|(_, e)| e.clone())
        .collect();
    deliver(&f, &delivered).await;

    let standin = standin(truth).await;
    let client = client(&standin);
    let r = sync(&f, &client, &[OA], Duration::from_secs(60)).await;
    assert!(r.complete, "{r:#?}");
    let a = report_of(&r, OA);
    assert_eq!(a.subscribers_added, 2, "u4, u5: {a:#?}");
    assert_eq!(a.subscribers_removed, 1, "u2");
    assert_eq!(a.messages_added, 1, "the third send");
    assert_eq!(a.messages_withdrawn, 1);
    assert_eq!(a.profile_events, 0, "the profile agreed");
    assert_eq!(a.found_missing, 5);
    assert_eq!(a.count_matches, Some(true));
    assert_table_equals_truth(&f, &standin, OA).await;

    // The same state as the table that saw every event, status for status.
    let status = |m: BTreeMap<String, (String, u64)>| {
        m.into_iter()
            .map(|(u, (s, _))| (u, s))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        status(subscriptions(&f, OA).await),
        status(subscriptions(&complete, OA).await)
    );
    let ours = messages(&f, OA).await;
    let theirs = messages(&complete, OA).await;
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (k, m) in &ours {
        assert_eq!(
            m["withdrawn"].as_bool().unwrap_or(false),
            theirs[k]["withdrawn"].as_bool().unwrap_or(false),
            "{k}"
        );
    }
    assert_eq!(
        profile(&f, OA).await["subscriber_count"],
        profile(&complete, OA).await["subscriber_count"]
    );
    // What was delivered keeps what only the callbacks carry.
    assert_eq!(ours["1_1_1670574418"]["cloud_custom_data"], "ccd");
    assert_eq!(
        subscriptions(&f, OA).await["u1"],
        ("SUBSCRIBED".into(), T0 + 1_000)
    );
    assert_eq!(profile(&f, OA).await["created_by"], "boss");

    // A lost event delivered late still counts: the real withdrawal is earlier than the
    // sync's fact, and the earliest withdrawal wins.
    deliver(&f, &all[7..8]).await;
    let m2 = &messages(&f, OA).await["2_1_1670574419"];
    assert_eq!(m2["withdrawn_at"], T0 + 7_000);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn a_sync_does_not_override_a_newer_stored_event() {
    let f = Fixture::new().await;
    let now = now_ms();
    // Stored: u1 unsubscribed and u9 subscribed just now (after the sync's T - skew),
    // and the account renamed just now.
    deliver(
        &f,
        &[
            (CREATE, json!({"Official_Account": OA, "Operator_Account": "boss", "Owner_Account": "boss", "Name": "Old", "EventTime": T0})),
            (ADD, json!({"Official_Account": OA, "Operator_Account": "boss", "SubscribeAccountList": users(&["u1"]), "EventTime": T0})),
            (DELETE, json!({"Official_Account": OA, "Operator_Account": "u1", "SubscribeAccountList": users(&["u1"]), "EventTime": now})),
            (ADD, json!({"Official_Account": OA, "Operator_Account": "u9", "SubscribeAccountList": users(&["u9"]), "EventTime": now})),
            ("OfficialAccount.CallbackAfterOfficialAccountInfoChanged",
             json!({"Official_Account": OA, "Operator_Account": "boss", "Name": "Newest", "EventTime": now})),
        ],
    )
    .await;
    // Tencent, read a moment earlier: u1 still listed, u9 not yet, the old name.
    let mut oa = StandinAccount {
        name: Some("Old".into()),
        owner_account: Some("boss".into()),
        create_time: T0 / 1000,
        ..StandinAccount::default()
    };
    oa.subscribers.insert("u1".into(), T0 / 1000);
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), oa);
    let standin = standin(truth).await;
    let client = client(&standin);

    let before = f.dump().await;
    let r = sync(&f, &client, &[OA], Duration::from_secs(60)).await;
    assert!(r.complete, "{r:#?}");
    let a = report_of(&r, OA);
    assert_eq!(a.kept_newer, 2, "u1 and u9: {a:#?}");
    assert_eq!(a.subscribers_removed, 0);
    // The info fact (the old name, at T - skew) loses to the newer rename; the items are
    // as they were, but for the profile's bookkeeping.
    let subs = subscriptions(&f, OA).await;
    assert_eq!(subs["u1"], ("UNSUBSCRIBED".into(), now));
    assert_eq!(subs["u9"], ("SUBSCRIBED".into(), now));
    assert_eq!(profile(&f, OA).await["name"], "Newest");
    let after = f.dump().await;
    for (k, v) in &before {
        if k.1 != "PROFILE" && !k.0.starts_with("SYNC#") {
            assert_eq!(&after[k], v, "{k:?} unchanged");
        }
    }
}

#[tokio::test]
async fn busy_answers_are_retried() {
    let f = Fixture::new().await;
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), account("owner1", 250, 25));
    let standin = standin(truth).await;
    for command in [GET_ACCOUNT_INFO, GET_SUBSCRIBERS, GET_MESSAGES] {
        standin.inject_busy(command, 3);
    }
    let client = client(&standin);
    let r = sync(&f, &client, &[OA], Duration::from_secs(60)).await;
    assert!(r.complete, "{r:#?}");
    assert_eq!(report_of(&r, OA).outcome, AccountOutcome::Synced);
    for command in [GET_ACCOUNT_INFO, GET_SUBSCRIBERS, GET_MESSAGES] {
        assert_eq!(standin.busy_answers(command), 3, "{command}");
    }
    assert!(r.rest_retries >= 9, "{r:#?}");
    assert_table_equals_truth(&f, &standin, OA).await;
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_nothing_is_written() {
    let f = Fixture::new().await;
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), account("owner1", 5, 2));
    let standin = standin(truth).await;
    let wrong = client_with(&standin, "not-the-key", RestSettings::default());
    let r = sync(&f, &wrong, &[OA], Duration::from_secs(60)).await;
    assert!(!r.complete);
    let a = report_of(&r, OA);
    assert_eq!(a.outcome, AccountOutcome::Failed);
    let error = a.error.as_deref().unwrap_or_default();
    assert!(error.contains("70009"), "{error}");
    assert!(!error.contains(KEY) && !error.contains("not-the-key"));
    assert!(
        f.dump().await.keys().all(|(pk, _)| pk.starts_with("SYNC#")),
        "no account data written"
    );
    // The failed run is over (a lasting failure must not keep a run open forever): with
    // the right key, the next run starts afresh and syncs the account.
    let r = sync(&f, &client(&standin), &[OA], Duration::from_secs(60)).await;
    assert!(r.complete, "{r:#?}");
    assert_eq!(report_of(&r, OA).outcome, AccountOutcome::Synced);
    assert_table_equals_truth(&f, &standin, OA).await;
}

#[tokio::test]
async fn a_stopped_run_resumes_where_it_left_off() {
    let f = Fixture::new().await;
    let mut truth = Truth::default();
    // 600 messages: 30 pages. At 20 calls a second, about 1.5 s.
    truth.accounts.insert(OA.into(), account("owner1", 10, 600));
    truth.accounts.insert(OA2.into(), account("owner2", 10, 5));
    let standin = standin(truth).await;
    let slow = client_with(
        &standin,
        KEY,
        RestSettings {
            calls_per_second: 20,
            ..RestSettings::default()
        },
    );
    let r = sync(&f, &slow, &[OA, OA2], Duration::from_millis(700)).await;
    assert!(!r.complete, "{r:#?}");
    assert_eq!(report_of(&r, OA).outcome, AccountOutcome::Stopped);
    assert_eq!(r.accounts.len(), 1, "stops at the first unfinished account");
    let first_pages = standin.calls(GET_MESSAGES);
    assert!(first_pages > 0 && first_pages < 30, "{first_pages}");
    let subscriber_calls = standin.calls(GET_SUBSCRIBERS);

    // The rerun continues from the message cursor: the pages already stored are not
    // read again, nor the profile and subscribers of the first account.
    let fast = client(&standin);
    let r = sync(&f, &fast, &[OA, OA2], Duration::from_secs(60)).await;
    assert!(r.complete, "{r:#?}");
    // 30 pages of OA and OA2's one; the page in flight at the deadline (if the stand-in
    // had already seen it) is read again.
    let total_pages = standin.calls(GET_MESSAGES);
    assert!(
        (31..=32).contains(&total_pages),
        "{first_pages} then {total_pages}"
    );
    assert_eq!(
        standin.calls(GET_SUBSCRIBERS),
        subscriber_calls + 1,
        "only OA2's"
    );
    assert_table_equals_truth(&f, &standin, OA).await;
    assert_table_equals_truth(&f, &standin, OA2).await;

    // The run is finished: the next one starts afresh (and finds nothing missing).
    let again = sync(&f, &fast, &[OA, OA2], Duration::from_secs(60)).await;
    assert!(again.complete);
    assert!(again
        .accounts
        .iter()
        .all(|a| a.outcome == AccountOutcome::Synced && a.found_missing == 0));
}

/// The scheduled sync's policy in `template.yaml` grants exactly the DynamoDB actions a
/// sync sends (recorded over a backfill and a walk of the app's accounts), on the table
/// and `gsi2` only, plus reading the one secret.
#[tokio::test]
async fn the_sync_policy_covers_exactly_what_a_sync_sends() {
    let recorder = crate::common::OpRecorder::default();
    let app = recorder.app().await;
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), account("owner1", 120, 30));
    let standin = standin(truth).await;
    let client = client(&standin);
    let options = SyncOptions::default();
    let far = Instant::now() + Duration::from_secs(60);
    let r = run_sync(&app.store, &client, APP, &[OA.to_owned()], far, &options).await;
    assert!(r.complete, "{r:#?}");
    // Tencent drops a subscriber: the walk writes a delete too.
    standin.with_truth(|t| {
        t.accounts
            .get_mut(OA)
            .unwrap()
            .subscribers
            .remove("user00001")
    });
    let r = run_sync(&app.store, &client, APP, &[], far, &options).await;
    assert!(r.complete, "{r:#?}");
    assert_eq!(report_of(&r, OA).subscribers_removed, 1);

    let sent: BTreeSet<String> = recorder.ops.lock().unwrap().iter().cloned().collect();
    // BatchGetItem is sent only where the per-account writer doubts a guess (a hot
    // account's ceiling: docs/delivery.md; tests/it/hot.rs sends it), not in this run.
    let mut needed = BTreeSet::from(["dynamodb:BatchGetItem".to_owned()]);
    for op in &sent {
        match op.as_str() {
            // Its Puts and Updates are authorized as PutItem and UpdateItem.
            "TransactWriteItems" => {
                needed.insert("dynamodb:PutItem".to_owned());
                needed.insert("dynamodb:UpdateItem".to_owned());
            }
            other => {
                needed.insert(format!("dynamodb:{other}"));
            }
        }
    }
    assert!(
        sent.contains("Query") && sent.contains("TransactWriteItems"),
        "{sent:?}"
    );

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    let t: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let f = &t["Resources"]["SyncFunction"];
    assert_eq!(f["Properties"]["Handler"], "sync");
    let mut dynamodb = BTreeSet::new();
    let mut other = BTreeSet::new();
    for policy in f["Properties"]["Policies"].as_sequence().expect("policies") {
        for st in policy["Statement"].as_sequence().expect("statements") {
            assert_eq!(st["Effect"], "Allow");
            let resources: Vec<String> = st["Resource"]
                .as_sequence()
                .expect("resources")
                .iter()
                .map(|r| format!("{r:?}"))
                .collect();
            for a in st["Action"].as_sequence().expect("actions") {
                let a = a.as_str().expect("action").to_owned();
                assert!(!a.contains('*'), "{a}");
                if a.starts_with("dynamodb:") {
                    for r in &resources {
                        assert!(r.contains("WebhookTable"), "{r}");
                        assert!(!r.contains('*'), "{r}");
                        assert!(!r.contains("index") || r.contains("index/gsi2"), "{r}");
                    }
                    dynamodb.insert(a);
                } else {
                    assert_eq!(resources.len(), 1);
                    assert!(
                        resources[0].contains("TencentSecretKeyArn"),
                        "{resources:?}"
                    );
                    other.insert(a);
                }
            }
        }
    }
    assert_eq!(dynamodb, needed, "operations sent: {sent:?}");
    assert_eq!(
        other,
        BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()])
    );
}

/// The property test of docs/contract.md section 4 with syncs: events happen (the stand-in's truth changes at once),
/// a random part of them is never delivered, the rest is delivered late, in any order,
/// by three function instances, while syncs run at random points. After a last sync the
/// table holds exactly what Tencent holds: every status, the count, every message and
/// withdrawal. The skew is 0 here: events happen milliseconds apart, and a sync cannot
/// repair what happened within the last `skew` before it read (docs/sync.md).
/// `OA_SYNC_PROPTEST_CASES` (default 6), `OA_PROPTEST_SEED` replays one case.
#[tokio::test]
async fn lost_events_concurrent_deliveries_and_syncs_end_in_the_truth() {
    let cases: u64 = std::env::var("OA_SYNC_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let fixed: Option<u64> = std::env::var("OA_PROPTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    for case in 0..cases {
        let seed = fixed.unwrap_or_else(|| fastrand::u64(..));
        eprintln!("sync property case {case}: OA_PROPTEST_SEED={seed}");
        // Tasks on one thread (the store's futures are not `Send`-provable in a spawn),
        // interleaved at every await: three instances, deliveries and syncs at once.
        tokio::task::LocalSet::new()
            .run_until(property_case(seed))
            .await;
        if fixed.is_some() {
            break;
        }
    }
}

async fn property_case(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let table = crate::common::fresh_table(&crate::common::client().await).await;
    let endpoint = crate::common::endpoint();
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(std::sync::Arc::new(
            crate::common::app_at(&endpoint, &table, None).await,
        ));
    }
    let store = instances[0].store.clone();
    let created = now_ms() / 1000;
    let mut oa = StandinAccount {
        name: Some("Prop".into()),
        owner_account: Some("boss".into()),
        create_time: created,
        ..StandinAccount::default()
    };
    oa.subscribers.clear();
    let mut truth = Truth::default();
    truth.accounts.insert(OA.into(), oa);
    let standin = std::sync::Arc::new(standin(truth).await);
    let client = std::sync::Arc::new(client(&standin));
    let options = SyncOptions {
        skew: Duration::ZERO,
        ..SyncOptions::default()
    };

    let deliver = |app: std::sync::Arc<oa_webhook::app::App>,
                   command: &'static str,
                   body: Value,
                   delay: u64| {
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let mut body = body;
            body["CallbackCommand"] = json!(command);
            // A FAIL reply under load is an event lost too: the sync recovers it.
            app.handle(
                crate::common::http_event(
                    "POST",
                    &crate::common::query_for(command),
                    &body.to_string(),
                ),
                Duration::from_millis(1500),
            )
            .await
        })
    };
    let mut tasks = Vec::new();
    let mut syncs = Vec::new();
    let create = json!({"Official_Account": OA, "Operator_Account": "boss", "Owner_Account": "boss",
                        "Name": "Prop", "EventTime": created * 1000});
    tasks.push(deliver(instances[0].clone(), CREATE, create, 0));
    let mut seq = 0u64;
    let mut sent: Vec<String> = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(rng.u64(0..15))).await;
        let t = now_ms();
        let (command, body) = match rng.u8(0..10) {
            0..=3 => {
                let users: Vec<String> = (0..rng.usize(1..4))
                    .map(|_| format!("u{}", rng.u8(0..8)))
                    .collect();
                standin.with_truth(|tr| {
                    let a = tr.accounts.get_mut(OA).unwrap();
                    for u in &users {
                        a.subscribers.entry(u.clone()).or_insert(t / 1000);
                    }
                });
                let list: Vec<&str> = users.iter().map(String::as_str).collect();
                (
                    ADD,
                    json!({"Official_Account": OA, "Operator_Account": "op", "SubscribeAccountList": users_json(&list), "EventTime": t}),
                )
            }
            4..=6 => {
                let users: Vec<String> = (0..rng.usize(1..3))
                    .map(|_| format!("u{}", rng.u8(0..8)))
                    .collect();
                standin.with_truth(|tr| {
                    let a = tr.accounts.get_mut(OA).unwrap();
                    for u in &users {
                        a.subscribers.remove(u);
                    }
                });
                let list: Vec<&str> = users.iter().map(String::as_str).collect();
                (
                    DELETE,
                    json!({"Official_Account": OA, "Operator_Account": "op", "SubscribeAccountList": users_json(&list), "EventTime": t}),
                )
            }
            7..=8 => {
                seq += 1;
                let key = format!("{seq}_1_{}", t / 1000);
                sent.push(key.clone());
                let body = text(&format!("m{seq}"));
                standin.with_truth(|tr| {
                    tr.accounts.get_mut(OA).unwrap().messages.insert(
                        seq,
                        tencent_standin::StandinMessage {
                            msg_key: key.clone(),
                            time_stamp: t / 1000,
                            from_account: "boss".into(),
                            body: body.clone(),
                            recalled: false,
                        },
                    );
                });
                (
                    SEND,
                    json!({"Official_Account": OA, "MsgKey": key, "MsgTime": t / 1000, "MsgBody": body, "EventTime": t}),
                )
            }
            _ => {
                let Some(key) = (!sent.is_empty()).then(|| sent[rng.usize(0..sent.len())].clone())
                else {
                    continue;
                };
                standin.with_truth(|tr| tr.accounts.get_mut(OA).unwrap().recall(&key));
                (
                    WITHDRAW,
                    json!({"Official_Account": OA, "WithdrawMsgList": [{"MsgKey": key}], "EventTime": t}),
                )
            }
        };
        // Three in four delivered (some twice), late, by any instance.
        if rng.u8(0..4) != 0 {
            for _ in 0..rng.usize(1..3) {
                let app = instances[rng.usize(0..3)].clone();
                tasks.push(deliver(app, command, body.clone(), rng.u64(0..200)));
            }
        }
        if rng.u8(0..8) == 0 {
            let (store, client, options) = (store.clone(), client.clone(), options.clone());
            syncs.push(tokio::task::spawn_local(async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                run_sync(&store, &client, APP, &[OA.to_owned()], deadline, &options).await
            }));
        }
    }
    for t in tasks {
        t.await.expect("delivery task");
    }
    for s in syncs {
        let r = s.await.expect("sync task");
        assert!(r.error.is_none(), "seed {seed}: {r:#?}");
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = run_sync(
        &store,
        &client,
        APP,
        &[OA.to_owned()],
        Instant::now() + Duration::from_secs(60),
        &options,
    )
    .await;
    assert!(r.complete, "seed {seed}: {r:#?}");
    assert_eq!(
        report_of(&r, OA).count_matches,
        Some(true),
        "seed {seed}: {r:#?}"
    );

    // The table equals the truth.
    let truth = standin.with_truth(|t| t.accounts[OA].clone());
    let f = Fixture {
        app: oa_webhook::app::App::new(crate::common::config(&table, None), store.clone()),
        client: store.client().clone(),
        table: table.clone(),
    };
    let subs = subscriptions(&f, OA).await;
    let subscribed: BTreeSet<&String> = subs
        .iter()
        .filter(|(_, (s, _))| s == "SUBSCRIBED")
        .map(|(u, _)| u)
        .collect();
    assert_eq!(
        subscribed,
        truth.subscribers.keys().collect::<BTreeSet<_>>(),
        "seed {seed}"
    );
    assert_eq!(
        profile(&f, OA).await["subscriber_count"],
        json!(truth.subscribers.len()),
        "seed {seed}"
    );
    let msgs = messages(&f, OA).await;
    assert_eq!(
        msgs.keys().collect::<BTreeSet<_>>(),
        truth
            .messages
            .values()
            .map(|m| &m.msg_key)
            .collect::<BTreeSet<_>>(),
        "seed {seed}"
    );
    for m in truth.messages.values() {
        let withdrawn = msgs[&m.msg_key]["withdrawn"].as_bool().unwrap_or(false);
        assert_eq!(withdrawn, m.recalled, "seed {seed}: {}", m.msg_key);
    }
}

fn users_json(list: &[&str]) -> Value {
    users(list)
}
