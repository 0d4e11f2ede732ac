//! Identity: accounts with Argon2id password hashes, and short-lived EdDSA JWTs signed with a key
//! from Secrets Manager that rotates without a redeploy.

pub mod authorizer;
pub mod credentials;
pub mod keys;
pub mod tokens;

pub use credentials::{Email, Password};
pub use tokens::{Claims, IssuedToken, TokenError, Tokens};
