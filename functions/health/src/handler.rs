//! `{"status": "ok" | "unavailable", "version", "stage", "checks": [{"name", "ok"}]}`.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::http;
use shared::service::health::{self, Check, HealthCheck};

pub type Deps = HealthCheck;

#[derive(Serialize)]
struct Report<'a> {
    status: &'static str,
    version: &'a str,
    stage: &'a str,
    checks: Vec<Check>,
}

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve(req, |_, _| async move {
        let health = health::check(&deps.probes).await;
        let (status, word) = if health.healthy {
            (StatusCode::OK, "ok")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        };
        let report = Report {
            status: word,
            version: deps.deployment.version,
            stage: &deps.deployment.stage,
            checks: health.checks,
        };
        Ok(http::with_header(
            http::json(status, &report),
            "cache-control",
            "no-store",
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use shared::config::Deployment;
    use shared::testing::{self, StaticProbe};

    use super::*;

    const EVENT: &str = include_str!("../../../events/health.json");

    fn deps(orders_up: bool) -> Deps {
        Deps {
            probes: vec![
                Box::new(StaticProbe {
                    name: "orders",
                    healthy: orders_up,
                }),
                Box::new(StaticProbe {
                    name: "products",
                    healthy: true,
                }),
            ],
            deployment: Deployment {
                stage: "local".into(),
                version: "0.1.0",
            },
        }
    }

    #[tokio::test]
    async fn healthy_dependencies_give_200_with_version_and_stage() {
        let response = handle(&deps(true), testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["stage"], "local");
        assert_eq!(body["version"], "0.1.0");
    }

    #[tokio::test]
    async fn a_down_dependency_gives_503_naming_it() {
        let response = handle(&deps(false), testing::request_from_event(EVENT))
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body["checks"][0],
            serde_json::json!({"name": "orders", "ok": false})
        );
    }
}
