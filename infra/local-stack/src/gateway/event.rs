//! REST API (v1) proxy events, shaped as API Gateway sends them to a Lambda proxy integration,
//! and the two Lambda authorizer events (TOKEN and REQUEST).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// An HTTP request as the gateway received it.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub method: String,
    /// The raw path, e.g. `/orders/ord_1`.
    pub path: String,
    /// Decoded query pairs, in order, repeats kept.
    pub query: Vec<(String, String)>,
    /// Header pairs, in order, repeats kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    /// Epoch milliseconds.
    pub received_ms: i64,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where the request landed.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub stage: &'a str,
    pub request_id: &'a str,
    pub resource: &'a str,
    pub params: &'a BTreeMap<String, String>,
    pub api_key: Option<&'a str>,
}

pub const ACCOUNT: &str = "123456789012";
pub const API_ID: &str = "local";
pub const REGION: &str = "us-east-1";

/// `{single, multi}` maps of repeated pairs: the single map holds the last value, like API Gateway.
fn maps(pairs: &[(String, String)]) -> (Value, Value) {
    if pairs.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in pairs {
        single.insert(k.clone(), json!(v));
        match multi.get_mut(k).and_then(Value::as_array_mut) {
            Some(list) => list.push(json!(v)),
            None => {
                multi.insert(k.clone(), json!([v]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

fn params(params: &BTreeMap<String, String>) -> Value {
    if params.is_empty() {
        Value::Null
    } else {
        json!(params)
    }
}

fn identity(req: &Incoming, api_key: Option<&str>) -> Value {
    json!({
        "accessKey": null, "accountId": null, "apiKey": api_key, "apiKeyId": api_key.map(|_| "local-key"),
        "caller": null, "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
        "cognitoIdentityId": null, "cognitoIdentityPoolId": null, "principalOrgId": null,
        "sourceIp": req.source_ip, "user": null, "userAgent": req.header("user-agent"), "userArn": null,
    })
}

fn request_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

fn request_context(req: &Incoming, target: &Target<'_>) -> Map<String, Value> {
    let context = json!({
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": req.header("host").unwrap_or("127.0.0.1"),
        "domainPrefix": "127",
        "extendedRequestId": target.request_id,
        "httpMethod": req.method,
        "identity": identity(req, target.api_key),
        "path": format!("/{}{}", target.stage, req.path),
        "protocol": "HTTP/1.1",
        "requestId": target.request_id,
        "requestTime": request_time(req.received_ms),
        "requestTimeEpoch": req.received_ms,
        "resourceId": "local",
        "resourcePath": target.resource,
        "stage": target.stage,
    });
    match context {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The proxy integration event; `authorizer` is the principal and context the authorizer returned.
pub fn proxy(
    req: &Incoming,
    target: &Target<'_>,
    authorizer: Option<&Map<String, Value>>,
) -> Value {
    let (headers, multi_headers) = maps(&req.headers);
    let (query, multi_query) = maps(&req.query);
    let (body, base64) = match (req.body.is_empty(), std::str::from_utf8(&req.body)) {
        (true, _) => (Value::Null, false),
        (false, Ok(text)) => (json!(text), false),
        (false, Err(_)) => (json!(STANDARD.encode(&req.body)), true),
    };
    let mut context = request_context(req, target);
    if let Some(authorizer) = authorizer {
        context.insert("authorizer".into(), Value::Object(authorizer.clone()));
    }
    json!({
        "resource": target.resource,
        "path": req.path,
        "httpMethod": req.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": params(target.params),
        "stageVariables": null,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}` — what authorizer
/// policies name.
pub fn method_arn(stage: &str, method: &str, path: &str) -> String {
    format!(
        "arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{stage}/{method}/{}",
        path.trim_start_matches('/')
    )
}

pub fn token_authorizer(token: &str, method_arn: &str) -> Value {
    json!({"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn})
}

pub fn request_authorizer(req: &Incoming, target: &Target<'_>, method_arn: &str) -> Value {
    let mut event = proxy(req, target, None);
    if let Value::Object(map) = &mut event {
        map.remove("body");
        map.remove("isBase64Encoded");
        map.insert("type".into(), json!("REQUEST"));
        map.insert("methodArn".into(), json!(method_arn));
    }
    event
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn incoming() -> Incoming {
        Incoming {
            method: "POST".into(),
            path: "/orders/ord_1/cancel".into(),
            query: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            headers: vec![
                ("host".into(), "127.0.0.1:3000".into()),
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), "test".into()),
            ],
            body: br#"{"x":1}"#.to_vec(),
            source_ip: "127.0.0.1".into(),
            received_ms: 1_763_690_400_000,
        }
    }

    fn event(authorizer: Option<&Map<String, Value>>) -> Value {
        let params = BTreeMap::from([("id".to_string(), "ord_1".to_string())]);
        let target = Target {
            stage: "local",
            request_id: "r-1",
            resource: "/orders/{id}/cancel",
            params: &params,
            api_key: None,
        };
        proxy(&incoming(), &target, authorizer)
    }

    /// The sample events that aws_lambda_events ships, read from its source in the cargo registry.
    fn fixture(name: &str) -> Value {
        let home = std::env::var("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo")
            });
        let registry = home.join("registry/src");
        for index in std::fs::read_dir(&registry).unwrap().flatten() {
            for krate in std::fs::read_dir(index.path()).unwrap().flatten() {
                let dir = krate.file_name().to_string_lossy().to_string();
                if dir.starts_with("aws_lambda_events-1.") {
                    let path = krate.path().join("src/fixtures").join(name);
                    if let Ok(text) = std::fs::read_to_string(path) {
                        return serde_json::from_str(&text).unwrap();
                    }
                }
            }
        }
        panic!(
            "aws_lambda_events fixture {name} not found under {}",
            registry.display()
        );
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn the_proxy_event_has_every_field_of_the_real_sample() {
        let real = fixture("example-apigw-request.json");
        let ours = event(Some(&Map::from_iter([(
            "principalId".to_string(),
            json!("alice"),
        )])));
        assert!(
            keys(&ours).is_superset(&keys(&real)),
            "{:?}",
            keys(&real).difference(&keys(&ours))
        );
        assert!(keys(&ours["requestContext"]).is_superset(&keys(&real["requestContext"])));
        assert!(
            keys(&ours["requestContext"]["identity"])
                .is_superset(&keys(&real["requestContext"]["identity"]))
        );
    }

    #[test]
    fn the_proxy_event_deserializes_as_the_runtime_reads_it() {
        let ours = event(Some(&Map::from_iter([
            ("principalId".to_string(), json!("alice")),
            ("role".to_string(), json!("customer")),
        ])));
        let typed: aws_lambda_events::apigw::ApiGatewayProxyRequest =
            serde_json::from_value(ours.clone()).unwrap();
        assert_eq!(typed.path.as_deref(), Some("/orders/ord_1/cancel"));
        assert_eq!(typed.path_parameters["id"], "ord_1");
        assert_eq!(typed.query_string_parameters.first("a"), Some("2"));
        assert_eq!(
            typed.multi_value_query_string_parameters.all("a"),
            Some(vec!["1", "2"])
        );
        assert_eq!(
            typed.request_context.authorizer.fields["principalId"],
            "alice"
        );
        assert_eq!(typed.request_context.stage.as_deref(), Some("local"));

        let request = lambda_http::request::from_str(&ours.to_string()).unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.body().as_ref(), br#"{"x":1}"#);
    }

    #[test]
    fn binary_bodies_are_base64_and_empty_ones_null() {
        let params = BTreeMap::new();
        let target = Target {
            stage: "s",
            request_id: "r",
            resource: "/",
            params: &params,
            api_key: Some("k"),
        };
        let mut req = incoming();
        req.body = vec![0xff, 0x00];
        let e = proxy(&req, &target, None);
        assert_eq!(
            (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
            (Some("/wA="), Some(true))
        );
        assert_eq!(e["requestContext"]["identity"]["apiKey"], "k");
        req.body.clear();
        assert!(proxy(&req, &target, None)["body"].is_null());
    }

    #[test]
    fn authorizer_events_match_the_real_samples() {
        let token = token_authorizer("Bearer x", &method_arn("local", "GET", "/orders"));
        assert_eq!(
            keys(&token),
            keys(&fixture("example-apigw-custom-auth-request.json"))
        );
        let typed: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest =
            serde_json::from_value(token).unwrap();
        assert_eq!(
            typed.method_arn.as_deref(),
            Some("arn:aws:execute-api:us-east-1:123456789012:local/local/GET/orders")
        );

        let params = BTreeMap::new();
        let target = Target {
            stage: "local",
            request_id: "r",
            resource: "/orders",
            params: &params,
            api_key: None,
        };
        let request = request_authorizer(&incoming(), &target, "arn");
        let real = fixture("example-apigw-custom-auth-request-type-request.json");
        assert!(keys(&request).is_superset(&keys(&real)));
        let _: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest =
            serde_json::from_value(request).unwrap();
    }
}
