//! End-to-end tests of the simulator over HTTP. One test binary keeps link time down.

mod auth;
mod common;
mod faults;
mod records;
mod suiteql;
mod transactions;
