//! As-of builds (issue 12): a read model computed from log positions 1 to P into temporary tables and views
//! (`pg_temp`) of one connection, by the read model's own code (`create_sql`, `views_sql`, `apply`, as a rebuild
//! runs them), so that the query service can answer any report as it stood at P. Nothing shared is written: the
//! tables and views belong to the connection's session and disappear with it, and an event the read model cannot
//! apply is counted and logged, not quarantined (the live projector has quarantined it already).
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use ledger_log::Log;
use ledger_readmodel::ReadModel;
use time::OffsetDateTime;
use tokio_postgres::Client;

use crate::rebuild::read_chunks;
use crate::runner::apply_decoded;
use crate::{Projection, ProjectionVisitor, ProjectorError, with_projection};

/// The schema of an as-of build's tables and views: the session's own temporary schema.
pub const TEMPORARY: &str = "pg_temp";

/// What an as-of build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryBuild {
    pub projection: &'static str,
    /// The log position the build reflects.
    pub position: u64,
    /// Events read from the log (1 to `position`).
    pub events: u64,
    /// Events the read model could not apply (undecodable, or rejected by the database): the live projector
    /// quarantined them, so the read model at `position` does not count them either.
    pub not_applied: u64,
    /// The record time of the event at `position` (`None` for position 0, or if it does not decode).
    pub recorded_at: Option<OffsetDateTime>,
    pub elapsed: Duration,
}

/// Builds projection `P` from log positions 1 to `position` into temporary tables and views (`pg_temp.<view>`) on
/// `client`, which must have none of them yet (a connection of its own: they live as long as it does). The log
/// must hold `position`. On an error the connection is left with a partial build: drop it.
pub async fn build_temporary<P: Projection>(
    log: &Log,
    client: &mut Client,
    position: u64,
) -> Result<TemporaryBuild, ProjectorError> {
    let started = Instant::now();
    client.batch_execute(&P::create_sql(TEMPORARY)).await?;
    client.batch_execute(&P::views_sql(TEMPORARY, TEMPORARY)).await?;
    let (mut built, mut events, mut not_applied, mut recorded_at) = (0u64, 0u64, 0u64, None);
    if position > 0 {
        let (mut chunk_rx, reader) = read_chunks(log, position);
        while let Some(chunk) = chunk_rx.recv().await {
            let chunk = chunk?;
            let mut tx = client.transaction().await?;
            let (_, rejected) = apply_decoded::<P>(&mut tx, TEMPORARY, &chunk).await?;
            tx.commit().await?;
            for (m, reason) in &rejected {
                tracing::warn!(projection = P::NAME, position = m.position, %reason, "as-of build: not applied");
            }
            not_applied += rejected.len() as u64;
            events += chunk.len() as u64;
            if let Some(last) = chunk.last() {
                built = last.position;
                recorded_at = last.decode().ok().map(|e| e.event.meta.recorded_at);
            }
        }
        if let Err(e) = reader.await {
            return Err(ProjectorError::Consumer(format!("the log reader of the as-of build failed: {e}")));
        }
    }
    if built != position {
        return Err(ProjectorError::Consumer(format!(
            "the log ended at position {built} while building {} as of position {position}",
            P::NAME
        )));
    }
    // Temporary tables are never analysed by autovacuum: without statistics the reports' plans can be poor.
    let analyse: String = P::TABLES.iter().map(|t| format!("ANALYZE {TEMPORARY}.{t};")).collect();
    client.batch_execute(&analyse).await?;
    let report =
        TemporaryBuild { projection: P::NAME, position, events, not_applied, recorded_at, elapsed: started.elapsed() };
    tracing::info!(?report, "as-of build done");
    Ok(report)
}

/// [`build_temporary`] of catalogue entry `model`.
pub async fn build_temporary_read_model(
    model: ReadModel,
    log: &Log,
    client: &mut Client,
    position: u64,
) -> Result<TemporaryBuild, ProjectorError> {
    struct Build<'a>(&'a Log, &'a mut Client, u64);
    impl<'a> ProjectionVisitor for Build<'a> {
        type Output = Pin<Box<dyn Future<Output = Result<TemporaryBuild, ProjectorError>> + Send + 'a>>;
        fn visit<P: Projection>(self) -> Self::Output {
            Box::pin(build_temporary::<P>(self.0, self.1, self.2))
        }
    }
    with_projection(model, Build(log, client, position)).await
}
