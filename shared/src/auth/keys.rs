//! The signing key set, as stored in Secrets Manager:
//!
//! ```json
//! {"keys": [{"kid": "k-20261121T021421", "status": "current",  "privateKey": "<base64 PKCS#8>"},
//!           {"kid": "k-20261001T090000", "status": "previous", "privateKey": "<base64 PKCS#8>"}]}
//! ```
//!
//! One `current` key signs; `previous` keys still verify, so tokens issued before a rotation stay
//! valid until they expire. Rotating writes a new secret version with a new current key and the
//! old current demoted; the oldest previous key is dropped (its tokens have long expired).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Current,
    Previous,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyEntry {
    pub kid: String,
    pub status: KeyStatus,
    /// Base64 of the Ed25519 private key in PKCS#8.
    pub private_key: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEntry({}, {:?})", self.kid, self.status)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    pub keys: Vec<KeyEntry>,
}

/// An Ed25519 key pair decoded from its entry.
pub struct DecodedKey {
    pub pkcs8: Vec<u8>,
    pub public: Vec<u8>,
}

impl KeyEntry {
    pub fn generate(kid: &str, status: KeyStatus) -> Result<Self, AppError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| AppError::dependency("key generation", e.to_string()))?;
        Ok(Self {
            kid: kid.to_string(),
            status,
            private_key: STANDARD.encode(pkcs8.as_ref()),
        })
    }

    pub fn decode(&self) -> Result<DecodedKey, AppError> {
        let bad = |e: String| AppError::dependency("signing key", format!("key {}: {e}", self.kid));
        let pkcs8 = STANDARD
            .decode(&self.private_key)
            .map_err(|e| bad(e.to_string()))?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| bad(e.to_string()))?;
        Ok(DecodedKey {
            public: pair.public_key().as_ref().to_vec(),
            pkcs8,
        })
    }
}

/// How many previous keys a rotation keeps.
pub const KEEP_PREVIOUS: usize = 1;

impl KeySet {
    pub fn parse(json: &str) -> Result<Self, AppError> {
        serde_json::from_str(json).map_err(|e| AppError::dependency("signing key set", e))
    }

    pub fn current(&self) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.status == KeyStatus::Current)
    }

    /// The set after a rotation to a new key named `kid`.
    pub fn rotated(&self, kid: &str) -> Result<Self, AppError> {
        let mut keys = vec![KeyEntry::generate(kid, KeyStatus::Current)?];
        let demoted = self.current().map(|k| KeyEntry {
            status: KeyStatus::Previous,
            ..k.clone()
        });
        keys.extend(demoted);
        let older = self.keys.iter().filter(|k| k.status == KeyStatus::Previous);
        keys.extend(older.take(KEEP_PREVIOUS.saturating_sub(1)).cloned());
        Ok(Self { keys })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_demotes_the_current_key_and_drops_the_oldest() {
        let first = KeySet::default().rotated("k1").unwrap();
        assert_eq!(first.current().unwrap().kid, "k1");
        let second = first.rotated("k2").unwrap();
        let third = second.rotated("k3").unwrap();
        let kids: Vec<_> = third
            .keys
            .iter()
            .map(|k| (k.kid.as_str(), k.status))
            .collect();
        assert_eq!(
            kids,
            [("k3", KeyStatus::Current), ("k2", KeyStatus::Previous)]
        );
        assert_eq!(KeySet::parse(&third.to_json()).unwrap(), third);
        assert_eq!(third.keys[0].decode().unwrap().public.len(), 32);
        assert!(
            !format!("{third:?}").contains(&third.keys[0].private_key),
            "no key material in logs"
        );
    }
}
