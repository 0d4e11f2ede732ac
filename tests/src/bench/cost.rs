//! What an order costs in AWS: the counted order (`pipeline::one_order`) priced at list prices,
//! next to the cheapest correct design of the same topology (the floor), and the alternatives an
//! operator can choose between (batching, memory, log volume, HTTP vs REST API).
//!
//! Every price is a public us-east-1 list price with the date it was read; nothing here calls
//! AWS. Fixed monthly costs (idle queue polls, secrets, alarms, the dashboard) are not per order
//! and are listed apart.

use std::collections::BTreeMap;

use serde::Serialize;

/// A list price, per `unit`, with where and when it was read.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Price {
    pub item: &'static str,
    pub usd: f64,
    pub unit: &'static str,
    pub source: &'static str,
}

/// When the prices were read from the pricing pages (us-east-1, on-demand, first tier).
pub const PRICES_READ: &str = "2025-06 (the public pricing pages; unchanged as far as known on 2026-12-02, which this offline machine cannot re-read)";

pub const API_REST: Price = Price {
    item: "API Gateway REST API request",
    usd: 3.50e-6,
    unit: "request",
    source: "aws.amazon.com/api-gateway/pricing (first 333 M a month)",
};
pub const API_HTTP: Price = Price {
    item: "API Gateway HTTP API request",
    usd: 1.00e-6,
    unit: "request",
    source: "aws.amazon.com/api-gateway/pricing (first 300 M a month)",
};
pub const LAMBDA_REQUEST: Price = Price {
    item: "Lambda invocation",
    usd: 0.20e-6,
    unit: "invocation",
    source: "aws.amazon.com/lambda/pricing",
};
pub const LAMBDA_ARM_GB_S: Price = Price {
    item: "Lambda duration, arm64",
    usd: 0.000_013_333_4,
    unit: "GB-second",
    source: "aws.amazon.com/lambda/pricing (first 7.5 G GB-s a month)",
};
pub const LAMBDA_X86_GB_S: Price = Price {
    item: "Lambda duration, x86_64",
    usd: 0.000_016_666_7,
    unit: "GB-second",
    source: "aws.amazon.com/lambda/pricing",
};
pub const DYNAMODB_WRU: Price = Price {
    item: "DynamoDB on-demand write request unit",
    usd: 0.625e-6,
    unit: "WRU",
    source: "aws.amazon.com/dynamodb/pricing/on-demand (since the 2024-11-01 cut)",
};
pub const DYNAMODB_RRU: Price = Price {
    item: "DynamoDB on-demand read request unit",
    usd: 0.125e-6,
    unit: "RRU",
    source: "aws.amazon.com/dynamodb/pricing/on-demand",
};
pub const SQS_REQUEST: Price = Price {
    item: "SQS standard request (64 KB chunk)",
    usd: 0.40e-6,
    unit: "request",
    source: "aws.amazon.com/sqs/pricing (after the first 1 M a month)",
};
pub const SES_EMAIL: Price = Price {
    item: "SES outbound e-mail",
    usd: 0.10e-3,
    unit: "e-mail",
    source: "aws.amazon.com/ses/pricing",
};
pub const LOGS_GB: Price = Price {
    item: "CloudWatch Logs ingestion",
    usd: 0.50,
    unit: "GB",
    source: "aws.amazon.com/cloudwatch/pricing (standard class)",
};
pub const XRAY_TRACE: Price = Price {
    item: "X-Ray trace recorded",
    usd: 5.00e-6,
    unit: "trace",
    source: "aws.amazon.com/xray/pricing (after the first 100 k a month)",
};

pub const PRICES: [Price; 11] = [
    API_REST,
    API_HTTP,
    LAMBDA_REQUEST,
    LAMBDA_ARM_GB_S,
    LAMBDA_X86_GB_S,
    DYNAMODB_WRU,
    DYNAMODB_RRU,
    SQS_REQUEST,
    SES_EMAIL,
    LOGS_GB,
    XRAY_TRACE,
];

/// Lambda's own log lines per invocation (START, END, REPORT in JSON), bytes: an assumption.
pub const PLATFORM_LOG_BYTES: f64 = 350.0;
/// X-Ray's default sampling: the first request each second, then 5%; at any real rate, 5% of
/// the traces an order starts (one per API request and per queue hop).
pub const XRAY_SAMPLED: f64 = 0.05;
/// The real Stripe API's latency for creating and confirming a PaymentIntent, which localstripe
/// answers in milliseconds: an assumption, added to process-payment's billed time.
pub const STRIPE_MS: f64 = 400.0;

/// What one order uses, per AWS service: the quantities the prices multiply.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    pub api_requests: f64,
    pub lambda_invocations: f64,
    pub lambda_gb_s: f64,
    pub wru: f64,
    pub rru: f64,
    pub sqs_requests: f64,
    pub emails: f64,
    pub log_bytes: f64,
    pub traces: f64,
}

/// One design's cost per million orders, by line.
#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub lines: BTreeMap<&'static str, f64>,
    /// Everything but the notice e-mail (which every design sends, and which alone is $100 per
    /// million): what the design changes.
    pub per_million_usd: f64,
    pub with_email_per_million_usd: f64,
}

/// The bill for `usage` at REST or HTTP API prices.
pub fn bill(usage: &Usage, api: Price) -> Bill {
    let million = 1e6;
    let lines: BTreeMap<&'static str, f64> = [
        ("API Gateway", usage.api_requests * api.usd * million),
        (
            "Lambda invocations",
            usage.lambda_invocations * LAMBDA_REQUEST.usd * million,
        ),
        (
            "Lambda duration",
            usage.lambda_gb_s * LAMBDA_ARM_GB_S.usd * million,
        ),
        ("DynamoDB writes", usage.wru * DYNAMODB_WRU.usd * million),
        ("DynamoDB reads", usage.rru * DYNAMODB_RRU.usd * million),
        ("SQS", usage.sqs_requests * SQS_REQUEST.usd * million),
        (
            "CloudWatch Logs",
            usage.log_bytes / 1e9 * LOGS_GB.usd * million,
        ),
        (
            "X-Ray",
            usage.traces * XRAY_SAMPLED * XRAY_TRACE.usd * million,
        ),
    ]
    .into();
    let per_million_usd = lines.values().sum();
    Bill {
        lines,
        per_million_usd,
        with_email_per_million_usd: per_million_usd + usage.emails * SES_EMAIL.usd * million,
    }
}

/// What the counted order used: DynamoDB units and requests as moto counted them, one API
/// request (the `POST /orders`; a client's status checks are its own), the invocations and their
/// billed time (the local durations, plus the real provider's latency for the payment), SQS
/// sends and deletes as counted and one receive per consumer invocation (idle polls are a fixed
/// cost), the logs each function writes per invocation (measured on the release binaries).
pub struct Counted<'a> {
    pub counts: &'a BTreeMap<String, f64>,
    pub invocations: &'a BTreeMap<String, u64>,
    pub invocation_ms: &'a BTreeMap<String, f64>,
    pub consumers: &'a [String],
    pub memory_mb: &'a BTreeMap<String, u64>,
    pub log_bytes_per_invocation: &'a BTreeMap<String, f64>,
}

impl Counted<'_> {
    pub fn usage(&self) -> Usage {
        let count = |op: &str| self.counts.get(op).copied().unwrap_or(0.0);
        let sqs_sent_or_deleted: f64 = self
            .counts
            .iter()
            .filter(|(op, _)| op.starts_with("AmazonSQS.") && !op.ends_with("ReceiveMessage"))
            .map(|(_, n)| n)
            .sum();
        let consumed: u64 = self
            .consumers
            .iter()
            .filter_map(|f| self.invocations.get(f))
            .sum();
        let mut gb_s = 0.0;
        let mut log_bytes = 0.0;
        for (function, n) in self.invocations {
            let memory_gb = self.memory_mb.get(function).copied().unwrap_or(256) as f64 / 1024.0;
            let mut ms = self.invocation_ms.get(function).copied().unwrap_or(0.0);
            if function == "process-payment" {
                ms += STRIPE_MS * *n as f64;
            }
            // Lambda bills each invocation rounded up to the millisecond.
            gb_s += memory_gb * (ms / 1000.0).max(*n as f64 / 1000.0);
            let own = self
                .log_bytes_per_invocation
                .get(function)
                .copied()
                .unwrap_or(0.0);
            log_bytes += *n as f64 * (own + PLATFORM_LOG_BYTES);
        }
        let invocations: u64 = self.invocations.values().sum();
        Usage {
            api_requests: 1.0,
            lambda_invocations: invocations as f64,
            lambda_gb_s: gb_s,
            wru: count("dynamodb.WriteUnits"),
            rru: count("dynamodb.ReadUnits"),
            sqs_requests: sqs_sent_or_deleted + consumed as f64,
            emails: count("sesv2.SendEmail"),
            log_bytes,
            traces: 1.0 + consumed as f64,
        }
    }
}

/// How the counted usage changes when the queue consumers get full batches of `batch` messages:
/// one invocation, one receive and one delete per batch instead of per order (the consumer's
/// billed time stays per record, the conservative reading).
pub fn batched(usage: &Usage, consumer_invocations: f64, batch: f64) -> Usage {
    let saved = consumer_invocations * (1.0 - 1.0 / batch);
    Usage {
        lambda_invocations: usage.lambda_invocations - saved,
        // a receive and a delete per batch
        sqs_requests: usage.sqs_requests - 2.0 * saved,
        log_bytes: usage.log_bytes - saved * PLATFORM_LOG_BYTES,
        traces: usage.traces - saved,
        ..usage.clone()
    }
}

/// The cheapest correct design of this topology, derived: a REST API with the authorizer's
/// answer cached (no authorizer invocation per order), create-order's one invocation, four queue
/// hops (reserve, pay, ship, notify) at full batches of 10, and the fewest DynamoDB writes that
/// keep every guarantee with items under 1 KB:
///
/// - place: the order put conditionally on its idempotency key (1 WRU), after reading the two
///   products' prices in one eventually consistent batch read (2 x 0.5 RRU);
/// - reserve: one transaction decrementing both stocks and moving the order (3 items x 2 WRU);
/// - pay, ship, notify: one conditional update of the order each (3 x 1 WRU);
///
/// SQS: four sends, and a receive and a delete per batch of 10 at each hop (4 + 0.8). Lambda's
/// billed time and logs per invocation are taken as ours (the floor is a design, not a faster
/// handler), so the ratio to it measures the design.
pub fn floor(
    ours: &Usage,
    create_order_gb_s: f64,
    consumer_gb_s: f64,
    logs_per_invocation: f64,
) -> Usage {
    let invocations = 1.0 + 4.0 / 10.0;
    Usage {
        api_requests: 1.0,
        lambda_invocations: invocations,
        lambda_gb_s: create_order_gb_s + consumer_gb_s,
        wru: 1.0 + 6.0 + 3.0,
        rru: 1.0,
        sqs_requests: 4.0 + 4.0 * 2.0 / 10.0,
        emails: ours.emails,
        log_bytes: invocations * (logs_per_invocation + PLATFORM_LOG_BYTES),
        traces: 1.0 + 4.0 / 10.0,
    }
}
