//! Every function of the template as one in-process Invoke API dispatch, for the tests and the
//! chaos runs that put the real handlers behind [`crate::fake_lambda`].
//!
//! Each function is wired once from the test's environment with the same `Wire::wire` its
//! `main` calls, like a warm container (the payment adapter, and so its circuit breaker, is one
//! per environment), and invoked with a context whose deadline is its timeout in the template.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::{Answer, TestEnv, as_proxy, as_sqs, repo_root};
use futures::FutureExt;
use local_stack::template::Template;
use serde_json::{Value, json};
use shared::auth::authorizer::Authorizer;
use shared::service::fulfilment::{DeadLetterHandling, Reconcile, consumers};
use shared::sqs::{Consume, consume};
use shared::wiring::Wire;

pub type Dispatch =
    Arc<dyn Fn(String, Value) -> futures::future::BoxFuture<'static, Answer> + Send + Sync>;

/// Every function of the template, wired.
struct Functions {
    timeouts: BTreeMap<String, Duration>,
    authorizer: Authorizer,
    register: register::handler::Deps,
    login: login::handler::Deps,
    jwks: jwks::handler::Deps,
    create_order: create_order::handler::Deps,
    get_order: get_order::handler::Deps,
    list_orders: list_orders::handler::Deps,
    admin_list_orders: admin_list_orders::handler::Deps,
    cancel_order: cancel_order::handler::Deps,
    refund_order: refund_order::handler::Deps,
    get_order_history: get_order_history::handler::Deps,
    list_products: list_products::handler::Deps,
    get_product: get_product::handler::Deps,
    put_product: put_product::handler::Deps,
    health: health::handler::Deps,
    /// Every consumer of the pipeline, found by its function's name.
    consumers: Vec<Box<dyn Consume>>,
    dead_letters: DeadLetterHandling,
    reconcile: Reconcile,
}

impl Functions {
    async fn wire(env: &TestEnv) -> Self {
        let yaml = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
        let timeouts = Template::parse(&yaml)
            .unwrap()
            .functions()
            .into_iter()
            .map(|f| (f.binary, f.timeout))
            .collect();
        let from = env.wiring();
        Self {
            timeouts,
            authorizer: Authorizer::wire(from).await.unwrap(),
            register: Wire::wire(from).await.unwrap(),
            login: Wire::wire(from).await.unwrap(),
            jwks: Wire::wire(from).await.unwrap(),
            create_order: Wire::wire(from).await.unwrap(),
            get_order: Wire::wire(from).await.unwrap(),
            list_orders: Wire::wire(from).await.unwrap(),
            admin_list_orders: Wire::wire(from).await.unwrap(),
            cancel_order: Wire::wire(from).await.unwrap(),
            refund_order: Wire::wire(from).await.unwrap(),
            get_order_history: Wire::wire(from).await.unwrap(),
            list_products: Wire::wire(from).await.unwrap(),
            get_product: Wire::wire(from).await.unwrap(),
            put_product: Wire::wire(from).await.unwrap(),
            health: Wire::wire(from).await.unwrap(),
            consumers: consumers(from).await.unwrap(),
            dead_letters: Wire::wire(from).await.unwrap(),
            reconcile: Wire::wire(from).await.unwrap(),
        }
    }

    async fn invoke(&self, name: &str, payload: Value) -> Answer {
        let timeout = self
            .timeouts
            .get(name)
            .copied()
            .unwrap_or(Duration::from_secs(3));
        match name {
            "authorizer" => {
                let request = serde_json::from_value(payload)
                    .map_err(|e| json!({"errorMessage": e.to_string()}))?;
                match self.authorizer.authorize(&request).await {
                    Ok(policy) => Ok(serde_json::to_value(policy).unwrap()),
                    Err(refusal) => {
                        Err(json!({"errorType": "Refusal", "errorMessage": refusal.to_string()}))
                    }
                }
            }
            "register" => as_proxy(payload, |r| register::handler::handle(&self.register, r)).await,
            "login" => as_proxy(payload, |r| login::handler::handle(&self.login, r)).await,
            "jwks" => as_proxy(payload, |r| jwks::handler::handle(&self.jwks, r)).await,
            "create-order" => {
                as_proxy(payload, |r| {
                    create_order::handler::handle(&self.create_order, r)
                })
                .await
            }
            "get-order" => {
                as_proxy(payload, |r| get_order::handler::handle(&self.get_order, r)).await
            }
            "list-orders" => {
                as_proxy(payload, |r| {
                    list_orders::handler::handle(&self.list_orders, r)
                })
                .await
            }
            "admin-list-orders" => {
                as_proxy(payload, |r| {
                    admin_list_orders::handler::handle(&self.admin_list_orders, r)
                })
                .await
            }
            "refund-order" => {
                as_proxy(payload, |r| {
                    refund_order::handler::handle(&self.refund_order, r)
                })
                .await
            }
            "cancel-order" => {
                as_proxy(payload, |r| {
                    cancel_order::handler::handle(&self.cancel_order, r)
                })
                .await
            }
            "get-order-history" => {
                as_proxy(payload, |r| {
                    get_order_history::handler::handle(&self.get_order_history, r)
                })
                .await
            }
            "list-products" => {
                as_proxy(payload, |r| {
                    list_products::handler::handle(&self.list_products, r)
                })
                .await
            }
            "get-product" => {
                as_proxy(payload, |r| {
                    get_product::handler::handle(&self.get_product, r)
                })
                .await
            }
            "put-product" => {
                as_proxy(payload, |r| {
                    put_product::handler::handle(&self.put_product, r)
                })
                .await
            }
            "health" => as_proxy(payload, |r| health::handler::handle(&self.health, r)).await,
            "dead-letter" => {
                as_sqs(payload, timeout, |e, c| async move {
                    self.dead_letters.batch(&c, e).await
                })
                .await
            }
            "reconciler" => self
                .reconcile
                .run()
                .await
                .map(|found| serde_json::to_value(found).unwrap())
                .map_err(|e| json!({"errorType": "Error", "errorMessage": e.to_string()})),
            _ => match self
                .consumers
                .iter()
                .find(|c| c.consumer().function == name)
            {
                Some(step) => {
                    let step = step.as_ref();
                    as_sqs(payload, timeout, |e, c| async move {
                        consume(step, &c, e).await
                    })
                    .await
                }
                None => Err(
                    json!({"errorType": "Panic", "errorMessage": format!("no function {name} in this test")}),
                ),
            },
        }
    }
}

/// Every function of the template, run in-process on the test's own tables, queues and secrets
/// and on localstripe (or whatever `STRIPE_API_BASE` the test set): what `cargo lambda watch`
/// serves in `make run`.
pub async fn real_functions(env: Arc<TestEnv>) -> Dispatch {
    let functions = Arc::new(Functions::wire(&env).await);
    Arc::new(move |name: String, payload: Value| {
        let functions = functions.clone();
        async move { functions.invoke(&name, payload).await }.boxed()
    })
}
