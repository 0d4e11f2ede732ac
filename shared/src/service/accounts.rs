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
use crate::ports::Clock;
use crate::ports::{KeyStore, User, UserRepository};
use crate::wiring::{Wire, Wiring};

/// The body of `POST /auth/register` and `POST /auth/login`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Failed logins in a row that lock an account.
pub const MAX_FAILURES: u32 = 5;
/// How long a locked account refuses logins.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// Longer passwords are refused before hashing, so nobody makes the service hash megabytes.
const MAX_LOGIN_PASSWORD: usize = 1024;

/// Signing up.
pub struct Registration {
    pub users: Arc<dyn UserRepository>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Wire for Registration {
    async fn wire(from: &dyn Wiring) -> Result<Self, ConfigError> {
        Ok(Self {
            users: from.users()?,
            clock: from.clock(),
        })
    }
}

impl Registration {
    pub async fn register(&self, credentials: &Credentials) -> Result<Email, AppError> {
        register(self.users.as_ref(), credentials, self.clock.now()).await
    }
}

/// Logging in: the password checked, a token issued.
pub struct Login {
    pub users: Arc<dyn UserRepository>,
    pub keys: KeyRing,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Wire for Login {
    async fn wire(from: &dyn Wiring) -> Result<Self, ConfigError> {
        Ok(Self {
            users: from.users()?,
            keys: KeyRing::wire(from).await?,
            clock: from.clock(),
        })
    }
}

impl Login {
    pub async fn login(&self, credentials: &Credentials) -> Result<IssuedToken, AppError> {
        login(
            self.users.as_ref(),
            &self.keys,
            credentials,
            self.clock.now(),
        )
        .await
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

/// Checks the password and issues a token. Five failures in a row lock the account for 15
/// minutes; every failure, for whatever reason, gets the same answer.
pub async fn login(
    users: &dyn UserRepository,
    keys: &KeyRing,
    credentials: &Credentials,
    now: DateTime<Utc>,
) -> Result<IssuedToken, AppError> {
    let email = Email::parse(&credentials.email).map_err(|e| AppError::invalid("email", e))?;
    if credentials.password.len() > MAX_LOGIN_PASSWORD {
        return Err(AppError::InvalidCredentials);
    }
    let account = users.find(&email).await?;
    let locked = account
        .as_ref()
        .and_then(|a| a.locked_until)
        .is_some_and(|until| until > now);
    let exists = account.is_some();
    let stored = account
        .as_ref()
        .filter(|_| !locked)
        .map(|a| a.user.password_hash.as_str());
    let matched = credentials::verify(&credentials.password, stored).await;
    let Some(account) = account.filter(|_| matched) else {
        if exists && !locked {
            let failures = users.login_failed(&email).await?;
            if failures >= MAX_FAILURES {
                users.lock(&email, now + LOCKOUT).await?;
                tracing::warn!("account locked after repeated failed logins");
            }
        }
        return Err(AppError::InvalidCredentials);
    };
    if account.failed_logins > 0 || account.locked_until.is_some() {
        users.login_succeeded(&email).await?;
    }
    keys.tokens()
        .await?
        .issue(&account.user.id, account.user.role, now)
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
    use crate::testing::MemoryStore;

    async fn setup() -> (Arc<MemoryStore>, KeyRing) {
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
        let ring = KeyRing::new(store.clone(), policy);
        (store, ring)
    }

    fn creds(email: &str, password: &str) -> Credentials {
        Credentials {
            email: email.into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn a_registered_customer_logs_in_and_gets_a_customer_token() {
        let (store, ring) = setup().await;
        let now = Utc::now();
        register(
            store.as_ref(),
            &creds(" Ada@Example.com", "correct horse battery"),
            now,
        )
        .await
        .unwrap();
        let issued = login(
            store.as_ref(),
            &ring,
            &creds("ada@example.com", "correct horse battery"),
            now,
        )
        .await
        .unwrap();
        let claims = ring.tokens().await.unwrap().verify(&issued.token).unwrap();
        assert_eq!(claims.role, "customer");
        assert!(claims.sub.starts_with("usr_"));
    }

    #[tokio::test]
    async fn registering_an_existing_email_answers_the_same_and_changes_nothing() {
        let (store, ring) = setup().await;
        let now = Utc::now();
        let first = register(
            store.as_ref(),
            &creds("ada@example.com", "correct horse battery"),
            now,
        )
        .await
        .unwrap();
        let second = register(
            store.as_ref(),
            &creds("ada@example.com", "attacker's password!"),
            now,
        )
        .await
        .unwrap();
        assert_eq!(first, second);
        assert!(
            login(
                store.as_ref(),
                &ring,
                &creds("ada@example.com", "attacker's password!"),
                now
            )
            .await
            .is_err()
        );
        assert!(
            login(
                store.as_ref(),
                &ring,
                &creds("ada@example.com", "correct horse battery"),
                now
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn bad_registrations_name_their_fields() {
        let (store, _) = setup().await;
        let Err(AppError::Invalid(errors)) =
            register(store.as_ref(), &creds("nope", "short"), Utc::now()).await
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password"]);
    }

    #[tokio::test]
    async fn five_failures_lock_the_account_for_fifteen_minutes() {
        let (store, ring) = setup().await;
        let now = Utc::now();
        let good = creds("ada@example.com", "correct horse battery");
        register(store.as_ref(), &good, now).await.unwrap();
        for _ in 0..MAX_FAILURES {
            let failed = login(
                store.as_ref(),
                &ring,
                &creds("ada@example.com", "wrong password!!"),
                now,
            )
            .await;
            assert!(matches!(failed, Err(AppError::InvalidCredentials)));
        }
        let locked = login(store.as_ref(), &ring, &good, now + Duration::minutes(1)).await;
        assert!(
            matches!(locked, Err(AppError::InvalidCredentials)),
            "locked even with the right password"
        );
        assert!(
            login(
                store.as_ref(),
                &ring,
                &good,
                now + LOCKOUT + Duration::seconds(1)
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_gets_the_same_answer_as_a_wrong_password() {
        let (store, ring) = setup().await;
        let unknown = login(
            store.as_ref(),
            &ring,
            &creds("nobody@example.com", "whatever password"),
            Utc::now(),
        )
        .await;
        assert!(matches!(unknown, Err(AppError::InvalidCredentials)));
    }
}
