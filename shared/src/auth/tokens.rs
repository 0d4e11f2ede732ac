//! Issuing and verifying access tokens: JWTs signed with Ed25519 (`alg: EdDSA`), `kid` in the
//! header, claims `iss`, `aud`, `sub`, `role`, `iat`, `nbf`, `exp`.
//!
//! Verification pins the algorithm (a token claiming `none`, `HS256` or anything but `EdDSA` is
//! refused before any key is touched), requires every claim, checks issuer, audience and the time
//! window, and accepts only the key ids of the current key set.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::KeySet;
use crate::domain::Role;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is signed with an algorithm other than EdDSA")]
    WrongAlgorithm,
    #[error("the token names no key, or a key that is not in the key set")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// The `typ` header every token carries and verification requires: a JWT meant for something
/// else (an ID token, a logout token) is not an access token here.
pub const TOKEN_TYPE: &str = "JWT";

/// Who tokens are for, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub lifetime: Duration,
}

impl Default for TokenPolicy {
    /// Issuer `order-service`, audience `orders-api`, 15 minutes.
    fn default() -> Self {
        Self {
            issuer: "order-service".into(),
            audience: "orders-api".into(),
            lifetime: Duration::minutes(15),
        }
    }
}

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

pub struct Tokens {
    policy: TokenPolicy,
    signer: Option<(String, EncodingKey)>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: Jwks,
}

/// The public half of the key set (RFC 7517), what `/.well-known/jwks.json` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// One Ed25519 verification key (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicJwk {
    /// `OKP`
    pub kty: &'static str,
    /// `Ed25519`
    pub crv: &'static str,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    /// `EdDSA`
    pub alg: &'static str,
    /// `sig`
    #[serde(rename = "use")]
    pub usage: &'static str,
}

impl Tokens {
    pub fn new(keys: &KeySet, policy: TokenPolicy) -> Result<Self, AppError> {
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        let mut signer = None;
        for entry in &keys.keys {
            let decoded = entry.decode()?;
            let x = URL_SAFE_NO_PAD.encode(&decoded.public);
            let key = DecodingKey::from_ed_components(&x)
                .map_err(|e| AppError::dependency("signing key", e))?;
            verifiers.insert(entry.kid.clone(), key);
            published.push(PublicJwk {
                kty: "OKP",
                crv: "Ed25519",
                x,
                kid: entry.kid.clone(),
                alg: "EdDSA",
                usage: "sig",
            });
            if entry.status == super::keys::KeyStatus::Current {
                signer = Some((entry.kid.clone(), EncodingKey::from_ed_der(&decoded.pkcs8)));
            }
        }
        Ok(Self {
            policy,
            signer,
            verifiers,
            jwks: Jwks { keys: published },
        })
    }

    /// The public keys, as `/.well-known/jwks.json` serves them.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, AppError> {
        let (kid, key) = self
            .signer
            .as_ref()
            .ok_or_else(|| AppError::dependency("signing key", "the key set has no current key"))?;
        let claims = Claims {
            iss: self.policy.issuer.clone(),
            aud: self.policy.audience.clone(),
            sub: subject.to_string(),
            role: match role {
                Role::Admin => "admin".into(),
                Role::Customer => "customer".into(),
            },
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + self.policy.lifetime).timestamp(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TOKEN_TYPE.into());
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| AppError::dependency("token signing", e))?;
        Ok(IssuedToken {
            token,
            token_type: "Bearer",
            expires_in: self.policy.lifetime.num_seconds(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenError::Invalid("the token's `typ` is not JWT".into()));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifiers.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&[&self.policy.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        self.check_issued_at(&claims, Utc::now())?;
        Ok(claims)
    }

    /// `iat` is in the past (within the leeway) and the token lives no longer than this service
    /// issues tokens for: a token minted with a stolen key for a year, or "issued" tomorrow, is
    /// refused even though its signature holds.
    fn check_issued_at(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or(0);
        if claims.iat > now.timestamp() + leeway {
            return Err(TokenError::Invalid(
                "the token is issued in the future".into(),
            ));
        }
        if claims.exp - claims.iat > self.policy.lifetime.num_seconds() + leeway {
            return Err(TokenError::Invalid(
                "the token lives longer than this service issues tokens for".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: "https://orders.example".into(),
            audience: "orders-api".into(),
            lifetime: Duration::minutes(15),
        }
    }

    fn part(token: &str, i: usize) -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    }

    fn forge(header: Value, claims: Value, signature: &str) -> String {
        let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.{signature}", enc(header), enc(claims))
    }

    #[test]
    fn a_fresh_token_verifies_with_its_claims() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let tokens = Tokens::new(&keys, policy()).unwrap();
        let issued = tokens.issue("usr_1", Role::Admin, Utc::now()).unwrap();
        assert_eq!((issued.token_type, issued.expires_in), ("Bearer", 900));
        assert_eq!(part(&issued.token, 0)["kid"], "k1");
        assert_eq!(part(&issued.token, 0)["alg"], "EdDSA");
        let claims = tokens.verify(&issued.token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str()),
            ("usr_1", "admin")
        );
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn expired_early_wrong_audience_or_issuer_tokens_are_refused() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let tokens = Tokens::new(&keys, policy()).unwrap();
        let expired = tokens
            .issue("u", Role::Customer, Utc::now() - Duration::hours(1))
            .unwrap();
        assert!(matches!(
            tokens.verify(&expired.token),
            Err(TokenError::Invalid(_))
        ));
        let early = tokens
            .issue("u", Role::Customer, Utc::now() + Duration::minutes(5))
            .unwrap();
        assert!(
            matches!(tokens.verify(&early.token), Err(TokenError::Invalid(_))),
            "nbf in the future"
        );

        for other in [
            TokenPolicy {
                audience: "someone-else".into(),
                ..policy()
            },
            TokenPolicy {
                issuer: "https://evil.example".into(),
                ..policy()
            },
        ] {
            let foreign = Tokens::new(&keys, other)
                .unwrap()
                .issue("u", Role::Customer, Utc::now())
                .unwrap();
            assert!(matches!(
                tokens.verify(&foreign.token),
                Err(TokenError::Invalid(_))
            ));
        }
    }

    #[test]
    fn tampered_none_and_hmac_confused_tokens_are_refused() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let tokens = Tokens::new(&keys, policy()).unwrap();
        let good = tokens
            .issue("usr_1", Role::Customer, Utc::now())
            .unwrap()
            .token;
        let (header, mut claims, signature) = (
            part(&good, 0),
            part(&good, 1),
            good.rsplit('.').next().unwrap().to_string(),
        );

        claims["role"] = json!("admin");
        let tampered = forge(header.clone(), claims.clone(), &signature);
        assert!(matches!(
            tokens.verify(&tampered),
            Err(TokenError::Invalid(_))
        ));

        let none = forge(
            json!({"alg": "none", "typ": "JWT", "kid": "k1"}),
            claims.clone(),
            "",
        );
        assert!(tokens.verify(&none).is_err());

        // HS256 keyed with the public key: the classic algorithm confusion.
        let public = keys.keys[0].decode().unwrap().public;
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some("k1".into());
        let confused =
            jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&public).unwrap())
                .unwrap();
        assert_eq!(tokens.verify(&confused), Err(TokenError::WrongAlgorithm));

        assert_eq!(tokens.verify("not.a.jwt"), Err(TokenError::Malformed));
        assert_eq!(tokens.verify(""), Err(TokenError::Malformed));
    }

    #[test]
    fn validly_signed_tokens_of_another_type_from_the_future_or_too_long_lived_are_refused() {
        let keys = KeySet::default().rotated("k1").unwrap();
        let tokens = Tokens::new(&keys, policy()).unwrap();
        let signer = EncodingKey::from_ed_der(&keys.keys[0].decode().unwrap().pkcs8);
        let now = Utc::now().timestamp();
        let sign = |typ: Option<&str>, iat: i64, exp: i64| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.typ = typ.map(str::to_string);
            header.kid = Some("k1".into());
            let claims = json!({"iss": "https://orders.example", "aud": "orders-api",
                "sub": "usr_1", "role": "customer", "iat": iat, "nbf": now - 60, "exp": exp});
            jsonwebtoken::encode(&header, &claims, &signer).unwrap()
        };
        assert!(
            tokens.verify(&sign(Some("JWT"), now, now + 900)).is_ok(),
            "the control"
        );
        for (what, token) in [
            ("an ID token", sign(Some("id+jwt"), now, now + 900)),
            ("no typ", sign(None, now, now + 900)),
            (
                "issued in an hour",
                sign(Some("JWT"), now + 3600, now + 4500),
            ),
            ("a year long", sign(Some("JWT"), now, now + 365 * 86_400)),
        ] {
            assert!(
                matches!(tokens.verify(&token), Err(TokenError::Invalid(_))),
                "{what}"
            );
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_their_key_is_removed() {
        let v1 = KeySet::default().rotated("k1").unwrap();
        let old = Tokens::new(&v1, policy())
            .unwrap()
            .issue("u", Role::Customer, Utc::now())
            .unwrap();

        let v2 = v1.rotated("k2").unwrap();
        let after_rotation = Tokens::new(&v2, policy()).unwrap();
        assert!(
            after_rotation.verify(&old.token).is_ok(),
            "the previous key still verifies"
        );
        let new = after_rotation
            .issue("u", Role::Customer, Utc::now())
            .unwrap();
        assert_eq!(part(&new.token, 0)["kid"], "k2", "the new key signs");

        let v3 = v2.rotated("k3").unwrap();
        let after_removal = Tokens::new(&v3, policy()).unwrap();
        assert_eq!(
            after_removal.verify(&old.token),
            Err(TokenError::UnknownKey)
        );
        assert!(after_removal.verify(&new.token).is_ok());
        assert_eq!(after_removal.jwks().keys.len(), 2);

        let stranger = KeySet::default().rotated("k3").unwrap();
        let forged = Tokens::new(&stranger, policy())
            .unwrap()
            .issue("u", Role::Admin, Utc::now())
            .unwrap();
        assert!(
            matches!(
                after_removal.verify(&forged.token),
                Err(TokenError::Invalid(_))
            ),
            "same kid, other key"
        );
    }
}
