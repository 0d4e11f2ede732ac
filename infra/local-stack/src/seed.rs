//! The demo catalog that `make run` loads, through the same adapter the API uses.

use anyhow::Result;
use aws_config::SdkConfig;
use shared::adapters::dynamodb::DynamoCatalog;
use shared::adapters::dynamodb::DynamoUsers;
use shared::adapters::secrets::SecretsKeyStore;
use shared::auth::{Email, Password};
use shared::domain::{Currency, Money, ProductDraft, ProductId};
use shared::ports::{Catalog, KeyStore};
use shared::service::accounts;

/// `(id, name, price in cents, stock)`; `p-4` is sold out, to show a rejected order.
pub const DEMO_CATALOG: [(&str, &str, i64, u32); 4] = [
    ("p-1", "Analytical Engine Manual", 1250, 100),
    ("p-2", "Difference Engine Gear Set", 4999, 25),
    ("p-3", "Punched Cards (pack of 100)", 399, 500),
    ("p-4", "Brass Crank, limited edition", 1999, 0),
];

pub async fn demo_catalog(config: &SdkConfig, products_table: &str) -> Result<()> {
    let catalog = DynamoCatalog::new(aws_sdk_dynamodb::Client::new(config), products_table.into());
    let eur = Currency::parse("EUR")?;
    for (id, name, cents, stock) in DEMO_CATALOG {
        let draft = ProductDraft {
            id: ProductId::parse(id)?,
            name: name.into(),
            unit_price: Money::new(cents, eur)?,
            available: stock,
        };
        catalog.put(&draft, None, chrono::Utc::now()).await?;
    }
    Ok(())
}

/// The first signing key, unless the secret holds one already.
pub async fn signing_key(config: &SdkConfig, secret: &str) -> Result<()> {
    let store = SecretsKeyStore::new(config, secret.into());
    if store.load().await?.current().is_none() {
        accounts::rotate_signing_key(&store, chrono::Utc::now()).await?;
    }
    Ok(())
}

/// The local payment provider's API key (localstripe takes any test key).
pub const LOCAL_PAYMENT_KEY: &str = "sk_test_local";

/// Puts the local payment provider's key where the payment functions read it.
pub async fn payment_key(config: &SdkConfig, secret: &str) -> Result<()> {
    aws_sdk_secretsmanager::Client::new(config)
        .put_secret_value()
        .secret_id(secret)
        .secret_string(serde_json::json!({ "apiKey": LOCAL_PAYMENT_KEY }).to_string())
        .send()
        .await?;
    Ok(())
}

/// The demo admin's email; its password is new on every start and printed.
pub const DEMO_ADMIN: &str = "admin@example.com";

/// Creates the demo admin with a fresh random password; `None` when it exists already.
pub async fn demo_admin(config: &SdkConfig, users_table: &str) -> Result<Option<String>> {
    let users = DynamoUsers::new(aws_sdk_dynamodb::Client::new(config), users_table.into());
    let password = format!("local-{}", uuid::Uuid::new_v4().simple());
    let created = accounts::create_admin(
        &users,
        &Email::parse(DEMO_ADMIN)?,
        &Password::parse(&password)?,
        chrono::Utc::now(),
    )
    .await?;
    Ok(created.then_some(password))
}
