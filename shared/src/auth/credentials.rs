//! Emails, passwords and their hashes.
//!
//! Hashing is Argon2id with OWASP's minimum (19 MiB, 2 iterations, 1 lane) and runs on tokio's
//! blocking pool: a hash takes tens of milliseconds of CPU that must not stall other requests on
//! the async workers. An unknown account is checked against a dummy hash, so a login takes as
//! long whether or not the account exists.

use std::fmt;
use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::domain::Invalid;
use crate::error::AppError;

/// A normalised email address, `local@domain.tld`: trimmed, NFKC-normalised and case-folded
/// (Unicode's full folding, so `ADA@`, `ａｄａ@` and `ada@` are one account, and `é` typed as
/// one code point or as `e` plus an accent is one letter). Invisible characters are refused
/// rather than dropped: bidi controls, zero-width and other format characters, and controls,
/// so no two accounts can differ only by what nobody sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Characters that change how text shows without showing themselves (Unicode's bidi controls
/// and the default-ignorable format characters).
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        use unicode_normalization::UnicodeNormalization;
        let invalid = || Invalid("must be an email address such as ada@example.com".into());
        if raw.len() > 1024 {
            return Err(invalid());
        }
        if raw.chars().any(is_invisible) {
            return Err(Invalid(
                "must not contain invisible, control or text-direction characters".into(),
            ));
        }
        let folded = caseless::default_case_fold_str(&raw.trim().nfkc().collect::<String>());
        let email: String = folded.nfkc().collect();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password of 12–128 characters. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN: usize = 12;
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let length = raw.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&length) {
            return Err(Invalid(format!(
                "must be {} to {} characters long",
                Self::MIN,
                Self::MAX
            )));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// OWASP's Argon2id minimum: m = 19 MiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, String> {
    // 16 random bytes, the salt length the Argon2 RFC recommends, from the TLS stack's RNG.
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no random salt".to_string())?;
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a new hash with a random salt.
pub async fn hash(password: &Password) -> Result<String, AppError> {
    let password = password.expose().to_string();
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| AppError::dependency("password hashing", e))?
        .map_err(|e| AppError::dependency("password hashing", e))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not anyone's password at all").unwrap_or_default())
}

/// Whether `password` matches `stored`; with no stored hash, a dummy is checked (and fails), so
/// the answer takes as long either way.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    let password = password.to_string();
    let known = stored.is_some();
    let stored = stored.map_or_else(|| dummy_hash().to_string(), str::to_string);
    let matched = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    known && matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_emails_are_one_account_or_refused() {
        let ada = Email::parse("ada@example.com").unwrap();
        for same in [
            "ADA@EXAMPLE.COM",
            "\u{FF21}da@example.com", // fullwidth A
            "Ada@Example.com ",
        ] {
            assert_eq!(Email::parse(same).unwrap(), ada, "{same:?}");
        }
        assert_eq!(
            Email::parse("Jose\u{0301}@example.com").unwrap(),
            Email::parse("jos\u{00E9}@example.com").unwrap(),
            "decomposed and composed accents"
        );
        assert_eq!(
            Email::parse("STRASSE@example.com").unwrap(),
            Email::parse("stra\u{00DF}e@example.com").unwrap(),
            "full case folding"
        );
        for hidden in [
            "ada\u{200B}@example.com",      // zero-width space
            "ada\u{202E}moc.elpmaxe@x.com", // right-to-left override
            "ad\u{00AD}a@example.com",      // soft hyphen
            "ada\u{0007}@example.com",
            "ada@exa\u{2066}mple.com",
        ] {
            let refused = Email::parse(hidden).unwrap_err();
            assert!(refused.0.contains("invisible"), "{hidden:?}: {refused:?}");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@.example.com",
            "ada@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_12_to_128_characters_and_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_uses_owasp_parameters() {
        let password = Password::parse("correct horse battery").unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery", Some(&stored)).await);
        assert!(!verify("correct horse battery!", Some(&stored)).await);
        assert!(
            !verify("correct horse battery", None).await,
            "no account, no match"
        );
        assert_ne!(stored, hash(&password).await.unwrap(), "salted");
    }
}
