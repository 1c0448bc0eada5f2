//! Read-your-writes in one snapshot: wait (bounded) until a projection has reached the wanted position, then
//! read its checkpoint and its rows in one read-only `REPEATABLE READ` transaction that first locks the
//! projection's views, so that a rebuild's switch is seen whole or not at all.
use std::time::Duration;

use ledger_log::Log;
use ledger_proto::v1;
use ledger_readmodel::ReadModel;
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::QueryError;
use crate::Pool;

/// Longest a query waits for its `min_position`.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Wait used when `min_position` is set without `max_wait_ms`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);

/// A request's `consistency`: the log position to wait for (0: none) and how long at most.
pub fn wanted_position(consistency: Option<&v1::Consistency>) -> (u64, Duration) {
    let wanted = consistency.map_or(0, |c| c.min_position);
    let wait = match consistency.map_or(0, |c| c.max_wait_ms) {
        0 => DEFAULT_WAIT,
        ms => Duration::from_millis(ms.into()).min(MAX_WAIT),
    };
    (wanted, wait)
}

#[derive(Debug, Clone)]
pub struct QueryService {
    pub(crate) pool: Pool,
    pub(crate) log: Log,
    /// As-of answers, if configured ([`QueryService::with_as_of`]).
    pub(crate) as_of: Option<super::as_of::AsOf>,
}

impl QueryService {
    pub fn new(pool: Pool, log: Log) -> Self {
        Self { pool, log, as_of: None }
    }

    /// Runs `f` in a read-only snapshot once read model `model` has reached the wanted position; returns its
    /// result and the position the snapshot reflects.
    pub(crate) async fn consistent<T>(
        &self,
        model: ReadModel,
        consistency: Option<&v1::Consistency>,
        f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, QueryError>,
    ) -> Result<(T, u64), QueryError> {
        let (wanted, wait) = wanted_position(consistency);
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        let mut f = Some(f);
        // The position last read: what a query that runs out of time while the views are locked reports.
        let mut seen = 0;
        loop {
            // The connection is held for one look only, never while waiting: queries waiting for a position
            // that is far off do not keep the others from the pool.
            let position = {
                let mut conn = self.pool.get().await?;
                let client = conn.client();
                // A projection not installed yet (no projector has started) has no views to lock: it is at 0.
                let (installed, views) = ledger_readmodel::installed_views(client, model).await?;
                if !installed {
                    if wanted == 0 {
                        return Err(QueryError::Unavailable(format!(
                            "projection {model} is not installed yet: no projector has started on this database"
                        )));
                    }
                    0
                } else {
                    let tx = client
                        .build_transaction()
                        .read_only(true)
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .start()
                        .await?;
                    // Lock the projection's views before the snapshot is taken (by the first query): a rebuild's
                    // switch then happens wholly before this snapshot or waits until it ends, so the answer comes
                    // from one complete build and the position read matches it.
                    // Only the views that exist (a new version's added view appears at its switch), and no longer
                    // than this query may still wait.
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    let lock_wait = left.clamp(Duration::from_millis(1), MAX_WAIT);
                    match ledger_readmodel::lock_views(&tx, &views, lock_wait).await {
                        // The views are being replaced (a projector installing or switching them) for all the
                        // time this query may still wait for its position: the position is not reached in time.
                        Err(e) if wanted > 0 && e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                            return Err(QueryError::NotReached { projection: model.name(), position: seen, wanted });
                        }
                        r => r?,
                    }
                    let position = ledger_readmodel::position(&tx, model).await?;
                    seen = position;
                    if position >= wanted
                        && let Some(f) = f.take()
                    {
                        let out = f(&tx).await?;
                        tx.commit().await?;
                        return Ok((out, position));
                    }
                    tx.rollback().await?;
                    position
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(QueryError::NotReached { projection: model.name(), position, wanted });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}
