//! NetSuite SuiteTalk REST: configuration, token-based authentication, typed records, errors
//! and the client that ties them together.

pub mod auth;
pub mod check;
pub mod client;
pub mod config;
pub mod error;
pub mod money;
pub mod records;

pub use client::{GetOptions, ListPage, NetSuiteClient, RecordKey, SuiteQlPage};
pub use config::{AccountId, ConfigError, Credentials, NetSuiteConfig, RetryPolicy};
pub use error::{ApiError, ErrorClass, ErrorDetail, ErrorKind, NetSuiteError, TransportKind};
pub use records::RecordType;
