//! Projectors: consume the log and maintain Postgres read models, exactly once per event.
//!
//! Each projection has a row in `ledger.projections` holding the schema that serves it and the last log position
//! applied. A batch of messages is applied in one transaction together with that position, and acknowledged to
//! JetStream only after the commit; a redelivered message at or below the position is skipped. So a crash at any
//! point loses nothing and counts nothing twice: restarting resumes from the committed position.
mod db;
pub mod engagement;
pub mod growth;
pub mod migrate;
pub mod outcomes;
pub mod participation;
pub mod pledges;
mod rebuild;
mod runner;
mod sql;

use std::future::Future;

use ledger_proto::RecordedEvent;
use thiserror::Error;
use tokio_postgres::Transaction;

pub use db::{ProjectionStatus, connect, status};
pub use engagement::Engagement;
pub use growth::CoalitionGrowth;
pub use migrate::migrate;
pub use outcomes::Outcomes;
pub use participation::Participation;
pub use pledges::Pledges;
pub use rebuild::{RebuildReport, rebuild, rebuild_all};
pub use runner::{Projector, ProjectorConfig, ProjectorMetrics};

/// A read model built from the log.
pub trait Projection: Send + Sync + 'static {
    /// Stable name (the row in `ledger.projections`, the durable consumer's name).
    const NAME: &'static str;
    /// Bumped whenever the tables or what is computed change: a new version is rebuilt from the log.
    const VERSION: i32;
    /// Tables in the projection's schema, compared by rebuild checks.
    const TABLES: &'static [&'static str];
    /// DDL creating the tables in schema `schema`.
    fn create_sql(schema: &str) -> String;
    /// `CREATE OR REPLACE VIEW reporting.…` statements pointing at schema `schema`.
    fn views_sql(schema: &str) -> String;
    /// Applies decoded events, in log order, inside the caller's transaction.
    fn apply(
        tx: &Transaction<'_>,
        schema: &str,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), tokio_postgres::Error>> + Send;
}

#[derive(Debug, Error)]
pub enum ProjectorError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("migration {0}")]
    Migration(String),
    #[error("log: {0}")]
    Log(#[from] ledger_log::LogError),
    #[error("consumer: {0}")]
    Consumer(String),
}

impl ProjectorError {
    /// Whether the error is about reaching a dependency (NATS, Postgres) rather than the data.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Postgres(e) => e.is_closed() || e.as_db_error().is_none(),
            Self::Log(ledger_log::LogError::Unavailable(_)) | Self::Consumer(_) => true,
            _ => false,
        }
    }
}
