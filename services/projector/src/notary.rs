//! The notary: keeps the log's RFC 9162 Merkle tree in Postgres (`audit.nodes`, `audit.tree`) and signs a C2SP
//! checkpoint of it every N events or T seconds, whichever comes first, and none while the log is idle.
//!
//! Like a projection it reads the log with an ordered consumer of its own started after its committed tree size,
//! and commits each batch's new nodes, its new size and border and any checkpoint signed for it in one
//! transaction: a crash at any point resumes from the last commit, recomputes the same leaves and signs the same
//! roots (Ed25519 signatures are deterministic). A checkpoint is then published to the checkpoint stream, once:
//! its message id is its size, and one left unpublished by a crash is published at the next start.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ledger_audit::merkle::{self, Hash, Tree};
use ledger_audit::{Checkpoint, Signer};
use ledger_log::{Log, LogMessage};
use tokio::time::Instant;
use tokio_postgres::{Client, Transaction};
use tokio_util::sync::CancellationToken;

use crate::{ProjectorError, ProjectorRun};

/// How the notary runs.
#[derive(Debug, Clone)]
pub struct NotaryConfig {
    /// The database, as the projector's role.
    pub database: ledger_readmodel::Postgres,
    /// Signs the checkpoints; its key name is the log's origin.
    pub signer: Signer,
    /// A checkpoint once this many events are not yet covered by one.
    pub every_events: u64,
    /// A checkpoint once the oldest event not yet covered by one has waited this long.
    pub every: Duration,
    /// Most messages hashed in one transaction.
    pub batch_size: usize,
}

/// What an operator watches: how far the tree and the checkpoints are.
#[derive(Debug, Default)]
pub struct NotaryMetrics {
    /// Leaves in the tree (committed).
    pub tree_size: AtomicU64,
    /// The size of the latest checkpoint signed.
    pub checkpoint_size: AtomicU64,
    pub checkpoints: AtomicU64,
    pub restarts: AtomicU64,
}

/// The notary's run over `log` until `shutdown`, with its metrics.
pub fn notary(log: Log, config: NotaryConfig, shutdown: CancellationToken) -> (Arc<NotaryMetrics>, ProjectorRun) {
    let metrics = Arc::new(NotaryMetrics::default());
    let n = Notary { log, config, metrics: metrics.clone() };
    (metrics, Box::pin(async move { n.run(shutdown).await }))
}

struct Notary {
    log: Log,
    config: NotaryConfig,
    metrics: Arc<NotaryMetrics>,
}

/// The tree as committed, and what the last checkpoint covers.
struct State {
    tree: Tree,
    checkpointed: u64,
    /// When the first event not covered by a checkpoint arrived.
    uncovered_since: Option<Instant>,
}

impl Notary {
    async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectorError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.run_once(&shutdown).await {
                Ok(()) => return Ok(()),
                Err(_) if shutdown.is_cancelled() => return Ok(()),
                Err(e) => {
                    self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, ?backoff, "notary failed; restarting from its committed tree");
                    if !crate::runner::wait_to_retry(&mut backoff, e.is_transient(), &shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn run_once(&self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        let mut client = self.config.database.connect().await?;
        // One notary per database.
        if !crate::runner::hold_lock(&client, "coalition-ledger.notary", shutdown).await? {
            return Ok(());
        }
        let mut state = load(&client).await?;
        state.uncovered_since = uncovered_at_start(&state, self.config.every);
        self.metrics.tree_size.store(state.tree.size(), Ordering::Relaxed);
        self.metrics.checkpoint_size.store(state.checkpointed, Ordering::Relaxed);
        // A log that no longer holds what the tree covers is refused, as the projectors refuse theirs.
        self.log.saw(state.tree.size());
        self.log.check_stream().await?;
        self.log.ensure_checkpoint_stream(false).await?;
        self.publish_pending(&client).await?;

        let start = state.tree.size();
        let description = "Coalition Ledger notary".to_owned();
        let mut batches = crate::runner::live_batches(
            &self.log,
            start,
            self.config.batch_size,
            Duration::from_millis(10),
            description,
        )
        .await?;
        tracing::info!(from = start + 1, origin = self.config.signer.name(), "notary hashing the log");
        loop {
            // Idle with events not covered yet: wake when they have waited `every`.
            let due = state.uncovered_since.map(|t| t + self.config.every);
            let batch = tokio::select! {
                _ = shutdown.cancelled() => {
                    tracing::info!("notary stopped");
                    return Ok(());
                }
                _ = sleep_until(due), if due.is_some() => {
                    self.commit(&mut client, &mut state, Vec::new(), true).await?;
                    continue;
                }
                batch = crate::runner::next_batch(&mut batches) => batch?,
            };
            self.commit(&mut client, &mut state, batch, false).await?;
        }
    }

    /// Adds `batch` to the tree and signs a checkpoint if one is due (or `force`d by the timer), in one
    /// transaction; then publishes the checkpoint.
    async fn commit(
        &self,
        client: &mut Client,
        state: &mut State,
        batch: Vec<LogMessage>,
        force: bool,
    ) -> Result<(), ProjectorError> {
        let mut tree = state.tree.clone();
        let mut nodes: Vec<(u8, u64, Hash)> = Vec::with_capacity(batch.len() * 2);
        // A checkpoint at every `every_events`-th event not yet covered, within the batch too.
        let mut to_sign: Vec<(u64, Hash)> = Vec::new();
        let mut covered = state.checkpointed;
        for m in &batch {
            if m.position <= tree.size() {
                continue; // a redelivery of what is committed
            }
            if m.position != tree.size() + 1 {
                return Err(ProjectorError::Consumer(format!(
                    "the log skipped from position {} to {}: the notary hashes every position",
                    tree.size(),
                    m.position
                )));
            }
            nodes.extend(tree.push(merkle::leaf_hash(&m.body)));
            if tree.size() - covered >= self.config.every_events {
                to_sign.push((tree.size(), tree.root()));
                covered = tree.size();
            }
        }
        let grew = tree.size() > state.tree.size();
        let uncovered_since = match state.uncovered_since {
            None if grew => Some(Instant::now()),
            other => other,
        };
        // The rest, once the oldest event it holds has waited long enough (or the timer says so).
        if tree.size() > covered && (force || uncovered_since.is_some_and(|t| t.elapsed() >= self.config.every)) {
            to_sign.push((tree.size(), tree.root()));
            covered = tree.size();
        }
        if !grew && to_sign.is_empty() {
            return Ok(());
        }
        let tx = client.transaction().await?;
        if grew {
            insert_nodes(&tx, &nodes).await?;
            let border: Vec<Vec<u8>> = tree.border().iter().map(|h| h.to_vec()).collect();
            tx.execute(
                "UPDATE audit.tree SET size = $1, border = $2, updated_at = now()",
                &[&i64::try_from(tree.size()).unwrap_or(i64::MAX), &border],
            )
            .await?;
        }
        for (size, root) in &to_sign {
            let checkpoint = Checkpoint { origin: self.config.signer.name().to_owned(), size: *size, root: *root };
            let note = checkpoint
                .sign(&self.config.signer)
                .map_err(|e| ProjectorError::Consumer(format!("signing checkpoint {size}: {e}")))?;
            tx.execute(
                "INSERT INTO audit.checkpoints (size, root, note) VALUES ($1, $2, $3)",
                &[&i64::try_from(*size).unwrap_or(i64::MAX), &root.to_vec(), &note],
            )
            .await?;
        }
        crate::runner::fault_crossing("notary-before-commit", state.tree.size(), tree.size());
        tx.commit().await?;
        self.log.saw(tree.size());
        self.metrics.tree_size.store(tree.size(), Ordering::Relaxed);
        state.tree = tree;
        state.uncovered_since = if covered == state.tree.size() {
            None
        } else if covered > state.checkpointed {
            Some(Instant::now()) // the events after the batch's last checkpoint arrived with it
        } else {
            uncovered_since
        };
        if !to_sign.is_empty() {
            crate::runner::fault_crossing("notary-before-publish", state.checkpointed, covered);
            state.checkpointed = covered;
            self.metrics.checkpoint_size.store(covered, Ordering::Relaxed);
            self.metrics.checkpoints.fetch_add(to_sign.len() as u64, Ordering::Relaxed);
            self.publish_pending(client).await?;
        }
        Ok(())
    }

    /// Publishes, in order, every signed checkpoint the checkpoint stream does not hold yet.
    async fn publish_pending(&self, client: &Client) -> Result<(), ProjectorError> {
        // What the stream already holds (published before a crash, after the duplicate window) is only marked.
        if let Some(held) = self.log.last_checkpoint_size().await? {
            client
                .execute(
                    "UPDATE audit.checkpoints SET published = true WHERE NOT published AND size <= $1",
                    &[&i64::try_from(held).unwrap_or(i64::MAX)],
                )
                .await?;
        }
        let rows =
            client.query("SELECT size, note FROM audit.checkpoints WHERE NOT published ORDER BY size", &[]).await?;
        for row in rows {
            let size: i64 = row.get(0);
            let note: String = row.get(1);
            let size = u64::try_from(size).unwrap_or(0);
            let sequence = self.log.publish_checkpoint(size, &note).await?;
            client
                .execute(
                    "UPDATE audit.checkpoints SET published = true WHERE size = $1",
                    &[&i64::try_from(size).unwrap_or(i64::MAX)],
                )
                .await?;
            tracing::debug!(size, sequence, "checkpoint published");
        }
        Ok(())
    }
}

/// The tree and the last checkpoint as committed.
async fn load(client: &Client) -> Result<State, ProjectorError> {
    let row = client.query_one("SELECT size, border FROM audit.tree", &[]).await?;
    let size = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
    let border: Vec<Vec<u8>> = row.get(1);
    let border: Option<Vec<Hash>> = border.into_iter().map(|h| Hash::try_from(h).ok()).collect();
    let tree = border
        .and_then(|b| Tree::from_border(size, b))
        .ok_or_else(|| ProjectorError::Consumer(format!("audit.tree: its border does not fit its size {size}")))?;
    let checkpointed: i64 = client.query_one("SELECT coalesce(max(size), 0) FROM audit.checkpoints", &[]).await?.get(0);
    let checkpointed = u64::try_from(checkpointed).unwrap_or(0);
    Ok(State { tree, checkpointed, uncovered_since: None })
}

/// When the oldest event not covered by a checkpoint arrived, at start: unknown (it came before the restart), so
/// taken as long enough ago that the tail is signed at once; restarts never postpone its checkpoint.
fn uncovered_at_start(state: &State, every: Duration) -> Option<Instant> {
    (state.tree.size() > state.checkpointed).then(|| {
        let now = Instant::now();
        now.checked_sub(every).unwrap_or(now)
    })
}

async fn insert_nodes(tx: &Transaction<'_>, nodes: &[(u8, u64, Hash)]) -> Result<(), tokio_postgres::Error> {
    let levels: Vec<i16> = nodes.iter().map(|n| i16::from(n.0)).collect();
    let indexes: Vec<i64> = nodes.iter().map(|n| i64::try_from(n.1).unwrap_or(i64::MAX)).collect();
    let hashes: Vec<Vec<u8>> = nodes.iter().map(|n| n.2.to_vec()).collect();
    tx.execute(
        "INSERT INTO audit.nodes (level, index, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
        &[&levels, &indexes, &hashes],
    )
    .await?;
    Ok(())
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
