//! Registering and logging in.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::adapters::secrets::KeyRing;
use crate::auth::keys::KeySet;
use crate::auth::{Email, IssuedToken, Password, credentials};
use crate::config::ConfigError;
use crate::domain::Role;
use crate::error::{AppError, FieldError};
use crate::ports::{Clock, KeyStore, User, UserRepository};
use crate::service::limits::{Budget, Quota, Source, Throttle};
use crate::wiring::{Wire, Wiring};

/// The body of `POST /auth/register` and `POST /auth/login`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: String,
    pub password: String,
}

/// Login attempts per account from one source in [`LOGIN_WINDOW`] (default; `LOGIN_LIMIT_PER_ACCOUNT`).
pub const LOGIN_PER_ACCOUNT_AND_SOURCE: u32 = 5;
/// Login attempts from one source, whatever the account, in [`LOGIN_WINDOW`]
/// (default; `LOGIN_LIMIT_PER_SOURCE`): what stops one password tried over many accounts.
pub const LOGIN_PER_SOURCE: u32 = 50;
pub const LOGIN_WINDOW: Duration = Duration::minutes(15);
/// Sign-ups from one source in [`REGISTER_WINDOW`] (default; `REGISTER_LIMIT_PER_SOURCE`).
pub const REGISTER_PER_SOURCE: u32 = 10;
pub const REGISTER_WINDOW: Duration = Duration::hours(1);
/// Longer passwords are refused before hashing, so nobody makes the service hash megabytes.
const MAX_LOGIN_PASSWORD: usize = 1024;

fn budget<W: Wiring + ?Sized>(
    from: &W,
    name: &'static str,
    default: u32,
    window: Duration,
) -> Result<Budget, ConfigError> {
    let limit = from.number(name, u64::from(default))?;
    Ok(Budget::per(
        u32::try_from(limit).unwrap_or(u32::MAX),
        window,
    ))
}

/// An answer and the quota it was counted against (none when it was refused before counting).
pub struct Counted<T> {
    pub quota: Option<Quota>,
    pub outcome: Result<T, AppError>,
}

impl<T> Counted<T> {
    /// Refused before anything was counted.
    pub fn refused(err: AppError) -> Self {
        Self {
            quota: None,
            outcome: Err(err),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Counted<U> {
        Counted {
            quota: self.quota,
            outcome: self.outcome.map(f),
        }
    }
}

/// Signing up.
pub struct Registration {
    pub users: Arc<dyn UserRepository>,
    pub throttle: Throttle,
    pub per_source: Budget,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Wire for Registration {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            users: from.users()?,
            throttle: Throttle::new(from.rate_counter()?),
            per_source: budget(
                from,
                "REGISTER_LIMIT_PER_SOURCE",
                REGISTER_PER_SOURCE,
                REGISTER_WINDOW,
            )?,
            clock: from.clock(),
        })
    }
}

impl Registration {
    /// Counted per source before anything else, so a flood of bad requests spends the budget too.
    pub async fn register(&self, credentials: &Credentials, source: &Source) -> Counted<Email> {
        let now = self.clock.now();
        let hits = [(format!("register#{source}"), self.per_source)];
        let quota = match self.throttle.take(&hits, now).await {
            Ok(quota) => quota,
            Err(err) => {
                tracing::warn!(%source, "sign-up throttled");
                return Counted::refused(err);
            }
        };
        Counted {
            quota: Some(quota),
            outcome: register(self.users.as_ref(), credentials, now).await,
        }
    }
}

/// Logging in: the attempt counted, the password checked, a token issued.
pub struct Login {
    pub users: Arc<dyn UserRepository>,
    pub keys: KeyRing,
    pub throttle: Throttle,
    pub per_account_and_source: Budget,
    pub per_source: Budget,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Wire for Login {
    async fn wire<W: Wiring + ?Sized>(from: &W) -> Result<Self, ConfigError> {
        Ok(Self {
            users: from.users()?,
            keys: KeyRing::wire(from).await?,
            throttle: Throttle::new(from.rate_counter()?),
            per_account_and_source: budget(
                from,
                "LOGIN_LIMIT_PER_ACCOUNT",
                LOGIN_PER_ACCOUNT_AND_SOURCE,
                LOGIN_WINDOW,
            )?,
            per_source: budget(
                from,
                "LOGIN_LIMIT_PER_SOURCE",
                LOGIN_PER_SOURCE,
                LOGIN_WINDOW,
            )?,
            clock: from.clock(),
        })
    }
}

impl Login {
    /// Every attempt is counted (atomically, before the password is hashed) per account and
    /// source and per source; past either budget the answer is 429 with `Retry-After`, and the
    /// password is not checked at all, so no burst gets more guesses evaluated than the budget.
    ///
    /// There is no lock: a stranger spending an account's budget from their address does not
    /// stop its owner, who comes from another. Budgets are counted by the email as typed
    /// (normalised), whether or not it has an account, so a throttled answer tells nothing either.
    pub async fn login(&self, credentials: &Credentials, source: &Source) -> Counted<IssuedToken> {
        let now = self.clock.now();
        let email = match Email::parse(&credentials.email) {
            Ok(email) => email,
            Err(e) => return Counted::refused(AppError::invalid("email", e)),
        };
        let hits = [
            (
                format!("login#{source}#{email}"),
                self.per_account_and_source,
            ),
            (format!("login#{source}"), self.per_source),
        ];
        let quota = match self.throttle.take(&hits, now).await {
            Ok(quota) => quota,
            Err(err) => {
                tracing::warn!(%source, "login throttled");
                return Counted::refused(err);
            }
        };
        Counted {
            quota: Some(quota),
            outcome: login(
                self.users.as_ref(),
                &self.keys,
                &email,
                &credentials.password,
                now,
            )
            .await,
        }
    }
}

/// Creates a customer account. An existing account is left alone and the answer is the same, so
/// registration tells nobody which emails have accounts.
pub async fn register(
    users: &dyn UserRepository,
    credentials: &Credentials,
    now: DateTime<Utc>,
) -> Result<Email, AppError> {
    let mut errors = Vec::new();
    let email =
        Email::parse(&credentials.email).map_err(|e| errors.push(FieldError::invalid("email", e)));
    let password = Password::parse(&credentials.password)
        .map_err(|e| errors.push(FieldError::invalid("password", e)));
    let (Ok(email), Ok(password)) = (email, password) else {
        return Err(AppError::Invalid(errors));
    };
    let user = User {
        id: format!("usr_{}", uuid::Uuid::new_v4().simple()),
        email: email.clone(),
        password_hash: credentials::hash(&password).await?,
        role: Role::Customer,
        created_at: now,
    };
    if !users.create(&user).await? {
        tracing::info!("registration for an existing account ignored");
    }
    Ok(email)
}

/// Checks the password and issues a token. An unknown account is checked against a dummy hash,
/// so it takes the same time and gets the same answer as a wrong password.
pub async fn login(
    users: &dyn UserRepository,
    keys: &KeyRing,
    email: &Email,
    password: &str,
    now: DateTime<Utc>,
) -> Result<IssuedToken, AppError> {
    if password.len() > MAX_LOGIN_PASSWORD {
        return Err(AppError::InvalidCredentials);
    }
    let user = users.find(email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    if !credentials::verify(password, stored).await {
        return Err(AppError::InvalidCredentials);
    }
    let user = user.ok_or(AppError::InvalidCredentials)?;
    keys.tokens().await?.issue(&user.id, user.role, now)
}

/// Creates an admin account: for operators (`order-admin create-admin`), never reachable through
/// the API. Returns false when the email has an account already (it is left unchanged).
pub async fn create_admin(
    users: &dyn UserRepository,
    email: &Email,
    password: &Password,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let user = User {
        id: format!("usr_{}", uuid::Uuid::new_v4().simple()),
        email: email.clone(),
        password_hash: credentials::hash(password).await?,
        role: Role::Admin,
        created_at: now,
    };
    users.create(&user).await
}

/// Rotates the signing key: a new current key, the old one kept to verify its tokens until they
/// expire. With no key yet, this creates the first one.
pub async fn rotate_signing_key(
    store: &dyn KeyStore,
    now: DateTime<Utc>,
) -> Result<KeySet, AppError> {
    let kid = format!("k-{}", now.format("%Y%m%dT%H%M%S"));
    let rotated = store.load().await?.rotated(&kid)?;
    store.save(&rotated).await?;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::keys::KeySet;
    use crate::auth::tokens::TokenPolicy;
    use crate::ports::KeyStore;
    use crate::testing::{FixedClock, MemoryStore};

    struct World {
        clock: Arc<FixedClock>,
        login: Login,
        registration: Registration,
    }

    async fn world() -> World {
        let store = Arc::new(MemoryStore::new());
        store
            .save(&KeySet::default().rotated("k1").unwrap())
            .await
            .unwrap();
        let policy = TokenPolicy {
            issuer: "i".into(),
            audience: "a".into(),
            lifetime: Duration::minutes(15),
        };
        // Now, so the tokens it issues verify against the real clock.
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let throttle = Throttle::new(store.clone());
        World {
            login: Login {
                users: store.clone(),
                keys: KeyRing::new(store.clone(), policy),
                throttle: throttle.clone(),
                per_account_and_source: Budget::per(LOGIN_PER_ACCOUNT_AND_SOURCE, LOGIN_WINDOW),
                per_source: Budget::per(LOGIN_PER_SOURCE, LOGIN_WINDOW),
                clock: clock.clone(),
            },
            registration: Registration {
                users: store.clone(),
                throttle,
                per_source: Budget::per(REGISTER_PER_SOURCE, REGISTER_WINDOW),
                clock: clock.clone(),
            },
            clock,
        }
    }

    fn creds(email: &str, password: &str) -> Credentials {
        Credentials {
            email: email.into(),
            password: password.into(),
        }
    }

    const ADA: &str = "ada@example.com";
    const GOOD: &str = "correct horse battery";

    fn from(ip: &str) -> Source {
        Source::from_ip(ip)
    }

    impl World {
        async fn sign_up(&self, email: &str, password: &str) -> Result<Email, AppError> {
            self.registration
                .register(&creds(email, password), &from("198.51.100.1"))
                .await
                .outcome
        }

        async fn log_in(
            &self,
            email: &str,
            password: &str,
            source: &str,
        ) -> Result<IssuedToken, AppError> {
            self.login
                .login(&creds(email, password), &from(source))
                .await
                .outcome
        }
    }

    #[tokio::test]
    async fn a_registered_customer_logs_in_and_gets_a_customer_token() {
        let w = world().await;
        w.sign_up(" Ada@Example.com", GOOD).await.unwrap();
        let issued = w.log_in(ADA, GOOD, "203.0.113.1").await.unwrap();
        let claims = w
            .login
            .keys
            .tokens()
            .await
            .unwrap()
            .verify(&issued.token)
            .unwrap();
        assert_eq!(claims.role, "customer");
        assert!(claims.sub.starts_with("usr_"));
    }

    #[tokio::test]
    async fn registering_an_existing_email_answers_the_same_and_changes_nothing() {
        let w = world().await;
        let first = w.sign_up(ADA, GOOD).await.unwrap();
        let second = w.sign_up(ADA, "attacker's password!").await.unwrap();
        assert_eq!(first, second);
        assert!(
            w.log_in(ADA, "attacker's password!", "203.0.113.1")
                .await
                .is_err()
        );
        assert!(w.log_in(ADA, GOOD, "203.0.113.1").await.is_ok());
    }

    #[tokio::test]
    async fn bad_registrations_name_their_fields() {
        let w = world().await;
        let Err(AppError::Invalid(errors)) = w.sign_up("nope", "short").await else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password"]);
    }

    #[tokio::test]
    async fn a_stranger_spending_an_accounts_budget_does_not_stop_its_owner() {
        let w = world().await;
        w.sign_up(ADA, GOOD).await.unwrap();
        let stranger = "203.0.113.66";
        let mut answers = Vec::new();
        for _ in 0..20 {
            answers.push(w.log_in(ADA, "wrong password!!", stranger).await);
        }
        let checked = answers
            .iter()
            .filter(|a| matches!(a, Err(AppError::InvalidCredentials)))
            .count();
        assert_eq!(checked, LOGIN_PER_ACCOUNT_AND_SOURCE as usize);
        assert!(
            answers[checked..]
                .iter()
                .all(|a| matches!(a, Err(AppError::RateLimited { .. })))
        );
        let Err(AppError::RateLimited {
            retry_after_secs, ..
        }) = w.log_in(ADA, GOOD, stranger).await
        else {
            panic!("the right password from the throttled source waits too");
        };
        assert!(
            w.log_in(ADA, GOOD, "198.51.100.7").await.is_ok(),
            "the owner, from elsewhere"
        );
        w.clock
            .advance(Duration::seconds(i64::try_from(retry_after_secs).unwrap()));
        assert!(
            w.log_in(ADA, GOOD, stranger).await.is_ok(),
            "after Retry-After"
        );
    }

    #[tokio::test]
    async fn one_password_over_many_accounts_from_one_source_is_throttled() {
        let w = world().await;
        let mut refused = 0;
        for n in 0..LOGIN_PER_SOURCE + 10 {
            let email = format!("user{n}@example.com");
            if matches!(
                w.log_in(&email, "Summer2026!!!!", "203.0.113.9").await,
                Err(AppError::RateLimited { .. })
            ) {
                refused += 1;
            }
        }
        assert_eq!(refused, 10);
    }

    #[tokio::test]
    async fn a_throttled_login_answers_alike_for_known_and_unknown_accounts() {
        let w = world().await;
        w.sign_up(ADA, GOOD).await.unwrap();
        let mut last = Vec::new();
        for email in [ADA, "nobody@example.com"] {
            let mut answer = None;
            for _ in 0..=LOGIN_PER_ACCOUNT_AND_SOURCE {
                answer = Some(w.log_in(email, "wrong password!!", "203.0.113.5").await);
            }
            last.push(format!("{:?}", answer.unwrap().err().unwrap()));
        }
        assert_eq!(last[0], last[1]);
    }

    #[tokio::test]
    async fn sign_ups_past_the_source_budget_are_refused_until_retry_after() {
        let w = world().await;
        for n in 0..REGISTER_PER_SOURCE {
            w.sign_up(&format!("u{n}@example.com"), GOOD).await.unwrap();
        }
        let refused = w.sign_up("one-more@example.com", GOOD).await;
        let Err(AppError::RateLimited {
            retry_after_secs, ..
        }) = refused
        else {
            panic!("{refused:?}");
        };
        assert!(retry_after_secs <= 2 * 3600);
        w.clock
            .advance(Duration::seconds(i64::try_from(retry_after_secs).unwrap()));
        assert!(w.sign_up("one-more@example.com", GOOD).await.is_ok());
    }

    #[tokio::test]
    async fn an_unknown_account_gets_the_same_answer_as_a_wrong_password() {
        let w = world().await;
        w.sign_up(ADA, GOOD).await.unwrap();
        let unknown = w
            .log_in("nobody@example.com", "whatever password", "203.0.113.1")
            .await;
        let wrong = w.log_in(ADA, "whatever password", "203.0.113.1").await;
        assert!(matches!(unknown, Err(AppError::InvalidCredentials)));
        assert!(matches!(wrong, Err(AppError::InvalidCredentials)));
    }
}
