//! One wiring seam: every use case and handler builds its ports from a [`Wiring`], once per cold
//! start, with [`Wire::wire`]. There are three sources and nothing else builds ports:
//!
//! - [`Aws`] over the [`Environment`]: what the Lambdas run on (table names, queue URLs and
//!   secrets from the variables `template.yaml` sets);
//! - [`Aws`] over the system tests' own resources (the same adapters, names by logical id);
//! - the in-memory fakes of `testing`, for fast use-case and handler tests.
//!
//! Because the AWS wiring is one piece of code whatever the names come from, the tests run the
//! functions exactly as deployed (the same probes, the same queues, the same payment adapter).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use aws_config::SdkConfig;

use crate::adapters::carrier::BuiltInCarrier;
use crate::adapters::dynamodb::{
    DynamoCatalog, DynamoIdempotency, DynamoInventory, DynamoOrders, DynamoRateCounter,
    DynamoUsers, TableProbe,
};
use crate::adapters::secrets::{SecretProbe, SecretsKeyStore};
use crate::adapters::ses::SesNotifier;
use crate::adapters::sqs::{QueueProbe, SqsQueues};
use crate::adapters::ssm::SsmFlagSource;
use crate::adapters::stripe::{ProviderProbe, Resilience, StripePayments};
use crate::config::{self, ConfigError, Deployment, Parameter, Secret, Table};
use crate::flags::LiveFlags;
use crate::pipeline::Queue;
use crate::ports::{
    Carrier, Catalog, Clock, DeadLetters, IdempotencyStore, Inventory, KeyStore, Notifier,
    OrderRepository, Payments, Probe, Queues, RateCounter, SystemClock, UserRepository,
};

/// Where ports come from.
pub trait Wiring: Send + Sync {
    fn orders(&self) -> Result<Arc<dyn OrderRepository>, ConfigError>;
    fn inventory(&self) -> Result<Arc<dyn Inventory>, ConfigError>;
    fn catalog(&self) -> Result<Arc<dyn Catalog>, ConfigError>;
    fn idempotency(&self) -> Result<Arc<dyn IdempotencyStore>, ConfigError>;
    fn users(&self) -> Result<Arc<dyn UserRepository>, ConfigError>;
    fn dead_letters(&self) -> Result<Arc<dyn DeadLetters>, ConfigError>;
    fn key_store(&self) -> Result<Arc<dyn KeyStore>, ConfigError>;
    fn rate_counter(&self) -> Result<Arc<dyn RateCounter>, ConfigError>;
    /// The queues a function sends to and, for a consumer, the dead-letter queue of the queue it
    /// consumes: exactly what its IAM policy allows.
    fn queues(
        &self,
        sends_to: &[Queue],
        consumes: Option<Queue>,
    ) -> Result<Arc<dyn Queues>, ConfigError>;
    /// The payment provider; its API key is read from its secret at the first call.
    fn payments(&self) -> Result<Arc<dyn Payments>, ConfigError>;
    fn carrier(&self) -> Arc<dyn Carrier>;
    /// Customers' notices: SES from the stage's sender identity (`NOTICE_SENDER`).
    fn notifier(&self) -> Result<Arc<dyn Notifier>, ConfigError>;
    fn clock(&self) -> Arc<dyn Clock>;
    /// The stage's feature flags, through a cache of `FLAGS_TTL_SECONDS` (default 30).
    fn flags(&self) -> Result<Arc<LiveFlags>, ConfigError>;
    /// What the deep health check asks: every table, queue and secret of the service, and the
    /// payment provider.
    fn probes(&self) -> Result<Vec<Box<dyn Probe>>, ConfigError>;
    /// A setting that has a default (`STALLED_AFTER_MINUTES`, ...): from the environment in the
    /// Lambdas, the default (or a test's override) elsewhere.
    fn setting(&self, name: &'static str, default: &str) -> String;

    fn deployment(&self) -> Result<Deployment, ConfigError> {
        Deployment::parse(self.setting("STAGE", "local"))
    }

    /// A whole-number setting.
    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        config::parse_number(name, &self.setting(name, &default.to_string()))
    }
}

/// Something built from a [`Wiring`]: a use case with its ports, or a handler's dependencies.
#[async_trait]
pub trait Wire: Sized + Send + Sync {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError>;
}

/// Where the AWS-backed adapters find their resources.
pub trait Resources: Send + Sync {
    fn table(&self, table: Table) -> Result<String, ConfigError>;
    fn queue_url(&self, queue: Queue) -> Result<String, ConfigError>;
    fn dead_letter_url(&self, queue: Queue) -> Result<String, ConfigError>;
    fn secret(&self, secret: Secret) -> Result<String, ConfigError>;
    fn parameter(&self, parameter: Parameter) -> Result<String, ConfigError>;
    fn setting(&self, name: &'static str, default: &str) -> String;
}

/// The resources a Lambda is given: the variables `template.yaml` sets for it.
pub struct Environment;

impl Resources for Environment {
    fn table(&self, table: Table) -> Result<String, ConfigError> {
        config::required(table.variable())
    }

    fn queue_url(&self, queue: Queue) -> Result<String, ConfigError> {
        config::required(queue.url_variable())
    }

    fn dead_letter_url(&self, queue: Queue) -> Result<String, ConfigError> {
        config::required(queue.dead_letter_url_variable())
    }

    fn secret(&self, secret: Secret) -> Result<String, ConfigError> {
        config::required(secret.variable())
    }

    fn parameter(&self, parameter: Parameter) -> Result<String, ConfigError> {
        config::required(parameter.variable())
    }

    fn setting(&self, name: &'static str, default: &str) -> String {
        config::optional(name, default)
    }
}

/// The ports on DynamoDB, SQS, Secrets Manager and Stripe, over some [`Resources`]. Clients are
/// built once; the payment adapter too, so its circuit breaker spans every invocation of a warm
/// container.
pub struct Aws<R> {
    config: SdkConfig,
    resources: R,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    payments: OnceLock<Arc<StripePayments>>,
}

impl<R: Resources> Aws<R> {
    pub fn new(config: SdkConfig, resources: R) -> Self {
        Self {
            config,
            resources,
            dynamodb: OnceLock::new(),
            sqs: OnceLock::new(),
            payments: OnceLock::new(),
        }
    }

    pub fn resources(&self) -> &R {
        &self.resources
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| aws_sdk_dynamodb::Client::new(&self.config))
            .clone()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.config))
            .clone()
    }

    fn table(&self, table: Table) -> Result<String, ConfigError> {
        self.resources.table(table)
    }

    fn dynamo_orders(&self) -> Result<DynamoOrders, ConfigError> {
        let orders = DynamoOrders::new(self.dynamodb(), self.table(Table::Orders)?);
        // Only create-order completes idempotency claims; the others need no such table.
        Ok(match self.table(Table::Idempotency) {
            Ok(idempotency) => orders.with_idempotency_table(idempotency),
            Err(_) => orders,
        })
    }
}

impl Aws<Environment> {
    /// The Lambda's own wiring: the SDK's standard configuration (`AWS_ENDPOINT_URL` points it at
    /// the emulator locally) and the environment's names.
    pub async fn from_environment() -> Self {
        Self::new(config::aws().await, Environment)
    }
}

impl<R: Resources> Wiring for Aws<R> {
    fn orders(&self) -> Result<Arc<dyn OrderRepository>, ConfigError> {
        Ok(Arc::new(self.dynamo_orders()?))
    }

    fn inventory(&self) -> Result<Arc<dyn Inventory>, ConfigError> {
        Ok(Arc::new(DynamoInventory::new(
            self.dynamodb(),
            self.table(Table::Orders)?,
            self.table(Table::Products)?,
        )))
    }

    fn catalog(&self) -> Result<Arc<dyn Catalog>, ConfigError> {
        Ok(Arc::new(DynamoCatalog::new(
            self.dynamodb(),
            self.table(Table::Products)?,
        )))
    }

    fn idempotency(&self) -> Result<Arc<dyn IdempotencyStore>, ConfigError> {
        Ok(Arc::new(DynamoIdempotency::new(
            self.dynamodb(),
            self.table(Table::Idempotency)?,
        )))
    }

    fn users(&self) -> Result<Arc<dyn UserRepository>, ConfigError> {
        Ok(Arc::new(DynamoUsers::new(
            self.dynamodb(),
            self.table(Table::Users)?,
        )))
    }

    fn dead_letters(&self) -> Result<Arc<dyn DeadLetters>, ConfigError> {
        Ok(Arc::new(self.dynamo_orders()?))
    }

    fn key_store(&self) -> Result<Arc<dyn KeyStore>, ConfigError> {
        Ok(Arc::new(SecretsKeyStore::new(
            &self.config,
            self.resources.secret(Secret::SigningKey)?,
        )))
    }

    fn rate_counter(&self) -> Result<Arc<dyn RateCounter>, ConfigError> {
        Ok(Arc::new(DynamoRateCounter::new(
            self.dynamodb(),
            self.table(Table::RateLimits)?,
        )))
    }

    fn queues(
        &self,
        sends_to: &[Queue],
        consumes: Option<Queue>,
    ) -> Result<Arc<dyn Queues>, ConfigError> {
        let mut queues = SqsQueues::new(self.sqs());
        for queue in sends_to {
            queues = queues.with_queue(*queue, self.resources.queue_url(*queue)?);
        }
        if let Some(queue) = consumes {
            queues = queues.with_dead_letters(queue, self.resources.dead_letter_url(queue)?);
        }
        Ok(Arc::new(queues))
    }

    fn payments(&self) -> Result<Arc<dyn Payments>, ConfigError> {
        if let Some(payments) = self.payments.get() {
            return Ok(payments.clone());
        }
        let secret = self.resources.secret(Secret::PaymentProvider)?;
        let base = self.setting("STRIPE_API_BASE", "https://api.stripe.com");
        let defaults = Resilience::default();
        let cool_down = self.number(
            "PAYMENT_BREAKER_COOL_DOWN_SECONDS",
            defaults.breaker_cool_down.as_secs(),
        )?;
        let threshold = self.number(
            "PAYMENT_BREAKER_THRESHOLD",
            u64::from(defaults.breaker_threshold),
        )?;
        let resilience = Resilience {
            breaker_cool_down: std::time::Duration::from_secs(cool_down),
            breaker_threshold: u32::try_from(threshold).unwrap_or(u32::MAX),
            ..defaults
        };
        let payments = StripePayments::from_secret(&self.config, &secret, &base, resilience)?;
        Ok(self.payments.get_or_init(|| Arc::new(payments)).clone())
    }

    fn carrier(&self) -> Arc<dyn Carrier> {
        Arc::new(BuiltInCarrier)
    }

    fn notifier(&self) -> Result<Arc<dyn Notifier>, ConfigError> {
        let sender = self.resources.setting("NOTICE_SENDER", "");
        if sender.is_empty() {
            return Err(ConfigError::Missing("NOTICE_SENDER"));
        }
        // No retries: SES takes no idempotency key, so a retry after a lost answer could send a
        // notice twice; a failed call loses that notice instead (docs/notifications.md).
        let config = aws_sdk_sesv2::config::Builder::from(&self.config)
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .build();
        Ok(Arc::new(SesNotifier::new(
            aws_sdk_sesv2::Client::from_conf(config),
            sender,
        )))
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    fn flags(&self) -> Result<Arc<LiveFlags>, ConfigError> {
        let source = SsmFlagSource::new(
            aws_sdk_ssm::Client::new(&self.config),
            self.resources.parameter(Parameter::Flags)?,
        );
        let ttl = self.number("FLAGS_TTL_SECONDS", 30)?;
        Ok(Arc::new(LiveFlags::new(
            Arc::new(source),
            self.clock(),
            std::time::Duration::from_secs(ttl),
        )))
    }

    fn probes(&self) -> Result<Vec<Box<dyn Probe>>, ConfigError> {
        let mut probes: Vec<Box<dyn Probe>> = Vec::new();
        for table in Table::ALL {
            let name = self.table(table)?;
            probes.push(Box::new(TableProbe::new(
                self.dynamodb(),
                table.name(),
                name,
            )));
        }
        for queue in Queue::ALL {
            let url = self.resources.queue_url(queue)?;
            let name = format!("{} queue", queue.slug());
            probes.push(Box::new(QueueProbe::new(self.sqs(), name, url)));
        }
        for (secret, name) in [
            (Secret::SigningKey, "signing keys"),
            (Secret::PaymentProvider, "payment provider key"),
        ] {
            let id = self.resources.secret(secret)?;
            probes.push(Box::new(SecretProbe::new(&self.config, name, id)));
        }
        let base = self.setting("STRIPE_API_BASE", "https://api.stripe.com");
        probes.push(Box::new(ProviderProbe::new(&base)?));
        Ok(probes)
    }

    fn setting(&self, name: &'static str, default: &str) -> String {
        self.resources.setting(name, default)
    }
}
