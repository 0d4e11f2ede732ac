//! The chaos runs' invariant checker on real parts, against defects planted behind the service's
//! back: what it reports is read from the tables and the provider, so it cannot pass by
//! trusting the service's own records. (Its own process: the matrix changes the provider's keys.)

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use system_tests::chaos;

/// The checker is not vacuous: a unit of stock that appeared from nowhere and a second charge
/// made behind the service's back are found, read from the table and the provider.
#[tokio::test]
async fn the_checker_finds_planted_stock_drift_and_a_second_charge() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use chaos::{FaultProxy, Stack};
    use system_tests::invariants::Placed;

    let moto = FaultProxy::start(system_tests::moto_endpoint().await).await;
    let stripe = FaultProxy::start(system_tests::localstripe_endpoint().await).await;
    let stack = Stack::start(&moto, &stripe).await;
    let mut placed = Placed::default();
    stack.place_many(2, &mut placed).await;
    stack
        .settle(&placed, std::time::Duration::from_secs(60))
        .await;
    let clean = stack.check(&placed).await;
    assert!(clean.holds(), "{clean:?}");

    stack
        .env
        .dynamodb()
        .update_item()
        .table_name(stack.env.name("ProductsTable"))
        .key("id", AttributeValue::S("p-1".into()))
        .update_expression("ADD available :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let (order, _) = placed.orders.iter().next().unwrap();
    let base = system_tests::localstripe_endpoint().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let intent: serde_json::Value = http
        .post(format!("{base}/v1/payment_intents"))
        .bearer_auth(system_tests::STRIPE_KEY)
        .form(&[
            ("amount", "1000"),
            ("currency", "eur"),
            ("payment_method", "pm_card_visa"),
            ("payment_method_types[]", "card"),
            ("metadata[order_id]", order.as_str()),
            ("confirm", "true"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intent["status"], "succeeded", "{intent}");

    let found = stack.check(&placed).await;
    assert_eq!(found.stock_drift, 1, "{found:?}");
    assert!(found.double_charged >= 1, "{found:?}");
    assert!(!found.holds());
}
