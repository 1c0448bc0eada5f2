//! Rebuilding a projection from the log into a fresh schema while the old one keeps serving, then switching the
//! `reporting` views and the checkpoint to it in one transaction.
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use ledger_log::{Log, LogError, LogMessage, ReadFrom};
use ledger_readmodel::ReadModel;
use tokio_postgres::{Client, Transaction};

use crate::runner::apply_messages;
use crate::{Projection, ProjectionVisitor, ProjectorError, db, with_projection};

const CHUNK: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: &'static str,
    pub schema: String,
    /// Log position the new build reached and now serves from.
    pub position: u64,
    /// Events read from the log.
    pub events: u64,
    pub elapsed: Duration,
    /// `Some(n)`: the live build was at the same position and `n` rows differed between the two (0 = identical).
    /// `None`: the live build was behind or of another version, so the two could not be compared.
    pub differing_rows: Option<u64>,
}

/// Rebuilds projection `P` from the whole log and switches to the result. The live projector keeps running: it
/// is blocked only during the final switch, and continues on the new schema from the new position.
pub async fn rebuild<P: Projection>(log: &Log, client: &mut Client) -> Result<RebuildReport, ProjectorError> {
    db::install::<P>(client).await?;
    // Restored at the switch: a live projector keeps serving (and stays "live") while an operator rebuilds.
    let previous_state: String =
        client.query_one("SELECT state FROM ledger.projections WHERE name = $1", &[&P::NAME]).await?.get(0);
    ledger_readmodel::state(client, P::READ_MODEL, "rebuilding", None).await?;
    let started = Instant::now();
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos().unsigned_abs();
    let schema = db::schema_name::<P>(Some(nanos / 1_000_000));
    client.batch_execute(&format!("CREATE SCHEMA {schema}; {}", P::create_sql(&schema))).await?;

    let end = log.end().await?;
    tracing::info!(projection = P::NAME, %schema, end, "rebuild started");
    let (mut built, mut events) = (0u64, 0u64);
    let mut last_report = Instant::now();
    if end > 0 {
        let (mut chunk_rx, reader) = read_chunks(log, end);
        while let Some(chunk) = chunk_rx.recv().await {
            let chunk = chunk?;
            let mut tx = client.transaction().await?;
            apply_messages::<P>(&mut tx, &schema, &chunk).await?;
            tx.commit().await?;
            built = chunk.last().map_or(built, |m| m.position);
            events += chunk.len() as u64;
            if last_report.elapsed() > Duration::from_secs(2) {
                let rate = events as f64 / started.elapsed().as_secs_f64();
                tracing::info!(projection = P::NAME, position = built, end, events_per_s = rate as u64, "rebuilding");
                last_report = Instant::now();
            }
        }
        if let Err(e) = reader.await {
            return Err(ProjectorError::Consumer(format!("the log reader of the rebuild failed: {e}")));
        }
    }

    // Switch: lock the bookkeeping row (the live projector waits), catch up to it, compare, repoint, drop the old.
    let mut tx = client.transaction().await?;
    let row = tx
        .query_one("SELECT schema_name, position FROM ledger.projections WHERE name = $1 FOR UPDATE", &[&P::NAME])
        .await?;
    let old_schema: String = row.get(0);
    let live = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
    if live > built {
        let msgs: Vec<_> = log.read(ReadFrom::Position(built + 1), None, live).await?.try_collect().await?;
        events += msgs.len() as u64;
        apply_messages::<P>(&mut tx, &schema, &msgs).await?;
        built = live;
    }
    let live_version: i32 =
        tx.query_one("SELECT version FROM ledger.projections WHERE name = $1", &[&P::NAME]).await?.get(0);
    // Builds of different versions may have different tables: only the same version is compared.
    let differing_rows = if live == built && live_version == P::VERSION {
        Some(differences::<P>(&tx, &old_schema, &schema).await?)
    } else {
        None
    };
    tx.execute(
        "UPDATE ledger.projections SET schema_name = $2, version = $3, position = $4, updated_at = now(), state = $5
         WHERE name = $1",
        &[&P::NAME, &schema, &P::VERSION, &i64::try_from(built).unwrap_or(i64::MAX), &previous_state],
    )
    .await?;
    tx.batch_execute(&P::views_sql(&schema, "reporting")).await?;
    tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {old_schema} CASCADE")).await?;
    tx.commit().await?;
    let report = RebuildReport {
        projection: P::NAME,
        schema,
        position: built,
        events,
        elapsed: started.elapsed(),
        differing_rows,
    };
    tracing::info!(?report, "rebuild switched");
    Ok(report)
}

/// The log from position 1 up to `end`, in chunks of up to [`CHUNK`] messages, read by a task of its own that stays
/// up to two chunks ahead of the caller (fetching and applying overlap; memory stays bounded). The task ends at
/// `end`, or when the receiver is dropped; join it after the last chunk.
pub(crate) fn read_chunks(
    log: &Log,
    end: u64,
) -> (tokio::sync::mpsc::Receiver<Result<Vec<LogMessage>, LogError>>, tokio::task::JoinHandle<()>) {
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel(2);
    let reader_log = log.clone();
    let reader = tokio::spawn(async move {
        let read = reader_log.read(ReadFrom::Position(1), None, end).await;
        let mut chunks = match read {
            Ok(stream) => Box::pin(stream.try_chunks(CHUNK)),
            Err(e) => {
                let _ = chunk_tx.send(Err(e)).await;
                return;
            }
        };
        while let Some(chunk) = chunks.next().await {
            if chunk_tx.send(chunk.map_err(|e| e.1)).await.is_err() {
                return; // the reader of the chunks stopped
            }
        }
    });
    (chunk_rx, reader)
}

/// Rows in one schema's tables and not in the other's (both directions, duplicates counted).
async fn differences<P: Projection>(tx: &Transaction<'_>, a: &str, b: &str) -> Result<u64, ProjectorError> {
    let mut n = 0;
    for t in P::TABLES {
        let row = tx
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM (SELECT * FROM {a}.{t} EXCEPT ALL SELECT * FROM {b}.{t}) x)
                          + (SELECT count(*) FROM (SELECT * FROM {b}.{t} EXCEPT ALL SELECT * FROM {a}.{t}) y)"
                ),
                &[],
            )
            .await?;
        n += u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
    }
    Ok(n)
}

/// Rebuilds every read model of the catalogue, one after the other.
pub async fn rebuild_all(log: &Log, client: &mut Client) -> Result<Vec<RebuildReport>, ProjectorError> {
    let mut reports = Vec::with_capacity(ReadModel::ALL.len());
    for &model in ReadModel::ALL {
        reports.push(rebuild_read_model(model, log, client).await?);
    }
    Ok(reports)
}

/// Rebuilds catalogue entry `model` (see [`rebuild`]).
pub async fn rebuild_read_model(
    model: ReadModel,
    log: &Log,
    client: &mut Client,
) -> Result<RebuildReport, ProjectorError> {
    struct Rebuild<'a>(&'a Log, &'a mut Client);
    impl<'a> ProjectionVisitor for Rebuild<'a> {
        type Output = Pin<Box<dyn Future<Output = Result<RebuildReport, ProjectorError>> + Send + 'a>>;
        fn visit<P: Projection>(self) -> Self::Output {
            Box::pin(rebuild::<P>(self.0, self.1))
        }
    }
    with_projection(model, Rebuild(log, client)).await
}
