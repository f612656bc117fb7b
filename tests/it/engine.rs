//! The local DynamoDB itself: what scripts/moto_server.py gives back to moto so that the
//! other tests stand on DynamoDB's guarantees (../shared/spec/aws.md, "The local DynamoDB";
//! docs/decisions.md). Each test fails if its piece is lost:
//! - isolation: concurrent transactions on one counter and its members end exact (without
//!   the launcher's lock around DynamoDB requests, moto's threaded server interleaves them);
//! - rollback: a cancelled transaction leaves every item it names as it was, including when
//!   moto itself raises without rolling back (an entry with two actions);
//! - rollback cost: a 100-action transaction saves 100 items, whatever the table holds,
//!   and copies no table (moto 5.2.6 deep-copies the whole table once per action). Counted
//!   by the launcher (`GET /_oa_moto/stats?table=`), not timed.
//!
//! `scripts/moto_server.py --without lock` (or `rollback-patch`) starts a server without
//! the piece, to see these fail.

use crate::common::{endpoint, fresh_table, sdk_config};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A client that waits for every answer and never retries: the engine is under test, so a
/// transaction must be sent exactly once (a retry after a timeout could apply it twice,
/// or report a committed one as failed), however long a loaded machine takes.
async fn client() -> Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(aws_sdk_dynamodb::config::timeout::TimeoutConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// The launcher's counters, with those of `table` under "table". Panics (the test fails)
/// when the endpoint is not the project's launcher.
async fn stats(table: &str) -> Value {
    let addr = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("connect to the local DynamoDB at {addr}: {e}"));
    let request = format!(
        "GET /_oa_moto/stats?table={table} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    sock.write_all(request.as_bytes())
        .await
        .expect("send the stats request");
    let mut reply = String::new();
    sock.read_to_string(&mut reply)
        .await
        .expect("read the stats reply");
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP reply: {reply:?}"));
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "GET /_oa_moto/stats answered {head:?}: is AWS_ENDPOINT_URL_DYNAMODB the project's \
         launcher (scripts/moto_server.py, started by scripts/local-service.sh ddb)?"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("stats are not JSON ({e}): {body}"))
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats["table"][name].as_u64().unwrap_or(0)
}

/// One add (Put the member if absent, counter +1) or delete (Delete the member if present,
/// counter -1), as one transaction; true when it committed.
async fn add_or_delete(ddb: &Client, table: &str, member: usize, add: bool) -> bool {
    let member_key = key("ENGINE", &format!("M#{member}"));
    let first = if add {
        let mut item = member_key.clone();
        item.insert("v".to_owned(), s("x"));
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put"),
            )
            .build()
    } else {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(member_key))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .expect("delete"),
            )
            .build()
    };
    let count = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key("ENGINE", "COUNT")))
                .update_expression("ADD n :d")
                .expression_attribute_values(":d", n(if add { 1 } else { -1 }))
                .build()
                .expect("update"),
        )
        .build();
    match ddb
        .transact_write_items()
        .transact_items(first)
        .transact_items(count)
        .send()
        .await
    {
        Ok(_) => true,
        Err(SdkError::ServiceError(e))
            if matches!(
                e.err(),
                TransactWriteItemsError::TransactionCanceledException(_)
            ) =>
        {
            false
        }
        Err(e) => panic!("transaction failed otherwise: {e:?}"),
    }
}

/// Concurrent adds and deletes over a few members: the counter equals the members present
/// at the end, and the commits add up. Without the lock, a cancelled transaction's rollback
/// or an interleaved condition check loses a concurrent commit (the counter drifts).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transactions_on_one_counter_end_exact() {
    let ddb = client().await;
    let table = fresh_table(&ddb).await;
    const WRITERS: usize = 8;
    const ROUNDS: usize = 40;
    const MEMBERS: usize = 4;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let ddb = ddb.clone();
        let table = table.clone();
        tasks.push(tokio::spawn(async move {
            let mut net = 0i64;
            for r in 0..ROUNDS {
                let member = (w + r) % MEMBERS;
                let add = (w + r / MEMBERS).is_multiple_of(2);
                if add_or_delete(&ddb, &table, member, add).await {
                    net += if add { 1 } else { -1 };
                }
            }
            net
        }));
    }
    let mut net = 0;
    for t in tasks {
        net += t.await.expect("writer task");
    }
    let present = ddb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p AND begins_with(sk, :m)")
        .expression_attribute_values(":p", s("ENGINE"))
        .expression_attribute_values(":m", s("M#"))
        .consistent_read(true)
        .send()
        .await
        .expect("query the members")
        .count as i64;
    let count = ddb
        .get_item()
        .table_name(&table)
        .set_key(Some(key("ENGINE", "COUNT")))
        .consistent_read(true)
        .send()
        .await
        .expect("get the counter")
        .item
        .and_then(|i| i.get("n").cloned())
        .map(|v| v.as_n().expect("n is a number").parse::<i64>().expect("n"))
        .unwrap_or(0);
    assert_eq!(
        (count, present),
        (net, net),
        "counter and members present must both equal the committed adds minus deletes"
    );
    let st = stats(&table).await;
    assert!(
        counter(&st, "rollbacks") > 0,
        "the test must race cancelled transactions against commits: {st}"
    );
}

fn seeded(table: &str, pk: &str, sk: &str, v: i64) -> TransactWriteItem {
    let mut item = key(pk, sk);
    item.insert("v".to_owned(), n(v));
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .build()
                .expect("put"),
        )
        .build()
}

async fn items(ddb: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut all = ddb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    all.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
    all
}

/// Updates, a put, a delete and a new item, then one condition that fails: the
/// transaction is cancelled and every item it named is as it was. Then the same with an
/// entry of two actions, which moto refuses after applying the entries before it, without
/// rolling them back (moto/dynamodb/models/__init__.py, `transact_write_items`): the
/// launcher's rollback covers that too.
#[tokio::test]
async fn cancelled_transaction_leaves_every_named_item_as_it_was() {
    let ddb = client().await;
    let table = fresh_table(&ddb).await;
    let mut seed = ddb.transact_write_items();
    for (sk, v) in [("A", 1), ("B", 2), ("C", 3)] {
        seed = seed.transact_items(seeded(&table, "ROLL", sk, v));
    }
    seed.send().await.expect("seed A, B, C");
    let before = items(&ddb, &table).await;
    assert_eq!(before.len(), 3);

    let update_a = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(&table)
                .set_key(Some(key("ROLL", "A")))
                .update_expression("SET v = v + :one, w = :w")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":w", s("changed"))
                .build()
                .expect("update"),
        )
        .build();
    let delete_b = TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(&table)
                .set_key(Some(key("ROLL", "B")))
                .build()
                .expect("delete"),
        )
        .build();
    let put_d = seeded(&table, "ROLL", "D", 4);
    let update_e = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(&table)
                .set_key(Some(key("ROLL", "E")))
                .update_expression("SET v = :v")
                .expression_attribute_values(":v", n(5))
                .build()
                .expect("update"),
        )
        .build();
    let failing_check = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(&table)
                .set_key(Some(key("ROLL", "C")))
                .condition_expression("v = :no")
                .expression_attribute_values(":no", n(99))
                .build()
                .expect("check"),
        )
        .build();
    let err = ddb
        .transact_write_items()
        .transact_items(update_a.clone())
        .transact_items(delete_b.clone())
        .transact_items(put_d.clone())
        .transact_items(update_e.clone())
        .transact_items(failing_check)
        .send()
        .await
        .expect_err("the last condition fails");
    assert!(
        matches!(
            err.as_service_error(),
            Some(TransactWriteItemsError::TransactionCanceledException(_))
        ),
        "{err:?}"
    );
    assert_eq!(items(&ddb, &table).await, before, "a cancelled transaction");

    // An entry with two actions (a Put and a Delete): refused as a whole.
    let two_actions = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&table)
                .set_item(Some(key("ROLL", "F")))
                .build()
                .expect("put"),
        )
        .delete(
            Delete::builder()
                .table_name(&table)
                .set_key(Some(key("ROLL", "C")))
                .build()
                .expect("delete"),
        )
        .build();
    let err = ddb
        .transact_write_items()
        .transact_items(update_a)
        .transact_items(delete_b)
        .transact_items(put_d)
        .transact_items(update_e)
        .transact_items(two_actions)
        .send()
        .await
        .expect_err("an entry with two actions is refused");
    assert!(err.as_service_error().is_some(), "{err:?}");
    assert_eq!(
        items(&ddb, &table).await,
        before,
        "a transaction refused after its first entries ran"
    );
}

/// A cancelled 100-action transaction on a table of 3000 items saves exactly its 100 items
/// for the rollback and copies no table; the work is counted by the launcher, so the test
/// asserts on it rather than on time (a timed assertion would be a flaky one).
#[tokio::test]
async fn rollback_saves_the_named_items_only_whatever_the_table_holds() {
    let ddb = client().await;
    let table = fresh_table(&ddb).await;
    const FILL: usize = 3000;
    for chunk in 0..FILL / 25 {
        let mut batch = ddb.batch_write_item();
        let writes: Vec<WriteRequest> = (0..25)
            .map(|i| {
                let mut item = key("FILL", &format!("{:05}", chunk * 25 + i));
                item.insert("pad".to_owned(), s(&"x".repeat(50)));
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("put"),
                    )
                    .build()
            })
            .collect();
        batch = batch.request_items(&table, writes);
        let out = batch.send().await.expect("fill the table");
        assert!(
            out.unprocessed_items.unwrap_or_default().is_empty(),
            "the local DynamoDB left writes unprocessed"
        );
    }
    let before = stats(&table).await;
    let mut tx = ddb.transact_write_items();
    for i in 0..99 {
        tx = tx.transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&table)
                        .set_key(Some(key("FILL", &format!("{:05}", i * 30))))
                        .update_expression("SET touched = :t")
                        .expression_attribute_values(":t", n(1))
                        .build()
                        .expect("update"),
                )
                .build(),
        );
    }
    tx = tx.transact_items(
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&table)
                    .set_key(Some(key("FILL", "absent")))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .expect("check"),
            )
            .build(),
    );
    tx.send()
        .await
        .expect_err("the last action's condition fails");
    let after = stats(&table).await;
    let delta = |name: &str| counter(&after, name) - counter(&before, name);
    assert_eq!(
        (
            delta("transactions"),
            delta("rollbacks"),
            delta("items_saved"),
            delta("table_copies")
        ),
        (1, 1, 100, 0),
        "one transaction, rolled back, 100 items saved, no table copied: {after}"
    );
    // The updated items, read back by key (a scan would hold the table for a while).
    let keys = (0..99)
        .map(|i| key("FILL", &format!("{:05}", i * 30)))
        .collect();
    let read = ddb
        .batch_get_item()
        .request_items(
            &table,
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .expect("keys"),
        )
        .send()
        .await
        .expect("batch get");
    let got = read
        .responses
        .and_then(|mut r| r.remove(&table))
        .unwrap_or_default();
    assert!(
        read.unprocessed_keys.unwrap_or_default().is_empty(),
        "the local DynamoDB left keys unread"
    );
    assert_eq!(got.len(), 99);
    assert!(
        got.iter().all(|item| !item.contains_key("touched")),
        "the rolled-back updates are gone"
    );
}
