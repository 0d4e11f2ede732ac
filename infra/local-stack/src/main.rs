//! `local-stack bootstrap`: create what template.yaml declares on the local emulator, write the
//! functions' environment to a file for `cargo lambda watch --env-file`, optionally seed the demo
//! catalog.
//!
//! `local-stack gateway`: the local API Gateway on 127.0.0.1:3000 plus the SQS and schedule event
//! sources, invoking functions through `cargo lambda watch`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use local_stack::gateway::invoke::Invoker;
use local_stack::gateway::{self, Gateway, schedule, sqs};
use local_stack::provision::provision;
use local_stack::template::Template;
use local_stack::{sdk_config, seed};

const USAGE: &str = "usage:
  local-stack bootstrap [--template template.yaml] [--endpoint http://127.0.0.1:5000] [--prefix local-] [--env-file .local/env] [--seed]
                        [--stripe-endpoint http://127.0.0.1:8420]
  local-stack gateway   [--template template.yaml] [--endpoint http://127.0.0.1:5000] [--prefix local-]
                        [--port 3000] [--invoke-url http://127.0.0.1:9000] [--api-key-file .local/api-key]";

struct Args {
    command: String,
    template: PathBuf,
    endpoint: String,
    prefix: String,
    env_file: Option<PathBuf>,
    seed: bool,
    stripe_endpoint: Option<String>,
    port: u16,
    invoke_url: String,
    api_key_file: PathBuf,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args> {
    let command = raw.next().unwrap_or_default();
    if command != "bootstrap" && command != "gateway" {
        bail!(USAGE);
    }
    let mut args = Args {
        command,
        template: "template.yaml".into(),
        endpoint: "http://127.0.0.1:5000".into(),
        prefix: "local-".into(),
        env_file: None,
        seed: false,
        stripe_endpoint: None,
        port: 3000,
        invoke_url: "http://127.0.0.1:9000".into(),
        api_key_file: ".local/api-key".into(),
    };
    while let Some(flag) = raw.next() {
        let mut value = || {
            raw.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--template" => args.template = value()?.into(),
            "--endpoint" => args.endpoint = value()?,
            "--prefix" => args.prefix = value()?,
            "--env-file" => args.env_file = Some(value()?.into()),
            "--seed" => args.seed = true,
            "--stripe-endpoint" => args.stripe_endpoint = Some(value()?),
            "--port" => args.port = value()?.parse().context("--port takes a number")?,
            "--invoke-url" => args.invoke_url = value()?,
            "--api-key-file" => args.api_key_file = value()?.into(),
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse(std::env::args().skip(1))?;
    let template = Template::load(&args.template)?;
    let config = sdk_config(&args.endpoint).await;
    let created = provision(&config, &template, &args.prefix, "local").await?;
    if args.command == "gateway" {
        return run_gateway(&args, &template, &created, &config).await;
    }
    let mut env = created.environment(&template)?;
    env.insert("AWS_ENDPOINT_URL".into(), args.endpoint.clone());
    env.insert("AWS_REGION".into(), "us-east-1".into());
    env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
    env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    if let Some(stripe) = &args.stripe_endpoint {
        env.insert("STRIPE_API_BASE".into(), stripe.clone());
    }
    if args.seed {
        let products = created
            .name("ProductsTable")
            .context("the template declares no ProductsTable")?;
        seed::demo_catalog(&config, products).await?;
        println!(
            "seeded {} demo products into {products}",
            seed::DEMO_CATALOG.len()
        );
        if let Some(secret) = created.name("SigningKeySecret") {
            seed::signing_key(&config, secret).await?;
        }
        if let Some(secret) = created.name("PaymentProviderSecret") {
            seed::payment_key(&config, secret).await?;
        }
        if let Some(users) = created.name("UsersTable")
            && let Some(password) = seed::demo_admin(&config, users).await?
        {
            let dir = args.env_file.as_ref().and_then(|f| f.parent());
            if let Some(dir) = dir {
                std::fs::write(dir.join("admin-password"), &password)?;
            }
            println!("demo admin: {} / {password}", seed::DEMO_ADMIN);
        }
    }
    let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    match &args.env_file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, &lines)?;
            println!("wrote the functions' environment to {}", path.display());
        }
        None => print!("{lines}"),
    }
    Ok(())
}

/// The API key partners use locally: kept in a file so it survives restarts.
fn api_key(path: &PathBuf) -> Result<String> {
    if let Ok(key) = std::fs::read_to_string(path)
        && !key.trim().is_empty()
    {
        return Ok(key.trim().to_string());
    }
    let key = format!("local-{}", uuid::Uuid::new_v4().simple());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, &key)?;
    Ok(key)
}

async fn run_gateway(
    args: &Args,
    template: &Template,
    created: &local_stack::provision::Provisioned,
    config: &aws_config::SdkConfig,
) -> Result<()> {
    // Each function's own timeout, as Lambda enforces it.
    let invoker = Invoker::new(&args.invoke_url, Duration::from_secs(3))?.with_timeouts(template);
    let key = api_key(&args.api_key_file)?;
    let gateway = Arc::new(Gateway::from_template(
        template,
        &created.scope,
        invoker.clone(),
        vec![key.clone()],
    )?);
    let sources = sqs::sources(template, &created.scope)?;
    let schedules = schedule::schedules(template);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    println!(
        "local API on http://127.0.0.1:{} (stage {})",
        args.port, gateway.stage
    );
    println!(
        "  {} routes, API key {key} (x-api-key)",
        gateway.routes.len()
    );
    let client = aws_sdk_sqs::Client::new(config);
    for source in sources {
        println!(
            "  SQS {} -> {} (batch {}, window {:?}, partial failures: {})",
            source.queue_url.rsplit('/').next().unwrap_or_default(),
            source.function,
            source.batch_size,
            source.window,
            source.report_failures
        );
        tokio::spawn(sqs::run(client.clone(), invoker.clone(), source));
    }
    for scheduled in schedules {
        let note = if scheduled.approximated {
            " (cron approximated as hourly locally)"
        } else {
            ""
        };
        println!(
            "  schedule {} -> {}{note}",
            scheduled.expression, scheduled.function
        );
        tokio::spawn(schedule::run(invoker.clone(), scheduled));
    }
    tokio::select! {
        served = gateway::serve(gateway.clone(), listener) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
