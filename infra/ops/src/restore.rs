//! Restoring the orders table, as docs/runbooks/restore-table.md does it: a backup, a restore into
//! a new table (from the backup, or to a point in time), and the settings a restore does not carry
//! over (point-in-time recovery, deletion protection). The runbook's commands are these functions
//! (`order-admin orders-table ...`), and `make dr-drill` runs them against the local stack, so
//! the procedure and its rehearsal cannot drift apart.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::DateTime as SdkTime;
use aws_sdk_dynamodb::types::{PointInTimeRecoverySpecification, TableStatus};
use chrono::{DateTime, Utc};

/// How long a restore may take before the command gives up waiting (it goes on in AWS).
const RESTORE_WAIT: Duration = Duration::from_secs(4 * 3600);

/// What a restore starts from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An on-demand backup (`back_up`) or AWS Backup's daily one, by ARN.
    Backup(String),
    /// The table as it was at a moment of the last 35 days (point-in-time recovery).
    PointInTime { table: String, at: DateTime<Utc> },
}

/// An on-demand backup of `table`, named `name`; returns its ARN.
pub async fn back_up(client: &Client, table: &str, name: &str) -> Result<String> {
    let out = client
        .create_backup()
        .table_name(table)
        .backup_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("backing up {table}: {}", DisplayErrorContext(e)))?;
    out.backup_details
        .map(|d| d.backup_arn)
        .context("the backup has no ARN")
}

/// Restores `source` into the new table `target`, waits until it is active, and gives it the
/// settings a restore leaves off. Returns how long it took.
pub async fn restore(client: &Client, source: &Source, target: &str) -> Result<Duration> {
    let started = Instant::now();
    match source {
        Source::Backup(arn) => client
            .restore_table_from_backup()
            .backup_arn(arn)
            .target_table_name(target)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("restoring {arn}: {}", DisplayErrorContext(e)))?,
        Source::PointInTime { table, at } => client
            .restore_table_to_point_in_time()
            .source_table_name(table)
            .target_table_name(target)
            .restore_date_time(SdkTime::from_millis(at.timestamp_millis()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                anyhow::anyhow!("restoring {table} at {at}: {}", DisplayErrorContext(e))
            })?,
    }
    while !active(client, target).await? {
        if started.elapsed() > RESTORE_WAIT {
            bail!("{target} is not active after {RESTORE_WAIT:?}; the restore goes on in AWS");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    client
        .update_continuous_backups()
        .table_name(target)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("enabling recovery on {target}: {}", DisplayErrorContext(e))
        })?;
    client
        .update_table()
        .table_name(target)
        .deletion_protection_enabled(true)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("protecting {target}: {}", DisplayErrorContext(e)))?;
    Ok(started.elapsed())
}

async fn active(client: &Client, table: &str) -> Result<bool> {
    let out = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("describing {table}: {}", DisplayErrorContext(e)))?;
    Ok(out.table.and_then(|t| t.table_status) == Some(TableStatus::Active))
}
