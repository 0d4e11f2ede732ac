//! The prices an order is placed at: the catalog read through a per-container cache, so a warm
//! `create-order` does not read every product of every order from DynamoDB.
//!
//! The staleness bound: a price is used for at most `CATALOG_CACHE_SECONDS` (default 10) after
//! the container read it, so an order is never priced (and so never charged) at a price that was
//! replaced longer ago than that bound, plus the second or so of an eventually consistent read.
//! Only products found are kept, so a product added to the catalog can be ordered at once. The
//! cache holds at most [`PriceList::MAX_ENTRIES`] prices; past that it drops what has expired,
//! then everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::domain::{Money, ProductId};
use crate::error::AppError;
use crate::ports::{Catalog, Clock};

pub struct PriceList {
    catalog: Arc<dyn Catalog>,
    clock: Arc<dyn Clock>,
    max_age: chrono::Duration,
    read: Mutex<HashMap<ProductId, (Money, DateTime<Utc>)>>,
}

impl PriceList {
    pub const MAX_ENTRIES: usize = 10_000;

    pub fn new(
        catalog: Arc<dyn Catalog>,
        clock: Arc<dyn Clock>,
        max_age: chrono::Duration,
    ) -> Self {
        Self {
            catalog,
            clock,
            max_age,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// The unit price of each product of `ids` that exists; through the cache when `cached`
    /// (the flags' rollout decides), straight from the catalog otherwise.
    pub async fn prices(
        &self,
        ids: &[ProductId],
        cached: bool,
    ) -> Result<HashMap<ProductId, Money>, AppError> {
        // Taken before the read: the price is at least this fresh.
        let now = self.clock.now();
        let mut found = HashMap::with_capacity(ids.len());
        let missing: Vec<ProductId> = if cached {
            let read = self.read.lock().unwrap_or_else(|p| p.into_inner());
            ids.iter()
                .filter(|id| match read.get(*id) {
                    Some((price, at)) if now < *at + self.max_age => {
                        found.insert((*id).clone(), *price);
                        false
                    }
                    _ => true,
                })
                .cloned()
                .collect()
        } else {
            ids.to_vec()
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let fresh = self.catalog.get_many(&missing).await?;
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        if read.len() + fresh.len() > Self::MAX_ENTRIES {
            read.retain(|_, (_, at)| now < *at + self.max_age);
            if read.len() + fresh.len() > Self::MAX_ENTRIES {
                read.clear();
            }
        }
        for product in fresh {
            read.insert(product.id.clone(), (product.unit_price, now));
            found.insert(product.id, product.unit_price);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, ProductDraft};
    use crate::testing::{FixedClock, MemoryStore};

    async fn priced(store: &MemoryStore, id: &ProductId, cents: i64) {
        let current = Catalog::get(store, id).await.unwrap();
        let draft = ProductDraft {
            id: id.clone(),
            name: "Mug".into(),
            unit_price: Money::new(cents, Currency::parse("EUR").unwrap()).unwrap(),
            available: 10,
        };
        store
            .put(&draft, current.map(|p| p.version), Utc::now())
            .await
            .unwrap();
    }

    fn list(store: &Arc<MemoryStore>, clock: &Arc<FixedClock>) -> PriceList {
        PriceList::new(store.clone(), clock.clone(), chrono::Duration::seconds(10))
    }

    #[tokio::test]
    async fn a_price_change_is_used_once_the_bound_has_passed_and_never_an_older_price() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let id = ProductId::parse("p-mug").unwrap();
        priced(&store, &id, 1_000).await;
        let prices = list(&store, &clock);
        let changed_at = clock.now() + chrono::Duration::seconds(3);
        let mut charged = Vec::new();
        for second in 0..30 {
            if clock.now() == changed_at {
                priced(&store, &id, 1_200).await;
            }
            let price = prices
                .prices(std::slice::from_ref(&id), true)
                .await
                .unwrap()[&id];
            charged.push((clock.now(), price.amount));
            clock.advance(chrono::Duration::seconds(1));
            let _ = second;
        }
        let bound = changed_at + chrono::Duration::seconds(10);
        for (at, cents) in &charged {
            if *at >= bound {
                assert_eq!(*cents, 1_200, "at {at}: the old price outlived the bound");
            }
        }
        assert!(
            charged
                .iter()
                .any(|(at, c)| *at > changed_at && *c == 1_000),
            "the cache served a price it had read (it is a cache)"
        );
    }

    #[tokio::test]
    async fn without_the_rollout_every_order_reads_the_catalog() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let id = ProductId::parse("p-mug").unwrap();
        priced(&store, &id, 1_000).await;
        let prices = list(&store, &clock);
        prices
            .prices(std::slice::from_ref(&id), true)
            .await
            .unwrap();
        priced(&store, &id, 1_200).await;
        let fresh = prices
            .prices(std::slice::from_ref(&id), false)
            .await
            .unwrap();
        assert_eq!(fresh[&id].amount, 1_200);
    }

    #[tokio::test]
    async fn an_unknown_product_is_looked_up_again_so_a_new_one_can_be_ordered_at_once() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let id = ProductId::parse("p-new").unwrap();
        let prices = list(&store, &clock);
        assert!(
            prices
                .prices(std::slice::from_ref(&id), true)
                .await
                .unwrap()
                .is_empty()
        );
        priced(&store, &id, 500).await;
        assert_eq!(
            prices
                .prices(std::slice::from_ref(&id), true)
                .await
                .unwrap()[&id]
                .amount,
            500
        );
    }
}
