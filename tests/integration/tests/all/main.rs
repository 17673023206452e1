//! billsync against the NetSuite and billing simulators and a local AWS API (moto): one test
//! binary, linked once, with a module per area.

mod common;

mod accounts;
mod aws_functions;
mod chargebee_flows;
mod chargebee_mapping;
mod exactly_once;
mod flows;
mod functions;
mod fuzz_corpora;
mod governor;
mod m2m;
mod maxio_client;
mod netsuite_client;
mod oauth_oracle;
mod pause;
mod preview;
mod reconcile;
mod secrets_never_leak;
mod services;
mod shared_account;
