//! Listing limits and opaque cursors.
//!
//! A cursor is base64url of a small JSON position. It is opaque to clients but not secret: it
//! needs no signature because it holds only the position *within* the caller's own listing; the
//! store always builds the query key from the authenticated caller, so an edited cursor can move
//! within that listing or be refused, never read another customer's orders.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::Invalid;

/// Page size: 1 to 100, 20 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

impl Limit {
    pub const DEFAULT: Self = Self(20);
    pub const MAX: u16 = 100;

    pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
        let Some(raw) = raw else {
            return Ok(Self::DEFAULT);
        };
        match raw.parse::<u16>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Invalid::new(format!(
                "must be an integer from 1 to {}",
                Self::MAX
            ))),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

pub struct Cursor;

impl Cursor {
    pub const MAX_LEN: usize = 512;

    pub fn encode<T: Serialize>(position: &T) -> String {
        // Serializing a plain struct of strings cannot fail.
        let json = serde_json::to_vec(position).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, Invalid> {
        let invalid = || Invalid::new("is not a cursor returned by this API");
        if raw.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        let json = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        serde_json::from_slice(&json).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderId;
    use crate::ports::OrderCursor;

    #[test]
    fn limits_default_to_twenty_and_stay_in_range() {
        assert_eq!(Limit::parse(None), Ok(Limit::DEFAULT));
        assert_eq!(Limit::parse(Some("100")).map(Limit::get), Ok(100));
        for raw in ["0", "101", "-1", "ten", "", "1.5"] {
            assert!(Limit::parse(Some(raw)).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let position = OrderCursor {
            created_at: chrono::Utc::now(),
            id: OrderId::generate(),
        };
        let raw = Cursor::encode(&position);
        assert_eq!(Cursor::decode::<OrderCursor>(&raw), Ok(position));
        for raw in ["", "%%%", "e30", "eyJjIjoxfQ"] {
            assert!(Cursor::decode::<OrderCursor>(raw).is_err(), "{raw:?}");
        }
    }
}
