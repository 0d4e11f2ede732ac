//! Every endpoint through its real handler, the real adapters and the emulator: the sample events
//! from `events/`, with identities and bodies varied per test.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use lambda_http::Request;
use serde_json::{Value, json};
use shared::domain::{OrderId, OrderStatus};
use shared::wiring::{Wire, Wiring};
use system_tests::{TestEnv, body, event, request};

const ALICE: Option<(&str, &str)> = Some(("alice", "customer"));
const BOB: Option<(&str, &str)> = Some(("bob", "customer"));
const ADMIN: Option<(&str, &str)> = Some(("root", "admin"));

struct Api {
    env: TestEnv,
    create: create_order::handler::Deps,
    get: get_order::handler::Deps,
    list: list_orders::handler::Deps,
    cancel: cancel_order::handler::Deps,
    products: list_products::handler::Deps,
    product: get_product::handler::Deps,
    put: put_product::handler::Deps,
}

impl Api {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        env.set("RATE_LIMIT_PER_MINUTE", "1000");
        env.seed().await;
        let from = env.wiring();
        Self {
            create: Wire::wire(from).await.unwrap(),
            get: Wire::wire(from).await.unwrap(),
            list: Wire::wire(from).await.unwrap(),
            cancel: Wire::wire(from).await.unwrap(),
            products: Wire::wire(from).await.unwrap(),
            product: Wire::wire(from).await.unwrap(),
            put: Wire::wire(from).await.unwrap(),
            env,
        }
    }

    async fn place(
        &self,
        who: Option<(&str, &str)>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut e = event("create-order", who);
        if let Some(b) = body {
            e["body"] = b.to_string().into();
        }
        set_header(&mut e, "Idempotency-Key", key);
        self.call_create(request(&e)).await
    }

    async fn call_create(&self, req: Request) -> (u16, Value) {
        let response = create_order::handler::handle(&self.create, req)
            .await
            .unwrap();
        (response.status().as_u16(), body(&response))
    }

    async fn get(&self, who: Option<(&str, &str)>, id: &str) -> (u16, Value) {
        let response =
            get_order::handler::handle(&self.get, request(&with_id(event("get-order", who), id)))
                .await
                .unwrap();
        (response.status().as_u16(), body(&response))
    }

    async fn cancel(&self, who: Option<(&str, &str)>, id: &str) -> (u16, Value) {
        let response = cancel_order::handler::handle(
            &self.cancel,
            request(&with_id(event("cancel-order", who), id)),
        )
        .await
        .unwrap();
        (response.status().as_u16(), body(&response))
    }

    async fn list(&self, who: Option<(&str, &str)>, query: Value) -> (u16, Value) {
        let mut e = event("list-orders", who);
        set_query(&mut e, query);
        let response = list_orders::handler::handle(&self.list, request(&e))
            .await
            .unwrap();
        (response.status().as_u16(), body(&response))
    }

    async fn order_count(&self) -> usize {
        let out = self
            .env
            .dynamodb()
            .scan()
            .table_name(self.env.name("OrdersTable"))
            .send()
            .await
            .unwrap();
        out.items
            .unwrap_or_default()
            .iter()
            .filter(|i| i["sk"].as_s().is_ok_and(|s| s == "ORDER"))
            .count()
    }
}

fn with_id(mut e: Value, id: &str) -> Value {
    let sample = e["pathParameters"]["id"].as_str().unwrap().to_string();
    e["pathParameters"]["id"] = id.into();
    e["path"] = e["path"].as_str().unwrap().replace(&sample, id).into();
    e
}

fn set_header(e: &mut Value, name: &str, value: Option<&str>) {
    for (key, wrap) in [("headers", false), ("multiValueHeaders", true)] {
        let headers = e[key].as_object_mut().unwrap();
        headers.remove(name);
        if let Some(v) = value {
            headers.insert(name.into(), if wrap { json!([v]) } else { json!(v) });
        }
    }
}

fn set_query(e: &mut Value, query: Value) {
    let multi: serde_json::Map<String, Value> = query
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    e["queryStringParameters"] = query;
    e["multiValueQueryStringParameters"] = Value::Object(multi);
}

fn order_body(items: Value) -> Value {
    json!({
        "items": items,
        "shippingAddress": {"name": "Ada Lovelace", "line1": "1 Main St", "city": "London", "postalCode": "N1 1AA", "country": "GB"},
        "paymentMethod": "pm_card_visa"
    })
}

#[tokio::test]
async fn an_order_is_placed_read_revalidated_listed_and_cancelled() {
    let api = Api::new().await;
    let (status, placed) = api.place(ALICE, None, Some("walkthrough-1")).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["status"], "PENDING");
    assert_eq!(
        placed["total"],
        json!({"amount": 2 * 1250 + 4999, "currency": "EUR"})
    );
    let id = placed["id"].as_str().unwrap();

    let response =
        get_order::handler::handle(&api.get, request(&with_id(event("get-order", ALICE), id)))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let mut revalidate = with_id(event("get-order", ALICE), id);
    set_header(&mut revalidate, "If-None-Match", Some(&etag));
    let response = get_order::handler::handle(&api.get, request(&revalidate))
        .await
        .unwrap();
    assert_eq!(response.status(), 304);

    let (status, listed) = api.list(ALICE, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"][0]["id"], id);

    let (status, cancelled) = api.cancel(ALICE, id).await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["status"], "CANCELLED");
    let (_, after) = api.get(ALICE, id).await;
    assert_eq!(after["version"], 2);

    let placed_messages = api.env.drain("InventoryQueue").await;
    assert_eq!(placed_messages.len(), 1);
    assert_eq!(placed_messages[0]["orderId"], id);
    let cancel_messages = api.env.drain("CompensationQueue").await;
    assert_eq!(cancel_messages[0]["type"], "OrderCancelled");

    let history = api
        .env
        .orders()
        .unwrap()
        .history(&OrderId::parse(id).unwrap())
        .await
        .unwrap();
    let states: Vec<_> = history.iter().map(|h| h.to).collect();
    assert_eq!(states, [OrderStatus::Pending, OrderStatus::Cancelled]);
}

#[tokio::test]
async fn another_customer_gets_404_on_every_order_route_and_an_empty_list() {
    let api = Api::new().await;
    let (_, placed) = api.place(ALICE, None, None).await;
    let id = placed["id"].as_str().unwrap();

    assert_eq!(api.get(BOB, id).await.0, 404);
    assert_eq!(api.cancel(BOB, id).await.0, 404);
    let (status, listed) = api.list(BOB, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"], json!([]));
    assert_eq!(
        api.get(ALICE, id).await.0,
        200,
        "the owner still sees it, uncancelled"
    );
}

#[tokio::test]
async fn requests_without_an_identity_are_401_on_every_customer_route() {
    let api = Api::new().await;
    let id = OrderId::generate();
    assert_eq!(api.place(None, None, None).await.0, 401);
    assert_eq!(api.get(None, id.as_str()).await.0, 401);
    assert_eq!(api.cancel(None, id.as_str()).await.0, 401);
    assert_eq!(api.list(None, json!({})).await.0, 401);
    let response = put_product::handler::handle(&api.put, request(&event("put-product", None)))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn every_bad_order_request_gets_a_problem_naming_the_field_and_writes_nothing() {
    let api = Api::new().await;
    let line = |p: &str, q: Value| json!([{"productId": p, "quantity": q}]);
    let fifty_one: Vec<Value> = (0..51)
        .map(|i| json!({"productId": format!("p-{i}"), "quantity": 1}))
        .collect();
    let mut unknown_field = order_body(line("p-1", json!(1)));
    unknown_field["total"] = json!({"amount": 1, "currency": "EUR"});
    let mut wrong_type = order_body(line("p-1", json!(1)));
    wrong_type["shippingAddress"]["city"] = json!(42);
    let mut missing_address = order_body(line("p-1", json!(1)));
    missing_address
        .as_object_mut()
        .unwrap()
        .remove("shippingAddress");
    let mut bad_payment = order_body(line("p-1", json!(1)));
    bad_payment["paymentMethod"] = json!("visa");

    let cases: Vec<(Value, u16, &str)> = vec![
        (order_body(line("p-1", json!(0))), 400, "items[0].quantity"),
        (
            order_body(line("p-1", json!(101))),
            400,
            "items[0].quantity",
        ),
        (order_body(line("p-1", json!(-5))), 400, "items[0].quantity"),
        (
            order_body(line("p-1", json!(1.5))),
            400,
            "items[0].quantity",
        ),
        (
            order_body(line("p-1", json!("2"))),
            400,
            "items[0].quantity",
        ),
        (order_body(line("p 1", json!(1))), 400, "items[0].productId"),
        (
            order_body(line("p-999", json!(1))),
            422,
            "items[0].productId",
        ),
        (order_body(json!([])), 400, "items"),
        (order_body(Value::Array(fifty_one)), 400, "items"),
        (
            order_body(
                json!([{"productId": "p-1", "quantity": 1}, {"productId": "p-1", "quantity": 2}]),
            ),
            400,
            "items[1].productId",
        ),
        (unknown_field, 400, "total"),
        (wrong_type, 400, "shippingAddress.city"),
        (missing_address, 400, "shippingAddress"),
        (bad_payment, 400, "paymentMethod"),
        (json!("not an object"), 400, "body"),
    ];
    for (body, status, field) in cases {
        let (got, problem) = api.place(ALICE, Some(body.clone()), None).await;
        assert_eq!(got, status, "{body} -> {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body} -> {problem}");
        assert_eq!(problem["status"], status);
        assert!(problem["correlationId"].is_string());
    }

    // Not JSON, too large, wrong media type, bad idempotency key.
    let mut raw = event("create-order", ALICE);
    raw["body"] = "{\"items\": [".into();
    assert_eq!(api.call_create(request(&raw)).await.0, 400);
    raw["body"] = format!("{{\"pad\":\"{}\"}}", "x".repeat(33 * 1024)).into();
    assert_eq!(api.call_create(request(&raw)).await.0, 413);
    let mut form = event("create-order", ALICE);
    set_header(&mut form, "Content-Type", Some("text/plain"));
    assert_eq!(api.call_create(request(&form)).await.0, 415);
    let (status, problem) = api.place(ALICE, None, Some("bad key with spaces")).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );
    let (status, problem) = api.get(ALICE, "12345").await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("id"))
    );
    let (status, problem) = api.list(ALICE, json!({"limit": "1000"})).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("limit"))
    );
    let (status, problem) = api.list(ALICE, json!({"cursor": "not-a-cursor"})).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("cursor"))
    );

    assert_eq!(api.order_count().await, 0, "no bad request wrote an order");
    assert!(api.env.drain("InventoryQueue").await.is_empty());
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_create_exactly_one_order() {
    let api = Arc::new(Api::new().await);
    let attempts = (0..8).map(|_| {
        let api = api.clone();
        tokio::spawn(async move { api.place(ALICE, None, Some("double-click")).await })
    });
    let results: Vec<(u16, Value)> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| &b["id"])
        .collect();
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|id| *id == created[0]),
        "every 201 names the same order"
    );
    assert!(
        results.iter().all(|(s, _)| *s == 201 || *s == 409),
        "{results:?}"
    );
    assert_eq!(api.order_count().await, 1);

    let (status, again) = api.place(ALICE, None, Some("double-click")).await;
    assert_eq!((status, &again["id"]), (201, created[0]));
    let (status, _) = api
        .place(
            ALICE,
            Some(order_body(json!([{"productId": "p-3", "quantity": 1}]))),
            Some("double-click"),
        )
        .await;
    assert_eq!(status, 422, "same key, different body");
}

#[tokio::test]
async fn a_shipped_order_cannot_be_cancelled() {
    let api = Api::new().await;
    let (_, placed) = api.place(ALICE, None, None).await;
    let id = OrderId::parse(placed["id"].as_str().unwrap()).unwrap();
    let orders = api.env.orders().unwrap();
    let happy = shared::pipeline::happy_path();
    let shipped = happy
        .iter()
        .position(|s| *s == OrderStatus::Shipped)
        .unwrap();
    for &to in &happy[1..=shipped] {
        let order = orders.get(&id).await.unwrap().unwrap();
        let (next, entry) = order.transition(to, chrono::Utc::now(), None).unwrap();
        orders.apply(&order, &next, &entry).await.unwrap();
    }
    let (status, problem) = api.cancel(ALICE, id.as_str()).await;
    assert_eq!(status, 409);
    assert!(problem["detail"].as_str().unwrap().contains("SHIPPED"));
}

#[tokio::test]
async fn the_catalog_is_public_to_read_and_admin_only_to_change() {
    let api = Api::new().await;
    let put = |who| {
        let mut e = event("put-product", who);
        e["pathParameters"]["id"] = "p-new".into();
        request(&e)
    };
    assert_eq!(
        put_product::handler::handle(&api.put, put(ALICE))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        put_product::handler::handle(&api.put, put(ADMIN))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        put_product::handler::handle(&api.put, put(ADMIN))
            .await
            .unwrap()
            .status(),
        428,
        "replacing needs the version read"
    );
    let mut replace = put(ADMIN);
    replace
        .headers_mut()
        .insert("if-match", "\"1\"".parse().unwrap());
    assert_eq!(
        put_product::handler::handle(&api.put, replace)
            .await
            .unwrap()
            .status(),
        200
    );

    let mut get = event("get-product", None);
    get["pathParameters"]["id"] = "p-new".into();
    let response = get_product::handler::handle(&api.product, request(&get))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(&response)["unitPrice"],
        json!({"amount": 1250, "currency": "EUR"})
    );
    set_header(
        &mut get,
        "If-None-Match",
        Some(response.headers()["etag"].to_str().unwrap()),
    );
    assert_eq!(
        get_product::handler::handle(&api.product, request(&get))
            .await
            .unwrap()
            .status(),
        304
    );
    get["pathParameters"]["id"] = "p-missing".into();
    assert_eq!(
        get_product::handler::handle(&api.product, request(&get))
            .await
            .unwrap()
            .status(),
        404
    );

    let mut ids = Vec::new();
    let mut list = event("list-products", None);
    set_query(&mut list, json!({"limit": "2"}));
    loop {
        let response = list_products::handler::handle(&api.products, request(&list))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page = body(&response);
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string()),
        );
        match page["cursor"].as_str() {
            Some(cursor) => set_query(&mut list, json!({"limit": "2", "cursor": cursor})),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(ids, ["p-1", "p-2", "p-3", "p-4", "p-new"]);
}

/// The provider down is degraded (orders are still taken, payments wait); a queue gone is
/// unavailable, naming it.
#[tokio::test]
async fn deep_health_is_degraded_without_the_provider_and_503_without_a_queue() {
    let provider = system_tests::FlakyProvider::start().await;
    let env = TestEnv::new().await;
    env.set("STRIPE_API_BASE", &provider.url);
    let deps: health::handler::Deps = Wire::wire(env.wiring()).await.unwrap();
    let deep = || {
        let mut asking = event("health", None);
        asking["queryStringParameters"] = json!({"deep": "true"});
        asking["multiValueQueryStringParameters"] = json!({"deep": ["true"]});
        request(&asking)
    };
    let check = |report: &serde_json::Value, name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    let report = body(&health::handler::handle(&deps, deep()).await.unwrap());
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(
        check(&report, "payment provider")["ok"],
        true,
        "a 401 without a key is reachable"
    );

    provider.set_up(false);
    let response = health::handler::handle(&deps, deep()).await.unwrap();
    assert_eq!(response.status(), 200);
    let report = body(&response);
    assert_eq!(report["status"], "degraded");
    let provider_check = check(&report, "payment provider");
    assert_eq!(
        (
            provider_check["ok"].clone(),
            provider_check["required"].clone()
        ),
        (json!(false), json!(false))
    );
    provider.set_up(true);

    env.sqs()
        .delete_queue()
        .queue_url(env.name("PaymentQueue"))
        .send()
        .await
        .unwrap();
    let response = health::handler::handle(&deps, deep()).await.unwrap();
    assert_eq!(response.status(), 503);
    let report = body(&response);
    assert_eq!(report["status"], "unavailable");
    assert_eq!(check(&report, "payment queue")["ok"], false);
    assert_eq!(check(&report, "shipping queue")["ok"], true);
    assert!(
        !report.to_string().contains(&env.name("PaymentQueue")),
        "no internals in the report"
    );
}

#[tokio::test]
async fn health_is_ok_with_the_tables_and_503_without_them() {
    let env = TestEnv::new().await;
    let deep = || {
        let mut asking = event("health", None);
        asking["queryStringParameters"] = json!({"deep": "true"});
        asking["multiValueQueryStringParameters"] = json!({"deep": ["true"]});
        request(&asking)
    };
    let healthy: health::handler::Deps = Wire::wire(env.wiring()).await.unwrap();
    let response = health::handler::handle(&healthy, deep()).await.unwrap();
    assert_eq!(response.status(), 200);
    let report = body(&response);
    assert_eq!(report["status"], "ok");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "orders",
            "products",
            "idempotency",
            "users",
            "rate limits",
            "inventory queue",
            "payment queue",
            "shipping queue",
            "notification queue",
            "compensation queue",
            "signing keys",
            "payment provider key",
            "payment provider"
        ],
        "every table, queue and secret, and the provider"
    );

    env.dynamodb()
        .delete_table()
        .table_name(env.name("OrdersTable"))
        .send()
        .await
        .unwrap();
    let broken = healthy;
    let response = health::handler::handle(&broken, deep()).await.unwrap();
    assert_eq!(response.status(), 503);
    let report = body(&response);
    assert_eq!(report["checks"][0]["name"], "orders");
    assert_eq!(report["checks"][0]["ok"], false);
    assert!(
        !report.to_string().contains(&env.name("OrdersTable")),
        "no internals in the report"
    );
    let shallow = health::handler::handle(&broken, request(&event("health", None)))
        .await
        .unwrap();
    assert_eq!(
        (shallow.status(), body(&shallow)),
        (200.try_into().unwrap(), json!({"status": "ok"})),
        "the shallow check asks nothing"
    );
}

#[tokio::test]
async fn the_per_user_limit_refuses_the_request_past_it_even_when_concurrent() {
    let env = TestEnv::new().await;
    let order = shared::testing::order(OrderId::generate(), "alice", chrono::Utc::now());
    env.orders().unwrap().insert(&order, None).await.unwrap();
    for attempt in 0..2 {
        // A fresh scope per attempt; an attempt that straddles a minute boundary is not judged.
        let deps = Arc::new(get_order::handler::Deps {
            limit: env.limit(&format!("reads-{attempt}"), 5),
            use_case: Wire::wire(env.wiring()).await.unwrap(),
        });
        let minute = chrono::Utc::now().timestamp() / 60;
        let requests = (0..6).map(|_| {
            let deps = deps.clone();
            let e = with_id(event("get-order", ALICE), order.id.as_str());
            tokio::spawn(async move {
                get_order::handler::handle(&deps, request(&e))
                    .await
                    .unwrap()
            })
        });
        let responses: Vec<_> = futures::future::join_all(requests)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        if chrono::Utc::now().timestamp() / 60 != minute {
            continue;
        }
        let refused: Vec<_> = responses.iter().filter(|r| r.status() == 429).collect();
        assert_eq!(
            refused.len(),
            1,
            "{:?}",
            responses.iter().map(|r| r.status()).collect::<Vec<_>>()
        );
        let refused = refused[0];
        assert_eq!(refused.headers()["x-ratelimit-limit"], "5");
        assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
        let reset: i64 = refused.headers()["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(reset, (minute + 1) * 60);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(body(refused)["type"], "/problems/rate-limited");
        let mut remaining: Vec<String> = responses
            .iter()
            .filter(|r| r.status() == 200)
            .map(|r| {
                r.headers()["x-ratelimit-remaining"]
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        remaining.sort();
        assert_eq!(remaining, ["0", "1", "2", "3", "4"]);
        return;
    }
    panic!("two attempts straddled a minute boundary");
}
