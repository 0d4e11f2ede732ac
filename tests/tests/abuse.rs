//! Abuse through the local gateway, as an attacker would try it: guessing one account's
//! password, a burst of guesses, one password over many accounts, scripted sign-ups, look-alike
//! emails. Sources are distinct loopback addresses (127.0.0.x), which the gateway reports as
//! `sourceIp` exactly as API Gateway reports a client's address.

// Test helpers panic on unexpected values by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{Value, json};
use system_tests::TestEnv;
use system_tests::api::{self, Client};

const PASSWORD: &str = "correct horse battery staple";

/// The project's template with the API key's and stage's throttles out of the way, so what
/// answers is the functions' own per-source and per-account budgets.
fn unthrottled_template() -> String {
    std::fs::read_to_string(system_tests::repo_root().join("template.yaml"))
        .unwrap()
        .replace(
            "Throttle: { RateLimit: 20, BurstLimit: 40 }",
            "Throttle: { RateLimit: 100000, BurstLimit: 100000 }",
        )
        .replace("ApiRateLimit: 50", "ApiRateLimit: 100000")
        .replace("ApiBurstLimit: 100", "ApiBurstLimit: 100000")
}

async fn service() -> (Arc<TestEnv>, String) {
    let yaml = unthrottled_template();
    let env = Arc::new(TestEnv::with_template(&yaml).await);
    env.seed_with_signing_key().await;
    let service = api::serve(env.clone(), &yaml).await;
    (env, service.url)
}

fn from(url: &str, last: u8) -> Client {
    Client::from_address(url, Ipv4Addr::new(127, 0, 0, last))
}

async fn log_in(client: &Client, email: &str, password: &str) -> u16 {
    let body = json!({"email": email, "password": password});
    client
        .call("POST", "/auth/login", None, Some(body), &[])
        .await
        .0
}

async fn sign_up(client: &Client, email: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let body = json!({"email": email, "password": PASSWORD});
    client
        .call("POST", "/auth/register", None, Some(body), &[])
        .await
}

#[tokio::test]
async fn a_thousand_wrong_logins_from_one_source_leave_the_owner_able_to_log_in_from_another() {
    let (_env, url) = service().await;
    let owner = from(&url, 10);
    assert_eq!(sign_up(&owner, "ada@example.com").await.0, 201);
    let attacker = from(&url, 66);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..125 {
        let guesses = (0..8).map(|n| {
            let attacker = attacker.clone();
            async move {
                log_in(
                    &attacker,
                    "ada@example.com",
                    &format!("guess {round}-{n}!!"),
                )
                .await
            }
        });
        for status in futures::future::join_all(guesses).await {
            *statuses.entry(status).or_default() += 1;
        }
    }
    assert_eq!(
        statuses,
        [(401, 5), (429, 995)].into(),
        "5 guesses checked, the rest refused unchecked"
    );
    assert_eq!(
        log_in(&owner, "ada@example.com", PASSWORD).await,
        200,
        "the owner, from their own address"
    );
}

#[tokio::test]
async fn forty_concurrent_guesses_get_at_most_the_budget_checked() {
    let (_env, url) = service().await;
    let owner = from(&url, 11);
    assert_eq!(sign_up(&owner, "bea@example.com").await.0, 201);
    let attacker = from(&url, 67);
    let guesses = (0..40).map(|n| {
        let attacker = attacker.clone();
        async move { log_in(&attacker, "bea@example.com", &format!("guess number {n}")).await }
    });
    let statuses = futures::future::join_all(guesses).await;
    // A 401 is an evaluated hash (a throttled guess is answered 429 before any hashing).
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn one_password_over_many_accounts_from_one_source_is_throttled() {
    let (_env, url) = service().await;
    let sprayer = from(&url, 68);
    let mut refused = 0;
    for n in 0..60 {
        if log_in(&sprayer, &format!("user{n}@example.com"), "Winter2026!!!!").await == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 10, "50 per source per 15 minutes");
    assert_eq!(
        log_in(&from(&url, 12), "user59@example.com", "Winter2026!!!!").await,
        401,
        "another source is still checked"
    );
}

#[tokio::test]
async fn sign_ups_past_the_source_budget_get_429_with_rate_limit_headers() {
    let (_env, url) = service().await;
    let script = from(&url, 69);
    for n in 0..10 {
        let (status, _, headers) = sign_up(&script, &format!("bot{n}@example.com")).await;
        assert_eq!(status, 201);
        assert_eq!(headers["x-ratelimit-limit"], "10");
        assert_eq!(
            headers["x-ratelimit-remaining"].to_str().unwrap(),
            (9 - n).to_string()
        );
    }
    let (status, body, headers) = sign_up(&script, "bot10@example.com").await;
    assert_eq!(status, 429);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(headers.contains_key("retry-after"));
    assert!(headers.contains_key("x-ratelimit-reset"));
    assert_eq!(body["status"], 429);
    assert_eq!(
        sign_up(&from(&url, 13), "person@example.com").await.0,
        201,
        "another source signs up"
    );
}

#[tokio::test]
async fn look_alike_emails_are_one_account_or_refused() {
    let (_env, url) = service().await;
    let client = from(&url, 14);
    assert_eq!(sign_up(&client, "jose\u{301}@example.com").await.0, 201);
    // The same account however it is typed: composed accent, capitals, fullwidth letters.
    for same in [
        "jos\u{e9}@example.com",
        "JOS\u{c9}@EXAMPLE.COM",
        "\u{ff4a}os\u{e9}@example.com",
    ] {
        assert_eq!(log_in(&client, same, PASSWORD).await, 200, "{same:?}");
    }
    // Invisible differences are refused outright, naming the field.
    for hidden in [
        "jos\u{e9}\u{200b}@example.com",
        "\u{202e}jos\u{e9}@example.com",
    ] {
        let (status, body, _) = sign_up(&client, hidden).await;
        assert_eq!(status, 400, "{hidden:?}");
        assert_eq!(body["errors"][0]["field"], "email");
    }
}

#[tokio::test]
async fn an_idempotency_key_outside_visible_ascii_is_refused_naming_it() {
    let (_env, url) = service().await;
    let client = from(&url, 15);
    let token = client.account("cy@example.com").await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for key in [&b"cl\xc3\xa9-1"[..], b"key with space", b"tab\tkey"] {
        let response = http
            .post(format!("{url}/orders"))
            .header("x-api-key", api::KEY)
            .bearer_auth(&token)
            .header(
                "idempotency-key",
                reqwest::header::HeaderValue::from_bytes(key).unwrap(),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{key:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "Idempotency-Key", "{key:?}");
    }
}
