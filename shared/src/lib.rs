//! billsync: keeps Oracle NetSuite in step with a subscription-billing system.
//!
//! This crate holds everything that decides anything; the Lambda functions and the `billsync`
//! command only parse their input, call into it and shape the answer.

pub mod aws;
pub mod billing;
pub mod budgets;
pub mod error;
pub mod flow;
#[cfg(feature = "test-support")]
pub mod fuzzing;
pub mod metrics;
pub mod money;
pub mod netsuite;
pub mod queue;
pub mod retry;
pub mod secret;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod store;

pub use secret::Secret;
