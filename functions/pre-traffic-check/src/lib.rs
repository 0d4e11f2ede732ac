//! The pre-traffic hook of every safe deploy. CodeDeploy calls it after a new version of a
//! function is published and before the `live` alias sends it any traffic; it invokes that
//! version once with a harmless event for its trigger and tells CodeDeploy whether to go on.
//! A version that cannot start (missing configuration, a refused secret, a crash) or answers
//! with a server error never sees a request, and the deploy rolls back.
//!
//! Deployment tooling rather than order logic, so its ports and adapters live here: the
//! CodeDeploy and Lambda SDKs stay out of every other function's build.

pub mod adapters;
pub mod check;
pub mod handler;
