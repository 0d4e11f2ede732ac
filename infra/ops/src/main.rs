//! `order-admin`: what operators do that the API must never offer.
//!
//! ```text
//! order-admin create-admin --email ops@example.com     # password from ORDER_ADMIN_PASSWORD or stdin
//! order-admin rotate-signing-key
//! order-admin flags get
//! order-admin flags set acceptOrders=false [pausePayments=true ...]   # docs/flags.md
//! ```
//!
//! It talks to the stage named by the environment: `USERS_TABLE`, `SIGNING_KEY_SECRET` and
//! `FLAGS_PARAMETER` (the stack outputs `UsersTableName`, `SigningKeySecretArn` and
//! `FlagsParameterName`) with the usual AWS credentials; `AWS_ENDPOINT_URL` points it at the local
//! stack instead. `flags set` changes only the fields it names and refuses a document the
//! functions would refuse, so an edit cannot leave the stage on its defaults by accident.

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use shared::adapters::ssm::SsmFlagSource;
use shared::auth::{Email, Password};
use shared::flags::Flags;
use shared::ports::FlagSource;
use shared::service::accounts;
use shared::wiring::{Aws, Environment, Wiring};

const USAGE: &str = "usage: order-admin create-admin --email EMAIL | order-admin rotate-signing-key | order-admin flags get | order-admin flags set FIELD=VALUE...";

fn flag_store(source: &Aws<Environment>) -> Result<SsmFlagSource> {
    Ok(SsmFlagSource::new(
        aws_sdk_ssm::Client::new(source.sdk_config()),
        shared::config::required("FLAGS_PARAMETER")?,
    ))
}

/// The document with each `field=value` of `changes` set (a value is JSON: `false`, `25`).
fn changed(document: &str, changes: &[&str]) -> Result<Flags> {
    let mut doc: serde_json::Value =
        serde_json::from_str(document).context("the stored flags are not JSON")?;
    for change in changes {
        let (field, value) = change
            .split_once('=')
            .with_context(|| format!("`{change}` is not FIELD=VALUE"))?;
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        doc[field] = value;
    }
    Flags::parse(&doc.to_string()).map_err(|reason| anyhow::anyhow!("refused: {reason}"))
}

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
        ["flags", "get"] => {
            let document = flag_store(&source)?.fetch().await?;
            let flags =
                Flags::parse(&document).map_err(|r| anyhow::anyhow!("stored flags: {r}"))?;
            println!("{}", serde_json::to_string_pretty(&flags)?);
        }
        ["flags", "set", changes @ ..] if !changes.is_empty() => {
            let store = flag_store(&source)?;
            let flags = changed(&store.fetch().await?, changes)?;
            store.store(&serde_json::to_string(&flags)?).await?;
            println!(
                "{}\napplies within FLAGS_TTL_SECONDS (30 s deployed) in every warm function",
                serde_json::to_string_pretty(&flags)?
            );
        }
        _ => bail!(USAGE),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_change_sets_only_the_fields_it_names_and_a_typo_is_refused() {
        let stored = r#"{"acceptOrders":true,"pausePayments":true,"catalogCachePercent":40}"#;
        let flags = super::changed(stored, &["acceptOrders=false"]).unwrap();
        assert!(!flags.accept_orders && flags.pause_payments);
        assert_eq!(flags.catalog_cache_percent, 40);
        assert!(super::changed(stored, &["acceptOrder=false"]).is_err());
        assert!(super::changed(stored, &["catalogCachePercent=250"]).is_err());
        assert!(super::changed(stored, &["acceptOrders"]).is_err());
    }
}
