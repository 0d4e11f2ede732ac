//! `local-stack bootstrap`: create what template.yaml declares on the local emulator, write the
//! functions' environment to a file for `cargo lambda watch --env-file`, optionally seed the demo
//! catalog.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use local_stack::provision::provision;
use local_stack::template::Template;
use local_stack::{sdk_config, seed};

const USAGE: &str = "usage: local-stack bootstrap [--template template.yaml] \
[--endpoint http://127.0.0.1:5000] [--prefix local-] [--env-file .local/env] [--seed]";

struct Args {
    template: PathBuf,
    endpoint: String,
    prefix: String,
    env_file: Option<PathBuf>,
    seed: bool,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args> {
    if raw.next().as_deref() != Some("bootstrap") {
        bail!(USAGE);
    }
    let mut args = Args {
        template: "template.yaml".into(),
        endpoint: "http://127.0.0.1:5000".into(),
        prefix: "local-".into(),
        env_file: None,
        seed: false,
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
    let mut env = created.environment(&template)?;
    env.insert("AWS_ENDPOINT_URL".into(), args.endpoint.clone());
    env.insert("AWS_REGION".into(), "us-east-1".into());
    env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
    env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    if args.seed {
        let products = created
            .name("ProductsTable")
            .context("the template declares no ProductsTable")?;
        seed::demo_catalog(&config, products).await?;
        println!(
            "seeded {} demo products into {products}",
            seed::DEMO_CATALOG.len()
        );
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
