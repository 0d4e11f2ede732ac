//! The payment provider: Stripe's PaymentIntents API over HTTPS (localstripe on loopback
//! locally; the base URL is configuration). The API key is read from Secrets Manager once per
//! cold start and never logged.
//!
//! Transient failures (no connection, timeouts, 5xx, 429) are retried with exponential backoff
//! and full jitter, each attempt bounded by the time the current record has left
//! ([`crate::deadline`]): a retry that would not fit is not started. A call that still fails
//! counts against a circuit breaker, which then answers [`AppError::Unavailable`] at once so the
//! payment step parks its messages instead of hammering a provider that is down. A request the
//! provider refuses (4xx: an unknown payment method, say) is [`AppError::Rejected`], which is not
//! retried. Every request that creates something carries an `Idempotency-Key` derived from the
//! order or the intent, so Stripe itself also deduplicates.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::ConfigError;
use crate::domain::Order;
use crate::error::AppError;
use crate::ports::{Charge, Payments, Settlement};
use crate::resilience::{Backoff, CircuitBreaker};

const PROVIDER: &str = "payment provider";
/// The shortest attempt worth starting: below this a call cannot complete anyway.
const MIN_ATTEMPT: Duration = Duration::from_millis(300);
/// Kept back from the record's deadline, so a failed call is counted and reported before the
/// batch runner has to cut the record off.
const REPLY_MARGIN: Duration = Duration::from_millis(300);

/// How the adapter retries and when it stops trying.
#[derive(Debug, Clone, Copy)]
pub struct Resilience {
    pub backoff: Backoff,
    pub timeout: Duration,
    pub breaker_threshold: u32,
    pub breaker_cool_down: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Self {
            backoff: Backoff {
                attempts: 3,
                base: Duration::from_millis(100),
                cap: Duration::from_secs(2),
            },
            timeout: Duration::from_secs(5),
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(30),
        }
    }
}

pub struct StripePayments {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    backoff: Backoff,
    /// The longest one attempt may take when no deadline is nearer.
    timeout: Duration,
    breaker: CircuitBreaker,
}

/// A provider answer that is not a transient failure.
struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string()
    }

    /// The provider refused the request: for good (4xx but for authentication and conflicts,
    /// which a key rotation or a concurrent change explains), else as a failure worth retrying.
    fn refused(&self, what: &'static str) -> AppError {
        let reason = format!("{PROVIDER} answered {}: {}", self.status, self.message());
        let transient = matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::CONFLICT
        );
        if self.status.is_client_error() && !transient {
            AppError::Rejected { what, reason }
        } else {
            AppError::dependency(what, reason)
        }
    }

    fn id(&self, what: &'static str) -> Result<String, AppError> {
        self.body["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| AppError::dependency(what, "the provider's answer has no id"))
    }
}

impl StripePayments {
    pub fn new(base_url: &str, api_key: String, resilience: Resilience) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| AppError::internal("payment client", e))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            backoff: resilience.backoff,
            timeout: resilience.timeout,
            breaker: CircuitBreaker::new(
                PROVIDER,
                resilience.breaker_threshold,
                resilience.breaker_cool_down,
            ),
        })
    }

    /// The key from a secret holding `{"apiKey": "sk_..."}` (or the bare key). A key that is not
    /// a Stripe secret or restricted key (the template's placeholder) stops the function at
    /// cold start, naming the secret, instead of failing every payment.
    pub async fn from_secret(
        aws: &aws_config::SdkConfig,
        secret_id: &str,
        base_url: &str,
        resilience: Resilience,
    ) -> Result<Self, ConfigError> {
        let unusable = |reason: String| ConfigError::Unusable {
            what: "payment provider secret",
            reason,
        };
        let secret = aws_sdk_secretsmanager::Client::new(aws)
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                unusable(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
            })?;
        let raw = secret.secret_string().unwrap_or_default();
        let api_key = serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v["apiKey"].as_str().map(str::to_string))
            .unwrap_or_else(|| raw.trim().to_string());
        if !(api_key.starts_with("sk_") || api_key.starts_with("rk_")) {
            return Err(unusable(format!(
                "secret {secret_id} holds no Stripe API key (sk_... or rk_...)"
            )));
        }
        Self::new(base_url, api_key, resilience).map_err(|e| unusable(e.chain()))
    }

    /// How long the next attempt may take: the configured timeout, or less when the current
    /// record's deadline is nearer; `None` when not even a short attempt fits.
    fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout_after(Duration::ZERO)
    }

    /// One API call with retries for transient failures, through the breaker.
    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Reply, AppError> {
        let Some(mut timeout) = self.attempt_timeout() else {
            return Err(AppError::dependency(
                PROVIDER,
                "no time left for a call before the deadline",
            ));
        };
        self.breaker.admit(Instant::now())?;
        let mut retry = 0;
        loop {
            let failed = match self
                .send(method.clone(), path, form, idempotency_key, timeout)
                .await
            {
                Ok(reply) => {
                    self.breaker.succeeded();
                    return Ok(reply);
                }
                Err(transient) => transient,
            };
            let wait = self.backoff.delay(retry);
            let next = (retry + 1 < self.backoff.attempts)
                .then(|| self.attempt_timeout_after(wait))
                .flatten();
            let Some(next) = next else {
                // Out of attempts, or of time: the call failed, and the breaker hears of it.
                self.breaker.failed(Instant::now());
                return Err(AppError::dependency(PROVIDER, failed));
            };
            tracing::warn!(path, error = %failed, retry, wait_ms = wait.as_millis() as u64, "payment provider call failed; retrying");
            tokio::time::sleep(wait).await;
            timeout = next;
            retry += 1;
        }
    }

    /// The attempt timeout after waiting `wait`, if an attempt still fits then.
    fn attempt_timeout_after(&self, wait: Duration) -> Option<Duration> {
        match crate::deadline::remaining() {
            None => Some(self.timeout),
            Some(left) => {
                let left = left.saturating_sub(wait + REPLY_MARGIN);
                (left >= MIN_ATTEMPT).then(|| self.timeout.min(left))
            }
        }
    }

    /// One attempt: `Err` only for failures worth retrying.
    async fn send(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Reply, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .timeout(timeout)
            .bearer_auth(&self.api_key)
            .header("Stripe-Version", "2024-06-20");
        if method == Method::POST {
            request = request.form(form);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(format!("{PROVIDER} answered {status}"));
        }
        let body = response.json::<Value>().await.map_err(|e| e.to_string())?;
        Ok(Reply { status, body })
    }

    async fn intent(&self, intent_id: &str) -> Result<Value, AppError> {
        let reply = self
            .call(
                Method::GET,
                &format!("/v1/payment_intents/{intent_id}"),
                &[],
                None,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(reply.refused("payment lookup"));
        }
        Ok(reply.body)
    }

    async fn cancel(&self, intent_id: &str) -> Result<Reply, AppError> {
        self.call(
            Method::POST,
            &format!("/v1/payment_intents/{intent_id}/cancel"),
            &[],
            None,
        )
        .await
    }
}

/// What an intent's status means for the order.
fn outcome(intent: &Value) -> Result<Charge, AppError> {
    match intent["status"].as_str().unwrap_or_default() {
        "succeeded" => Ok(Charge::Charged),
        "requires_payment_method" => Ok(Charge::Declined(
            intent["last_payment_error"]["message"]
                .as_str()
                .unwrap_or("the card was declined")
                .to_string(),
        )),
        "requires_action" => Ok(Charge::Declined(
            "the card asks for authentication the customer must complete".into(),
        )),
        "canceled" => Ok(Charge::Declined("the payment was cancelled".into())),
        other => Err(AppError::dependency(
            "payment confirmation",
            format!("the payment is still {other}"),
        )),
    }
}

#[async_trait]
impl Payments for StripePayments {
    async fn start(&self, order: &Order) -> Result<String, AppError> {
        let form = [
            ("amount", order.total.amount.to_string()),
            ("currency", order.total.currency.as_str().to_lowercase()),
            ("payment_method", order.payment_method.as_str().to_string()),
            ("payment_method_types[]", "card".to_string()),
            ("metadata[order_id]", order.id.to_string()),
        ];
        let key = format!("order-{}-intent", order.id);
        let reply = self
            .call(Method::POST, "/v1/payment_intents", &form, Some(&key))
            .await?;
        if !reply.status.is_success() {
            return Err(reply.refused("payment creation"));
        }
        reply.id("payment creation")
    }

    async fn confirm(&self, intent_id: &str) -> Result<Charge, AppError> {
        let key = format!("{intent_id}-confirm");
        let reply = self
            .call(
                Method::POST,
                &format!("/v1/payment_intents/{intent_id}/confirm"),
                &[],
                Some(&key),
            )
            .await?;
        match reply.status {
            s if s.is_success() => outcome(&reply.body),
            StatusCode::PAYMENT_REQUIRED => Ok(Charge::Declined(reply.message())),
            // Already confirmed (by an earlier delivery) or cancelled: read how it ended.
            StatusCode::BAD_REQUEST => outcome(&self.intent(intent_id).await?),
            _ => Err(reply.refused("payment confirmation")),
        }
    }

    async fn settle(&self, intent_id: &str) -> Result<Settlement, AppError> {
        let intent = self.intent(intent_id).await?;
        match intent["status"].as_str().unwrap_or_default() {
            "succeeded" => {
                let earlier = self
                    .call(
                        Method::GET,
                        &format!("/v1/refunds?payment_intent={intent_id}"),
                        &[],
                        None,
                    )
                    .await?;
                let found = earlier.body["data"].as_array().and_then(|refunds| {
                    refunds
                        .iter()
                        .find(|r| r["status"] != "failed" && r["status"] != "canceled")
                        .and_then(|r| r["id"].as_str())
                        .map(str::to_string)
                });
                if let Some(refund_id) = found {
                    return Ok(Settlement::Refunded(refund_id));
                }
                let key = format!("{intent_id}-refund");
                let form = [("payment_intent", intent_id.to_string())];
                let reply = self
                    .call(Method::POST, "/v1/refunds", &form, Some(&key))
                    .await?;
                if !reply.status.is_success() {
                    return Err(reply.refused("refund"));
                }
                Ok(Settlement::Refunded(reply.id("refund")?))
            }
            "canceled" => Ok(Settlement::Voided),
            "requires_payment_method" | "requires_confirmation" | "requires_action" => {
                let reply = self.cancel(intent_id).await?;
                if !reply.status.is_success() {
                    // It moved on meanwhile (a confirmation won): the next delivery refunds it.
                    return Err(reply.refused("payment cancellation"));
                }
                Ok(Settlement::Voided)
            }
            other => Err(AppError::dependency(
                "refund",
                format!("the payment is still {other}"),
            )),
        }
    }

    async fn abandon(&self, intent_id: &str) -> Result<(), AppError> {
        let reply = self.cancel(intent_id).await?;
        if !reply.status.is_success() {
            return Err(reply.refused("payment cancellation"));
        }
        Ok(())
    }
}
