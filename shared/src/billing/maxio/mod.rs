//! Maxio Advanced Billing (formerly Chargify): API client, webhooks, and the mapping of its
//! records into the canonical model.

pub mod client;
pub mod map;
pub mod source;
pub mod webhook;
pub mod wire;
