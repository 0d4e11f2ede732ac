//! A validated shipping address.

use serde::{Deserialize, Serialize};

use super::{Invalid, text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country: String,
}

/// The client's address fields before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Address))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressInput {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub line1: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    #[serde(default)]
    pub line2: Option<String>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub city: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 20))]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{2}$"))]
    pub country: String,
}

impl ShippingAddress {
    /// Validates every field and returns all the problems at once, as `(field, problem)` pairs
    /// with field names relative to the address.
    pub fn parse(input: &AddressInput) -> Result<Self, Vec<(&'static str, Invalid)>> {
        let mut errors = Vec::new();
        let mut field = |name: &'static str, result: Result<String, Invalid>| {
            result
                .map_err(|e| errors.push((name, e)))
                .unwrap_or_default()
        };
        let name = field("name", text(&input.name, 1, 100));
        let line1 = field("line1", text(&input.line1, 1, 200));
        let line2 = match input.line2.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(l2) => Some(field("line2", text(l2, 1, 200))),
        };
        let city = field("city", text(&input.city, 1, 100));
        let postal_code = field("postalCode", text(&input.postal_code, 1, 20));
        let country = field("country", country(&input.country));
        if errors.is_empty() {
            Ok(Self {
                name,
                line1,
                line2,
                city,
                postal_code,
                country,
            })
        } else {
            Err(errors)
        }
    }
}

fn country(raw: &str) -> Result<String, Invalid> {
    if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new(
            "must be an ISO 3166-1 alpha-2 code such as `GB`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AddressInput {
        AddressInput {
            name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "London".into(),
            postal_code: "N1 1AA".into(),
            country: "GB".into(),
        }
    }

    #[test]
    fn a_complete_address_is_accepted_and_trimmed() {
        let mut raw = input();
        raw.name = "  Ada Lovelace ".into();
        raw.line2 = Some("   ".into());
        let address = ShippingAddress::parse(&raw).unwrap();
        assert_eq!(address.name, "Ada Lovelace");
        assert_eq!(address.line2, None);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let raw = AddressInput {
            name: "".into(),
            country: "gb".into(),
            ..input()
        };
        let fields: Vec<_> = ShippingAddress::parse(&raw)
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, ["name", "country"]);
    }
}
