//! The two seed pages' samples produce exactly the contract's items; redelivery changes
//! nothing; every file in `events/` runs through the handler.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const OA: &str = "@TOA#_test_OA_for_penn";

fn without_internal(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("rev");
        o.remove("field_times");
    }
    v
}

fn contract_view(items: BTreeMap<(String, String), Value>) -> BTreeMap<(String, String), Value> {
    items
        .into_iter()
        .map(|(k, v)| (k, without_internal(v)))
        .collect()
}

fn seed_create() -> Value {
    json!({
        "Official_Account": OA,
        "Operator_Account": "107867",
        "Owner_Account": "107867",
        "Name": "TestOfficialAccount",
        "EventTime": 1670574414123u64
    })
}

fn seed_add() -> Value {
    json!({
        "Official_Account": "@TOA#_test_for_penn",
        "Operator_Account": "107867",
        "SubscribeAccountList": [{"Subscriber_Account": "jared"}, {"Subscriber_Account": "leckie"}],
        "EventTime": 1670574414123u64
    })
}

#[tokio::test]
async fn seed_create_writes_exactly_the_profile() {
    let f = Fixture::new().await;
    assert_ok(
        &f.after(
            "OfficialAccount.CallbackAfterCreateOfficialAccount",
            seed_create(),
        )
        .await,
    );
    let items = f.dump().await;
    let pk = format!("OA#{APP}#{OA}");
    let expected = BTreeMap::from([(
        (pk.clone(), "PROFILE".to_owned()),
        json!({
            "pk": pk,
            "sk": "PROFILE",
            "entity": "official_account",
            "sdk_app_id": APP,
            "official_account": OA,
            "gsi1pk": format!("USER#{APP}#107867"),
            "gsi1sk": format!("OWNS#{OA}"),
            "gsi2pk": format!("APP#{APP}"),
            "gsi2sk": format!("OA#{OA}"),
            "status": "ACTIVE",
            "owner_account": "107867",
            "created_at": 1670574414123u64,
            "created_by": "107867",
            "name": "TestOfficialAccount",
            "subscriber_count": 0
        }),
    )]);
    assert_eq!(contract_view(items.clone()), expected);
    // Our two bookkeeping attributes, and nothing else, besides the contract's.
    let profile = &items[&(pk, "PROFILE".to_owned())];
    assert_eq!(profile["rev"], 1);
    assert_eq!(
        profile["field_times"],
        json!({"owner_account": 1670574414123u64, "name": 1670574414123u64})
    );

    // The "accounts a user owns" query finds it.
    let owned = f.store().owned_by(APP, "107867").await.unwrap();
    assert_eq!(owned.len(), 1);
}

#[tokio::test]
async fn seed_add_subscriber_writes_subscriptions_and_count() {
    let f = Fixture::new().await;
    assert_ok(
        &f.after("OfficialAccount.CallbackAfterAddSubscriber", seed_add())
            .await,
    );
    let oa = "@TOA#_test_for_penn";
    let pk = format!("OA#{APP}#{oa}");
    let sub = |user: &str| {
        (
            (pk.clone(), format!("SUB#{user}")),
            json!({
                "pk": pk,
                "sk": format!("SUB#{user}"),
                "entity": "subscription",
                "sdk_app_id": APP,
                "official_account": oa,
                "subscriber_account": user,
                "status": "SUBSCRIBED",
                "event_time": 1670574414123u64,
                "operator_account": "107867",
                "gsi1pk": format!("USER#{APP}#{user}"),
                "gsi1sk": format!("SUB#{oa}")
            }),
        )
    };
    let expected = BTreeMap::from([
        (
            (pk.clone(), "PROFILE".to_owned()),
            json!({
                "pk": pk,
                "sk": "PROFILE",
                "entity": "official_account",
                "sdk_app_id": APP,
                "official_account": oa,
                "gsi2pk": format!("APP#{APP}"),
                "gsi2sk": format!("OA#{oa}"),
                "subscriber_count": 2
            }),
        ),
        sub("jared"),
        sub("leckie"),
    ]);
    assert_eq!(f.dump().await, expected);

    // Access patterns: the account's subscribers, and what a user subscribes to.
    assert_eq!(f.store().subscribers(APP, oa).await.unwrap().len(), 2);
    let of_jared = f.store().subscriptions_of(APP, "jared").await.unwrap();
    assert_eq!(of_jared.len(), 1);
}

#[tokio::test]
async fn redelivery_changes_nothing() {
    let f = Fixture::new().await;
    let create = (
        "OfficialAccount.CallbackAfterCreateOfficialAccount",
        seed_create(),
    );
    let add = ("OfficialAccount.CallbackAfterAddSubscriber", seed_add());
    assert_ok(&f.after(create.0, create.1.clone()).await);
    assert_ok(&f.after(add.0, add.1.clone()).await);
    let once = f.dump().await;
    for _ in 0..3 {
        assert_ok(&f.after(add.0, add.1.clone()).await);
        assert_ok(&f.after(create.0, create.1.clone()).await);
    }
    assert_eq!(f.dump().await, once, "redelivery changed the table");
}

#[tokio::test]
async fn the_same_account_twice_in_one_list_counts_once() {
    let f = Fixture::new().await;
    let mut body = seed_add();
    body["SubscribeAccountList"] = json!([
        {"Subscriber_Account": "jared"},
        {"Subscriber_Account": "jared"},
        {"Subscriber_Account": "leckie"}
    ]);
    assert_ok(
        &f.after("OfficialAccount.CallbackAfterAddSubscriber", body)
            .await,
    );
    let profile = f
        .store()
        .account(APP, "@TOA#_test_for_penn")
        .await
        .unwrap()
        .expect("profile exists");
    assert_eq!(item_json(&profile)["subscriber_count"], 2);
}

#[tokio::test]
async fn a_list_larger_than_one_transaction_is_split_and_counted_exactly() {
    let f = Fixture::new().await;
    let users: Vec<Value> = (0..250)
        .map(|i| json!({"Subscriber_Account": format!("user{i:03}")}))
        .collect();
    let mut body = seed_add();
    body["SubscribeAccountList"] = Value::Array(users.clone());
    assert_ok(
        &f.after("OfficialAccount.CallbackAfterAddSubscriber", body.clone())
            .await,
    );
    let oa = "@TOA#_test_for_penn";
    let count = |items: &BTreeMap<(String, String), Value>| {
        items[&(format!("OA#{APP}#{oa}"), "PROFILE".to_owned())]["subscriber_count"].clone()
    };
    let items = f.dump().await;
    assert_eq!(items.len(), 251);
    assert_eq!(count(&items), 250);
    // Redelivered: no change.
    assert_ok(
        &f.after("OfficialAccount.CallbackAfterAddSubscriber", body.clone())
            .await,
    );
    assert_eq!(f.dump().await, items);
    // Half of them leave, later.
    let mut del = body;
    del["EventTime"] = json!(1670574414124u64);
    del["SubscribeAccountList"] = Value::Array(users[..125].to_vec());
    assert_ok(
        &f.after("OfficialAccount.CallbackAfterDeleteSubscriber", del)
            .await,
    );
    let items = f.dump().await;
    assert_eq!(count(&items), 125);
    let unsubscribed = items
        .values()
        .filter(|v| v["status"] == "UNSUBSCRIBED")
        .inspect(|v| assert!(v.get("gsi1pk").is_none(), "sparse index entry removed"))
        .count();
    assert_eq!(unsubscribed, 125);
}

/// Every file in `events/` goes through the handler and gets the documented reply.
#[tokio::test]
async fn every_sample_event_is_acknowledged() {
    let f = Fixture::new().await;
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/events"))
        .expect("events/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 14,
        "events/ holds the eleven commands and three variants"
    );
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable event");
        let r = f.send(parse_event(&text)).await;
        let v = envelope(&r);
        assert_eq!(
            (r.status_code, v["ActionStatus"].as_str()),
            (200, Some("OK")),
            "{}: {v}",
            path.display()
        );
    }
    // Together they leave the seed accounts in the table: the destroy came last.
    let profile = f
        .store()
        .account(APP, OA)
        .await
        .unwrap()
        .map(|i| item_json(&i))
        .expect("profile written");
    assert_eq!(profile["status"], "DESTROYED");
    let msgs = f.store().messages(APP, OA).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(item_json(&msgs[0])["withdrawn"], true);
}

/// The one list of after-commands (`events::AfterCommand::ALL`) names a sample event for
/// each command; every sample exists, carries that command, and is stored.
#[tokio::test]
async fn every_after_command_has_a_stored_sample_event() {
    use oa_webhook::events::AfterCommand;
    assert_eq!(
        AfterCommand::ALL.len(),
        8,
        "contract section 3 stores eight"
    );
    for &command in AfterCommand::ALL {
        let f = Fixture::new().await;
        let path = format!(
            "{}/events/{}",
            env!("CARGO_MANIFEST_DIR"),
            command.sample_event()
        );
        let text = std::fs::read_to_string(&path).expect("the sample event exists");
        let event: Value = serde_json::from_str(&text).expect("valid JSON");
        let body: Value =
            serde_json::from_str(event["body"].as_str().expect("a text body")).expect("JSON body");
        assert_eq!(body["CallbackCommand"], command.wire_name(), "{path}");
        let r = f.send(parse_event(&text)).await;
        assert_eq!(r.status_code, 200, "{path}");
        let items = f.dump().await;
        assert!(!items.is_empty(), "{path} wrote nothing");
    }
}
