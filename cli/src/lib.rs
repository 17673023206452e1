//! The `billsync` command's library part: the demo that runs the whole pipeline against the
//! simulators, kept here so a test can run exactly what `billsync demo` runs.

pub mod demo;
pub mod demo_chargebee;
pub mod logging;
pub mod ops;
pub mod progress;
pub mod reconcile;
pub mod serve;
pub mod setup;
