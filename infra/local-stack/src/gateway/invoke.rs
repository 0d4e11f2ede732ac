//! Invoking a function through the Lambda Invoke API that `cargo lambda watch` serves, exactly as
//! the AWS SDK would (`POST /2015-03-31/functions/{name}/invocations`).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Invoker {
    client: reqwest::Client,
    base: String,
}

/// What a function returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Returned(Value),
    /// The function failed (`X-Amz-Function-Error`), with its error document.
    Failed(Value),
}

impl Invoker {
    pub fn new(base: &str, timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .context("building the invoke client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Outcome> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let response = self
            .client
            .post(&url)
            .json(payload)
            .send()
            .await
            .with_context(|| format!("invoking {function} at {url}"))?;
        let failed = response.headers().contains_key("x-amz-function-error");
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the invoke response")?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if failed || !status.is_success() {
            Ok(Outcome::Failed(value))
        } else {
            Ok(Outcome::Returned(value))
        }
    }
}
