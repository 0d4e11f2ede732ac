//! The API's routes, read from the functions' `Api` events, and matching a request against them
//! the way API Gateway does: literal segments win over `{param}`, which wins over `{proxy+}`.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use crate::template::Template;

/// Which authorizer a route uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// The API's default authorizer, if it has one.
    Default,
    /// `Auth: {Authorizer: NONE}`: public.
    None,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, … or `ANY`.
    pub method: String,
    /// The resource path as declared, e.g. `/orders/{id}`.
    pub resource: String,
    /// The binary `cargo lambda watch` serves it as.
    pub function: String,
    pub auth: RouteAuth,
    /// `None`: the API's default.
    pub api_key_required: Option<bool>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No resource has this path.
    NoResource,
    /// The resource exists, not with this method.
    NoMethod,
}

pub fn from_template(template: &Template) -> Vec<Route> {
    let mut routes = Vec::new();
    for function in template.functions() {
        for (_, kind, props) in &function.events {
            if kind != "Api" {
                continue;
            }
            let (Some(path), Some(method)) = (
                props.get("Path").and_then(Value::as_str),
                props.get("Method").and_then(Value::as_str),
            ) else {
                continue;
            };
            let auth = props.get("Auth");
            let route_auth = match auth
                .and_then(|a| a.get("Authorizer"))
                .and_then(Value::as_str)
            {
                None => RouteAuth::Default,
                Some("NONE") => RouteAuth::None,
                Some(name) => RouteAuth::Named(name.to_string()),
            };
            routes.push(Route {
                method: method.to_ascii_uppercase(),
                resource: path.to_string(),
                function: function.binary.clone(),
                auth: route_auth,
                api_key_required: auth
                    .and_then(|a| a.get("ApiKeyRequired"))
                    .and_then(Value::as_bool),
            });
        }
    }
    routes
}

enum Segment<'a> {
    Literal(&'a str),
    Param(&'a str),
    Greedy(&'a str),
}

fn segments(resource: &str) -> Vec<Segment<'_>> {
    resource
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy),
                    None => Segment::Param(name),
                },
                None => Segment::Literal(s),
            },
        )
        .collect()
}

/// How well a resource fits a path: `None` if not at all; higher ranks are more specific.
fn fit(resource: &str, path: &[String]) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let mut params = BTreeMap::new();
    let mut rank = Vec::new();
    let pattern = segments(resource);
    for (i, segment) in pattern.iter().enumerate() {
        match segment {
            Segment::Literal(lit) => {
                if path.get(i).map(String::as_str) != Some(*lit) {
                    return None;
                }
                rank.push(2);
            }
            Segment::Param(name) => {
                params.insert((*name).to_string(), path.get(i)?.clone());
                rank.push(1);
            }
            Segment::Greedy(name) => {
                if i >= path.len() {
                    return None;
                }
                params.insert((*name).to_string(), path[i..].join("/"));
                rank.push(0);
                return Some((rank, params));
            }
        }
    }
    (pattern.len() == path.len()).then_some((rank, params))
}

/// The route for `method` and `path` (already percent-decoded per segment).
pub fn find<'a>(routes: &'a [Route], method: &str, path: &[String]) -> Result<Matched<'a>, Miss> {
    let mut best: Option<(Vec<u8>, &Route, BTreeMap<String, String>)> = None;
    let mut resource_exists = false;
    for route in routes {
        let Some((rank, params)) = fit(&route.resource, path) else {
            continue;
        };
        resource_exists = true;
        if route.method != method && route.method != "ANY" {
            continue;
        }
        // An exact method beats ANY on the same resource.
        let mut rank = rank;
        rank.push(u8::from(route.method == method));
        if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
            best = Some((rank, route, params));
        }
    }
    match best {
        Some((_, route, params)) => Ok(Matched { route, params }),
        None if resource_exists => Err(Miss::NoMethod),
        None => Err(Miss::NoResource),
    }
}

/// Splits and percent-decodes a request path.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, resource: &str, function: &str) -> Route {
        Route {
            method: method.into(),
            resource: resource.into(),
            function: function.into(),
            auth: RouteAuth::Default,
            api_key_required: None,
        }
    }

    fn table() -> Vec<Route> {
        vec![
            route("GET", "/orders", "list-orders"),
            route("POST", "/orders", "create-order"),
            route("GET", "/orders/{id}", "get-order"),
            route("POST", "/orders/{id}/cancel", "cancel-order"),
            route("GET", "/orders/latest", "latest"),
            route("ANY", "/files/{proxy+}", "files"),
        ]
    }

    fn hit(method: &str, path: &str) -> Result<(String, BTreeMap<String, String>), Miss> {
        let routes = table();
        find(&routes, method, &split_path(path)).map(|m| (m.route.function.clone(), m.params))
    }

    #[test]
    fn methods_and_params_pick_the_function() {
        assert_eq!(hit("GET", "/orders").unwrap().0, "list-orders");
        assert_eq!(hit("POST", "/orders/").unwrap().0, "create-order");
        let (f, params) = hit("GET", "/orders/ord_1").unwrap();
        assert_eq!((f.as_str(), params["id"].as_str()), ("get-order", "ord_1"));
        assert_eq!(
            hit("POST", "/orders/ord_1/cancel").unwrap().0,
            "cancel-order"
        );
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        assert_eq!(hit("GET", "/orders/latest").unwrap().0, "latest");
    }

    #[test]
    fn greedy_parameters_take_the_rest_and_any_takes_every_method() {
        let (f, params) = hit("DELETE", "/files/a/b%20c").unwrap();
        assert_eq!((f.as_str(), params["proxy"].as_str()), ("files", "a/b c"));
        assert_eq!(hit("GET", "/files"), Err(Miss::NoResource));
    }

    #[test]
    fn misses_tell_an_unknown_path_from_an_unknown_method() {
        assert_eq!(hit("GET", "/nope"), Err(Miss::NoResource));
        assert_eq!(hit("DELETE", "/orders/ord_1"), Err(Miss::NoMethod));
        assert_eq!(hit("GET", "/orders/ord_1/cancel/x"), Err(Miss::NoResource));
    }

    #[test]
    fn the_project_template_routes_every_endpoint() {
        let template = Template::parse(include_str!("../../../../template.yaml")).unwrap();
        let routes = from_template(&template);
        for (method, path, function) in [
            ("POST", "/orders", "create-order"),
            ("GET", "/orders", "list-orders"),
            ("GET", "/orders/ord_1", "get-order"),
            ("POST", "/orders/ord_1/cancel", "cancel-order"),
            ("GET", "/products", "list-products"),
            ("GET", "/products/p-1", "get-product"),
            ("PUT", "/products/p-1", "put-product"),
            ("GET", "/health", "health"),
            ("GET", "/admin/orders", "admin-list-orders"),
        ] {
            let matched = find(&routes, method, &split_path(path)).unwrap();
            assert_eq!(matched.route.function, function, "{method} {path}");
        }
    }
}
