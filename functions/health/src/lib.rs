//! `GET /health`: a deep check that every table answers; 503 when one does not. Public, and
//! shows no internals: only names and ok/failed.
pub mod handler;
