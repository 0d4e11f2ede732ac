//! Conversions between stored items and domain values, through serde_dynamo.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

pub type Item = HashMap<String, AttributeValue>;

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, AppError> {
    serde_dynamo::to_item(value).map_err(|e| AppError::dependency("item encoding", e))
}

/// A stored item that does not decode is a failure of the store, not of the request.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, AppError> {
    serde_dynamo::from_item(item).map_err(|e| AppError::dependency("item decoding", e))
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
