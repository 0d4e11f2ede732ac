//! `order-admin`: what operators do that the API must never offer.
//!
//! ```text
//! order-admin create-admin --email ops@example.com     # password from ORDER_ADMIN_PASSWORD or stdin
//! order-admin rotate-signing-key
//! ```
//!
//! It talks to the stage named by the environment: `USERS_TABLE` and `SIGNING_KEY_SECRET` (the
//! stack outputs `UsersTableName` and `SigningKeySecretArn`) with the usual AWS credentials;
//! `AWS_ENDPOINT_URL` points it at the local stack instead.

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use shared::auth::{Email, Password};
use shared::service::accounts;
use shared::wiring::{Aws, Wiring};

const USAGE: &str =
    "usage: order-admin create-admin --email EMAIL | order-admin rotate-signing-key";

fn password() -> Result<Password> {
    let raw = match std::env::var("ORDER_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("password (12-128 characters), then Enter:");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    Password::parse(&raw).map_err(|e| anyhow::anyhow!("password {e}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = Aws::from_environment().await;
    let now = chrono::Utc::now();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create-admin", "--email", email] => {
            let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email {e}"))?;
            let users = source.users()?;
            if accounts::create_admin(users.as_ref(), &email, &password()?, now).await? {
                println!("created admin {email}");
            } else {
                bail!("{email} has an account already; it was left unchanged");
            }
        }
        ["rotate-signing-key"] => {
            let keys = accounts::rotate_signing_key(source.key_store()?.as_ref(), now).await?;
            let current = keys.current().context("rotation produced no current key")?;
            println!(
                "signing key is now {} ({} key(s) verify)",
                current.kid,
                keys.keys.len()
            );
        }
        _ => bail!(USAGE),
    }
    Ok(())
}
