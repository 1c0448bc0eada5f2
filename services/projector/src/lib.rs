//! Projectors: consume the log and maintain Postgres read models, exactly once per event.
//!
//! Each projection has a row in `ledger.projections` holding the schema that serves it and the last log position
//! applied. A batch of messages is applied in one transaction together with that position, and acknowledged to
//! JetStream only after the commit; a redelivered message at or below the position is skipped. So a crash at any
//! point loses nothing and counts nothing twice: restarting resumes from the committed position.
//!
//! An as-of build ([`build_temporary`]) runs a projection's own code over the log up to a position into
//! temporary tables and views of one connection, for the query service's as-of answers.
//!
//! The notary ([`notary`]) reads the log the same way and keeps its Merkle tree and signed checkpoints in the
//! `audit` schema.
mod db;
pub mod engagement;
pub mod growth;
pub mod notary;
pub mod outcomes;
pub mod participation;
pub mod pledges;
pub mod programmes;
mod rebuild;
mod runner;
mod sql;
mod temporary;

use std::future::Future;
use std::pin::Pin;

use ledger_log::Log;
use ledger_proto::RecordedEvent;
use ledger_readmodel::ReadModel;
use thiserror::Error;
use tokio_postgres::Transaction;
use tokio_util::sync::CancellationToken;

pub use engagement::Engagement;
pub use growth::CoalitionGrowth;
pub use outcomes::Outcomes;
pub use participation::Participation;
pub use pledges::Pledges;
pub use programmes::Programmes;
pub use rebuild::{RebuildReport, rebuild, rebuild_all, rebuild_read_model};
pub use runner::{Projector, ProjectorConfig, ProjectorMetrics};
pub use temporary::{TEMPORARY, TemporaryBuild, build_temporary, build_temporary_read_model};

/// The code of a read model: its tables, views and how events change them. What it is called, its version and
/// the names of its tables and views are its entry in the catalogue ([`ReadModel`]).
pub trait Projection: Send + Sync + 'static {
    /// Its entry in the catalogue.
    const READ_MODEL: ReadModel;
    /// Stable name (the row in `ledger.projections`, the description of its ordered consumer).
    const NAME: &'static str = Self::READ_MODEL.spec().name;
    /// Bumped whenever the tables or what is computed change: a new version is rebuilt from the log.
    const VERSION: i32 = Self::READ_MODEL.spec().version;
    /// Tables in the projection's schema, compared by rebuild checks.
    const TABLES: &'static [&'static str] = Self::READ_MODEL.spec().tables;
    /// Its views in the `reporting` schema, in the order `views_sql` creates them.
    const VIEWS: &'static [&'static str] = Self::READ_MODEL.spec().views;
    /// DDL creating the tables in schema `schema` (`pg_temp` for an as-of build: temporary tables).
    fn create_sql(schema: &str) -> String;
    /// `CREATE OR REPLACE VIEW <views>.…` statements (with their comments) over the tables of schema `schema`:
    /// `views` is `reporting` for the read model that serves, `pg_temp` for an as-of build's temporary views.
    fn views_sql(schema: &str, views: &str) -> String;
    /// Applies decoded events, in log order, inside the caller's transaction.
    fn apply(
        tx: &Transaction<'_>,
        schema: &str,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), tokio_postgres::Error>> + Send;
}

/// Something to do with the projection type of a catalogue entry (see [`with_projection`]).
pub trait ProjectionVisitor {
    type Output;
    fn visit<P: Projection>(self) -> Self::Output;
}

/// Calls `visitor` with the projection implementing catalogue entry `model`. This is the one place where the
/// catalogue meets the projections' code: a new entry without its arm here does not compile.
pub fn with_projection<V: ProjectionVisitor>(model: ReadModel, visitor: V) -> V::Output {
    match model {
        ReadModel::CoalitionGrowth => visitor.visit::<CoalitionGrowth>(),
        ReadModel::Pledges => visitor.visit::<Pledges>(),
        ReadModel::Outcomes => visitor.visit::<Outcomes>(),
        ReadModel::Participation => visitor.visit::<Participation>(),
        ReadModel::Programmes => visitor.visit::<Programmes>(),
        ReadModel::Engagement => visitor.visit::<Engagement>(),
    }
}

/// A projector's run until shutdown, boxed so that the projectors of every catalogue entry have one type.
pub type ProjectorRun = Pin<Box<dyn Future<Output = Result<(), ProjectorError>> + Send>>;

/// The projector of catalogue entry `model`: its metrics, and its run until `shutdown` (to be spawned).
pub fn projector(
    model: ReadModel,
    log: Log,
    config: ProjectorConfig,
    shutdown: CancellationToken,
) -> (std::sync::Arc<ProjectorMetrics>, ProjectorRun) {
    struct Start(Log, ProjectorConfig, CancellationToken);
    impl ProjectionVisitor for Start {
        type Output = (std::sync::Arc<ProjectorMetrics>, ProjectorRun);
        fn visit<P: Projection>(self) -> Self::Output {
            let projector = Projector::<P>::new(self.0, self.1);
            (projector.metrics.clone(), Box::pin(projector.run(self.2)))
        }
    }
    with_projection(model, Start(log, config, shutdown))
}

#[derive(Debug, Error)]
pub enum ProjectorError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
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

    struct ViewsInCreationOrder;
    impl ProjectionVisitor for ViewsInCreationOrder {
        type Output = ();
        fn visit<P: Projection>(self) {
            let sql = P::views_sql("s", "reporting");
            let created: Vec<&str> = sql
                .split("CREATE OR REPLACE VIEW reporting.")
                .skip(1)
                .map(|rest| rest.split_whitespace().next().unwrap_or_default())
                .collect();
            assert_eq!(
                created,
                P::VIEWS,
                "{}: the catalogue must list the views in the order views_sql creates them",
                P::NAME
            );
        }
    }

    #[test]
    fn every_projection_creates_the_views_of_its_catalogue_entry_in_order() {
        for &model in ReadModel::ALL {
            with_projection(model, ViewsInCreationOrder);
        }
    }

    struct ViewsInTheirSchema;
    impl ProjectionVisitor for ViewsInTheirSchema {
        type Output = ();
        fn visit<P: Projection>(self) {
            // An as-of build's views read its own tables and views, never the live ones.
            let sql = P::views_sql(TEMPORARY, TEMPORARY);
            assert!(!sql.contains("reporting."), "{}: views_sql names reporting. whatever schema it is given", P::NAME);
            let created = sql.matches(&format!("CREATE OR REPLACE VIEW {TEMPORARY}.")).count();
            assert_eq!(created, P::VIEWS.len(), "{}", P::NAME);
        }
    }

    #[test]
    fn views_are_created_in_the_schema_given_and_read_only_from_there() {
        for &model in ReadModel::ALL {
            with_projection(model, ViewsInTheirSchema);
        }
    }
}
