//! The local API Gateway and Lambda event sources, driven by `template.yaml`.
//!
//! `sam local` needs Docker and cannot poll SQS; this serves the same template on loopback:
//! routes `Api` events to functions through the Lambda Invoke API of `cargo lambda watch`, runs
//! the API's Lambda authorizers with their cache, enforces API keys, usage plans and stage/method
//! throttling with API Gateway's answers, polls `SQS` event sources with Lambda's batch and
//! partial-failure semantics, and fires `Schedule` events.

pub mod authorizer;
pub mod event;
pub mod invoke;
pub mod responses;
pub mod routes;
pub mod schedule;
pub mod sqs;
pub mod throttle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use self::authorizer::{Authorizers, Decision};
use self::event::{Incoming, Target};
use self::invoke::{Invoker, Outcome};
use self::responses::{Context as ErrorContext, GatewayResponses, Kind};
use self::routes::{Miss, Route};
use self::throttle::{Buckets, Limit, Quotas};
use crate::template::{Scope, Template};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A usage plan's throttle and quota for API keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsagePlan {
    pub limit: Option<Limit>,
    /// `(requests, period)` with period `DAY`, `WEEK` or `MONTH`.
    pub quota: Option<(u64, String)>,
}

/// An HTTP answer and the function that gave it (`-` when the gateway answered itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub function: String,
}

pub struct Gateway {
    pub stage: String,
    pub routes: Vec<Route>,
    pub authorizers: Authorizers,
    pub invoker: Invoker,
    /// Stage-wide throttle (`MethodSettings` on `/*` `*`).
    pub stage_limit: Option<Limit>,
    /// Per-method throttles, keyed `METHOD /resource`.
    pub method_limits: HashMap<String, Limit>,
    pub api_key_required: bool,
    pub api_keys: Vec<String>,
    pub usage_plan: UsagePlan,
    /// The gateway's own error answers, as the template customises them.
    pub responses: GatewayResponses,
    buckets: Buckets,
    quotas: Quotas,
}

fn limit(scope: &Scope, rate: Option<&Yaml>, burst: Option<&Yaml>) -> Result<Option<Limit>> {
    let (Some(rate), Some(burst)) = (rate, burst) else {
        return Ok(None);
    };
    let number = |v: &Yaml| -> Result<f64> {
        scope
            .resolve(v)?
            .parse::<f64>()
            .context("throttle values are numbers")
    };
    Ok(Some(Limit {
        rate: number(rate)?,
        burst: number(burst)?,
    }))
}

impl Gateway {
    /// The gateway for the first `AWS::Serverless::Api` of the template.
    pub fn from_template(
        template: &Template,
        scope: &Scope,
        invoker: Invoker,
        api_keys: Vec<String>,
    ) -> Result<Self> {
        let apis = template.resources("AWS::Serverless::Api");
        let (api, props) = apis
            .first()
            .context("the template declares no AWS::Serverless::Api")?;
        let stage = "local".to_string();
        let mut stage_limit = None;
        let mut method_limits = HashMap::new();
        for setting in props
            .get("MethodSettings")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            // CloudFormation writes `/orders` as `/~1orders`.
            let raw = setting
                .get("ResourcePath")
                .and_then(Yaml::as_str)
                .unwrap_or("/*")
                .replace("~1", "/");
            let path = raw
                .strip_prefix('/')
                .filter(|p| p.starts_with('/'))
                .unwrap_or(&raw);
            let method = setting
                .get("HttpMethod")
                .and_then(Yaml::as_str)
                .unwrap_or("*");
            let found = limit(
                scope,
                setting.get("ThrottlingRateLimit"),
                setting.get("ThrottlingBurstLimit"),
            )?;
            match (path, method, found) {
                (_, _, None) => {}
                ("/*", "*", Some(l)) => stage_limit = Some(l),
                (p, m, Some(l)) => {
                    method_limits.insert(format!("{} {p}", m.to_ascii_uppercase()), l);
                }
            }
        }
        let auth = props.get("Auth");
        let plan = auth.and_then(|a| a.get("UsagePlan"));
        let usage_plan = UsagePlan {
            limit: limit(
                scope,
                plan.and_then(|p| p.get("Throttle"))
                    .and_then(|t| t.get("RateLimit")),
                plan.and_then(|p| p.get("Throttle"))
                    .and_then(|t| t.get("BurstLimit")),
            )?,
            quota: plan.and_then(|p| p.get("Quota")).and_then(|q| {
                let limit = scope.resolve(q.get("Limit")?).ok()?.parse().ok()?;
                Some((
                    limit,
                    q.get("Period")
                        .and_then(Yaml::as_str)
                        .unwrap_or("MONTH")
                        .to_string(),
                ))
            }),
        };
        Ok(Self {
            stage,
            routes: routes::from_template(template),
            authorizers: Authorizers::from_template(template, api)?,
            invoker,
            stage_limit,
            method_limits,
            api_key_required: auth
                .and_then(|a| a.get("ApiKeyRequired"))
                .and_then(Yaml::as_bool)
                .unwrap_or(false),
            api_keys,
            usage_plan,
            responses: GatewayResponses::from_api(props),
            buckets: Buckets::default(),
            quotas: Quotas::default(),
        })
    }

    /// Answers one request, as API Gateway would.
    pub async fn handle(&self, req: Incoming) -> Reply {
        let request_id = uuid::Uuid::new_v4().to_string();
        let context = ErrorContext {
            request_id: &request_id,
            path: &req.path,
        };
        let error = |kind: Kind, function: &str| self.responses.reply(kind, &context, function);
        let path = routes::split_path(&req.path);
        let matched = match routes::find(&self.routes, &req.method, &path) {
            Ok(m) => m,
            Err(Miss::NoResource | Miss::NoMethod) => {
                return error(Kind::MissingAuthenticationToken, "-");
            }
        };
        let route = matched.route;
        let now = Instant::now();
        let method_key = format!("{} {}", req.method, route.resource);
        let throttle = match self.method_limits.get(&method_key) {
            Some(l) => Some((method_key.as_str(), *l)),
            None => self.stage_limit.map(|l| ("*", l)),
        };
        if let Some((key, l)) = throttle
            && !self.buckets.try_take(key, l, now)
        {
            return error(Kind::Throttled, &route.function);
        }
        let api_key = req.header("x-api-key").map(str::to_string);
        if route.api_key_required.unwrap_or(self.api_key_required) {
            let Some(key) = api_key
                .as_deref()
                .filter(|k| self.api_keys.iter().any(|known| known == k))
            else {
                return error(Kind::InvalidApiKey, &route.function);
            };
            if let Some(l) = self.usage_plan.limit
                && !self.buckets.try_take(&format!("key:{key}"), l, now)
            {
                return error(Kind::Throttled, &route.function);
            }
            if let Some((quota, period)) = &self.usage_plan.quota
                && !self.quotas.try_count(key, &period_key(period), *quota)
            {
                return error(Kind::QuotaExceeded, &route.function);
            }
        }
        let target = Target {
            stage: &self.stage,
            request_id: &request_id,
            resource: &route.resource,
            params: &matched.params,
            api_key: api_key.as_deref(),
        };
        let authorizer = match self.authorizers.for_route(&route.auth) {
            None => None,
            Some(definition) => match self
                .authorizers
                .decide(definition, &self.invoker, &req, &target)
                .await
            {
                Decision::Allow(context) => Some(context),
                Decision::Unauthorized => return error(Kind::Unauthorized, &route.function),
                Decision::Denied => return error(Kind::AccessDenied, &route.function),
                Decision::Broken => {
                    return error(Kind::AuthorizerConfigurationError, &route.function);
                }
            },
        };
        let payload = event::proxy(&req, &target, authorizer.as_ref());
        match self.invoker.invoke(&route.function, &payload).await {
            Ok(Outcome::Returned(response)) => match proxy_response(&response, &route.function) {
                Some(reply) => reply,
                None => {
                    eprintln!(
                        "{} returned a malformed proxy response: {response}",
                        route.function
                    );
                    error(Kind::BadGateway, &route.function)
                }
            },
            Ok(Outcome::Failed(failure)) => {
                eprintln!("{} failed: {failure}", route.function);
                error(Kind::BadGateway, &route.function)
            }
            Err(err) => {
                eprintln!("{err:#}");
                error(Kind::BadGateway, &route.function)
            }
        }
    }
}

fn period_key(period: &str) -> String {
    let now = chrono::Utc::now();
    match period {
        "DAY" => now.format("%Y-%m-%d").to_string(),
        "WEEK" => now.format("%G-W%V").to_string(),
        _ => now.format("%Y-%m").to_string(),
    }
}

/// The HTTP response a proxy integration's result stands for; `None` when it is malformed.
pub fn proxy_response(response: &Value, function: &str) -> Option<Reply> {
    let status = match response.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(code) => u16::try_from(code.as_u64()?)
            .ok()
            .filter(|c| (100..600).contains(c))?,
    };
    let mut headers = Vec::new();
    if let Some(Value::Object(map)) = response.get("headers") {
        for (k, v) in map {
            headers.push((
                k.to_ascii_lowercase(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            ));
        }
    }
    if let Some(Value::Object(map)) = response.get("multiValueHeaders") {
        for (k, values) in map {
            let name = k.to_ascii_lowercase();
            headers.retain(|(existing, _)| *existing != name);
            for v in values.as_array()? {
                headers.push((
                    name.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                ));
            }
        }
    }
    let body = match response.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text))
            if response.get("isBase64Encoded") == Some(&Value::Bool(true)) =>
        {
            STANDARD.decode(text).ok()?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => return None,
    };
    Some(Reply {
        status,
        headers,
        body,
        function: function.to_string(),
    })
}

async fn serve_one(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            let context = ErrorContext {
                request_id: &request_id,
                path: parts.uri.path(),
            };
            let reply = gateway
                .responses
                .reply(Kind::RequestTooLarge, &context, "-");
            return respond(reply.status, reply.headers, reply.body);
        }
    };
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let decode = |s: &str| {
                        percent_encoding::percent_decode_str(&s.replace('+', " "))
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let incoming = Incoming {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts
            .headers
            .iter()
            // Passed on as API Gateway does, bytes beyond ASCII included: the function judges them.
            .map(|(k, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_string(), value)
            })
            .collect(),
        body,
        source_ip: peer.ip().to_string(),
        received_ms: chrono::Utc::now().timestamp_millis(),
    };
    let (method, path) = (incoming.method.clone(), incoming.path.clone());
    let reply = gateway.handle(incoming).await;
    println!(
        "HTTP  {method} {path} -> {} {} {} ms",
        reply.function,
        reply.status,
        started.elapsed().as_millis()
    );
    respond(reply.status, reply.headers, reply.body)
}

fn respond(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(gateway: Arc<Gateway>, listener: tokio::net::TcpListener) -> Result<()> {
    let app = axum::Router::new().fallback(serve_one).with_state(gateway);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .context("serving the local API")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn proxy_responses_map_status_headers_and_body() {
        let Reply {
            status,
            headers,
            body,
            ..
        } = proxy_response(
            &json!({
                "statusCode": 201,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
                "body": "{}",
                "isBase64Encoded": false
            }),
            "f",
        )
        .unwrap();
        assert_eq!(status, 201);
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        assert_eq!(headers.iter().filter(|(k, _)| k == "set-cookie").count(), 2);
        assert_eq!(body, b"{}");

        let reply = proxy_response(
            &json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}),
            "f",
        )
        .unwrap();
        assert_eq!(reply.body, b"hi");
        assert!(proxy_response(&json!({"statusCode": 99}), "f").is_none());
        assert!(proxy_response(&json!({"statusCode": 200, "body": 5}), "f").is_none());
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[tokio::test]
    async fn the_project_api_has_stage_and_order_creation_throttles() {
        let template = Template::parse(include_str!("../../../../template.yaml")).unwrap();
        let mut scope = Scope::default();
        scope.refs.extend(template.parameter_defaults());
        scope.refs.insert("Stage".into(), "local".into());
        template.bind(&mut scope).unwrap();
        let invoker =
            Invoker::new("http://127.0.0.1:9", std::time::Duration::from_secs(1)).unwrap();
        let gateway = Gateway::from_template(&template, &scope, invoker, vec![]).unwrap();
        assert!(gateway.stage_limit.is_some());
        let create = gateway.method_limits.get("POST /orders").copied().unwrap();
        assert!(
            create.rate < gateway.stage_limit.unwrap().rate,
            "order creation is throttled tighter"
        );
    }
}
