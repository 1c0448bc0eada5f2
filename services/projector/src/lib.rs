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
    /// Its views in the `reporting` schema, in the order `views_sql` creates them (readers lock them in this order
    /// too, so that a rebuild's switch and a query never wait for each other in a cycle).
    const VIEWS: &'static [&'static str];
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

/// The `reporting` views of the projection named `name` (empty for an unknown name).
pub fn views(name: &str) -> &'static [&'static str] {
    match name {
        CoalitionGrowth::NAME => CoalitionGrowth::VIEWS,
        Pledges::NAME => Pledges::VIEWS,
        Outcomes::NAME => Outcomes::VIEWS,
        Participation::NAME => Participation::VIEWS,
        Engagement::NAME => Engagement::VIEWS,
        _ => &[],
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check<P: Projection>() {
        let sql = P::views_sql("s");
        let created: Vec<&str> = sql
            .split("CREATE OR REPLACE VIEW reporting.")
            .skip(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or_default())
            .collect();
        assert_eq!(created, P::VIEWS, "{}: VIEWS must list the views in the order views_sql creates them", P::NAME);
        assert_eq!(views(P::NAME), P::VIEWS);
    }

    #[test]
    fn every_projection_lists_its_views_in_creation_order() {
        check::<CoalitionGrowth>();
        check::<Pledges>();
        check::<Outcomes>();
        check::<Participation>();
        check::<Engagement>();
    }
}
