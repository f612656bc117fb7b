//! What each command costs in DynamoDB requests, counted by an interceptor on the
//! client against the local DynamoDB. The README's cost table states these numbers.

use crate::common::*;
use oa_webhook::app::App;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

struct Metered {
    app: App,
    counter: OpRecorder,
}

impl Metered {
    async fn new() -> Metered {
        let counter = OpRecorder::default();
        let app = counter.app().await;
        Metered { app, counter }
    }

    /// Sends one event; returns the requests it took and their operations.
    async fn requests(&self, command: &str, mut body: Value) -> (usize, Vec<String>) {
        let before = self.counter.count.load(Ordering::SeqCst);
        if let Ok(mut ops) = self.counter.ops.lock() {
            ops.clear();
        }
        body["CallbackCommand"] = json!(command);
        let r = self
            .app
            .handle(
                http_event("POST", &query_for(command), &body.to_string()),
                // The function's 1.5 s with the local DynamoDB's margin (common::ENGINE_MARGIN).
                crate::common::WEBHOOK_BUDGET,
            )
            .await;
        assert_ok(&r);
        let ops = self
            .counter
            .ops
            .lock()
            .map(|o| o.clone())
            .unwrap_or_default();
        (self.counter.count.load(Ordering::SeqCst) - before, ops)
    }
}

const OA: &str = "@TOA#_cost";

fn users(range: std::ops::Range<usize>) -> Value {
    Value::Array(
        range
            .map(|i| json!({"Subscriber_Account": format!("u{i}")}))
            .collect(),
    )
}

#[tokio::test]
async fn requests_per_command() {
    let m = Metered::new().await;
    let create =
        json!({"Official_Account": OA, "Owner_Account": "o", "Name": "n", "EventTime": 10});
    let c = "OfficialAccount.CallbackAfterCreateOfficialAccount";
    assert_eq!(
        m.requests(c, create.clone()).await.0,
        1,
        "create: one UpdateItem"
    );
    assert_eq!(
        m.requests(c, create).await.0,
        1,
        "create redelivered: one failed conditional write, nothing changed"
    );

    let info = json!({"Official_Account": OA, "Name": "m", "EventTime": 11});
    let i = "OfficialAccount.CallbackAfterOfficialAccountInfoChanged";
    assert_eq!(
        m.requests(i, info.clone()).await,
        (2, vec!["GetItem".into(), "UpdateItem".into()])
    );
    assert_eq!(
        m.requests(i, info).await.0,
        1,
        "info redelivered: the read only"
    );

    let full = json!({"Official_Account": OA, "EventTime": 12});
    assert_eq!(
        m.requests("OfficialAccount.CallbackAfterOfficialAccountFull", full)
            .await
            .0,
        2
    );
    let destroy = json!({"Official_Account": OA, "EventTime": 13});
    assert_eq!(
        m.requests(
            "OfficialAccount.CallbackAfterOfficialAccountDestroyed",
            destroy
        )
        .await
        .0,
        2
    );

    let a = "OfficialAccount.CallbackAfterAddSubscriber";
    let d = "OfficialAccount.CallbackAfterDeleteSubscriber";
    let add =
        |r, t| json!({"Official_Account": OA, "EventTime": t, "SubscribeAccountList": users(r)});
    // New subscribers: ceil(n/99) transactions, no reads.
    assert_eq!(
        m.requests(a, add(0..2, 20)).await,
        (1, vec!["TransactWriteItems".into()])
    );
    assert_eq!(
        m.requests(a, add(100..199, 20)).await.0,
        1,
        "99 new: one transaction"
    );
    assert_eq!(
        m.requests(a, add(200..300, 20)).await.0,
        2,
        "100 new: two transactions"
    );
    assert_eq!(
        m.requests(a, add(300..550, 20)).await.0,
        3,
        "250 new: three transactions"
    );
    // Redelivered: one cancelled transaction per chunk shows nothing changes.
    assert_eq!(m.requests(a, add(300..550, 20)).await.0, 3);
    // Removing subscribed users: ceil(n/99).
    assert_eq!(
        m.requests(d, add(300..550, 21)).await.0,
        3,
        "250 removed: three transactions"
    );
    // Worst case without conflicts: every chunk guessed wrong once, ceil(n/99) more.
    assert_eq!(
        m.requests(d, add(600..700, 22)).await.0,
        4,
        "100 never seen: tombstones after one wrong guess per chunk"
    );

    let s = "OfficialAccount.CallbackAfterSendMsg";
    let send = json!({"Official_Account": OA, "EventTime": 30, "MsgKey": "k1", "MsgBody": []});
    assert_eq!(
        m.requests(s, send.clone()).await,
        (1, vec!["UpdateItem".into()])
    );
    assert_eq!(m.requests(s, send).await.0, 1);
    let w = "OfficialAccount.CallbackAfterMsgWithDraw";
    let withdraw = json!({"Official_Account": OA, "EventTime": 31, "WithdrawMsgList": [{"MsgKey": "k1"}, {"MsgKey": "k2"}]});
    assert_eq!(
        m.requests(w, withdraw).await.0,
        2,
        "one UpdateItem per MsgKey"
    );
}
