//! Test data: products, orders, and orders moved along as the steps before would.

use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::domain::{
    Currency, CustomerId, Money, Order, OrderId, OrderItem, OrderStatus, Payment, PaymentMethod,
    PaymentState, Product, ProductId, Quantity, ShippingAddress,
};
use crate::pipeline;
use crate::ports::{Inventory, OrderRepository};

/// A product priced in EUR.
pub fn product(id: &str, amount: i64, available: u32) -> Product {
    Product {
        id: ProductId::parse(id).unwrap(),
        name: format!("Product {id}"),
        unit_price: Money::new(amount, Currency::parse("EUR").unwrap()).unwrap(),
        available,
        version: 1,
        updated_at: Utc::now(),
    }
}

/// A `PENDING` order of one line (2 × 5.00 EUR of `p-1`).
pub fn order(id: OrderId, customer: &str, created_at: DateTime<Utc>) -> Order {
    let product = product("p-1", 500, 5);
    Order::place(
        id,
        CustomerId::parse(customer).unwrap(),
        vec![OrderItem {
            product_id: product.id,
            quantity: Quantity::new(2).unwrap(),
            unit_price: product.unit_price,
        }],
        ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "London".into(),
            postal_code: "N1 1AA".into(),
            country: "GB".into(),
        },
        PaymentMethod::parse("pm_card_visa").unwrap(),
        created_at,
    )
    .unwrap()
}

/// Stores a `PENDING` order for `id` and moves it on to `status` ([`advance_to`]).
/// The account of customer `id`, with the address `<id>@example.com`: where its notices go.
pub async fn customer_account(store: &MemoryStore, id: &str) {
    let account = crate::ports::User {
        id: id.into(),
        email: crate::auth::Email::parse(&format!("{id}@example.com")).unwrap(),
        password_hash: String::new(),
        role: crate::domain::Role::Customer,
        created_at: Utc::now(),
    };
    crate::ports::UserRepository::create(store, &account)
        .await
        .unwrap();
}

/// Order `id` of `customer-1` (who has an account), stored and moved on to `status`.
pub async fn stored_order(store: &MemoryStore, id: &OrderId, status: OrderStatus) -> Order {
    store.seed_product(product("p-1", 500, 10));
    customer_account(store, "customer-1").await;
    store
        .insert(&order(id.clone(), "customer-1", Utc::now()), None)
        .await
        .unwrap();
    advance_to(store, id, status).await;
    store.get(id).await.unwrap().unwrap()
}

/// Moves a stored `PENDING` order on to `status` as the steps before would: along the pipeline's
/// happy path, or, for an end off it, from the reservation when it can be reached from there (so
/// a cancelled or failed order holds stock to give back).
pub async fn advance_to(store: &MemoryStore, id: &OrderId, status: OrderStatus) {
    let happy = pipeline::happy_path();
    let reserved = happy[1];
    let path: Vec<OrderStatus> = match happy.iter().position(|s| *s == status) {
        Some(end) => happy[1..=end].to_vec(),
        None if reserved.can_become(status) => vec![reserved, status],
        None => vec![status],
    };
    for next in path {
        advance(store, id, next).await;
    }
}

/// Moves a stored order on to `status` with the facts that status implies: a reserved order has
/// its stock taken from the catalog, a paid one its charge, a shipped one its tracking number.
pub async fn advance(store: &MemoryStore, id: &OrderId, status: OrderStatus) {
    let order = store.get(id).await.unwrap().unwrap();
    let (mut next, entry) = order.transition(status, Utc::now(), None).unwrap();
    match status {
        OrderStatus::Reserved => {
            let p1 = ProductId::parse("p-1").unwrap();
            if crate::ports::Catalog::get(store, &p1)
                .await
                .unwrap()
                .is_none()
            {
                store.seed_product(product("p-1", 500, 10));
            }
            next.stock_held = true;
            let reserved = store.reserve(&order, &next, &entry).await.unwrap();
            assert_eq!(
                reserved,
                crate::ports::Reservation::Reserved,
                "stock for {id}"
            );
            return;
        }
        OrderStatus::Paid => {
            next.payment = Some(Payment {
                state: PaymentState::Charged,
                ..Payment::started("pi_test".into())
            });
        }
        OrderStatus::Shipped => next.tracking_number = Some("TRK000000000000".into()),
        _ => {}
    }
    store.apply(&order, &next, &entry).await.unwrap();
}
