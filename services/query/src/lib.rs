//! The read side: `LedgerQuery` over the Postgres read models (with read-your-writes waits), `LedgerReplay` over
//! the log itself and `LedgerAudit` over the notary's Merkle tree, for auditors, and the web dashboard built on the
//! query service's answers.
pub mod audit;
pub mod dashboard;
pub mod query;
pub mod replay;
pub mod tiles;

pub use audit::AuditService;
pub use ledger_readmodel::Pool;
pub use query::{AsOfConfig, AsOfMetrics, BuildFuture, BuildReadModel, Built, QueryError, QueryService};
pub use replay::ReplayService;
/// The connection a [`BuildReadModel`] builds on.
pub use tokio_postgres::Client as PostgresClient;
