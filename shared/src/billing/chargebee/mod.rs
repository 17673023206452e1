//! Chargebee (API v2): wire records and their mapping into the canonical model.

pub mod client;
pub mod map;
pub mod source;
pub mod webhook;
pub mod wire;
