//! Many writers on one account at once (eight in flight, as in the property test): the
//! counter never loses an update. An event answered 503 (the budget ran out under
//! contention) is redelivered, as the Chat backend does with retries on.

use crate::common::*;
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
        .map(|(cmd, body)| {
            let f = &f;
            async move { (f.after(cmd, body.clone()).await, (cmd, body)) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    // A 5xx means "not acknowledged": the sender redelivers it (contract row 12), and the
    // redelivery must repair whatever the failed attempt left. Anything else must be OK.
    let mut redelivered = 0;
    for (r, (cmd, body)) in &replies {
        if r.status_code == 200 {
            continue;
        }
        assert!(
            r.status_code >= 500,
            "only budget failures may happen: {}",
            r.body
        );
        redelivered += 1;
        let mut again = f.after(cmd, body.clone()).await;
        for _ in 0..5 {
            if again.status_code == 200 {
                break;
            }
            again = f.after(cmd, body.clone()).await;
        }
        assert_ok(&again);
    }
    println!(
        "{redelivered} of {} events answered 503 under contention and were redelivered",
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
