//! The contention model (`support::ddb_model`) through the real SDK: each refusal is the
//! error, with the cancellation reasons, that real DynamoDB answers (`../shared/spec/aws.md`).
//! Kept out of `support/`, which the benchmark examples also compile.

use crate::common::{fresh_table, sdk_config_at};
use crate::support::{ContentionModel, ModelConfig};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::time::Duration;

/// A client through the model with the SDK's retries off, so each refusal is seen.
fn client_through(model: &ContentionModel) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config_at(&model.endpoint()))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn put(table: &str, sk: &str, bytes: usize) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .item("pk", AttributeValue::S("OA#1400000001#hot".to_owned()))
        .item("sk", AttributeValue::S(sk.to_owned()))
        .item("pad", AttributeValue::S("x".repeat(bytes)))
        .build()
        .expect("a valid Put");
    TransactWriteItem::builder().put(put).build()
}

fn count_up(table: &str) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .key("pk", AttributeValue::S("OA#1400000001#hot".to_owned()))
        .key("sk", AttributeValue::S("PROFILE".to_owned()))
        .update_expression("ADD subscriber_count :one")
        .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
        .build()
        .expect("a valid Update");
    TransactWriteItem::builder().update(update).build()
}

fn codes(e: &TransactWriteItemsError) -> Vec<String> {
    match e {
        TransactWriteItemsError::TransactionCanceledException(tc) => tc
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("<no code>").to_owned())
            .collect(),
        other => panic!("expected TransactionCanceledException, got {other:?}"),
    }
}

async fn item_exists(client: &aws_sdk_dynamodb::Client, table: &str, sk: &str) -> bool {
    let got = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("OA#1400000001#hot".to_owned()))
        .key("sk", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem through the model");
    got.item.is_some()
}

#[tokio::test]
async fn conflicts_are_refused_the_way_dynamodb_refuses_them() {
    // Long enough for the two refused calls below to arrive while the first runs.
    let model = crate::support::model_in_front_of_local(ModelConfig {
        transaction_time: Duration::from_secs(3),
        ..ModelConfig::default()
    });
    let client = client_through(&model);
    let table = fresh_table(&client).await;

    let first = {
        let client = client.clone();
        let table = table.clone();
        tokio::spawn(async move {
            client
                .transact_write_items()
                .transact_items(put(&table, "SUB#1", 10))
                .transact_items(count_up(&table))
                .send()
                .await
        })
    };
    // Until the model has admitted the first transaction (bounded: 10 s).
    for _ in 0..1000 {
        if model.counters().transactions == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        model.counters().transactions,
        1,
        "the first transaction arrived"
    );

    let second = client
        .transact_write_items()
        .transact_items(put(&table, "SUB#2", 10))
        .transact_items(count_up(&table))
        .send()
        .await
        .expect_err("a transaction naming a held item is cancelled");
    assert_eq!(
        codes(second.as_service_error().expect("a service error")),
        ["None", "TransactionConflict"]
    );

    let single = client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("OA#1400000001#hot".to_owned()))
        .item("sk", AttributeValue::S("PROFILE".to_owned()))
        .send()
        .await
        .expect_err("a single write on a held item is refused");
    assert!(
        matches!(
            single.as_service_error(),
            Some(PutItemError::TransactionConflictException(_))
        ),
        "expected TransactionConflictException, got {single:?}"
    );

    first
        .await
        .expect("the first transaction's task")
        .expect("the first transaction succeeds");
    assert!(item_exists(&client, &table, "SUB#1").await);
    assert!(
        !item_exists(&client, &table, "SUB#2").await,
        "a cancelled transaction writes nothing"
    );

    // Released: the same transaction now goes through.
    client
        .transact_write_items()
        .transact_items(put(&table, "SUB#2", 10))
        .transact_items(count_up(&table))
        .send()
        .await
        .expect("the item is free after the first transaction");

    let c = model.counters();
    assert_eq!(c.transactions, 3);
    assert_eq!((c.cancelled_transactions, c.conflict_cancellations), (1, 1));
    assert_eq!((c.single_writes, c.write_conflicts, c.throttles), (1, 1, 0));
    // Two admitted transactions of two small items: 2 units per item each.
    assert_eq!(c.write_units, 8);
    assert_eq!(c.hottest_item().map(|(_, u)| u), Some(4));
}

#[tokio::test]
async fn an_item_past_its_write_units_is_throttled_with_the_reasons_the_sdk_reads() {
    // 8 units a second: one transaction of a 3.5 KB item (2 x 4 units) fills them.
    let model = crate::support::model_in_front_of_local(ModelConfig {
        transaction_time: Duration::ZERO,
        item_write_units_per_second: 8,
        ..ModelConfig::default()
    });
    let client = client_through(&model);
    let table = fresh_table(&client).await;

    client
        .transact_write_items()
        .transact_items(put(&table, "PROFILE", 3500))
        .send()
        .await
        .expect("within the item's units");
    let over = client
        .transact_write_items()
        .transact_items(put(&table, "SUB#1", 10))
        .transact_items(put(&table, "PROFILE", 10))
        .send()
        .await
        .expect_err("past the item's units");
    assert_eq!(
        codes(over.as_service_error().expect("a service error")),
        ["None", "ThrottlingError"]
    );

    let single = client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("OA#1400000001#hot".to_owned()))
        .item("sk", AttributeValue::S("PROFILE".to_owned()))
        .send()
        .await
        .expect_err("a single write past the item's units is throttled");
    match single.as_service_error() {
        Some(PutItemError::ProvisionedThroughputExceededException(e)) => {
            let reasons: Vec<_> = e.throttling_reasons().iter().map(|r| r.reason()).collect();
            assert_eq!(reasons, [Some("TableWriteKeyRangeThroughputExceeded")]);
        }
        _ => panic!("expected ProvisionedThroughputExceededException, got {single:?}"),
    }
    assert!(
        !item_exists(&client, &table, "SUB#1").await,
        "a throttled transaction writes nothing"
    );
    let c = model.counters();
    assert_eq!(
        (c.transactions, c.cancelled_transactions, c.throttles),
        (2, 1, 2)
    );
    assert_eq!(c.write_units, 8);
}

#[tokio::test]
async fn dynamodb_locals_own_cancellations_pass_through_and_are_counted() {
    let model = crate::support::model_in_front_of_local(ModelConfig::default());
    let client = client_through(&model);
    let table = fresh_table(&client).await;
    let update = Update::builder()
        .table_name(&table)
        .key("pk", AttributeValue::S("OA#1400000001#hot".to_owned()))
        .key("sk", AttributeValue::S("PROFILE".to_owned()))
        .update_expression("SET v = :v")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":v", AttributeValue::N("1".to_owned()))
        .build()
        .expect("a valid Update");
    let failed = client
        .transact_write_items()
        .transact_items(put(&table, "SUB#1", 10))
        .transact_items(TransactWriteItem::builder().update(update).build())
        .send()
        .await
        .expect_err("the condition fails in the local DynamoDB");
    assert_eq!(
        codes(failed.as_service_error().expect("a service error")),
        ["None", "ConditionalCheckFailed"]
    );
    let c = model.counters();
    assert_eq!(
        (
            c.transactions,
            c.cancelled_transactions,
            c.upstream_cancellations
        ),
        (1, 0, 1)
    );
}
