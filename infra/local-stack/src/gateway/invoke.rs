//! Invoking a function through the Lambda Invoke API that `cargo lambda watch` serves, exactly as
//! the AWS SDK would (`POST /2015-03-31/functions/{name}/invocations`), and with its `Timeout` from
//! the template enforced as Lambda does: an invocation that has not answered by then has failed
//! (`Sandbox.Timedout`), whatever it does later.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Invoker {
    client: reqwest::Client,
    base: String,
    /// Each function's timeout; `default` for a function the template does not name.
    timeouts: Arc<BTreeMap<String, Duration>>,
    default: Duration,
}

/// What a function returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Returned(Value),
    /// The function failed (`X-Amz-Function-Error`), with its error document.
    Failed(Value),
}

impl Invoker {
    /// Every function times out after `timeout` unless [`Invoker::with_timeouts`] says otherwise.
    pub fn new(base: &str, timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the invoke client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            timeouts: Arc::default(),
            default: timeout,
        })
    }

    /// The template's `Timeout` of each function (by binary name).
    pub fn with_timeouts(mut self, template: &crate::template::Template) -> Self {
        let timeouts = template
            .functions()
            .into_iter()
            .map(|f| (f.binary, f.timeout))
            .collect();
        self.timeouts = Arc::new(timeouts);
        self
    }

    pub fn timeout_of(&self, function: &str) -> Duration {
        self.timeouts.get(function).copied().unwrap_or(self.default)
    }

    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Outcome> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let timeout = self.timeout_of(function);
        let sent = self
            .client
            .post(&url)
            .timeout(timeout)
            .json(payload)
            .send()
            .await;
        let response = match sent {
            Err(e) if e.is_timeout() => return Ok(timed_out(timeout)),
            other => other.with_context(|| format!("invoking {function} at {url}"))?,
        };
        let failed = response.headers().contains_key("x-amz-function-error");
        let status = response.status();
        let bytes = match response.bytes().await {
            Err(e) if e.is_timeout() => return Ok(timed_out(timeout)),
            other => other.context("reading the invoke response")?,
        };
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if failed || !status.is_success() {
            Ok(Outcome::Failed(value))
        } else {
            Ok(Outcome::Returned(value))
        }
    }
}

/// What Lambda reports for an invocation that ran out of time.
fn timed_out(timeout: Duration) -> Outcome {
    Outcome::Failed(serde_json::json!({
        "errorType": "Sandbox.Timedout",
        "errorMessage": format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invocation_past_its_timeout_has_failed_as_lambda_reports_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // A function that never answers.
        tokio::spawn(async move {
            let _held: Vec<_> = accept_and_hold(listener).await;
        });
        let invoker = Invoker::new(&base, Duration::from_millis(300)).unwrap();
        let outcome = invoker
            .invoke("slow", &serde_json::json!({}))
            .await
            .unwrap();
        let Outcome::Failed(error) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(error["errorType"], "Sandbox.Timedout");
    }

    async fn accept_and_hold(listener: tokio::net::TcpListener) -> Vec<tokio::net::TcpStream> {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
        held
    }
}
