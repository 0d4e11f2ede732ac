//! The signing key set in Secrets Manager, and a cache that re-reads it every few minutes so a
//! rotation reaches every warm container without a redeploy.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tokio::sync::RwLock;
// Tokio's clock, so tests can move it (`tokio::time::pause`); the same as std's otherwise.
use tokio::time::Instant;

use crate::auth::keys::KeySet;
use crate::auth::tokens::{TokenPolicy, Tokens};
use crate::error::AppError;
use crate::ports::KeyStore;

pub struct SecretsKeyStore {
    client: Client,
    secret_id: String,
}

impl SecretsKeyStore {
    pub fn new(config: &aws_config::SdkConfig, secret_id: String) -> Self {
        Self {
            client: Client::new(config),
            secret_id,
        }
    }
}

fn failure(what: &'static str, err: impl std::error::Error + Send + Sync + 'static) -> AppError {
    AppError::dependency(
        what,
        aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
    )
}

#[async_trait]
impl KeyStore for SecretsKeyStore {
    async fn load(&self) -> Result<KeySet, AppError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| failure("signing key secret", e))?;
        KeySet::parse(out.secret_string().unwrap_or("{\"keys\":[]}"))
    }

    async fn save(&self, keys: &KeySet) -> Result<(), AppError> {
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(keys.to_json())
            .send()
            .await
            .map_err(|e| failure("signing key secret", e))?;
        Ok(())
    }
}

/// How long a container trusts the key set it read.
pub const KEY_REFRESH: Duration = Duration::from_secs(300);
/// How old the last key set read may get while refreshes fail. Past it tokens are refused (fail
/// closed), so a key removed because it leaked stops being trusted within this bound even when
/// Secrets Manager cannot be read; each failed refresh counts `KeySetRefreshFailures`, which the
/// `KeySetRefreshFailingAlarm` watches.
pub const MAX_KEY_SET_AGE: Duration = Duration::from_secs(900);
/// The soonest an unknown `kid` may trigger an early re-read.
pub const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(30);
/// How long after a failed read the store is left alone: during an outage a warm container asks
/// Secrets Manager once per pause, not on every request.
pub const FAILED_READ_PAUSE: Duration = Duration::from_secs(10);

/// Tokens built from the key store, read at the first use and again every [`KEY_REFRESH`].
pub struct KeyRing {
    store: Arc<dyn KeyStore>,
    policy: TokenPolicy,
    cached: RwLock<Option<(Instant, Arc<Tokens>)>>,
    last_reread: std::sync::Mutex<Option<Instant>>,
    last_failure: std::sync::Mutex<Option<Instant>>,
}

#[async_trait]
impl crate::wiring::Wire for KeyRing {
    /// The key ring of the signing key secret, with `TOKEN_ISSUER` and `TOKEN_AUDIENCE` (defaults
    /// `order-service`, `orders-api`): what login, jwks and the authorizer each build at cold start.
    async fn wire<W: crate::wiring::Wiring + ?Sized>(
        from: &W,
    ) -> Result<Self, crate::config::ConfigError> {
        let defaults = TokenPolicy::default();
        let policy = TokenPolicy {
            issuer: from.setting("TOKEN_ISSUER", &defaults.issuer),
            audience: from.setting("TOKEN_AUDIENCE", &defaults.audience),
            ..defaults
        };
        Ok(Self::new(from.key_store()?, policy))
    }
}

impl KeyRing {
    pub fn new(store: Arc<dyn KeyStore>, policy: TokenPolicy) -> Self {
        Self {
            store,
            policy,
            cached: RwLock::new(None),
            last_reread: std::sync::Mutex::new(None),
            last_failure: std::sync::Mutex::new(None),
        }
    }

    /// The current tokens; a failed refresh keeps the last good key set until it is
    /// [`MAX_KEY_SET_AGE`] old.
    pub async fn tokens(&self) -> Result<Arc<Tokens>, AppError> {
        self.fresher_than(KEY_REFRESH).await
    }

    /// The tokens re-read now, for a token whose `kid` is not known yet (a rotation since the last
    /// read); at most once per [`UNKNOWN_KID_REFRESH`], so forged kids cannot hammer the store.
    pub async fn reread(&self) -> Result<Arc<Tokens>, AppError> {
        let due = {
            let mut last = self.last_reread.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= UNKNOWN_KID_REFRESH);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        self.fresher_than(if due { Duration::ZERO } else { KEY_REFRESH })
            .await
    }

    /// The tokens, re-read if they are older than `age`.
    async fn fresher_than(&self, age: Duration) -> Result<Arc<Tokens>, AppError> {
        if let Some((at, tokens)) = self.cached.read().await.as_ref()
            && at.elapsed() < age
        {
            return Ok(tokens.clone());
        }
        let mut cached = self.cached.write().await;
        if let Some((at, tokens)) = cached.as_ref()
            && at.elapsed() < age
        {
            return Ok(tokens.clone());
        }
        let paused = self
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < FAILED_READ_PAUSE);
        let read = if paused {
            Err(AppError::Unavailable("the signing key set"))
        } else {
            let read = self
                .store
                .load()
                .await
                .and_then(|keys| Tokens::new(&keys, self.policy.clone()));
            let mut last_failure = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
            *last_failure = read.is_err().then(Instant::now);
            if read.is_err() {
                crate::metrics::Metric::KeySetRefreshFailures.count();
            }
            read
        };
        match read {
            Ok(tokens) => {
                let tokens = Arc::new(tokens);
                *cached = Some((Instant::now(), tokens.clone()));
                Ok(tokens)
            }
            Err(err) => match cached.as_ref() {
                Some((at, stale)) if at.elapsed() < MAX_KEY_SET_AGE => {
                    if !paused {
                        tracing::warn!(error = %err.chain(), "key set refresh failed; keeping the last one");
                    }
                    Ok(stale.clone())
                }
                Some(_) => {
                    tracing::error!(error = %err.chain(), "key set refresh failing past its bound; refusing tokens");
                    Err(err)
                }
                None => Err(err),
            },
        }
    }
}

/// The health probe of one secret: it must exist and not be scheduled for deletion. It reads the
/// secret's metadata only (`DescribeSecret`), never its value.
pub struct SecretProbe {
    client: Client,
    name: &'static str,
    id: String,
}

impl SecretProbe {
    pub fn new(config: &aws_config::SdkConfig, name: &'static str, id: String) -> Self {
        Self {
            client: Client::new(config),
            name,
            id,
        }
    }
}

#[async_trait]
impl crate::ports::Probe for SecretProbe {
    fn name(&self) -> &str {
        self.name
    }

    async fn check(&self) -> Result<(), AppError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|e| {
                AppError::dependency(
                    "describe secret",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        match described.deleted_date() {
            Some(_) => Err(AppError::dependency(
                "describe secret",
                "the secret is scheduled for deletion",
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::domain::Role;

    /// A key store that can be made to fail.
    struct Flaky {
        keys: KeySet,
        down: AtomicBool,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl KeyStore for Flaky {
        async fn load(&self) -> Result<KeySet, AppError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(AppError::dependency("signing key secret", "down (test)"));
            }
            Ok(self.keys.clone())
        }
        async fn save(&self, _: &KeySet) -> Result<(), AppError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_refresh_keeps_the_last_key_set_only_up_to_its_bound() {
        let store = Arc::new(Flaky {
            keys: KeySet::default().rotated("k1").unwrap(),
            down: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
        });
        let ring = KeyRing::new(store.clone(), TokenPolicy::default());
        let token = ring
            .tokens()
            .await
            .unwrap()
            .issue("usr_1", Role::Customer, chrono::Utc::now())
            .unwrap()
            .token;
        store.down.store(true, Ordering::SeqCst);
        tokio::time::advance(KEY_REFRESH + Duration::from_secs(1)).await;
        let kept = ring.tokens().await.expect("within the bound: the last set");
        assert!(kept.verify(&token).is_ok());
        tokio::time::advance(MAX_KEY_SET_AGE).await;
        assert!(ring.tokens().await.is_err(), "past the bound: fail closed");
        store.down.store(false, Ordering::SeqCst);
        tokio::time::advance(FAILED_READ_PAUSE).await;
        assert!(ring.tokens().await.is_ok(), "and back once it reads again");
    }

    /// The defect: while Secrets Manager was down, every request of a warm container asked it
    /// again (bounded only by the 15-minute trust of the last key set).
    #[tokio::test(start_paused = true)]
    async fn an_outage_costs_one_read_per_pause_not_one_per_request() {
        let store = Arc::new(Flaky {
            keys: KeySet::default().rotated("k1").unwrap(),
            down: AtomicBool::new(false),
            reads: AtomicUsize::new(0),
        });
        let ring = KeyRing::new(store.clone(), TokenPolicy::default());
        ring.tokens().await.unwrap();
        store.down.store(true, Ordering::SeqCst);
        tokio::time::advance(KEY_REFRESH).await;
        let before = store.reads.load(Ordering::SeqCst);
        for _ in 0..100 {
            assert!(
                ring.tokens().await.is_ok(),
                "the last set, within its bound"
            );
        }
        assert_eq!(store.reads.load(Ordering::SeqCst) - before, 1);
        tokio::time::advance(FAILED_READ_PAUSE).await;
        for _ in 0..100 {
            ring.tokens().await.unwrap();
        }
        assert_eq!(
            store.reads.load(Ordering::SeqCst) - before,
            2,
            "one more per pause"
        );
    }
}
