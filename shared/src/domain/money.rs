//! Money is an integer count of minor units plus an ISO 4217 code. There are no floats anywhere in
//! the service, and arithmetic that could overflow or mix currencies returns an error instead.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// An ISO 4217 alphabetic code: three uppercase ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(Invalid::new(
                "must be an ISO 4217 code of three uppercase letters",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

/// Currencies whose minor unit is the unit itself (ISO 4217 exponent 0), as Stripe counts them.
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies with a thousandth as their minor unit (exponent 3).
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

impl Currency {
    /// How many digits of an amount are after the decimal point.
    pub fn exponent(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&self.as_str()) {
            3
        } else {
            2
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}

/// A non-negative amount in minor units (cents for EUR and USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "RawMoney")]
pub struct Money {
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub amount: i64,
    /// ISO 4217, three uppercase letters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Z]{3}$"))]
    pub currency: Currency,
}

/// As people read it: `12.50 EUR`, `1200 JPY`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent();
        let scale = 10_i64.pow(exponent);
        if exponent == 0 {
            write!(f, "{} {}", self.amount, self.currency)
        } else {
            let (units, minor) = (self.amount / scale, self.amount % scale);
            let width = exponent as usize;
            write!(f, "{units}.{minor:0width$} {}", self.currency)
        }
    }
}

/// The wire shape of [`Money`], checked by [`Money::new`] on the way in.
#[derive(Deserialize)]
struct RawMoney {
    amount: i64,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = Invalid;
    fn try_from(raw: RawMoney) -> Result<Self, Invalid> {
        Self::new(raw.amount, raw.currency)
    }
}

/// The largest amount the service handles: 10^12 minor units (ten billion euros). Far beyond any
/// order, and far from `i64::MAX`, so sums of bounded lines can never overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Result<Self, Invalid> {
        if !(0..=MAX_AMOUNT).contains(&amount) {
            return Err(Invalid::new(format!(
                "must be between 0 and {MAX_AMOUNT} minor units"
            )));
        }
        Ok(Self { amount, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: 0,
            currency,
        }
    }

    /// `self * factor`, refused when the result would leave the handled range.
    pub fn times(self, factor: u32) -> Result<Self, Invalid> {
        self.amount
            .checked_mul(i64::from(factor))
            .ok_or_else(|| Invalid::new("amount is too large"))
            .and_then(|amount| Self::new(amount, self.currency))
    }

    /// `self + other`, refused for different currencies or an out-of-range result.
    pub fn plus(self, other: Self) -> Result<Self, Invalid> {
        if self.currency != other.currency {
            return Err(Invalid::new(format!(
                "cannot add {} to {}",
                other.currency, self.currency
            )));
        }
        self.amount
            .checked_add(other.amount)
            .ok_or_else(|| Invalid::new("amount is too large"))
            .and_then(|amount| Self::new(amount, self.currency))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn amounts_read_in_their_currencys_units() {
        let of = |amount, code| Money::new(amount, Currency::parse(code).unwrap()).unwrap();
        assert_eq!(of(1250, "EUR").to_string(), "12.50 EUR");
        assert_eq!(of(5, "USD").to_string(), "0.05 USD");
        assert_eq!(of(1200, "JPY").to_string(), "1200 JPY");
        assert_eq!(of(1005, "KWD").to_string(), "1.005 KWD");
    }

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn currencies_are_three_uppercase_letters() {
        assert!(Currency::parse("EUR").is_ok());
        for raw in ["eur", "EU", "EURO", "E1R", "", "ÉUR"] {
            assert!(Currency::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn different_currencies_never_add() {
        let usd = Money::new(1, Currency::parse("USD").unwrap()).unwrap();
        assert!(Money::new(1, eur()).unwrap().plus(usd).is_err());
    }

    #[test]
    fn money_serializes_as_amount_and_currency() {
        let json = serde_json::to_value(Money::new(1999, eur()).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"amount": 1999, "currency": "EUR"}));
    }

    proptest! {
        #[test]
        fn sums_are_exact_or_refused(a in 0..=MAX_AMOUNT, b in 0..=MAX_AMOUNT) {
            let sum = Money::new(a, eur()).unwrap().plus(Money::new(b, eur()).unwrap());
            match sum {
                Ok(m) => prop_assert_eq!(m.amount, a + b),
                Err(_) => prop_assert!(a + b > MAX_AMOUNT),
            }
        }

        #[test]
        fn products_are_exact_or_refused(a in 0..=MAX_AMOUNT, n in 0u32..=1000) {
            match Money::new(a, eur()).unwrap().times(n) {
                Ok(m) => prop_assert_eq!(i128::from(m.amount), i128::from(a) * i128::from(n)),
                Err(_) => prop_assert!(i128::from(a) * i128::from(n) > i128::from(MAX_AMOUNT)),
            }
        }

        #[test]
        fn negative_amounts_are_refused(a in i64::MIN..0) {
            prop_assert!(Money::new(a, eur()).is_err());
        }
    }
}
