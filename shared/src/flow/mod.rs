//! The sync engine: level-triggered flows that make NetSuite hold exactly the records a
//! billing invoice needs, once.

pub mod build;
pub mod errors;
pub mod ids;
pub mod lines;
pub mod run;
pub mod setup;
pub mod state;
