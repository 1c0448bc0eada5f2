//! The append service: the only writer of the log. Validates each command against the domain rules and the
//! aggregate's current state, deduplicates by event id, and writes all of a command's events or none.
pub mod error;
pub mod grpc;
pub mod service;

pub use error::AppendError;
pub use service::{AppendCommand, AppendMetrics, AppendOutcome, AppendService, NewEvent};
