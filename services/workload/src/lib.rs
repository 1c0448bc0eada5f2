//! The workloads the ledger is run with, all through its public APIs, as any client's: the calibrated history of
//! the coalitions ([`generator`]), the demo client that appends it and shows what the ledger refuses ([`demo`]),
//! and the benchmark that measures the ledger, as separate processes, against the raw limits of the machine
//! ([`bench`]).
//!
//! This crate depends on no part of the `ledger` binary: the binary converts its command line and settings into
//! [`demo::DemoArgs`] and [`bench::Config`] and calls [`demo::run`] and [`bench::run`]. The integration tests
//! append the same history.
pub mod bench;
pub mod demo;
pub mod generator;
