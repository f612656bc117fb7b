//! Many writers on one account at once (eight in flight, as in the property test): the
//! counter never loses an update, and every event is acknowledged.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_and_deletes_on_one_account_keep_the_count_exact() {
    let f = Fixture::new().await;
    let oa = "@TOA#_hot";
    // 60 events over 30 users, overlapping lists, adds and deletes at colliding times,
    // plus profile events racing the counter updates.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut events: Vec<(&str, Value)> = (0..60)
        .map(|i| {
            let users: Vec<Value> = (0..rng.usize(1..8))
                .map(|_| json!({"Subscriber_Account": format!("u{}", rng.usize(..30))}))
                .collect();
            let cmd = if rng.u8(..3) == 0 {
                "OfficialAccount.CallbackAfterDeleteSubscriber"
            } else {
                "OfficialAccount.CallbackAfterAddSubscriber"
            };
            (cmd, json!({"Official_Account": oa, "EventTime": 1000 + (i % 7), "SubscribeAccountList": users}))
        })
        .collect();
    for t in 0..6 {
        events.push((
            "OfficialAccount.CallbackAfterOfficialAccountInfoChanged",
            json!({"Official_Account": oa, "EventTime": 2000 + t, "Name": format!("n{t}")}),
        ));
    }
    rng.shuffle(&mut events);
    let replies: Vec<_> = futures_util::stream::iter(events)
        .map(|(cmd, body)| f.after(cmd, body))
        .buffer_unordered(8)
        .collect()
        .await;
    let failed = replies.iter().filter(|r| r.status_code != 200).count();
    assert_eq!(
        failed,
        0,
        "{failed} of {} concurrent events failed",
        replies.len()
    );
    let items = f.dump().await;
    let subscribed = items
        .values()
        .filter(|v| v["entity"] == "subscription" && v["status"] == "SUBSCRIBED")
        .count();
    let profile = items
        .values()
        .find(|v| v["entity"] == "official_account")
        .expect("profile");
    assert_eq!(profile["subscriber_count"], json!(subscribed));
    assert_eq!(profile["name"], "n5");
    assert!(subscribed > 0);
}
