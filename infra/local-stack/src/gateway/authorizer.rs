//! Lambda authorizers as API Gateway runs them: read the identity source, invoke the authorizer
//! (TOKEN or REQUEST), cache its policy for `ReauthorizeEvery` seconds keyed by the identity, and
//! evaluate the policy against each request's method ARN — so a cached policy is checked again for
//! every route it is reused on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

use super::event::{self, Incoming, Target};
use super::invoke::{Invoker, Outcome};
use super::routes::RouteAuth;
use crate::template::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    Token,
    Request,
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    /// The authorizer function's binary.
    pub function: String,
    pub payload: Payload,
    /// Header names of the identity source (TOKEN: exactly one).
    pub headers: Vec<String>,
    pub query_strings: Vec<String>,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Go on, with this `requestContext.authorizer`.
    Allow(Map<String, Value>),
    /// 401: no identity, or the authorizer said `Unauthorized`.
    Unauthorized,
    /// 403: the policy does not allow this method ARN.
    Denied,
    /// 500: the authorizer failed or answered something that is not a policy.
    Broken,
}

#[derive(Debug, Default)]
pub struct Authorizers {
    definitions: HashMap<String, Definition>,
    default: Option<String>,
    cache: Mutex<HashMap<(String, String), (Instant, Value)>>,
}

fn strings(value: Option<&Yaml>) -> Vec<String> {
    value
        .and_then(Yaml::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The function an authorizer's `FunctionArn` names: `!GetAtt <Function>.Arn`, or
/// `!Ref <Function>.Alias` (the alias a safe deploy shifts), in short or long form.
fn function_target(value: &Yaml) -> Option<String> {
    let arg = match value {
        Yaml::Tagged(tagged) => &tagged.value,
        Yaml::Mapping(map) => map.get("Fn::GetAtt").or_else(|| map.get("Ref"))?,
        _ => return None,
    };
    match arg {
        Yaml::String(s) => s.split('.').next().map(str::to_string),
        Yaml::Sequence(parts) => parts.first()?.as_str().map(str::to_string),
        _ => None,
    }
}

impl Authorizers {
    /// The authorizers of the API resource `api` (its `Auth` property).
    pub fn from_template(template: &Template, api: &str) -> Result<Self> {
        let Some(auth) = template.properties(api).and_then(|p| p.get("Auth")) else {
            return Ok(Self::default());
        };
        let functions = template.functions();
        let mut definitions = HashMap::new();
        if let Some(map) = auth.get("Authorizers").and_then(Yaml::as_mapping) {
            for (name, def) in map {
                let name = name
                    .as_str()
                    .context("authorizer names are strings")?
                    .to_string();
                let logical = def
                    .get("FunctionArn")
                    .and_then(function_target)
                    .with_context(|| {
                        format!("authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn or !Ref <Function>.Alias")
                    })?;
                let function = functions
                    .iter()
                    .find(|f| f.logical_id == logical)
                    .with_context(|| format!("authorizer {name}: no function {logical}"))?
                    .binary
                    .clone();
                let payload = match def.get("FunctionPayloadType").and_then(Yaml::as_str) {
                    Some("REQUEST") => Payload::Request,
                    _ => Payload::Token,
                };
                let identity = def.get("Identity");
                let mut headers = strings(identity.and_then(|i| i.get("Headers")));
                if let Some(header) = identity
                    .and_then(|i| i.get("Header"))
                    .and_then(Yaml::as_str)
                {
                    headers.push(header.to_string());
                }
                if headers.is_empty() && payload == Payload::Token {
                    headers.push("Authorization".into());
                }
                let ttl = identity
                    .and_then(|i| i.get("ReauthorizeEvery"))
                    .and_then(Yaml::as_u64)
                    .unwrap_or(300);
                definitions.insert(
                    name.clone(),
                    Definition {
                        name,
                        function,
                        payload,
                        headers,
                        query_strings: strings(identity.and_then(|i| i.get("QueryStrings"))),
                        ttl: Duration::from_secs(ttl),
                    },
                );
            }
        }
        let default = auth
            .get("DefaultAuthorizer")
            .and_then(Yaml::as_str)
            .map(str::to_string);
        Ok(Self {
            definitions,
            default,
            cache: Mutex::default(),
        })
    }

    /// The authorizer a route runs, if any.
    pub fn for_route(&self, auth: &RouteAuth) -> Option<&Definition> {
        let name = match auth {
            RouteAuth::None => return None,
            RouteAuth::Default => self.default.as_ref()?,
            RouteAuth::Named(name) => name,
        };
        self.definitions.get(name)
    }

    pub async fn decide(
        &self,
        definition: &Definition,
        invoker: &Invoker,
        req: &Incoming,
        target: &Target<'_>,
    ) -> Decision {
        let mut identity = Vec::new();
        for header in &definition.headers {
            match req.header(header).filter(|v| !v.is_empty()) {
                Some(value) => identity.push(value.to_string()),
                None => return Decision::Unauthorized,
            }
        }
        for name in &definition.query_strings {
            match req.query_value(name).filter(|v| !v.is_empty()) {
                Some(value) => identity.push(value.to_string()),
                None => return Decision::Unauthorized,
            }
        }
        let method_arn = event::method_arn(target.stage, &req.method, &req.path);
        let key = (definition.name.clone(), identity.join("\u{0}"));
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&key)
                .filter(|(expires, _)| *expires > Instant::now())
                .map(|(_, policy)| policy.clone())
        };
        let response = match cached {
            Some(policy) => policy,
            None => {
                let payload = match definition.payload {
                    Payload::Token => event::token_authorizer(&identity.join(""), &method_arn),
                    Payload::Request => event::request_authorizer(req, target, &method_arn),
                };
                match invoker.invoke(&definition.function, &payload).await {
                    Ok(Outcome::Returned(policy)) => {
                        if !definition.ttl.is_zero() && policy.get("policyDocument").is_some() {
                            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                            cache.insert(key, (Instant::now() + definition.ttl, policy.clone()));
                        }
                        policy
                    }
                    Ok(Outcome::Failed(error)) => {
                        let message = error.get("errorMessage").and_then(Value::as_str);
                        return if message == Some("Unauthorized") {
                            Decision::Unauthorized
                        } else {
                            eprintln!("authorizer {} failed: {error}", definition.function);
                            Decision::Broken
                        };
                    }
                    Err(err) => {
                        eprintln!("authorizer {} unreachable: {err:#}", definition.function);
                        return Decision::Broken;
                    }
                }
            }
        };
        evaluate(&response, &method_arn)
    }
}

fn as_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Applies an authorizer's response to one method ARN: an explicit deny wins, then an allow.
pub fn evaluate(response: &Value, method_arn: &str) -> Decision {
    let Some(principal) = response.get("principalId").and_then(Value::as_str) else {
        return Decision::Broken;
    };
    let Some(statements) = response
        .get("policyDocument")
        .and_then(|p| p.get("Statement"))
        .and_then(Value::as_array)
    else {
        return Decision::Broken;
    };
    let applies = |statement: &Value| {
        as_list(statement.get("Action"))
            .iter()
            .any(|a| *a == "execute-api:Invoke" || *a == "execute-api:*" || *a == "*")
            && as_list(statement.get("Resource"))
                .iter()
                .any(|r| glob(r, method_arn))
    };
    let effect_is = |statement: &Value, effect: &str| {
        statement.get("Effect").and_then(Value::as_str) == Some(effect)
    };
    if statements
        .iter()
        .any(|s| effect_is(s, "Deny") && applies(s))
    {
        return Decision::Denied;
    }
    if !statements
        .iter()
        .any(|s| effect_is(s, "Allow") && applies(s))
    {
        return Decision::Denied;
    }
    let mut context = Map::new();
    if let Some(Value::Object(extra)) = response.get("context") {
        for (k, v) in extra {
            // API Gateway passes context values as strings, numbers or booleans only.
            if !v.is_object() && !v.is_array() {
                context.insert(k.clone(), v.clone());
            }
        }
    }
    context.insert("principalId".into(), Value::String(principal.to_string()));
    Decision::Allow(context)
}

/// IAM-style wildcards: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:local/local/GET/orders/ord_1";

    fn policy(effect: &str, resource: &str) -> Value {
        json!({
            "principalId": "alice",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": [resource]}
            ]},
            "context": {"role": "customer", "nested": {"dropped": true}}
        })
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(glob("arn:aws:execute-api:*:*:local/*/GET/*", ARN));
        assert!(glob("*", ARN));
        assert!(!glob("arn:aws:execute-api:*:*:local/*/POST/*", ARN));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
    }

    #[test]
    fn an_allow_passes_the_principal_and_flat_context() {
        let Decision::Allow(context) =
            evaluate(&policy("Allow", "arn:aws:execute-api:*:*:local/*/*"), ARN)
        else {
            panic!("expected allow");
        };
        assert_eq!(context["principalId"], "alice");
        assert_eq!(context["role"], "customer");
        assert!(!context.contains_key("nested"));
    }

    #[test]
    fn a_deny_or_a_policy_for_other_routes_is_403_and_garbage_is_500() {
        assert_eq!(evaluate(&policy("Deny", "*"), ARN), Decision::Denied);
        assert_eq!(
            evaluate(
                &policy("Allow", "arn:aws:execute-api:*:*:local/*/POST/*"),
                ARN
            ),
            Decision::Denied
        );
        assert_eq!(
            evaluate(&json!({"principalId": "x"}), ARN),
            Decision::Broken
        );
        assert_eq!(evaluate(&json!("Unauthorized"), ARN), Decision::Broken);
    }

    #[test]
    fn authorizers_are_read_from_the_api_auth_property() {
        let template = Template::parse(
            r#"
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            FunctionArn: !GetAtt AuthFunction.Arn
            FunctionPayloadType: REQUEST
            Identity: { Headers: [Authorization], ReauthorizeEvery: 60 }
  AuthFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: authorizer } }
    Properties: { CodeUri: functions/authorizer }
"#,
        )
        .unwrap();
        let authorizers = Authorizers::from_template(&template, "Api").unwrap();
        let def = authorizers.for_route(&RouteAuth::Default).unwrap();
        assert_eq!(
            (def.function.as_str(), def.payload, def.ttl),
            ("authorizer", Payload::Request, Duration::from_secs(60))
        );
        assert!(authorizers.for_route(&RouteAuth::None).is_none());
    }
}
