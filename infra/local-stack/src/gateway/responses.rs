//! API Gateway's own answers (its "gateway responses": a missing route, a refused key, a
//! throttle, the authorizer's verdict, a broken integration), as the template customises them
//! under `GatewayResponses`. A response type without its own entry falls back to `DEFAULT_4XX`
//! or `DEFAULT_5XX`, then to API Gateway's built-in `{"message": ...}`, as in AWS; the mapping
//! template's `$context` variables are filled in, so clients see locally the body they get there.

use std::collections::HashMap;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use super::Reply;

/// The gateway responses this gateway gives, with API Gateway's status and message for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MissingAuthenticationToken,
    InvalidApiKey,
    Throttled,
    QuotaExceeded,
    Unauthorized,
    AccessDenied,
    AuthorizerConfigurationError,
    RequestTooLarge,
    /// The function failed or answered something that is not a proxy response.
    BadGateway,
}

impl Kind {
    /// The response type's name in `GatewayResponses`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::Throttled => "THROTTLED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::BadGateway => "DEFAULT_5XX",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken | Self::InvalidApiKey | Self::AccessDenied => 403,
            Self::Throttled | Self::QuotaExceeded => 429,
            Self::Unauthorized => 401,
            Self::AuthorizerConfigurationError => 500,
            Self::RequestTooLarge => 413,
            Self::BadGateway => 502,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "Missing Authentication Token",
            Self::InvalidApiKey => "Forbidden",
            Self::Throttled => "Too Many Requests",
            Self::QuotaExceeded => "Limit Exceeded",
            Self::Unauthorized => "Unauthorized",
            Self::AccessDenied => {
                "User is not authorized to access this resource with an explicit deny"
            }
            Self::AuthorizerConfigurationError | Self::BadGateway => "Internal server error",
            Self::RequestTooLarge => "Request Too Long",
        }
    }

    /// `x-amzn-ErrorType`, as API Gateway names it.
    fn error_type(self) -> &'static str {
        match self {
            Self::Unauthorized => "UnauthorizedException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::InvalidApiKey | Self::AccessDenied => "AccessDeniedException",
            Self::Throttled | Self::QuotaExceeded => "TooManyRequestsException",
            Self::AuthorizerConfigurationError => "AuthorizerConfigurationException",
            Self::RequestTooLarge => "RequestTooLongException",
            Self::BadGateway => "InternalServerErrorException",
        }
    }
}

/// One customised response: its status, static headers and JSON mapping template.
#[derive(Debug, Clone, Default, PartialEq)]
struct Custom {
    status: Option<u16>,
    headers: Vec<(String, String)>,
    template: Option<String>,
}

/// The API's `GatewayResponses`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayResponses(HashMap<String, Custom>);

/// What a mapping template can refer to.
pub struct Context<'a> {
    pub request_id: &'a str,
    pub path: &'a str,
}

impl GatewayResponses {
    /// From an `AWS::Serverless::Api`'s properties. Header values are static (`"'value'"`);
    /// ones mapped from the request are left out.
    pub fn from_api(props: &Yaml) -> Self {
        let Some(entries) = props.get("GatewayResponses").and_then(Yaml::as_mapping) else {
            return Self::default();
        };
        let responses = entries
            .iter()
            .filter_map(|(name, entry)| {
                let headers = entry
                    .get("ResponseParameters")
                    .and_then(|p| p.get("Headers"))
                    .and_then(Yaml::as_mapping)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| {
                        let value = v.as_str()?.strip_prefix('\'')?.strip_suffix('\'')?;
                        Some((k.as_str()?.to_ascii_lowercase(), value.to_string()))
                    })
                    .collect();
                let status = entry.get("StatusCode").and_then(|s| match s {
                    Yaml::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                    Yaml::String(s) => s.parse().ok(),
                    _ => None,
                });
                let template = entry
                    .get("ResponseTemplates")
                    .and_then(|t| t.get("application/json"))
                    .and_then(Yaml::as_str)
                    .map(str::to_string);
                Some((
                    name.as_str()?.to_string(),
                    Custom {
                        status,
                        headers,
                        template,
                    },
                ))
            })
            .collect();
        Self(responses)
    }

    /// The names the template customises.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The answer for `kind`, as the function `function` was asked for (`-` for none).
    pub fn reply(&self, kind: Kind, context: &Context<'_>, function: &str) -> Reply {
        let default = if kind.status() < 500 {
            "DEFAULT_4XX"
        } else {
            "DEFAULT_5XX"
        };
        let custom = self.0.get(kind.name()).or_else(|| self.0.get(default));
        let status = custom.and_then(|c| c.status).unwrap_or(kind.status());
        let body = match custom.and_then(|c| c.template.as_deref()) {
            Some(template) => render(template, kind, context),
            None => serde_json::json!({"message": kind.message()}).to_string(),
        };
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            (
                "x-amzn-errortype".to_string(),
                kind.error_type().to_string(),
            ),
            (
                "x-amzn-requestid".to_string(),
                context.request_id.to_string(),
            ),
        ];
        for (name, value) in custom.map(|c| c.headers.as_slice()).unwrap_or_default() {
            headers.retain(|(n, _)| n != name);
            headers.push((name.clone(), value.clone()));
        }
        Reply {
            status,
            headers,
            body: body.into_bytes(),
            function: function.to_string(),
        }
    }
}

/// Fills in the `$context` variables API Gateway offers to gateway response templates.
fn render(template: &str, kind: Kind, context: &Context<'_>) -> String {
    let quoted = Value::String(kind.message().to_string()).to_string();
    // Longest names first, so `$context.error.message` does not eat `…messageString`.
    template
        .replace("$context.error.messageString", &quoted)
        .replace("$context.error.message", kind.message())
        .replace("$context.error.responseType", kind.name())
        .replace("$context.requestId", context.request_id)
        .replace("$context.path", context.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: Context<'static> = Context {
        request_id: "req-1",
        path: "/orders",
    };

    #[test]
    fn a_customised_type_its_default_and_the_builtin_answer() {
        let props: Yaml = serde_yaml_ng::from_str(
            r#"
GatewayResponses:
  THROTTLED:
    StatusCode: 429
    ResponseParameters:
      Headers:
        Content-Type: "'application/problem+json'"
        Retry-After: "'1'"
        From-Request: method.request.header.x
    ResponseTemplates:
      application/json: '{"title":$context.error.messageString,"type":"$context.error.responseType","requestId":"$context.requestId","instance":"$context.path"}'
  DEFAULT_4XX:
    ResponseTemplates:
      application/json: '{"detail":$context.error.messageString}'
"#,
        )
        .unwrap();
        let responses = GatewayResponses::from_api(&props);
        let throttled = responses.reply(Kind::Throttled, &CONTEXT, "f");
        assert_eq!(throttled.status, 429);
        let body: Value = serde_json::from_slice(&throttled.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"title": "Too Many Requests", "type": "THROTTLED",
                "requestId": "req-1", "instance": "/orders"})
        );
        let header = |r: &Reply, n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header(&throttled, "content-type").as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(header(&throttled, "retry-after").as_deref(), Some("1"));
        assert_eq!(header(&throttled, "from-request"), None);

        let denied = responses.reply(Kind::InvalidApiKey, &CONTEXT, "f");
        assert_eq!(denied.status, 403);
        assert_eq!(denied.body, br#"{"detail":"Forbidden"}"#);
        let broken = responses.reply(Kind::BadGateway, &CONTEXT, "f");
        assert_eq!(
            (broken.status, broken.body),
            (502, br#"{"message":"Internal server error"}"#.to_vec())
        );
    }
}
