//! The API's Lambda authorizer (TOKEN) as a use case: verifies the bearer JWT and answers a policy
//! for the whole API with the caller's id and role as context. The policy is API-wide because API
//! Gateway caches it per token for every route; admin routes check the role again inside their
//! function.

use async_trait::async_trait;
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde::{Deserialize, Serialize};

use crate::adapters::secrets::KeyRing;
use crate::auth::TokenError;
use crate::config::ConfigError;
use crate::domain::{CustomerId, Role};
use crate::wiring::{Wire, Wiring};

/// The message API Gateway turns into a 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// What the authorizer passes to the routes (`requestContext.authorizer.role`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthorizerContext {
    pub role: String,
}

pub type Policy = ApiGatewayCustomAuthorizerResponse<AuthorizerContext>;

/// Why no policy was issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A missing, malformed, forged, expired or foreign token: API Gateway answers 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// The key set cannot be read: an error of the authorizer (API Gateway answers 500).
    #[error("the signing keys are unavailable")]
    KeysUnavailable,
}

pub struct Authorizer {
    pub keys: KeyRing,
}

#[async_trait]
impl Wire for Authorizer {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            keys: KeyRing::wire(from).await?,
        })
    }
}

/// `arn:…:{api}/{stage}/GET/orders/1` → `arn:…:{api}/{stage}/*/*`: every route of this stage.
fn whole_api(method_arn: &str) -> Option<String> {
    let mut parts = method_arn.splitn(3, '/');
    let (api, stage) = (parts.next()?, parts.next()?);
    Some(format!("{api}/{stage}/*/*"))
}

impl Authorizer {
    pub async fn authorize(
        &self,
        request: &ApiGatewayCustomAuthorizerRequest,
    ) -> Result<Policy, Refusal> {
        let token = request
            .authorization_token
            .as_deref()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(Refusal::Unauthorized)?;
        let resource = request
            .method_arn
            .as_deref()
            .and_then(whole_api)
            .ok_or(Refusal::Unauthorized)?;
        let unavailable = |e: crate::AppError| {
            tracing::error!(error = %e.chain(), "signing keys unavailable");
            Refusal::KeysUnavailable
        };
        let mut verified = self.keys.tokens().await.map_err(unavailable)?.verify(token);
        if verified == Err(TokenError::UnknownKey) {
            // A key rotated since this container read the key set: read it again, at most so often.
            verified = self.keys.reread().await.map_err(unavailable)?.verify(token);
        }
        let claims = verified.map_err(|e| {
            tracing::info!(reason = %e, "token refused");
            Refusal::Unauthorized
        })?;
        if CustomerId::parse(&claims.sub).is_err() || Role::parse(&claims.role).is_none() {
            return Err(Refusal::Unauthorized);
        }
        let mut statement = IamPolicyStatement::default();
        statement.action = vec!["execute-api:Invoke".into()];
        statement.effect = IamPolicyEffect::Allow;
        statement.resource = vec![resource];
        let mut document = ApiGatewayCustomAuthorizerPolicy::default();
        document.version = Some("2012-10-17".into());
        document.statement = vec![statement];
        let mut policy = Policy::default();
        policy.principal_id = Some(claims.sub);
        policy.policy_document = document;
        policy.context = AuthorizerContext { role: claims.role };
        Ok(policy)
    }
}
