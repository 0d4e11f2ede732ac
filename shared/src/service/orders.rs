//! Placing, reading, listing and cancelling orders.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{
    AddressInput, Caller, HistoryEntry, IdempotencyKey, Order, OrderId, OrderItem, OrderStatus,
    PaymentMethod, ProductId, Quantity, ShippingAddress,
};
use crate::error::{AppError, FieldError};
use crate::messages::{Envelope, MessageType};
use crate::ports::{
    Catalog, ClaimOutcome, Clock, IdempotencyStore, OrderCursor, OrderEvents, OrderRepository, Page,
};
use crate::service::Limit;

/// The body of `POST /orders`, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderRequest {
    pub items: Vec<ItemInput>,
    pub shipping_address: AddressInput,
    pub payment_method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemInput {
    pub product_id: String,
    pub quantity: i64,
}

/// What placing an order needs from the outside.
pub struct PlaceOrderPorts<'a> {
    pub orders: &'a dyn OrderRepository,
    pub idempotency: &'a dyn IdempotencyStore,
    pub catalog: &'a dyn Catalog,
    pub events: &'a dyn OrderEvents,
    pub clock: &'a dyn Clock,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub order: Order,
    /// True when an earlier request with the same idempotency key created the order.
    pub replayed: bool,
}

struct ValidOrder {
    lines: Vec<(ProductId, Quantity)>,
    address: ShippingAddress,
    payment: PaymentMethod,
}

fn validate(request: &PlaceOrderRequest) -> Result<ValidOrder, AppError> {
    let mut errors = Vec::new();
    if request.items.is_empty() {
        errors.push(FieldError::new("items", "must contain at least one item"));
    }
    if request.items.len() > Order::MAX_ITEMS {
        errors.push(FieldError::new(
            "items",
            format!("must contain at most {} items", Order::MAX_ITEMS),
        ));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for (i, item) in request.items.iter().enumerate() {
        let product = ProductId::parse(&item.product_id)
            .map_err(|e| errors.push(FieldError::invalid(format!("items[{i}].productId"), e)));
        let quantity = Quantity::new(item.quantity)
            .map_err(|e| errors.push(FieldError::invalid(format!("items[{i}].quantity"), e)));
        if let (Ok(product), Ok(quantity)) = (product, quantity) {
            if seen.insert(product.clone()) {
                lines.push((product, quantity));
            } else {
                errors.push(FieldError::new(
                    format!("items[{i}].productId"),
                    "appears in more than one line; put the whole quantity in one line",
                ));
            }
        }
    }
    let address = ShippingAddress::parse(&request.shipping_address).map_err(|problems| {
        for (field, e) in problems {
            errors.push(FieldError::invalid(format!("shippingAddress.{field}"), e));
        }
    });
    let payment = PaymentMethod::parse(&request.payment_method)
        .map_err(|e| errors.push(FieldError::invalid("paymentMethod", e)));
    match (address, payment) {
        (Ok(address), Ok(payment)) if errors.is_empty() => Ok(ValidOrder {
            lines,
            address,
            payment,
        }),
        _ => Err(AppError::Invalid(errors)),
    }
}

/// A fingerprint of the request: the same key with a different request is refused.
fn request_hash(request: &PlaceOrderRequest) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    format!("{:x}", Sha256::digest(canonical))
}

/// Places an order at catalog prices. With an idempotency key, a repeat of the same request
/// returns the order the first one created (and hands it to fulfilment again while it is still
/// `PENDING`, which is how a lost enqueue is recovered); a different request under the same key
/// is refused, and one racing a request still in flight gets a conflict.
pub async fn place_order(
    ports: &PlaceOrderPorts<'_>,
    caller: &Caller,
    request: &PlaceOrderRequest,
    key: Option<&IdempotencyKey>,
    correlation_id: &str,
) -> Result<Placed, AppError> {
    let valid = validate(request)?;
    let now = ports.clock.now();
    let claim = match key {
        None => None,
        Some(key) => {
            let hash = request_hash(request);
            match ports.idempotency.claim(&caller.id, key, &hash, now).await? {
                ClaimOutcome::Acquired(claim) => Some(claim),
                ClaimOutcome::Completed {
                    request_hash,
                    order_id,
                } if request_hash == hash => {
                    return replay(ports, &order_id, correlation_id).await;
                }
                ClaimOutcome::InProgress { request_hash } if request_hash == hash => {
                    return Err(AppError::Conflict(
                        "a request with this Idempotency-Key is still being processed; retry shortly"
                            .into(),
                    ));
                }
                ClaimOutcome::Completed { .. } | ClaimOutcome::InProgress { .. } => {
                    return Err(AppError::Unprocessable {
                        detail: "this Idempotency-Key was already used for a different request"
                            .into(),
                        errors: vec![FieldError::new(
                            "Idempotency-Key",
                            "was used with a different request body",
                        )],
                    });
                }
            }
        }
    };
    let stored = async {
        let order = price(ports.catalog, caller, valid, now).await?;
        ports.orders.insert(&order, claim.as_ref()).await?;
        Ok(order)
    }
    .await;
    let order = match stored {
        Ok(order) => order,
        Err(err) => {
            if let Some(claim) = &claim
                && let Err(release) = ports.idempotency.release(claim).await
            {
                tracing::warn!(error = %release.chain(), "could not release an idempotency claim");
            }
            return Err(err);
        }
    };
    hand_on(ports.events, order, correlation_id, false).await
}

/// Hands a still-`PENDING` order to fulfilment (again, on a replay: the first enqueue may have
/// been lost) and answers with it.
async fn hand_on(
    events: &dyn OrderEvents,
    order: Order,
    correlation_id: &str,
    replayed: bool,
) -> Result<Placed, AppError> {
    if order.status == OrderStatus::Pending {
        hand_to_fulfilment(events, &order, MessageType::OrderPlaced, correlation_id).await?;
    }
    Ok(Placed { order, replayed })
}

async fn replay(
    ports: &PlaceOrderPorts<'_>,
    order_id: &OrderId,
    correlation_id: &str,
) -> Result<Placed, AppError> {
    let order = ports.orders.get(order_id).await?.ok_or_else(|| {
        AppError::dependency(
            "orders table",
            format!("idempotency record points at missing order {order_id}"),
        )
    })?;
    hand_on(ports.events, order, correlation_id, true).await
}

/// Prices the lines from the catalog; unknown products are named by their line.
async fn price(
    catalog: &dyn Catalog,
    caller: &Caller,
    valid: ValidOrder,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Order, AppError> {
    let ids: Vec<ProductId> = valid.lines.iter().map(|(id, _)| id.clone()).collect();
    let prices: HashMap<ProductId, _> = catalog
        .get_many(&ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p.unit_price))
        .collect();
    let mut items = Vec::with_capacity(valid.lines.len());
    let mut unknown = Vec::new();
    for (i, (product_id, quantity)) in valid.lines.into_iter().enumerate() {
        match prices.get(&product_id) {
            Some(price) => items.push(OrderItem {
                product_id,
                quantity,
                unit_price: *price,
            }),
            None => unknown.push(FieldError::new(
                format!("items[{i}].productId"),
                format!("there is no product `{product_id}`"),
            )),
        }
    }
    if !unknown.is_empty() {
        return Err(AppError::Unprocessable {
            detail: "the order names products that are not in the catalog".into(),
            errors: unknown,
        });
    }
    Order::place(
        OrderId::generate(),
        caller.id.clone(),
        items,
        valid.address,
        valid.payment,
        now,
    )
    .map_err(|e| AppError::Unprocessable {
        detail: e.0.clone(),
        errors: vec![FieldError::invalid("items", e)],
    })
}

async fn hand_to_fulfilment(
    events: &dyn OrderEvents,
    order: &Order,
    kind: MessageType,
    correlation_id: &str,
) -> Result<(), AppError> {
    let message = Envelope::new(kind, order.id.clone(), correlation_id, order.updated_at);
    events.publish(&message).await
}

/// The caller's own order; anyone else's is not found.
pub async fn get_order(
    orders: &dyn OrderRepository,
    caller: &Caller,
    id: &OrderId,
) -> Result<Order, AppError> {
    match orders.get(id).await? {
        Some(order) if order.customer_id == caller.id => Ok(order),
        _ => Err(AppError::NotFound("order")),
    }
}

/// An order's timeline, oldest first: for its owner, or an admin (support looking into an
/// order). Anyone else gets not found, as for the order itself.
pub async fn order_history(
    orders: &dyn OrderRepository,
    caller: &Caller,
    id: &OrderId,
) -> Result<Vec<HistoryEntry>, AppError> {
    match orders.get(id).await? {
        Some(order) if order.customer_id == caller.id || caller.is_admin() => {
            orders.history(id).await
        }
        _ => Err(AppError::NotFound("order")),
    }
}

/// The caller's orders, newest first. The store keys the query by the caller, whatever the cursor says.
pub async fn list_orders(
    orders: &dyn OrderRepository,
    caller: &Caller,
    limit: Limit,
    after: Option<&OrderCursor>,
) -> Result<Page<Order, OrderCursor>, AppError> {
    orders
        .list_for_customer(&caller.id, limit.get(), after)
        .await
}

/// How often a cancellation re-reads the order after losing a race with a fulfilment step.
const CANCEL_ATTEMPTS: usize = 3;

/// Cancels the caller's order until it ships. Cancelling a cancelled order succeeds again and
/// re-sends the cancellation, so a client may retry after a failed enqueue. The refund and stock
/// release happen in the compensation step that the message triggers.
pub async fn cancel_order(
    orders: &dyn OrderRepository,
    events: &dyn OrderEvents,
    clock: &dyn Clock,
    caller: &Caller,
    id: &OrderId,
    correlation_id: &str,
) -> Result<Order, AppError> {
    for _ in 0..CANCEL_ATTEMPTS {
        let order = get_order(orders, caller, id).await?;
        if order.status == OrderStatus::Cancelled {
            hand_to_fulfilment(events, &order, MessageType::OrderCancelled, correlation_id).await?;
            return Ok(order);
        }
        let (next, entry) = order
            .transition(
                OrderStatus::Cancelled,
                clock.now(),
                Some("cancelled by the customer".into()),
            )
            .map_err(|e| {
                AppError::Conflict(format!(
                    "the order can no longer be cancelled: it is {}",
                    e.from
                ))
            })?;
        match orders.apply(&order, &next, &entry).await {
            Ok(()) => {
                hand_to_fulfilment(events, &next, MessageType::OrderCancelled, correlation_id)
                    .await?;
                return Ok(next);
            }
            Err(AppError::StaleVersion(_)) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(AppError::StaleVersion("order"))
}
