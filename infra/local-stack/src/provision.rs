//! Creates the template's tables, queues, secrets and parameters on the emulator, each named `<prefix><LogicalId>`,
//! and resolves the functions' environment against them. Creating what exists already is a
//! no-op, so a restart of the local stack keeps its data.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml_ng::Value;

use crate::template::{Scope, Template};

/// What was created, as the functions' environment refers to it.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub scope: Scope,
}

impl Provisioned {
    /// The physical name (tables) or URL (queues) of a resource.
    pub fn name(&self, logical_id: &str) -> Option<&str> {
        self.scope.refs.get(logical_id).map(String::as_str)
    }

    /// Every variable any function declares, resolved; functions share one environment locally.
    pub fn environment(&self, template: &Template) -> Result<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        for function in template.functions() {
            for (key, value) in &function.environment {
                let resolved = self
                    .scope
                    .resolve(value)
                    .with_context(|| format!("{}: environment {key}", function.logical_id))?;
                env.insert(key.clone(), resolved);
            }
        }
        Ok(env)
    }
}

pub async fn provision(
    config: &SdkConfig,
    template: &Template,
    prefix: &str,
    stage: &str,
) -> Result<Provisioned> {
    let mut scope = Scope::default();
    scope.refs.extend(template.parameter_defaults());
    scope.refs.insert("Stage".into(), stage.into());
    scope.refs.insert("AWS::Region".into(), "us-east-1".into());
    scope
        .refs
        .insert("AWS::StackName".into(), format!("{prefix}stack"));
    template.bind(&mut scope)?;

    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    for (logical_id, props) in template.tables() {
        let name = format!("{prefix}{logical_id}");
        let arn = create_table(&dynamodb, &name, props)
            .await
            .with_context(|| format!("creating table {logical_id}"))?;
        scope.attrs.insert(format!("{logical_id}.Arn"), arn);
        scope.refs.insert(logical_id, name);
    }

    let sqs = aws_sdk_sqs::Client::new(config);
    // Dead-letter queues first: the others name them in their redrive policy.
    let mut queues = template.resources("AWS::SQS::Queue");
    queues.sort_by_key(|(_, props)| props.get("RedrivePolicy").is_some());
    for (logical_id, props) in queues {
        let name = format!("{prefix}{logical_id}");
        let (url, arn) = create_queue(&sqs, &name, props, &scope)
            .await
            .with_context(|| format!("creating queue {logical_id}"))?;
        scope.attrs.insert(format!("{logical_id}.Arn"), arn);
        scope
            .attrs
            .insert(format!("{logical_id}.QueueName"), name.clone());
        scope
            .attrs
            .insert(format!("{logical_id}.QueueUrl"), url.clone());
        scope.refs.insert(logical_id, url);
    }
    let secrets = aws_sdk_secretsmanager::Client::new(config);
    for (logical_id, props) in template.resources("AWS::SecretsManager::Secret") {
        let name = format!("{prefix}{logical_id}");
        let initial = props
            .get("SecretString")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let arn = create_secret(&secrets, &name, initial)
            .await
            .with_context(|| format!("creating secret {logical_id}"))?;
        scope.refs.insert(logical_id, arn);
    }
    let ssm = aws_sdk_ssm::Client::new(config);
    for (logical_id, props) in template.resources("AWS::SSM::Parameter") {
        let name = format!("{prefix}{logical_id}");
        let initial = scope.resolve(props.get("Value").context("a parameter needs a Value")?)?;
        create_parameter(&ssm, &name, &initial)
            .await
            .with_context(|| format!("creating parameter {logical_id}"))?;
        scope.refs.insert(logical_id, name);
    }
    // A sender identity is an address, shared by every stack on the emulator: created once.
    let ses = aws_sdk_sesv2::Client::new(config);
    for (logical_id, props) in template.resources("AWS::SES::EmailIdentity") {
        let identity = scope.resolve(
            props
                .get("EmailIdentity")
                .context("an identity needs EmailIdentity")?,
        )?;
        create_email_identity(&ses, &identity)
            .await
            .with_context(|| format!("creating e-mail identity {logical_id}"))?;
        scope.refs.insert(logical_id, identity);
    }
    Ok(Provisioned { scope })
}

/// Creates the SES identity (moto takes it as verified), or leaves the one there alone.
async fn create_email_identity(client: &aws_sdk_sesv2::Client, identity: &str) -> Result<()> {
    if client
        .get_email_identity()
        .email_identity(identity)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    client
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string()))?;
    Ok(())
}

/// Creates the parameter with the template's value, or leaves the one there (and an operator's
/// edit of it) alone.
async fn create_parameter(client: &aws_sdk_ssm::Client, name: &str, initial: &str) -> Result<()> {
    if client.get_parameter().name(name).send().await.is_ok() {
        return Ok(());
    }
    client
        .put_parameter()
        .name(name)
        .value(initial)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
    Ok(())
}

async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    initial: &str,
) -> Result<String> {
    if let Ok(existing) = client.describe_secret().secret_id(name).send().await {
        return existing.arn.context("described secret has no ARN");
    }
    client
        .create_secret()
        .name(name)
        .secret_string(initial)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?
        .arn
        .context("created secret has no ARN")
}

fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("{key} is missing"))
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn key_schema(value: &Value) -> Result<Vec<KeySchemaElement>> {
    list(value, "KeySchema")
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    props: &Value,
) -> Result<String> {
    if let Ok(existing) = client.describe_table().table_name(name).send().await {
        return existing
            .table
            .and_then(|t| t.table_arn)
            .context("described table has no ARN");
    }
    let attributes = list(props, "AttributeDefinitions")
        .iter()
        .map(|a| {
            Ok(AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(a, "AttributeType")?))
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let indexes = list(props, "GlobalSecondaryIndexes")
        .iter()
        .map(|i| {
            let projection = i.get("Projection");
            let kind = projection
                .and_then(|p| p.get("ProjectionType"))
                .and_then(Value::as_str)
                .unwrap_or("ALL");
            let non_key = projection
                .map(|p| list(p, "NonKeyAttributes"))
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect::<Vec<_>>();
            Ok(GlobalSecondaryIndex::builder()
                .index_name(text(i, "IndexName")?)
                .set_key_schema(Some(key_schema(i)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(kind))
                        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
                        .build(),
                )
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(props)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName")?)
                    .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(true))
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?;
    }
    created
        .table_description
        .and_then(|t| t.table_arn)
        .context("created table has no ARN")
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    props: &Value,
    scope: &Scope,
) -> Result<(String, String)> {
    let mut request = client.create_queue().queue_name(name);
    for (key, attribute) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
        ("DelaySeconds", QueueAttributeName::DelaySeconds),
        (
            "ReceiveMessageWaitTimeSeconds",
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
        ),
    ] {
        if let Some(value) = props.get(key) {
            request = request.attributes(attribute, scope.resolve(value)?);
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        let target = redrive
            .get("deadLetterTargetArn")
            .context("RedrivePolicy needs deadLetterTargetArn")?;
        let count = redrive
            .get("maxReceiveCount")
            .and_then(Value::as_u64)
            .context("RedrivePolicy needs maxReceiveCount")?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": scope.resolve(target)?,
            "maxReceiveCount": count,
        });
        request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .context("created queue has no URL")?;
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
    let Some(arn) = attributes
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
    else {
        bail!("queue {name} has no ARN");
    };
    Ok((url, arn))
}
