//! Identifiers. Each is a newtype whose `parse` is the only way in, so a path segment, a header or
//! a stored attribute that does not look like an id never reaches a query.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(raw: String) -> Result<Self, Invalid> {
                Self::parse(&raw)
            }
        }
    };
}

string_id!(
    /// `ord_` followed by 32 lowercase hex digits (a random UUID): unguessable, fixed length.
    OrderId
);
string_id!(
    /// Chosen by the catalog admin: 1–64 of `A-Z a-z 0-9 _ -`, starting with a letter or digit.
    ProductId
);
string_id!(
    /// The authenticated principal, as the authorizer passes it: 1–128 of `A-Z a-z 0-9 _ - . @ : |`.
    CustomerId
);
string_id!(
    /// A payment method reference of the payment provider, e.g. `pm_card_visa`.
    PaymentMethod
);
string_id!(
    /// The client's `Idempotency-Key` header: 1–128 of `A-Z a-z 0-9 _ - . :`.
    IdempotencyKey
);

const ORDER_PREFIX: &str = "ord_";

fn charset(raw: &str, max: usize, extra: &str) -> Result<(), Invalid> {
    if raw.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if raw.len() > max {
        return Err(Invalid::new(format!("must be at most {max} characters")));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    {
        return Err(Invalid::new(format!(
            "may contain only letters, digits and `{extra}`"
        )));
    }
    Ok(())
}

impl OrderId {
    pub fn generate() -> Self {
        Self(format!("{ORDER_PREFIX}{}", uuid::Uuid::new_v4().simple()))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let hex = raw
            .strip_prefix(ORDER_PREFIX)
            .filter(|h| h.len() == 32)
            .filter(|h| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        match hex {
            Some(_) => Ok(Self(raw.to_string())),
            None => Err(Invalid::new(
                "must be an order id: `ord_` followed by 32 lowercase hex digits",
            )),
        }
    }
}

impl ProductId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        charset(raw, 64, "_-")?;
        if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Invalid::new("must start with a letter or digit"));
        }
        Ok(Self(raw.to_string()))
    }
}

impl CustomerId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        charset(raw, 128, "_-.@:|")?;
        Ok(Self(raw.to_string()))
    }
}

impl PaymentMethod {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        charset(raw, 128, "_")?;
        if !raw.starts_with("pm_") {
            return Err(Invalid::new(
                "must be a payment method id starting with `pm_`",
            ));
        }
        Ok(Self(raw.to_string()))
    }
}

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        charset(raw, 128, "_-.:")?;
        Ok(Self(raw.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_order_ids_parse_back() {
        let id = OrderId::generate();
        assert_eq!(OrderId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn order_ids_reject_anything_else() {
        for raw in [
            "",
            "ord_",
            "ord_123",
            "ORD_0123456789abcdef0123456789abcdef",
            "ord_0123456789ABCDEF0123456789abcdef",
            "ord_0123456789abcdef0123456789abcdef0",
            "../etc/passwd",
        ] {
            assert!(OrderId::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn product_ids_are_short_and_plain() {
        assert!(ProductId::parse("p-1").is_ok());
        assert!(ProductId::parse("-p").is_err());
        assert!(ProductId::parse("p 1").is_err());
        assert!(ProductId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn payment_methods_look_like_provider_ids() {
        assert!(PaymentMethod::parse("pm_card_visa").is_ok());
        assert!(PaymentMethod::parse("card_visa").is_err());
        assert!(PaymentMethod::parse("pm_card visa").is_err());
    }
}
