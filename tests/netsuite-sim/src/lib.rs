//! NetSuite simulator.
