//! The live projector loop: an ordered JetStream consumer per projection, started after its checkpoint, batches
//! applied in one transaction with the checkpoint, restarted from the checkpoint after any failure.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use ledger_log::{Log, LogMessage};
use ledger_proto::RecordedEvent;
use tokio_postgres::{Client, Transaction};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{Projection, ProjectorError, db};

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Postgres as the projector's role (see the README's "Postgres roles").
    pub database: ledger_readmodel::Postgres,
    /// Most messages applied in one transaction.
    pub batch_size: usize,
    /// How long a partial batch waits for more messages before it is applied.
    pub batch_wait: Duration,
}

impl ProjectorConfig {
    pub fn new(database: ledger_readmodel::Postgres) -> Self {
        Self { database, batch_size: 1000, batch_wait: Duration::from_millis(5) }
    }
}

/// Counters an operator watches, shared with the status endpoint.
#[derive(Debug, Default)]
pub struct ProjectorMetrics {
    pub position: AtomicU64,
    pub events_applied: AtomicU64,
    pub batches: AtomicU64,
    pub quarantined: AtomicU64,
    pub restarts: AtomicU64,
}

/// Runs projection `P` until `shutdown` is cancelled.
#[derive(Debug)]
pub struct Projector<P> {
    log: Log,
    config: ProjectorConfig,
    pub metrics: Arc<ProjectorMetrics>,
    _p: std::marker::PhantomData<P>,
}

/// Test-only fault injection (`LEDGER_FAULT=projector-before-commit:N` or `projector-before-ack:N`): abort the
/// process at the N-th batch, to prove that a crash at that point loses and duplicates nothing. Compiled only with
/// the `fault-injection` feature (the test suite's); otherwise nothing.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn fault(_point: &str, _batch: u64) {}

/// Waits `backoff` before a restart, then doubles it (up to 5 s after a transient failure, 30 s after another);
/// `false` if `shutdown` came first.
pub(crate) async fn wait_to_retry(backoff: &mut Duration, transient: bool, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => return false,
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(if transient { 5 } else { 30 }));
    true
}

/// Takes the session advisory lock `key` on `client`, waiting while another process holds it; `false` if
/// `shutdown` came first. Held as long as the connection lives: one live writer per lock.
pub(crate) async fn hold_lock(
    client: &Client,
    key: &str,
    shutdown: &CancellationToken,
) -> Result<bool, tokio_postgres::Error> {
    loop {
        let got: bool = client.query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key]).await?.get(0);
        if got {
            return Ok(true);
        }
        tracing::info!(lock = key, "another process holds the lock; waiting");
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// As [`fault`], firing when a count goes from `before` past the N of `LEDGER_FAULT=point:N` to `after`.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn fault_crossing(_point: &str, _before: u64, _after: u64) {}

#[cfg(feature = "fault-injection")]
pub(crate) fn fault_crossing(point: &str, before: u64, after: u64) {
    if let Ok(spec) = std::env::var("LEDGER_FAULT")
        && let Some((p, n)) = spec.split_once(':')
        && p == point
        && let Ok(n) = n.parse::<u64>()
        && before < n
        && n <= after
    {
        tracing::error!(point, n, after, "LEDGER_FAULT: aborting the process");
        std::process::abort();
    }
}

#[cfg(feature = "fault-injection")]
pub(crate) fn fault(point: &str, batch: u64) {
    if let Ok(spec) = std::env::var("LEDGER_FAULT")
        && let Some((p, n)) = spec.split_once(':')
        && p == point
        && n.parse::<u64>().ok() == Some(batch)
    {
        tracing::error!(point, batch, "LEDGER_FAULT: aborting the process");
        std::process::abort();
    }
}

impl<P: Projection> Projector<P> {
    pub fn new(log: Log, config: ProjectorConfig) -> Self {
        Self { log, config, metrics: Arc::default(), _p: std::marker::PhantomData }
    }

    /// Runs until shutdown. After any failure it records the error as the projection's state (shown by the status
    /// call and the dashboard), waits, and restarts from the committed checkpoint: a failing projection keeps
    /// retrying on its own without stopping the process or the other projections.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.run_once(&shutdown).await {
                Ok(()) => {
                    ledger_readmodel::set_state(&self.config.database, P::READ_MODEL, "stopped", None).await;
                    return Ok(());
                }
                Err(_) if shutdown.is_cancelled() => return Ok(()),
                Err(e) => {
                    self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
                    let error = e.to_string();
                    if e.is_transient() {
                        tracing::warn!(projection = P::NAME, %error, ?backoff, "projector failed; restarting from checkpoint");
                    } else {
                        tracing::error!(projection = P::NAME, %error, ?backoff, "projector failed; retrying from checkpoint");
                    }
                    ledger_readmodel::set_state(&self.config.database, P::READ_MODEL, "failed", Some(&error)).await;
                    if !wait_to_retry(&mut backoff, e.is_transient(), &shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn run_once(&self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        let mut client = self.config.database.connect().await?;
        // One live projector per projection: a session lock held as long as this connection lives.
        if !hold_lock(&client, &format!("coalition-ledger.projector.{}", P::NAME), shutdown).await? {
            return Ok(());
        }
        if db::install::<P>(&mut client).await? == P::VERSION {
            db::refresh_views::<P>(&mut client).await?;
        } else {
            tracing::info!(projection = P::NAME, version = P::VERSION, "definition changed; rebuilding from the log");
            crate::rebuild::<P>(&self.log, &mut client).await?;
        }
        let start = ledger_readmodel::position(&client, P::READ_MODEL).await?;
        self.metrics.position.store(start, Ordering::Relaxed);
        // A log that no longer holds the checkpoint (cut short, replaced, evicted) is refused, not projected.
        self.log.saw(start);
        self.log.check_stream().await?;

        let description = format!("Coalition Ledger projection {}", P::NAME);
        let mut batches =
            live_batches(&self.log, start, self.config.batch_size, self.config.batch_wait, description).await?;
        tracing::info!(projection = P::NAME, from = start + 1, "projecting");
        ledger_readmodel::state(&client, P::READ_MODEL, "live", None).await?;
        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => {
                    tracing::info!(projection = P::NAME, "projector stopped");
                    return Ok(());
                }
                batch = next_batch(&mut batches) => batch?,
            };
            // The batch runs to its commit even if shutdown is requested meanwhile.
            self.apply_batch(&mut client, &batch).await?;
            if !batch.is_empty() {
                // Committed (the name is from when a durable consumer was acknowledged here): a crash from now on
                // resumes after this batch.
                fault("projector-before-ack", self.metrics.batches.load(Ordering::Relaxed));
            }
        }
    }

    async fn apply_batch(&self, client: &mut Client, batch: &[LogMessage]) -> Result<(), ProjectorError> {
        let mut tx = client.transaction().await?;
        let row = tx
            .query_one("SELECT schema_name, position FROM ledger.projections WHERE name = $1 FOR UPDATE", &[&P::NAME])
            .await?;
        let schema: String = row.get(0);
        let done = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        let fresh: Vec<LogMessage> = batch.iter().filter(|m| m.position > done).cloned().collect();
        let Some(end) = fresh.last().map(|m| m.position) else {
            return Ok(()); // all redeliveries of committed work
        };
        let (applied, quarantined) = apply_messages::<P>(&mut tx, &schema, &fresh).await?;
        tx.execute(
            "UPDATE ledger.projections SET position = $2, updated_at = now() WHERE name = $1",
            &[&P::NAME, &i64::try_from(end).unwrap_or(i64::MAX)],
        )
        .await?;
        let n = self.metrics.batches.fetch_add(1, Ordering::Relaxed) + 1;
        fault("projector-before-commit", n);
        tx.commit().await?;
        self.metrics.position.store(end, Ordering::Relaxed);
        self.log.saw(end);
        self.metrics.events_applied.fetch_add(applied as u64, Ordering::Relaxed);
        self.metrics.quarantined.fetch_add(quarantined as u64, Ordering::Relaxed);
        tracing::debug!(projection = P::NAME, position = end, applied, quarantined, "batch committed");
        Ok(())
    }
}

/// Batches of the log's messages after position `start`, live: an ordered consumer of the caller's own (named by
/// `description`), started after what the caller committed, so that Postgres, not the server, decides where to
/// resume. It is ephemeral (the server removes it once unused) and re-created by the client if it is lost, so the
/// reader's NATS user needs no right to delete or update consumers. A batch holds up to `size` messages, or what
/// arrived within `wait`.
pub(crate) async fn live_batches(
    log: &Log,
    start: u64,
    size: usize,
    wait: Duration,
    description: String,
) -> Result<LiveBatches, ProjectorError> {
    let stream = log.jetstream().get_stream(log.stream_name()).await.map_err(consumer_err)?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            description: Some(description),
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: start + 1 },
            filter_subject: format!("{}.>", log.subject_prefix()),
            max_batch: i64::try_from(size).unwrap_or(i64::MAX),
            ..Default::default()
        })
        .await
        .map_err(consumer_err)?;
    let messages = consumer.messages().await.map_err(consumer_err)?;
    let log = log.clone();
    let batches = messages.chunks_timeout(size, wait).map(move |chunk| {
        chunk
            .into_iter()
            .map(|m| {
                let m = m.map_err(consumer_err)?;
                let position = m.info().map_err(consumer_err)?.stream_sequence;
                Ok(log.message(position, m.subject.to_string(), m.payload.clone()))
            })
            .collect()
    });
    Ok(Box::pin(batches))
}

/// What [`live_batches`] returns.
pub(crate) type LiveBatches =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Vec<LogMessage>, ProjectorError>> + Send>>;

/// The next batch; an error if the consumer's stream ended.
pub(crate) async fn next_batch(batches: &mut LiveBatches) -> Result<Vec<LogMessage>, ProjectorError> {
    batches.next().await.unwrap_or_else(|| Err(ProjectorError::Consumer("message stream ended".into())))
}

fn consumer_err(e: impl std::fmt::Display) -> ProjectorError {
    ProjectorError::Consumer(e.to_string())
}

/// Decodes `msgs`, quarantines those that cannot be used, and applies the rest to `schema` (see [`apply_decoded`]).
/// Returns (applied, quarantined).
pub(crate) async fn apply_messages<P: Projection>(
    tx: &mut Transaction<'_>,
    schema: &str,
    msgs: &[LogMessage],
) -> Result<(usize, usize), ProjectorError> {
    let (applied, rejected) = apply_decoded::<P>(tx, schema, msgs).await?;
    for (m, reason) in &rejected {
        quarantine::<P>(tx, m, reason).await?;
    }
    Ok((applied, rejected.len()))
}

/// Decodes `msgs` and applies those that decode to `schema`. If the read model rejects the batch (a database
/// error, not a lost connection), the events are applied one by one, each under a savepoint: one bad event never
/// stops the projection. Returns how many were applied, and the messages not applied with the reason (what
/// [`apply_messages`] quarantines; an as-of build, which writes nothing shared, counts them).
pub(crate) async fn apply_decoded<'m, P: Projection>(
    tx: &mut Transaction<'_>,
    schema: &str,
    msgs: &'m [LogMessage],
) -> Result<(usize, Vec<(&'m LogMessage, String)>), ProjectorError> {
    let mut events: Vec<(RecordedEvent, &LogMessage)> = Vec::with_capacity(msgs.len());
    let mut rejected = Vec::new();
    for m in msgs {
        match m.decode() {
            Ok(e) => events.push((e, m)),
            Err(reason) => rejected.push((m, reason.to_string())),
        }
    }
    let all: Vec<RecordedEvent> = events.iter().map(|(e, _)| e.clone()).collect();
    let sp = tx.savepoint("batch").await?;
    match P::apply(&sp, schema, &all).await {
        Ok(()) => {
            sp.commit().await?;
            return Ok((all.len(), rejected));
        }
        Err(e) if e.as_db_error().is_none() => return Err(e.into()),
        Err(e) => {
            sp.rollback().await?;
            tracing::warn!(
                projection = P::NAME,
                error = %db_reason(&e),
                "the read model rejected a batch; applying it event by event"
            );
        }
    }
    let mut applied = 0;
    for (event, m) in &events {
        let sp = tx.savepoint("event").await?;
        match P::apply(&sp, schema, std::slice::from_ref(event)).await {
            Ok(()) => {
                sp.commit().await?;
                applied += 1;
            }
            Err(e) if e.as_db_error().is_none() => return Err(e.into()),
            Err(e) => {
                sp.rollback().await?;
                rejected.push((*m, format!("the read model rejected it: {}", db_reason(&e))));
            }
        }
    }
    Ok((applied, rejected))
}

/// What Postgres said, not only "db error" (tokio-postgres's `Display`): its message, detail and SQLSTATE.
fn db_reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let detail = d.detail().map(|x| format!(" ({x})")).unwrap_or_default();
            format!("postgres: {}{detail} [SQLSTATE {}]", d.message(), d.code().code())
        }
        None => e.to_string(),
    }
}

async fn quarantine<P: Projection>(tx: &Transaction<'_>, m: &LogMessage, reason: &str) -> Result<(), ProjectorError> {
    tracing::warn!(projection = P::NAME, position = m.position, %reason, "quarantined a message");
    tx.execute(
        "INSERT INTO ledger.quarantine (projection, position, subject, reason, body)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (projection, position) DO NOTHING",
        &[&P::NAME, &i64::try_from(m.position).unwrap_or(i64::MAX), &m.subject, &reason, &m.body.as_ref()],
    )
    .await?;
    Ok(())
}
