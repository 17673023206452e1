//! Billing sources: the canonical model and the adapters that fill it.

pub mod chargebee;
pub mod maxio;
pub mod model;
pub mod source;
