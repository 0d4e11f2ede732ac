//! Accounts, keyed by normalised email.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codec::{from_item, n, s, to_item};
use super::{failure, is_condition_failure};
use crate::auth::Email;
use crate::domain::Role;
use crate::error::AppError;
use crate::ports::{Account, User, UserRepository};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRecord {
    email: String,
    id: String,
    password_hash: String,
    role: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    failed_logins: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locked_until: Option<DateTime<Utc>>,
}

pub struct DynamoUsers {
    client: Client,
    table: String,
}

impl DynamoUsers {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Customer => "customer",
    }
}

#[async_trait]
impl UserRepository for DynamoUsers {
    async fn create(&self, user: &User) -> Result<bool, AppError> {
        let record = UserRecord {
            email: user.email.to_string(),
            id: user.id.clone(),
            password_hash: user.password_hash.clone(),
            role: role_name(user.role).into(),
            created_at: user.created_at,
            failed_logins: 0,
            locked_until: None,
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&record)?))
            .condition_expression("attribute_not_exists(email)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(failure("user write", err)),
        }
    }

    async fn find(&self, email: &Email) -> Result<Option<Account>, AppError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("email", s(email.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("user read", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: UserRecord = from_item(item)?;
        let email =
            Email::parse(&record.email).map_err(|e| AppError::dependency("user record", e.0))?;
        Ok(Some(Account {
            user: User {
                id: record.id,
                email,
                password_hash: record.password_hash,
                role: Role::parse(&record.role).unwrap_or(Role::Customer),
                created_at: record.created_at,
            },
            failed_logins: record.failed_logins,
            locked_until: record.locked_until,
        }))
    }

    async fn login_failed(&self, email: &Email) -> Result<u32, AppError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("email", s(email.as_str()))
            .update_expression("ADD failedLogins :one")
            .condition_expression("attribute_exists(email)")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .attributes
                .and_then(|a| {
                    a.get("failedLogins")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0)),
            Err(err) if is_condition_failure(&err) => Ok(0),
            Err(err) => Err(failure("user update", err)),
        }
    }

    async fn lock(&self, email: &Email, until: DateTime<Utc>) -> Result<(), AppError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("email", s(email.as_str()))
            .update_expression("SET lockedUntil = :until, failedLogins = :zero")
            .expression_attribute_values(":until", s(until.to_rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| failure("user update", e))?;
        Ok(())
    }

    async fn login_succeeded(&self, email: &Email) -> Result<(), AppError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("email", s(email.as_str()))
            .update_expression("SET failedLogins = :zero REMOVE lockedUntil")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| failure("user update", e))?;
        Ok(())
    }
}
