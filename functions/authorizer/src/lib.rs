//! The API's Lambda authorizer (TOKEN): verifies the bearer JWT and returns a policy for the whole
//! API with the caller's id and role as context. The policy is API-wide because API Gateway caches
//! it per token for every route; admin routes check the role again inside their function.
pub mod handler;
