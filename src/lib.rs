//! The `ledger` binary's library half: configuration, tracing setup and start-up of each role, so that tests can
//! start the same application in-process on port 0. The demo and the benchmark live in `ledger-workload`.
pub mod config;
pub mod http;
pub mod metrics;
pub mod startup;
pub mod telemetry;
