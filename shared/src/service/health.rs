//! The deep health check: asks every dependency (tables, queues, secrets, the payment provider),
//! concurrently, with a deadline. Unavailable when a required one fails; degraded when only an
//! optional one does (the payment provider: payments wait for it, orders are still taken).

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::config::ConfigError;
use crate::ports::Probe;
use crate::wiring::{Wire, Wiring};

/// The dependencies to ask.
pub struct HealthCheck {
    pub probes: Vec<Box<dyn Probe>>,
}

#[async_trait]
impl Wire for HealthCheck {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            probes: from.probes()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = HealthCheck))]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub required: bool,
    /// How long the dependency took to answer (or to time out).
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Every required dependency answered.
    pub healthy: bool,
    /// An optional one did not.
    pub degraded: bool,
    pub checks: Vec<Check>,
}

/// How long one dependency may take before it counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn check(probes: &[Box<dyn Probe>]) -> Health {
    let checks =
        futures::future::join_all(probes.iter().map(|probe| probe_one(probe.as_ref()))).await;
    Health {
        healthy: checks.iter().all(|c| c.ok || !c.required),
        degraded: checks.iter().any(|c| !c.ok && !c.required),
        checks,
    }
}

async fn probe_one(probe: &dyn Probe) -> Check {
    let started = std::time::Instant::now();
    let ok = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::warn!(dependency = probe.name(), error = %err.chain(), "health probe failed");
            false
        }
        Err(_) => {
            tracing::warn!(dependency = probe.name(), "health probe timed out");
            false
        }
    };
    Check {
        name: probe.name().to_string(),
        ok,
        required: probe.required(),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}
