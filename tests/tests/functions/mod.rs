//! Every function of the template as one in-process Invoke API dispatch, shared by the test
//! files that put the real handlers behind `system_tests::fake_lambda`.

use std::sync::Arc;

use futures::FutureExt;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::adapters::dynamodb::TableProbe;
use shared::ports::SystemClock;
use system_tests::{Answer, TestEnv, as_proxy, as_sqs};

pub type Dispatch =
    Arc<dyn Fn(String, Value) -> futures::future::BoxFuture<'static, Answer> + Send + Sync>;

/// Every function of the template, run in-process on the test's own tables and secret and on
/// localstripe: what `cargo lambda watch` serves in `make run`. The payment adapter is one
/// instance, as in a warm container, so its circuit breaker carries over between invocations.
pub fn real_functions(env: Arc<TestEnv>, payments: Arc<dyn shared::ports::Payments>) -> Dispatch {
    Arc::new(move |name: String, payload: Value| {
        let env = env.clone();
        let payments = payments.clone();
        async move {
            let clock = || Arc::new(SystemClock);
            match name.as_str() {
                "authorizer" => {
                    let request = serde_json::from_value(payload).map_err(|e| json!({"errorMessage": e.to_string()}))?;
                    let deps = authorizer::handler::Deps { keys: env.key_ring() };
                    authorizer::handler::handle(&deps, LambdaEvent::new(request, Context::default()))
                        .await
                        .map_err(|message| json!({"errorType": "&str", "errorMessage": message}))
                }
                "register" => {
                    let deps = register::handler::Deps { users: env.users(), clock: clock() };
                    as_proxy(payload, |r| register::handler::handle(&deps, r)).await
                }
                "login" => {
                    let deps = login::handler::Deps { users: env.users(), keys: env.key_ring(), clock: clock() };
                    as_proxy(payload, |r| login::handler::handle(&deps, r)).await
                }
                "jwks" => {
                    let deps = jwks::handler::Deps { keys: env.key_ring() };
                    as_proxy(payload, |r| jwks::handler::handle(&deps, r)).await
                }
                "create-order" => {
                    let deps = create_order::handler::Deps { limit: env.limit("api", 1000),
                        orders: env.orders(),
                        idempotency: env.idempotency(),
                        catalog: env.catalog(),
                        events: env.publisher("InventoryQueue"),
                        clock: clock(),
                    };
                    as_proxy(payload, |r| create_order::handler::handle(&deps, r)).await
                }
                "get-order" => {
                    let deps = get_order::handler::Deps { limit: env.limit("api", 1000), orders: env.orders() };
                    as_proxy(payload, |r| get_order::handler::handle(&deps, r)).await
                }
                "list-orders" => {
                    let deps = list_orders::handler::Deps { limit: env.limit("api", 1000), orders: env.orders() };
                    as_proxy(payload, |r| list_orders::handler::handle(&deps, r)).await
                }
                "cancel-order" => {
                    let deps = cancel_order::handler::Deps { limit: env.limit("api", 1000),
                        orders: env.orders(),
                        events: env.publisher("CompensationQueue"),
                        clock: clock(),
                    };
                    as_proxy(payload, |r| cancel_order::handler::handle(&deps, r)).await
                }
                "list-products" => {
                    let deps = list_products::handler::Deps { catalog: env.catalog() };
                    as_proxy(payload, |r| list_products::handler::handle(&deps, r)).await
                }
                "get-product" => {
                    let deps = get_product::handler::Deps { catalog: env.catalog() };
                    as_proxy(payload, |r| get_product::handler::handle(&deps, r)).await
                }
                "put-product" => {
                    let deps = put_product::handler::Deps { limit: env.limit("api", 1000), catalog: env.catalog(), clock: clock() };
                    as_proxy(payload, |r| put_product::handler::handle(&deps, r)).await
                }
                "reserve-inventory" => {
                                        let deps = reserve_inventory::handler::Deps {
                        orders: env.orders(),
                        inventory: env.inventory(),
                        payments: env.publisher("PaymentQueue"),
                        notifications: env.publisher("NotificationQueue"),
                        clock: clock(),
                    };
                    as_sqs(payload, |e| reserve_inventory::handler::handle(&deps, e)).await
                }
                "process-payment" => {
                                        let deps = process_payment::handler::Deps {
                        orders: env.orders(),
                        payments,
                        shipping: env.publisher("ShippingQueue"),
                        compensation: env.publisher("CompensationQueue"),
                        later: Arc::new(shared::adapters::sqs::SqsPublisher::new(env.sqs(), env.name("PaymentQueue")).delayed(1)),
                        clock: clock(),
                    };
                    as_sqs(payload, |e| process_payment::handler::handle(&deps, e)).await
                }
                "ship-order" => {
                                        let deps = ship_order::handler::Deps {
                        orders: env.orders(),
                        carrier: Arc::new(shared::adapters::carrier::BuiltInCarrier),
                        notifications: env.publisher("NotificationQueue"),
                        clock: clock(),
                    };
                    as_sqs(payload, |e| ship_order::handler::handle(&deps, e)).await
                }
                "notify-customer" => {
                                        let deps = notify_customer::handler::Deps {
                        orders: env.orders(),
                        notifier: Arc::new(shared::adapters::notifier::LogNotifier),
                        clock: clock(),
                    };
                    as_sqs(payload, |e| notify_customer::handler::handle(&deps, e)).await
                }
                "compensate-order" => {
                                        let deps = compensate_order::handler::Deps { orders: env.orders(), inventory: env.inventory(), payments, clock: clock() };
                    as_sqs(payload, |e| compensate_order::handler::handle(&deps, e)).await
                }
                "dead-letter" => {
                                        let deps = dead_letter::handler::Deps {
                        orders: env.orders(),
                        letters: env.orders(),
                        compensation: env.publisher("CompensationQueue"),
                        clock: clock(),
                    };
                    as_sqs(payload, |e| dead_letter::handler::handle(&deps, e)).await
                }
                "get-order-history" => {
                    let deps = get_order_history::handler::Deps { limit: env.limit("api", 1000), orders: env.orders() };
                    as_proxy(payload, |r| get_order_history::handler::handle(&deps, r)).await
                }
                "reconciler" => {
                    let deps = reconciler::handler::Deps {
                        orders: env.orders(),
                        inventory: env.publisher("InventoryQueue"),
                        payment: env.publisher("PaymentQueue"),
                        shipping: env.publisher("ShippingQueue"),
                        notification: env.publisher("NotificationQueue"),
                        compensation: env.publisher("CompensationQueue"),
                        clock: clock(),
                        stalled_after: chrono::Duration::minutes(10),
                        window: chrono::Duration::minutes(1440),
                    };
                    reconciler::handler::handle(&deps, LambdaEvent::new(payload, Context::default()))
                        .await
                        .map_err(|e| json!({"errorType": "Error", "errorMessage": e.to_string()}))
                }
                "health" => {
                    let probes: Vec<Box<dyn shared::ports::Probe>> = ["OrdersTable", "ProductsTable"]
                        .into_iter()
                        .map(|t| Box::new(TableProbe::new(env.dynamodb(), t, env.name(t))) as Box<dyn shared::ports::Probe>)
                        .collect();
                    let deployment = shared::config::Deployment { stage: "local".into(), version: "test" };
                    let deps = health::handler::Deps { probes, deployment };
                    as_proxy(payload, |r| health::handler::handle(&deps, r)).await
                }
                _ => Err(json!({"errorType": "Panic", "errorMessage": format!("no function {name} in this test")})),
            }
        }
        .boxed()
    })
}
