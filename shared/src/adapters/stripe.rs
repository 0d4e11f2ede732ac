//! The payment provider: Stripe's PaymentIntents API over HTTPS (localstripe on loopback
//! locally; the base URL is configuration). The API key is read from Secrets Manager at the first
//! call (a cold start makes no network call), read again when the provider refuses it (a
//! rotation), and never logged.
//!
//! Transient failures (no connection, timeouts, 5xx, 429) are retried with exponential backoff
//! and full jitter, each attempt bounded by the time the current record has left
//! ([`crate::deadline`]): a retry that would not fit is not started. A call that still fails
//! counts against a circuit breaker, which then answers [`AppError::Unavailable`] at once so the
//! payment step parks its messages instead of hammering a provider that is down. A request the
//! provider refuses (4xx: an unknown payment method, say) is [`AppError::Rejected`], which is not
//! retried.
//!
//! Idempotency keys without their trap. Every request that creates or moves money carries an
//! `Idempotency-Key` derived from the order or the intent, so a retry of a request whose answer
//! was lost gets that answer. But Stripe saves the *first* answer of a key, a 500 included, and
//! replays it for 24 hours: a key that once got a 500 is poisoned. So a key that got a 5xx is
//! never used again: the next attempt uses the next key of its series (`…-2`, `…-3`), and an
//! answer marked `Idempotent-Replayed` with a 5xx is skipped at once. After any doubt the adapter
//! reads the provider's state (the intent, its refunds) before acting, so no replayed error
//! decides anything.

use std::sync::RwLock;
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
/// Keys of one series tried within one call at most (replayed 5xx are skipped without waiting).
const KEY_SERIES: u32 = 16;
/// The soonest the key is read again after the provider refused it.
const KEY_REREAD: Duration = Duration::from_secs(10);

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

/// Where the API key comes from, so it can be read again after a rotation.
struct KeySource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    /// When the secret was last read again after a refusal.
    last_read: std::sync::Mutex<Option<Instant>>,
}

pub struct StripePayments {
    http: reqwest::Client,
    base_url: String,
    /// None until the first call reads it from its secret: a cold start makes no network call.
    api_key: RwLock<Option<String>>,
    /// One first read at a time: the records of a batch wait for the same read.
    first_read: tokio::sync::Mutex<()>,
    source: Option<KeySource>,
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

/// Why one attempt did not produce a usable answer.
enum Failed {
    /// No answer, or one worth retrying with the same key (429, a gateway's 503, a timeout): the
    /// request may or may not have been carried out; its key still tells.
    Transient(String),
    /// The provider answered 5xx: the key is poisoned; the next attempt needs the next key.
    Poisoned(String),
    /// A 5xx replayed for a key poisoned earlier: move on to the next key at once.
    Replayed,
    /// The API key was refused.
    Unauthorized,
}

/// The `n`th key of a series (`base`, `base-2`, `base-3`, ...).
fn key_of(base: &str, n: u32) -> String {
    if n == 0 {
        base.to_string()
    } else {
        format!("{base}-{}", n + 1)
    }
}

fn parse_key(raw: &str) -> Option<String> {
    let key = serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| v["apiKey"].as_str().map(str::to_string))
        .unwrap_or_else(|| raw.trim().to_string());
    (key.starts_with("sk_") || key.starts_with("rk_")).then_some(key)
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, String> {
    let secret = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    parse_key(secret.secret_string().unwrap_or_default())
        .ok_or_else(|| format!("secret {secret_id} holds no Stripe API key (sk_... or rk_...)"))
}

impl StripePayments {
    pub fn new(base_url: &str, api_key: String, resilience: Resilience) -> Result<Self, AppError> {
        Self::with_key(base_url, Some(api_key), None, resilience)
    }

    fn with_key(
        base_url: &str,
        api_key: Option<String>,
        source: Option<KeySource>,
        resilience: Resilience,
    ) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| AppError::internal("payment client", e))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: RwLock::new(api_key),
            first_read: tokio::sync::Mutex::new(()),
            source,
            backoff: resilience.backoff,
            timeout: resilience.timeout,
            breaker: CircuitBreaker::new(
                PROVIDER,
                resilience.breaker_threshold,
                resilience.breaker_cool_down,
            ),
        })
    }

    /// The key from a secret holding `{"apiKey": "sk_..."}` (or the bare key), read at the first
    /// call, not at cold start, and read again when the provider refuses it. While the secret
    /// holds no Stripe secret or restricted key (the template's placeholder), every call is
    /// refused as `Unavailable` and the error log names the secret: payments park, as in a
    /// provider outage, and go on once the key is there.
    pub fn from_secret(
        aws: &aws_config::SdkConfig,
        secret_id: &str,
        base_url: &str,
        resilience: Resilience,
    ) -> Result<Self, ConfigError> {
        let source = KeySource {
            client: aws_sdk_secretsmanager::Client::new(aws),
            secret_id: secret_id.to_string(),
            last_read: std::sync::Mutex::new(None),
        };
        Self::with_key(base_url, None, Some(source), resilience).map_err(|e| {
            ConfigError::Unusable {
                what: "payment provider client",
                reason: e.chain(),
            }
        })
    }

    fn key(&self) -> String {
        self.cached_key().unwrap_or_default()
    }

    fn cached_key(&self) -> Option<String> {
        self.api_key.read().ok().and_then(|k| k.clone())
    }

    /// Reads the key from its secret if no call has yet.
    async fn load_key(&self) -> Result<(), AppError> {
        if self.cached_key().is_some() {
            return Ok(());
        }
        let _one_at_a_time = self.first_read.lock().await;
        if self.cached_key().is_some() {
            return Ok(());
        }
        let Some(source) = &self.source else {
            return Err(AppError::dependency(PROVIDER, "no API key"));
        };
        // Bounded like an attempt, so a slow Secrets Manager cannot take the record's deadline.
        let read = match self.attempt_timeout_after(Duration::ZERO) {
            Some(limit) => {
                tokio::time::timeout(limit, read_secret(&source.client, &source.secret_id))
                    .await
                    .unwrap_or_else(|_| Err("reading the secret timed out".to_string()))
            }
            None => Err("no time left to read the secret before the deadline".to_string()),
        };
        let key = read
            .map_err(|reason| {
                tracing::error!(secret = %source.secret_id, error = %reason, "payment provider key unreadable; payments park until its secret holds one");
                AppError::Unavailable("the payment provider's API key")
            })?;
        if let Ok(mut cached) = self.api_key.write() {
            *cached = Some(key);
        }
        Ok(())
    }

    /// After the provider refused `refused`: whether there is another key to try. A concurrent
    /// call may have read it already; else the secret is read again, at most every `KEY_REREAD`.
    /// False when there is nothing new (no secret, read too recently, or the same key).
    async fn reread_key(&self, refused: &str) -> bool {
        let Some(source) = &self.source else {
            return false;
        };
        if self.key() != refused {
            return true;
        }
        {
            let mut last = source.last_read.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < KEY_REREAD) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match read_secret(&source.client, &source.secret_id).await {
            Ok(fresh) if fresh != self.key() => {
                if let Ok(mut key) = self.api_key.write() {
                    *key = Some(fresh);
                }
                tracing::warn!("payment provider key refused; a new key was read from its secret");
                true
            }
            Ok(_) => false,
            Err(err) => {
                tracing::error!(error = %err, "payment provider key refused and its secret unreadable");
                false
            }
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

    /// One API call through the breaker: transient failures retried with backoff, a poisoned
    /// key replaced by the next of its series, a refused API key read again once.
    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        key_base: Option<&str>,
    ) -> Result<Reply, AppError> {
        // An unreadable secret is not the provider's failure: it stays out of the breaker's count.
        self.load_key().await?;
        let Some(mut timeout) = self.attempt_timeout_after(Duration::ZERO) else {
            return Err(AppError::dependency(
                PROVIDER,
                "no time left for a call before the deadline",
            ));
        };
        self.breaker.admit(Instant::now())?;
        let (mut retry, mut series, mut key_reread) = (0, 0, false);
        loop {
            let key = key_base.map(|base| key_of(base, series));
            let api_key = self.key();
            let failed = match self
                .send(
                    method.clone(),
                    path,
                    form,
                    &api_key,
                    key.as_deref(),
                    timeout,
                )
                .await
            {
                Ok(reply) => {
                    self.breaker.succeeded();
                    return Ok(reply);
                }
                Err(failed) => failed,
            };
            let reason = match failed {
                Failed::Replayed if series + 1 < KEY_SERIES => {
                    series += 1;
                    continue;
                }
                Failed::Unauthorized if !key_reread => {
                    key_reread = true;
                    if self.reread_key(&api_key).await {
                        continue;
                    }
                    format!("{PROVIDER} refused the API key")
                }
                Failed::Unauthorized => format!("{PROVIDER} refused the API key"),
                Failed::Replayed => format!("{PROVIDER} replays 5xx for every key of the series"),
                Failed::Poisoned(reason) => {
                    series += 1;
                    reason
                }
                Failed::Transient(reason) => reason,
            };
            let wait = self.backoff.delay(retry);
            let next = (retry + 1 < self.backoff.attempts && series < KEY_SERIES)
                .then(|| self.attempt_timeout_after(wait))
                .flatten();
            let Some(next) = next else {
                // Out of attempts, or of time: the call failed, and the breaker hears of it.
                self.breaker.failed(Instant::now());
                return Err(AppError::dependency(PROVIDER, reason));
            };
            tracing::warn!(path, error = %reason, retry, wait_ms = wait.as_millis() as u64, "payment provider call failed; retrying");
            tokio::time::sleep(wait).await;
            timeout = next;
            retry += 1;
        }
    }

    /// One attempt.
    async fn send(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, String)],
        api_key: &str,
        idempotency_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Reply, Failed> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .timeout(timeout)
            .bearer_auth(api_key)
            .header("Stripe-Version", "2024-06-20");
        if method == Method::POST {
            request = request.form(form);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failed::Transient(e.to_string()))?;
        let status = response.status();
        let replayed = response.headers().contains_key("idempotent-replayed");
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failed::Unauthorized);
        }
        if status.is_server_error() && replayed {
            return Err(Failed::Replayed);
        }
        if status.is_server_error()
            && idempotency_key.is_some()
            && status != StatusCode::SERVICE_UNAVAILABLE
        {
            return Err(Failed::Poisoned(format!("{PROVIDER} answered {status}")));
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Failed::Transient(format!("{PROVIDER} answered {status}")));
        }
        let body = response
            .json::<Value>()
            .await
            .map_err(|e| Failed::Transient(e.to_string()))?;
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

/// An intent is the order's only if it asks for the order's total, in its currency, for it:
/// anything else is not acted on (a mix-up of ids, or an intent changed at the provider).
fn check_intent(order: &Order, intent: &Value) -> Result<(), AppError> {
    let amount = intent["amount"].as_i64();
    let currency = intent["currency"].as_str().map(str::to_ascii_uppercase);
    let for_order = intent["metadata"]["order_id"].as_str();
    if amount == Some(order.total.amount)
        && currency.as_deref() == Some(order.total.currency.as_str())
        && for_order == Some(order.id.as_str())
    {
        return Ok(());
    }
    Err(AppError::internal(
        "payment intent",
        format!(
            "intent {} is for {amount:?} {currency:?} of order {for_order:?}, not {} of {}",
            intent["id"], order.total.amount, order.id
        ),
    ))
}

/// What an intent's status means for the order; `None` while it still waits for confirmation.
fn outcome(intent: &Value) -> Result<Option<Charge>, AppError> {
    Ok(Some(match intent["status"].as_str().unwrap_or_default() {
        "succeeded" => Charge::Charged,
        "requires_confirmation" => return Ok(None),
        "requires_payment_method" => Charge::Declined(
            intent["last_payment_error"]["message"]
                .as_str()
                .unwrap_or("the card was declined")
                .to_string(),
        ),
        "requires_action" => {
            Charge::Abandoned("the card asks for authentication the customer must complete".into())
        }
        "canceled" => Charge::Declined("the payment was cancelled".into()),
        other => {
            return Err(AppError::dependency(
                "payment confirmation",
                format!("the payment is still {other}"),
            ));
        }
    }))
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
        check_intent(order, &reply.body)?;
        reply.id("payment creation")
    }

    /// Reads the intent first: one confirmed by an earlier delivery (whose answer was lost) is
    /// not confirmed again, and an intent that is not this order's is never confirmed.
    async fn confirm(&self, order: &Order, intent_id: &str) -> Result<Charge, AppError> {
        let intent = self.intent(intent_id).await?;
        check_intent(order, &intent)?;
        if let Some(done) = outcome(&intent)? {
            return Ok(done);
        }
        let key = format!("{intent_id}-confirm");
        let reply = self
            .call(
                Method::POST,
                &format!("/v1/payment_intents/{intent_id}/confirm"),
                &[],
                Some(&key),
            )
            .await?;
        let intent = match reply.status {
            s if s.is_success() => reply.body,
            StatusCode::PAYMENT_REQUIRED => return Ok(Charge::Declined(reply.message())),
            // Confirmed meanwhile (a concurrent delivery) or cancelled: read how it ended.
            StatusCode::BAD_REQUEST => self.intent(intent_id).await?,
            _ => return Err(reply.refused("payment confirmation")),
        };
        check_intent(order, &intent)?;
        outcome(&intent)?.ok_or_else(|| {
            AppError::dependency(
                "payment confirmation",
                "the payment still waits for confirmation",
            )
        })
    }

    async fn settle(&self, intent_id: &str) -> Result<Settlement, AppError> {
        let intent = self.intent(intent_id).await?;
        match intent["status"].as_str().unwrap_or_default() {
            "succeeded" => self.refund(intent_id).await,
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

impl StripePayments {
    /// Refunds a charged intent once: an earlier refund that went through (or is on its way)
    /// counts; one that failed does not, and the next attempt uses a key of its own (the failed
    /// refund's key would replay a refund that no longer stands).
    async fn refund(&self, intent_id: &str) -> Result<Settlement, AppError> {
        let earlier = self
            .call(
                Method::GET,
                &format!("/v1/refunds?payment_intent={intent_id}"),
                &[],
                None,
            )
            .await?;
        let refunds = earlier.body["data"].as_array().cloned().unwrap_or_default();
        let fell_through = |r: &Value| r["status"] == "failed" || r["status"] == "canceled";
        if let Some(refund_id) = refunds
            .iter()
            .find(|r| !fell_through(r))
            .and_then(|r| r["id"].as_str())
        {
            return Ok(Settlement::Refunded(refund_id.to_string()));
        }
        let failed = refunds.iter().filter(|r| fell_through(r)).count();
        let key = format!("{intent_id}-refund-{failed}");
        let form = [("payment_intent", intent_id.to_string())];
        let reply = self
            .call(Method::POST, "/v1/refunds", &form, Some(&key))
            .await?;
        if !reply.status.is_success() {
            return Err(reply.refused("refund"));
        }
        if fell_through(&reply.body) {
            return Err(AppError::dependency(
                "refund",
                "the refund did not go through",
            ));
        }
        Ok(Settlement::Refunded(reply.id("refund")?))
    }
}

/// The health probe of the payment provider: its API must answer over HTTPS. It sends no key
/// (the health function is not given it), so an answer of 401 means reachable; only no answer,
/// or a 5xx, is down. Not required: while the provider is down, orders are still taken and their
/// payments wait (the breaker and the park), so the deep check reports it as degraded, not 503.
pub struct ProviderProbe {
    http: reqwest::Client,
    url: String,
}

impl ProviderProbe {
    pub fn new(base_url: &str) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| ConfigError::Unusable {
                what: "payment provider client",
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            url: format!("{}/v1/balance", base_url.trim_end_matches('/')),
        })
    }
}

#[async_trait]
impl crate::ports::Probe for ProviderProbe {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), AppError> {
        let answer = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| AppError::dependency(PROVIDER, e))?;
        if answer.status().is_server_error() {
            return Err(AppError::dependency(
                PROVIDER,
                format!("it answered {}", answer.status()),
            ));
        }
        Ok(())
    }
}
