//! `docs/openapi.json` is the code's contract: it is what `shared::http::openapi` builds from the
//! request and view types, and it documents exactly the routes template.yaml gives API Gateway,
//! each with the credentials the gateway asks for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use local_stack::template::Template;
use serde_json::Value;
use system_tests::repo_root;

fn committed() -> String {
    std::fs::read_to_string(repo_root().join("docs/openapi.json")).unwrap()
}

#[test]
fn the_committed_document_is_the_one_the_code_builds() {
    let built = shared::http::openapi::json_text();
    assert!(
        committed() == built,
        "docs/openapi.json differs from what the request and view types say: run `make openapi` \
         and commit the result"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_both_security_schemes() {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "x-api-key");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    // Every problem is problem+json, whoever answers it.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                // The deep health check's 503 is its report, not a problem.
                let report = path == "/health" && status == "503";
                if status.starts_with(['4', '5']) && !report {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
        }
    }
}

/// `(method, path)` to `(api key, bearer token)` as template.yaml's API events ask for them.
fn template_routes() -> BTreeMap<(String, String), (bool, bool)> {
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    let mut routes = BTreeMap::new();
    for function in template.functions() {
        for (_, kind, properties) in &function.events {
            if kind != "Api" {
                continue;
            }
            let text = |name: &str| properties.get(name).and_then(|v| v.as_str()).unwrap();
            let auth = properties.get("Auth");
            let api_key = auth
                .and_then(|a| a.get("ApiKeyRequired"))
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let token = auth
                .and_then(|a| a.get("Authorizer"))
                .and_then(|v| v.as_str())
                != Some("NONE");
            let route = (text("Method").to_lowercase(), text("Path").to_string());
            assert!(
                routes.insert(route.clone(), (api_key, token)).is_none(),
                "{route:?} twice in template.yaml"
            );
        }
    }
    routes
}

/// The same from the document's `security`.
fn document_routes() -> BTreeMap<(String, String), (bool, bool)> {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    let mut routes = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let needs = |scheme: &str| {
                operation["security"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|requirement| requirement.get(scheme).is_some())
            };
            routes.insert(
                (method.clone(), path.clone()),
                (needs("apiKey"), needs("bearer")),
            );
        }
    }
    routes
}

#[test]
fn the_document_has_exactly_the_templates_routes_with_their_credentials() {
    let template = template_routes();
    let document = document_routes();
    let only_template: Vec<_> = template
        .keys()
        .filter(|r| !document.contains_key(*r))
        .collect();
    let only_document: Vec<_> = document
        .keys()
        .filter(|r| !template.contains_key(*r))
        .collect();
    assert!(
        only_template.is_empty() && only_document.is_empty(),
        "routed but undocumented: {only_template:?}; documented but not routed: {only_document:?}"
    );
    for (route, credentials) in &template {
        assert_eq!(
            document[route], *credentials,
            "{route:?}: (api key, bearer) in the document differ from template.yaml's Auth"
        );
    }
    assert!(template.len() >= 13, "the template's routes were read");
}
