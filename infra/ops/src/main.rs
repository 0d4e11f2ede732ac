//! `order-admin`: what operators do that the API must never offer. `order-admin --help` lists
//! the commands and `order-admin <command> --help` explains each.
//!
//! It acts on the stage named by `--stage` (names from the template it was built with, queue URLs
//! from SQS) with the usual AWS credentials, or without `--stage` on the names in the environment,
//! as the functions get them (`make admin` passes the local stack's). `--endpoint` points every
//! client at another endpoint (the local emulator).

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use order_admin::stage::{StageResources, TEMPLATE};
use order_admin::{dead_letters, restore};
use shared::adapters::ssm::SsmFlagSource;
use shared::auth::{Email, Password};
use shared::config::Parameter;
use shared::domain::OrderId;
use shared::flags::Flags;
use shared::http::views::{HistoryView, OrderView};
use shared::pipeline::Queue;
use shared::ports::FlagSource;
use shared::service::accounts;
use shared::wiring::{Aws, Environment, Resources, Wiring};

#[derive(Parser)]
#[command(
    name = "order-admin",
    version,
    about = "Operator commands for the order service"
)]
struct Cli {
    /// The deployed stage to act on (dev, staging, prod). Without it, the resource names come
    /// from the environment (ORDERS_TABLE, PAYMENT_QUEUE_URL, ...), as the functions get them.
    #[arg(long, global = true)]
    stage: Option<String>,
    /// Send every AWS call to this endpoint instead (the local emulator: http://127.0.0.1:5000).
    #[arg(long, global = true)]
    endpoint: Option<String>,
    /// With --stage: the orders table the stage was repointed to after a restore (its
    /// RestoredOrdersTable parameter), instead of the template's.
    #[arg(long, global = true, requires = "stage")]
    orders_table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an admin account (the password from ORDER_ADMIN_PASSWORD, or asked on stdin).
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Make a new JWT signing key current; tokens signed with the previous one still verify.
    RotateSigningKey,
    /// Read or change the stage's feature flags (docs/flags.md).
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// One order, as support sees it.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Orders across customers.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// The pipeline's dead-letter queues (docs/runbooks/redrive-dlq.md).
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Back up and restore the orders table (docs/runbooks/restore-table.md).
    #[command(subcommand)]
    OrdersTable(OrdersTableCommand),
}

#[derive(Subcommand)]
enum OrdersTableCommand {
    /// An on-demand backup of the stage's orders table; prints its ARN.
    Backup {
        #[arg(long)]
        name: String,
    },
    /// Restore into a new table (the damaged one stays), wait until it is active, and turn on
    /// point-in-time recovery and deletion protection; then repoint the stage at it.
    Restore {
        /// From this backup's ARN.
        #[arg(long, conflicts_with = "at", required_unless_present = "at")]
        backup: Option<String>,
        /// Or the stage's table as it was at this time (RFC 3339).
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// The new table's name, e.g. orders-prod-orders-restored-202612011200.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum FlagsCommand {
    /// Print the flags in force.
    Get,
    /// Change the named fields only (`acceptOrders=false pausePayments=true`); a document the
    /// functions would refuse is refused here first.
    Set {
        #[arg(required = true, value_name = "FIELD=VALUE")]
        changes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum OrderCommand {
    /// The order, with its customer.
    Show { id: String },
    /// Its timeline, oldest first, with who acted and the correlation id of each change.
    History { id: String },
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// Orders in a non-terminal state unchanged for longer than --older-than, oldest first.
    Stuck {
        /// Minutes; the reconciler re-drives after 10.
        #[arg(long, default_value_t = 10, value_name = "MINUTES")]
        older_than: u32,
    },
}

#[derive(Subcommand)]
enum DeadLettersCommand {
    /// Each dead-letter queue's depth, and the letters the dead-letter function kept.
    List {
        /// One queue (all five without it): inventory, payment, shipping, notification or
        /// compensation.
        #[arg(long, value_parser = queue)]
        queue: Option<Queue>,
    },
    /// Move the messages of dead-letter queues back to their step, each at most once, once the
    /// cause is fixed (stop the dead-letter function reading the queue first: the runbook).
    Redrive {
        /// One queue (all five without it).
        #[arg(long, value_parser = queue)]
        queue: Option<Queue>,
        /// Count what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn queue(raw: &str) -> Result<Queue, String> {
    Queue::parse(raw).ok_or_else(|| {
        let names: Vec<_> = Queue::ALL.iter().map(|q| q.slug()).collect();
        format!("one of {}", names.join(", "))
    })
}

/// The flags document with each `field=value` of `changes` set (a value is JSON: `false`, `25`).
fn changed(document: &str, changes: &[String]) -> Result<Flags> {
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

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn order_id(raw: &str) -> Result<OrderId> {
    OrderId::parse(raw).map_err(|e| anyhow::anyhow!("order id {e}"))
}

async fn run<R: Resources>(aws: Aws<R>, command: Command) -> Result<()> {
    let now = chrono::Utc::now();
    let sqs = aws.sqs();
    match command {
        Command::CreateAdmin { email } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("email {e}"))?;
            if accounts::create_admin(aws.users()?.as_ref(), &email, &password()?, now).await? {
                println!("created admin {email}");
            } else {
                bail!("{email} has an account already; it was left unchanged");
            }
        }
        Command::RotateSigningKey => {
            let keys = accounts::rotate_signing_key(aws.key_store()?.as_ref(), now).await?;
            let current = keys.current().context("rotation produced no current key")?;
            println!(
                "signing key is now {} ({} key(s) verify)",
                current.kid,
                keys.keys.len()
            );
        }
        Command::Flags(action) => {
            let store = SsmFlagSource::new(
                aws_sdk_ssm::Client::new(aws.sdk_config()),
                aws.resources().parameter(Parameter::Flags)?,
            );
            match action {
                FlagsCommand::Get => {
                    let flags = Flags::parse(&store.fetch().await?)
                        .map_err(|r| anyhow::anyhow!("stored flags: {r}"))?;
                    print_json(&flags)?;
                }
                FlagsCommand::Set { changes } => {
                    let flags = changed(&store.fetch().await?, &changes)?;
                    store.store(&serde_json::to_string(&flags)?).await?;
                    print_json(&flags)?;
                    println!(
                        "applies within FLAGS_TTL_SECONDS (30 s deployed) in every warm function"
                    );
                }
            }
        }
        Command::Order(OrderCommand::Show { id }) => {
            let order = aws
                .orders()?
                .get(&order_id(&id)?)
                .await?
                .with_context(|| format!("no order {id}"))?;
            print_json(&OrderView::seen_by(&order, true))?;
        }
        Command::Order(OrderCommand::History { id }) => {
            let history = aws.orders()?.history(&order_id(&id)?).await?;
            if history.is_empty() {
                bail!("no order {id}");
            }
            let views: Vec<_> = history.iter().map(|e| HistoryView::of(e, true)).collect();
            print_json(&views)?;
        }
        Command::Orders(OrdersCommand::Stuck { older_than }) => {
            let older_than = chrono::Duration::minutes(i64::from(older_than));
            let stuck = order_admin::stuck(aws.orders()?.as_ref(), older_than, now).await?;
            for order in &stuck {
                let idle = (now - order.updated_at).num_minutes();
                println!(
                    "{}  {:<10} since {}  ({idle} min)  customer {}",
                    order.id, order.status, order.updated_at, order.customer_id
                );
            }
            println!(
                "{} order(s) unchanged for over {} min",
                stuck.len(),
                older_than.num_minutes()
            );
        }
        Command::DeadLetters(DeadLettersCommand::List { queue }) => {
            let kept = aws.dead_letters()?;
            for queue in queue.map_or(Queue::ALL.to_vec(), |q| vec![q]) {
                let url = aws.resources().dead_letter_url(queue)?;
                let depth = dead_letters::depth(&sqs, &url).await?;
                let name = url.rsplit('/').next().unwrap_or(&url);
                let letters = kept.list(name).await?;
                println!(
                    "{name}: {} waiting, {} in flight, {} kept",
                    depth.waiting,
                    depth.in_flight,
                    letters.len()
                );
                for letter in letters {
                    println!(
                        "  {}  {}  after {} receive(s)  {}",
                        letter.at,
                        letter.message_id,
                        letter.receives,
                        letter.problem.as_deref().unwrap_or("the step kept failing")
                    );
                }
            }
        }
        Command::OrdersTable(action) => {
            let dynamodb = aws.dynamodb();
            let table = aws.resources().table(shared::config::Table::Orders)?;
            match action {
                OrdersTableCommand::Backup { name } => {
                    println!("{}", restore::back_up(&dynamodb, &table, &name).await?);
                }
                OrdersTableCommand::Restore { backup, at, to } => {
                    let source = match (backup, at) {
                        (Some(arn), _) => restore::Source::Backup(arn),
                        (None, Some(at)) => restore::Source::PointInTime { table, at },
                        (None, None) => bail!("--backup or --at"),
                    };
                    let took = restore::restore(&dynamodb, &source, &to).await?;
                    println!(
                        "{to} is active after {} s, with point-in-time recovery and deletion \
                         protection; repoint the stage: RestoredOrdersTable={to}",
                        took.as_secs()
                    );
                }
            }
        }
        Command::DeadLetters(DeadLettersCommand::Redrive { queue, dry_run }) => {
            let mut total = dead_letters::Redriven::default();
            for queue in queue.map_or(Queue::ALL.to_vec(), |q| vec![q]) {
                let from = aws.resources().dead_letter_url(queue)?;
                let to = aws.resources().queue_url(queue)?;
                let done = dead_letters::redrive(&sqs, &from, &to, dry_run).await?;
                println!(
                    "{}: {} found, {} moved back to the {} step",
                    queue.slug(),
                    done.found,
                    done.moved,
                    queue.consumer().function
                );
                total.found += done.found;
                total.moved += done.moved;
            }
            println!(
                "{} found, {} moved{}",
                total.found,
                total.moved,
                if dry_run { " (dry run)" } else { "" }
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut config = shared::config::aws().await.into_builder();
    if let Some(endpoint) = &cli.endpoint {
        config = config.endpoint_url(endpoint);
    }
    let config = config.build();
    match &cli.stage {
        Some(stage) => {
            let sqs = aws_sdk_sqs::Client::new(&config);
            let mut resources = StageResources::resolve(TEMPLATE, stage, &sqs).await?;
            if let Some(table) = cli.orders_table.clone() {
                resources = resources.with_orders_table(table);
            }
            run(Aws::new(config, resources), cli.command).await
        }
        None => run(Aws::new(config, Environment), cli.command).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    fn changes(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_change_sets_only_the_fields_it_names_and_a_typo_is_refused() {
        let stored = r#"{"acceptOrders":true,"pausePayments":true,"catalogCachePercent":40}"#;
        let flags = super::changed(stored, &changes(&["acceptOrders=false"])).unwrap();
        assert!(!flags.accept_orders && flags.pause_payments);
        assert_eq!(flags.catalog_cache_percent, 40);
        assert!(super::changed(stored, &changes(&["acceptOrder=false"])).is_err());
        assert!(super::changed(stored, &changes(&["catalogCachePercent=250"])).is_err());
        assert!(super::changed(stored, &changes(&["acceptOrders"])).is_err());
    }

    #[test]
    fn every_command_has_help_and_a_bad_queue_is_refused() {
        super::Cli::command().debug_assert();
        let refused = super::Cli::try_parse_from([
            "order-admin",
            "dead-letters",
            "redrive",
            "--queue",
            "payments",
        ]);
        assert!(refused.is_err());
    }
}
