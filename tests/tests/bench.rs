//! What `make bench` counts, checked: the emulator's capacity units follow DynamoDB's pricing
//! rules for items of known sizes, and one order through the local stack is counted whole.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use system_tests::TestEnv;
use system_tests::bench::{moto_counts, pipeline};

async fn units(kind: &str, table: &str) -> f64 {
    moto_counts()
        .await
        .get(&format!("dynamodb.{kind}@{table}"))
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_emulator_prices_writes_per_kilobyte_and_reads_per_four() {
    let env = TestEnv::new().await;
    let dynamodb = env.dynamodb();
    let table = pipeline::scratch_table(&dynamodb, "capacity").await;
    let key = |k: &str| ("pk".to_string(), AttributeValue::S(k.into()));

    // 2 + 1 + 3000 bytes: three write units.
    dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("a".into()))
        .item("v", AttributeValue::S("x".repeat(3000)))
        .send()
        .await
        .unwrap();
    assert_eq!(units("WriteUnits", &table).await, 3.0);

    // An update is priced at the larger of the item before and after.
    dynamodb
        .update_item()
        .table_name(&table)
        .key(key("a").0, key("a").1)
        .update_expression("REMOVE v")
        .send()
        .await
        .unwrap();
    assert_eq!(units("WriteUnits", &table).await, 6.0);

    // A transaction's items cost twice: a small put (2) and a check of the now small item (2).
    dynamodb
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&table)
                        .item("pk", AttributeValue::S("b".into()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&table)
                        .key(key("a").0, key("a").1)
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(units("WriteUnits", &table).await, 10.0);

    // A strongly consistent read is a unit per 4 KB, an eventually consistent one half, and a
    // read that finds nothing still costs its minimum.
    dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("c".into()))
        .item("v", AttributeValue::S("x".repeat(5000)))
        .send()
        .await
        .unwrap();
    dynamodb
        .get_item()
        .table_name(&table)
        .key(key("c").0, key("c").1)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(units("ReadUnits", &table).await, 2.0);
    dynamodb
        .get_item()
        .table_name(&table)
        .key(key("nobody").0, key("nobody").1)
        .send()
        .await
        .unwrap();
    assert_eq!(units("ReadUnits", &table).await, 2.5);
}

#[tokio::test]
async fn one_order_is_counted_from_placing_to_its_notice() {
    let bench = pipeline::Bench::start(None).await;
    let order = pipeline::one_order(&bench).await;
    bench.service.stop();
    assert_eq!(order.status, "COMPLETED", "{order:?}");
    for function in [
        "create-order",
        "reserve-inventory",
        "process-payment",
        "ship-order",
        "notify-customer",
    ] {
        assert_eq!(order.invocations.get(function), Some(&1), "{order:?}");
    }
    let count = |op: &str| order.counts.get(op).copied().unwrap_or(0.0);
    assert_eq!(count("sesv2.SendEmail"), 1.0, "one notice");
    assert_eq!(count("AmazonSQS.SendMessage"), 4.0, "four hops");
    assert!(count("dynamodb.WriteUnits") > 0.0);
    assert!(count("dynamodb.ReadUnits") > 0.0);
}
