//! The read side's gRPC services: `LedgerQuery` over the Postgres read models (with read-your-writes waits) and
//! `LedgerReplay` over the log itself, for auditors.
mod pool;
pub mod query;
pub mod replay;

pub use pool::Pool;
pub use query::{QueryError, QueryService};
pub use replay::ReplayService;
