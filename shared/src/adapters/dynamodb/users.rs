//! Accounts, keyed by normalised email; the `byId` index (keys only) finds an account's address
//! from its id, for the notices.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codec::{from_item, s, to_item};
use super::{failure, is_condition_failure};
use crate::auth::Email;
use crate::domain::{CustomerId, Role};
use crate::error::AppError;
use crate::ports::{User, UserRepository};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRecord {
    email: String,
    id: String,
    password_hash: String,
    role: String,
    created_at: DateTime<Utc>,
}

const BY_ID: &str = "byId";

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

    async fn find(&self, email: &Email) -> Result<Option<User>, AppError> {
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
        Ok(Some(User {
            id: record.id,
            email,
            password_hash: record.password_hash,
            role: Role::parse(&record.role).unwrap_or(Role::Customer),
            created_at: record.created_at,
        }))
    }

    async fn email_of(&self, id: &CustomerId) -> Result<Option<Email>, AppError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_ID)
            .key_condition_expression("id = :id")
            .expression_attribute_values(":id", s(id.as_str()))
            .limit(1)
            .send()
            .await
            .map_err(|e| failure("user address read", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|item| item.get("email")?.as_s().ok().cloned())
            .map(|raw| Email::parse(&raw).map_err(|e| AppError::dependency("user record", e.0)))
            .transpose()
    }
}
