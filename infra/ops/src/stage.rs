//! A deployed stage's resource names, read from `template.yaml` as it deploys for that stage
//! (`TableName: !Sub "orders-${Stage}-orders"`), so the CLI and the stack cannot disagree on a
//! name; queue URLs are then asked of SQS.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use local_stack::template::{Scope, Template};
use shared::config::{ConfigError, Parameter, Secret, Table};
use shared::pipeline::Queue;
use shared::wiring::Resources;

/// The template this CLI was built with: the one its stage runs, when both come from one commit.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// Every name the CLI may need, by logical id, with the property that holds it.
fn wanted() -> Vec<(&'static str, &'static str)> {
    let mut wanted: Vec<_> = Table::ALL
        .into_iter()
        .map(|t| (t.logical_id(), "TableName"))
        .collect();
    for queue in Queue::ALL {
        wanted.push((queue.logical_id(), "QueueName"));
        wanted.push((queue.dead_letter_logical_id(), "QueueName"));
    }
    wanted.push((Secret::SigningKey.logical_id(), "Name"));
    wanted.push((Secret::PaymentProvider.logical_id(), "Name"));
    wanted.push((Parameter::Flags.logical_id(), "Name"));
    wanted
}

/// The names of `stage`'s tables, queues, secrets and parameters, by logical id.
pub fn names(template: &str, stage: &str) -> Result<BTreeMap<&'static str, String>> {
    let template = Template::parse(template)?;
    let mut scope = Scope::default();
    scope.refs.extend(template.parameter_defaults());
    scope.refs.insert("Stage".into(), stage.into());
    template.bind(&mut scope)?;
    wanted()
        .into_iter()
        .map(|(id, property)| {
            let value = template
                .properties(id)
                .and_then(|p| p.get(property))
                .with_context(|| format!("{id} has no {property} in template.yaml"))?;
            Ok((id, scope.resolve(value)?))
        })
        .collect()
}

/// A stage's resources, as the functions of that stage are given them.
pub struct StageResources {
    /// Table, secret and parameter names, and queue URLs, by logical id.
    named: BTreeMap<&'static str, String>,
}

impl StageResources {
    /// Resolves every name of `stage`, and the URL of each queue SQS knows. A queue it does not
    /// know (or that the caller may not see) fails only the command that needs it.
    pub async fn resolve(template: &str, stage: &str, sqs: &aws_sdk_sqs::Client) -> Result<Self> {
        let mut named = names(template, stage)?;
        for queue in Queue::ALL {
            for id in [queue.logical_id(), queue.dead_letter_logical_id()] {
                let name = named.remove(id).unwrap_or_default();
                if let Ok(out) = sqs.get_queue_url().queue_name(&name).send().await
                    && let Some(url) = out.queue_url
                {
                    named.insert(id, url);
                }
            }
        }
        Ok(Self { named })
    }

    /// The stage as repointed at a restored orders table (`RestoredOrdersTable`,
    /// docs/runbooks/restore-table.md): the template's own name would be the damaged table.
    pub fn with_orders_table(mut self, table: String) -> Self {
        self.named.insert(Table::Orders.logical_id(), table);
        self
    }

    fn named(&self, id: &'static str) -> Result<String, ConfigError> {
        self.named.get(id).cloned().ok_or(ConfigError::Missing(id))
    }
}

impl Resources for StageResources {
    fn table(&self, table: Table) -> Result<String, ConfigError> {
        self.named(table.logical_id())
    }
    fn queue_url(&self, queue: Queue) -> Result<String, ConfigError> {
        self.named(queue.logical_id())
    }
    fn dead_letter_url(&self, queue: Queue) -> Result<String, ConfigError> {
        self.named(queue.dead_letter_logical_id())
    }
    fn secret(&self, secret: Secret) -> Result<String, ConfigError> {
        self.named(secret.logical_id())
    }
    fn parameter(&self, parameter: Parameter) -> Result<String, ConfigError> {
        self.named(parameter.logical_id())
    }
    fn setting(&self, _: &'static str, default: &str) -> String {
        default.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_of_a_stage_comes_from_the_template() {
        let names = super::names(super::TEMPLATE, "prod").unwrap();
        assert_eq!(names["OrdersTable"], "orders-prod-orders");
        assert_eq!(names["PaymentDeadLetterQueue"], "orders-prod-payment-dlq");
        assert_eq!(names["FlagsParameter"], "/order-service/prod/flags");
        assert_eq!(names.len(), super::wanted().len());
        assert!(names.values().all(|n| n.contains("prod")), "{names:?}");
    }
}
