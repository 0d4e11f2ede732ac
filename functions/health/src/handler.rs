//! Shallow by default: `{"status": "ok"}` with no dependency touched, cheap enough for load
//! balancers and canaries to call as often as they like. `?deep=true` asks every dependency,
//! concurrently with a deadline: `{"status": "ok" | "degraded" | "unavailable", "checks":
//! [{"name", "ok", "required", "latencyMs"}]}`: 503 when a required one (a table, a queue, a
//! secret) is down, 200 `degraded` when only the payment provider is (payments wait for it). Neither answer names the version or the stage: the route
//! is public.

use std::convert::Infallible;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::AppError;
use shared::domain::Invalid;
use shared::http::{self, views::HealthView as Report};
use shared::service::health::{self, HealthCheck};

pub type Deps = HealthCheck;

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Infallible> {
    http::serve(req, |req, _| async move {
        let deep = match http::query_param(&req, "deep") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(AppError::invalid(
                    "deep",
                    Invalid("must be `true` or `false`".into()),
                ));
            }
        };
        let (status, report) = if deep {
            let health = health::check(&deps.probes).await;
            let (status, word) = match (health.healthy, health.degraded) {
                (true, false) => (StatusCode::OK, "ok"),
                (true, true) => (StatusCode::OK, "degraded"),
                (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            };
            (
                status,
                Report {
                    status: word,
                    checks: Some(health.checks),
                },
            )
        } else {
            (
                StatusCode::OK,
                Report {
                    status: "ok",
                    checks: None,
                },
            )
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
        }
    }

    fn asking(deep: Option<&str>) -> Request {
        let mut event: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        if let Some(deep) = deep {
            event["queryStringParameters"] = serde_json::json!({"deep": deep});
            event["multiValueQueryStringParameters"] = serde_json::json!({"deep": [deep]});
        }
        testing::request_from_event(&event.to_string())
    }

    async fn answer(deps: &Deps, deep: Option<&str>) -> (u16, serde_json::Value) {
        let response = handle(deps, asking(deep)).await.unwrap();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status().as_u16(), body)
    }

    #[tokio::test]
    async fn the_shallow_check_touches_nothing_and_says_only_ok() {
        let (status, body) = answer(&deps(false), None).await;
        assert_eq!(
            (status, body),
            (200, serde_json::json!({"status": "ok"})),
            "a dependency being down does not fail the shallow check"
        );
    }

    #[tokio::test]
    async fn the_deep_check_gives_503_naming_the_down_dependency_and_no_version_or_stage() {
        let (status, body) = answer(&deps(false), Some("true")).await;
        assert_eq!(status, 503);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["checks"][0]["name"], "orders");
        assert_eq!(body["checks"][0]["ok"], false);
        assert!(body["checks"][0]["latencyMs"].is_u64());
        assert!(body.get("version").is_none() && body.get("stage").is_none());
        assert_eq!(answer(&deps(true), Some("true")).await.0, 200);
        assert_eq!(answer(&deps(true), Some("yes")).await.0, 400);
    }
}
