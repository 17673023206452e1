//! NetSuite SuiteTalk REST: configuration, token-based authentication, typed records, errors,
//! the concurrency governor and the client that ties them together.

pub mod auth;
pub mod check;
pub mod client;
pub mod config;
pub mod error;
pub mod governor;
pub mod money;
pub mod oauth2;
pub mod outage;
pub mod permissions;
pub mod preflight;
pub mod queries;
pub mod records;

pub use client::{Created, GetOptions, ListPage, NetSuiteClient, RecordKey, SuiteQlPage};
pub use config::{
    AccountId, Auth, AuthMethod, ConfigError, Credentials, M2mCredentials, NetSuiteConfig,
    RetryPolicy,
};
pub use error::{ApiError, ErrorClass, ErrorDetail, ErrorKind, NetSuiteError, TransportKind};
pub use governor::{
    as_bulk, Governor, GovernorConfig, GovernorError, GovernorStats, Permit, SlotStore,
};
pub use records::RecordType;
