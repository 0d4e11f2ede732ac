//! Reading the catalog (public) and changing it (admins only).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::domain::{
    Caller, Currency, Money, Product, ProductDraft, ProductId, product_name, stock,
};
use crate::error::{AppError, FieldError};
use crate::ports::{Catalog, Clock, Page};
use crate::service::Limit;
use crate::wiring::{Wire, Wiring};

/// The body of `PUT /products/{id}`, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ProductDraft))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutProductRequest {
    pub name: String,
    pub unit_price: MoneyInput,
    /// Units in stock (absolute, not a change).
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Price))]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// Minor units (cents for EUR).
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub amount: i64,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
}

/// Reading the public catalog.
pub struct CatalogReads {
    pub catalog: Arc<dyn Catalog>,
}

#[async_trait]
impl Wire for CatalogReads {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            catalog: from.catalog()?,
        })
    }
}

impl CatalogReads {
    pub async fn get(&self, id: &ProductId) -> Result<Product, AppError> {
        self.catalog
            .get(id)
            .await?
            .ok_or(AppError::NotFound("product"))
    }

    pub async fn list(
        &self,
        limit: Limit,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, AppError> {
        self.catalog.list(limit.get(), after).await
    }
}

/// Changing the catalog (admins only).
pub struct CatalogAdmin {
    pub catalog: Arc<dyn Catalog>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Wire for CatalogAdmin {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            catalog: from.catalog()?,
            clock: from.clock(),
        })
    }
}

impl CatalogAdmin {
    /// Creates a product, or replaces the version `replaces` of it (see [`Catalog::put`]).
    pub async fn put(
        &self,
        caller: &Caller,
        id: ProductId,
        request: &PutProductRequest,
        replaces: Option<u64>,
    ) -> Result<(Product, bool), AppError> {
        let now = self.clock.now();
        let draft = draft(caller, id, request)?;
        self.catalog.put(&draft, replaces, now).await
    }
}

/// The product an admin asked for. The role is checked here as well as at the gateway, so a
/// cached or misconfigured authorizer policy can never open this to customers.
fn draft(
    caller: &Caller,
    id: ProductId,
    request: &PutProductRequest,
) -> Result<ProductDraft, AppError> {
    if !caller.is_admin() {
        return Err(AppError::Forbidden(
            "changing the catalog needs the admin role".into(),
        ));
    }
    let mut errors = Vec::new();
    let name = product_name(&request.name).map_err(|e| errors.push(FieldError::invalid("name", e)));
    let currency = Currency::parse(&request.unit_price.currency)
        .map_err(|e| errors.push(FieldError::invalid("unitPrice.currency", e)));
    let price = currency.and_then(|c| {
        Money::new(request.unit_price.amount, c)
            .map_err(|e| errors.push(FieldError::invalid("unitPrice.amount", e)))
    });
    let available =
        stock(request.available).map_err(|e| errors.push(FieldError::invalid("available", e)));
    let (Ok(name), Ok(unit_price), Ok(available)) = (name, price, available) else {
        return Err(AppError::Invalid(errors));
    };
    Ok(ProductDraft {
        id,
        name,
        unit_price,
        available,
    })
}
